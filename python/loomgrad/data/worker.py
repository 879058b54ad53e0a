"""DataLoader worker processes (``num_workers > 0``), as torch.utils.data runs them.

Each worker gets batches of indices through its own queue (round robin, at most
``prefetch_factor`` batches outstanding per worker) and sends ``(batch number, batch)``
back through one result queue; the parent hands the batches out in order. Worker ``i``
is seeded with ``base_seed + i`` (``base_seed`` drawn per epoch from the loader's
generator, or the library's): ``lg.manual_seed`` and Python's ``random`` are seeded
there, and :func:`get_worker_info` tells the dataset which worker it runs in. A
worker's exception is re-raised in the parent with the worker's traceback; a worker
that dies (killed, ``os._exit``) is a RuntimeError in the parent, never a hang.
Batches travel pickled (NumPy arrays inside Tensors); ``pin_memory`` has no effect
(there is no pinned host memory to use on the CPU path).
"""
from __future__ import annotations

import collections
import queue
import random as _pyrandom
import traceback

from .. import multiprocessing as lg_mp
from .. import random as _random

__all__ = ["get_worker_info", "WorkerInfo", "WorkerIterator"]

WorkerInfo = collections.namedtuple("WorkerInfo", ["id", "num_workers", "seed", "dataset"])

_worker_info = None
_POLL_S = 0.1  # how often a waiting parent checks that its workers are alive


def get_worker_info():
    """In a DataLoader worker: its ``WorkerInfo(id, num_workers, seed, dataset)``;
    in the main process: None (as torch)."""
    return _worker_info


class _WorkerError:
    """An exception raised in a worker, carried to the parent as its type and traceback."""

    def __init__(self, worker_id, exc):
        self.worker_id = worker_id
        self.exc_type = type(exc)
        self.text = traceback.format_exc()

    def reraise(self):
        msg = (f"Caught {self.exc_type.__name__} in DataLoader worker process "
               f"{self.worker_id}.\nOriginal {self.text}")
        try:
            err = self.exc_type(msg)
        except Exception:  # an exception type whose constructor wants other arguments
            err = RuntimeError(msg)
        raise err


def _worker_loop(fetch, index_queue, result_queue, worker_id, num_workers, seed, dataset,
                 worker_init_fn):
    global _worker_info
    _random.manual_seed(seed)
    _pyrandom.seed(seed)
    _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
    try:
        if worker_init_fn is not None:
            worker_init_fn(worker_id)
    except Exception as e:  # reported for the first batch this worker is asked for
        init_error = _WorkerError(worker_id, e)
    else:
        init_error = None
    while True:
        job = index_queue.get()
        if job is None:
            break
        key, indices = job
        if init_error is not None:
            result_queue.put((key, init_error))
            continue
        try:
            batch = fetch(indices)
        except Exception as e:
            batch = _WorkerError(worker_id, e)
        result_queue.put((key, batch))


class WorkerPool:
    """``num_workers`` processes fetching batches with ``fetch(indices)``."""

    def __init__(self, fetch, dataset, num_workers, worker_init_fn, context, seed_source):
        ctx = lg_mp.get_context(context) if isinstance(context, str) or context is None \
            else context
        self.num_workers = num_workers
        self.result_queue = ctx.Queue()
        self.index_queues, self.procs = [], []
        self.epochs = 0  # tags the jobs, so an abandoned epoch's late batches are dropped
        base_seed = int(seed_source.integers(0, 2**62))
        for i in range(num_workers):
            iq = ctx.Queue()
            p = ctx.Process(target=_worker_loop,
                            args=(fetch, iq, self.result_queue, i, num_workers, base_seed + i,
                                  dataset, worker_init_fn), daemon=True)
            p.start()
            self.index_queues.append(iq)
            self.procs.append(p)

    def get(self, timeout):
        """One (number, batch) from any worker; RuntimeError if a worker died."""
        waited = 0.0
        while True:
            try:
                return self.result_queue.get(timeout=_POLL_S)
            except queue.Empty:
                waited += _POLL_S
            dead = [p for p in self.procs if not p.is_alive()]
            if dead:
                p = dead[0]
                self.shutdown()
                raise RuntimeError(lg_mp.describe_exit("DataLoader worker", p.pid, p.exitcode)
                                   + " (a worker died: out of memory, a signal, os._exit?)")
            if timeout and waited >= timeout:
                self.shutdown()
                raise RuntimeError(f"DataLoader timed out after {timeout} seconds waiting for "
                                   f"a batch from its workers")

    def shutdown(self):
        for iq, p in zip(self.index_queues, self.procs):
            if p.is_alive():
                try:
                    iq.put(None)
                except (OSError, ValueError):
                    pass
        for p in self.procs:
            p.join(timeout=2)
            if p.is_alive():
                p.terminate()
                p.join(timeout=1)
        for q in (*self.index_queues, self.result_queue):
            q.close()
            q.cancel_join_thread()
        self.procs = []

    def __del__(self):
        if getattr(self, "procs", None):
            self.shutdown()


class WorkerIterator:
    """One epoch over ``batches`` (lists of indices) fetched by ``pool``; yields the
    batches in order, keeping ``prefetch`` per worker outstanding."""

    def __init__(self, pool, batches, prefetch, timeout, close_after):
        self.pool, self.batches = pool, list(batches)
        pool.epochs += 1
        self.epoch = pool.epochs
        self.timeout, self.close_after = timeout, close_after
        self.sent = self.next_out = 0
        self.buffer = {}
        for _ in range(prefetch * pool.num_workers):
            self._send()

    def _send(self):
        if self.sent < len(self.batches):
            self.pool.index_queues[self.sent % self.pool.num_workers].put(
                ((self.epoch, self.sent), self.batches[self.sent]))
            self.sent += 1

    def __iter__(self):
        return self

    def __next__(self):
        if self.next_out >= len(self.batches):
            if self.close_after:
                self.pool.shutdown()
            raise StopIteration
        while self.next_out not in self.buffer:
            (epoch, number), batch = self.pool.get(self.timeout)
            if epoch == self.epoch:
                self.buffer[number] = batch
        batch = self.buffer.pop(self.next_out)
        self.next_out += 1
        self._send()
        if isinstance(batch, _WorkerError):
            self.pool.shutdown()
            batch.reraise()
        return batch
