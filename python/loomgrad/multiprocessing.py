"""``lg.multiprocessing``: torch.multiprocessing's surface for loomgrad.

Python's :mod:`multiprocessing` (contexts, queues, pipes, locks, ``cpu_count``) plus:

* :class:`Process`, a ``multiprocessing.Process`` whose ``join()`` raises
  :class:`ProcessExitedError` (with the child's traceback) when the child died, failed
  or was killed: a dead worker is never silent;
* :func:`spawn` (``torch.multiprocessing.spawn``): ``fn(i, *args)`` in ``nprocs``
  processes, the first failure raised in the parent;
* shared memory for Hogwild training: ``tensor.share_memory_()`` / ``module.share_memory()``
  move arrays into anonymous shared mappings (``mmap``, MAP_SHARED), which processes
  started afterwards with the **fork** start method (Linux's default) share; updates
  from any of them are seen by all. With "spawn" or "forkserver" a Tensor is pickled
  and so copied: Hogwild needs fork here.

A forked child runs the CPU kernels on one OpenMP thread: libgomp's thread pool does
not survive fork, and a parallel region in the child of a parent that had one hangs
(tested); ``lg.set_num_threads(n > 1)`` in such a child is refused with a RuntimeError.
Use the "spawn" start method for children that need several threads each.
"""
from __future__ import annotations

import mmap
import multiprocessing as _mp
import os
import traceback
from multiprocessing import (Array, Barrier, Condition, Event, JoinableQueue, Lock, Manager,  # noqa: F401
                             Pipe, Pool, Queue, RLock, Semaphore, SimpleQueue, Value,
                             active_children, cpu_count, current_process, get_all_start_methods,
                             get_context, get_start_method, set_start_method)

import numpy as np

from . import _cpu

__all__ = ["Process", "ProcessExitedError", "spawn", "shared_array", "Queue", "SimpleQueue",
           "Pipe", "Lock", "Event", "Manager", "Pool", "Value", "Array", "get_context",
           "set_start_method", "get_start_method", "get_all_start_methods", "cpu_count",
           "current_process", "active_children"]


class ProcessExitedError(RuntimeError):
    """A child process died, raised an exception or was killed; ``exitcode``, ``pid`` and
    the child's ``child_traceback`` (when it raised) are attributes."""

    def __init__(self, message, exitcode=None, pid=None, child_traceback=None):
        super().__init__(message)
        self.exitcode, self.pid, self.child_traceback = exitcode, pid, child_traceback


_forked = False


def _one_thread_after_fork() -> None:
    global _forked
    _forked = True
    _cpu.set_num_threads(1)


def in_forked_child() -> bool:
    """True in a process forked from one that had imported loomgrad (one kernel thread)."""
    return _forked


os.register_at_fork(after_in_child=_one_thread_after_fork)


def describe_exit(name: str, pid, exitcode, child_traceback=None) -> str:
    """The message for a child that did not exit cleanly (shared with the DataLoader)."""
    if exitcode is not None and exitcode < 0:
        import signal
        try:
            how = f"was killed by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"was killed by signal {-exitcode}"
    else:
        how = f"exited with code {exitcode}"
    msg = f"{name} (pid {pid}) {how}"
    if child_traceback:
        msg += f"; its traceback:\n{child_traceback}"
    return msg


class Process(_mp.Process):
    """``multiprocessing.Process`` whose ``join()`` raises :class:`ProcessExitedError`
    when the child did not exit with code 0 (an exception in ``run``, ``sys.exit(n)``,
    a signal). The child's traceback travels back through a pipe."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._tb_recv, self._tb_send = _mp.Pipe(duplex=False)
        self._child_tb = None

    def run(self):
        try:
            super().run()
        except BaseException:
            self._tb_send.send(traceback.format_exc())
            raise

    def join(self, timeout=None):
        super().join(timeout)
        if self.exitcode is None or self.exitcode == 0:
            return
        if self._child_tb is None and self._tb_recv.poll():
            self._child_tb = self._tb_recv.recv()
        raise ProcessExitedError(describe_exit(f"process {self.name}", self.pid, self.exitcode,
                                               self._child_tb),
                                 self.exitcode, self.pid, self._child_tb)


def _run_reporting(tb_send, fn, args):
    """A child's body: ``fn(*args)``; on an exception its traceback goes to the parent."""
    try:
        fn(*args)
    except BaseException:
        tb_send.send(traceback.format_exc())
        raise


def spawn(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """Run ``fn(i, *args)`` for i in 0..nprocs-1, each in its own process (torch's
    ``multiprocessing.spawn``); with ``join`` wait for all and raise the first failure
    as :class:`ProcessExitedError` (the others are terminated), else return the
    processes. ``fn`` must be importable (a module-level function) for "spawn"."""
    ctx = get_context(start_method)
    procs = []
    for i in range(int(nprocs)):
        recv, send = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_run_reporting, args=(send, fn, (i, *args)), daemon=daemon)
        p.start()
        procs.append((p, recv))
    if not join:
        return [p for p, _ in procs]
    failure = None
    for p, recv in procs:
        p.join()
        if p.exitcode != 0 and failure is None:
            tb = recv.recv() if recv.poll() else None
            failure = ProcessExitedError(describe_exit(f"process {p.name}", p.pid, p.exitcode,
                                                       tb), p.exitcode, p.pid, tb)
            for q, _ in procs:
                if q.is_alive():
                    q.terminate()
    if failure is not None:
        raise failure
    return None


def shared_array(shape, dtype) -> np.ndarray:
    """A zeroed NumPy array in an anonymous shared mapping: processes forked after it
    was made read and write the same memory."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buf = mmap.mmap(-1, max(nbytes, 1), flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
    return np.frombuffer(buf, dtype=dtype, count=int(np.prod(shape, dtype=np.int64))
                         ).reshape(shape)


def is_shared(a) -> bool:
    """True when NumPy array ``a`` lives in a shared mapping made by :func:`shared_array`."""
    while isinstance(a, np.ndarray):
        a = a.base
    if isinstance(a, memoryview):  # np.frombuffer keeps the mmap behind a memoryview
        a = a.obj
    return isinstance(a, mmap.mmap)
