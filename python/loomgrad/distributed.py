"""lg.distributed: collectives for data-parallel training on an engine users already run.

Two backends, like ``torch.distributed``'s names:

* ``"mpi"`` — CPU tensors (NumPy arrays) through mpi4py on any MPI (Open MPI, MPICH, Intel
  MPI, Cray MPICH). Launch with ``mpirun -n N python train.py`` or ``srun python train.py``;
  the communicator's rank and size are authoritative.
* ``"nccl"`` — GPU tensors (CuPy arrays) through CuPy's NCCL bindings (``cupy.cuda.nccl``).
  The NCCL unique id is made on rank 0 and broadcast over MPI, so NCCL runs are launched with
  mpirun/srun too (one process per GPU; the local rank picks the device).

    import loomgrad as lg
    import loomgrad.distributed as dist

    dist.init_process_group("mpi")
    t = lg.tensor([float(dist.get_rank())])
    dist.all_reduce(t, op=dist.ReduceOp.SUM)     # in place, on every rank

``import loomgrad`` never imports mpi4py or CuPy and never initialises MPI: only
:func:`init_process_group` does. Ranks and sizes given by launchers (mpirun: ``OMPI_COMM_WORLD_*``;
MPICH/Intel MPI: ``PMI_*``; Slurm: ``SLURM_PROCID`` / ``SLURM_NTASKS``; torchrun-style: ``RANK`` /
``WORLD_SIZE`` / ``LOCAL_RANK``) are read by :func:`env_rank_size` and checked against MPI's.
Only the MPI backend was run on the development machine (2 ranks over loopback); see
docs/distributed.md for what was and was not tested.
"""
from __future__ import annotations

import os

import numpy as np

from .tensor import Tensor

__all__ = ["ReduceOp", "init_process_group", "destroy_process_group", "is_initialized",
           "is_available", "get_rank", "get_world_size", "get_local_rank", "get_backend",
           "barrier", "all_reduce", "broadcast", "all_gather", "env_rank_size"]


class ReduceOp:
    """Reduction operations for :func:`all_reduce` (``dist.ReduceOp.SUM`` etc., as torch)."""

    SUM = "sum"
    AVG = "avg"
    MAX = "max"
    MIN = "min"


_OPS = (ReduceOp.SUM, ReduceOp.AVG, ReduceOp.MAX, ReduceOp.MIN)

# (rank, size, local rank, launcher), most specific launcher first: inside a Slurm allocation
# mpirun's own variables win over the allocation's SLURM_PROCID (0 for the batch script).
_ENV_SOURCES = (
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "Open MPI"),
    ("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "PMI (MPICH / Intel MPI)"),
    ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "Slurm"),
    ("RANK", "WORLD_SIZE", "LOCAL_RANK", "torchrun-style"),
)


def env_rank_size(environ=None):
    """``(rank, world_size, local_rank, launcher)`` from the launcher's environment
    variables, or None when none is set. ``local_rank`` is None when not given."""
    env = os.environ if environ is None else environ
    for rk, sz, lk, name in _ENV_SOURCES:
        if rk in env and sz in env:
            try:
                rank, size = int(env[rk]), int(env[sz])
                local = int(env[lk]) if env.get(lk, "") != "" else None
            except ValueError:
                raise RuntimeError(f"init_process_group: {rk}={env[rk]!r}, {sz}={env[sz]!r}, "
                                   f"{lk}={env.get(lk)!r} ({name}) are not integers") from None
            if not (size >= 1 and 0 <= rank < size):
                raise RuntimeError(f"init_process_group: {rk}={rank} and {sz}={size} ({name}) "
                                   "are inconsistent: need 0 <= rank < size")
            return rank, size, local, name
    return None


def is_available() -> bool:
    """True when mpi4py can be imported (without importing it: MPI is not initialised)."""
    import importlib.util
    return importlib.util.find_spec("mpi4py") is not None


# ----------------------------------------------------------------------- process groups
# A group works on contiguous arrays; the Tensor-level functions below wrap it. DDP and the
# tests use the same interface (rank, size, allreduce, iallreduce, broadcast, allgather,
# barrier), so a fake in-process group can stand in for MPI.

class _Work:
    """A pending collective; ``wait()`` completes it (and applies AVG's division)."""

    def __init__(self, request, array, divide_by=None):
        self._req, self._array, self._div = request, array, divide_by

    def test(self) -> bool:
        if self._req is None:
            return True
        done = self._req.Test()
        if done:
            self._finish()
        return done

    def wait(self) -> None:
        if self._req is not None:
            self._req.Wait()
            self._finish()

    def _finish(self):
        self._req = None
        if self._div:
            self._array /= self._div
            self._div = None


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError("loomgrad.distributed: the MPI backend needs mpi4py and an MPI "
                           "library (pip install 'loomgrad[distributed]' with Open MPI or MPICH "
                           f"installed): {e}") from None
    return MPI


def _check_array(a, what):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{what}: the MPI backend works on CPU (NumPy) tensors, got "
                        f"{type(a).__name__}; use backend='nccl' for GPU tensors")
    if not a.flags.c_contiguous:
        raise ValueError(f"{what}: array must be C-contiguous")  # the wrappers copy for us
    return a


class _MPIGroup:
    backend = "mpi"

    def __init__(self, comm):
        self.MPI = _mpi()
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self._ops = {ReduceOp.SUM: self.MPI.SUM, ReduceOp.AVG: self.MPI.SUM,
                     ReduceOp.MAX: self.MPI.MAX, ReduceOp.MIN: self.MPI.MIN}

    def _div(self, a, op):
        if op != ReduceOp.AVG or self.size == 1:
            return None
        if a.dtype.kind not in "fc":
            raise TypeError(f"all_reduce: ReduceOp.AVG needs a floating dtype, got {a.dtype}")
        return self.size

    def allreduce(self, a, op=ReduceOp.SUM) -> None:
        _check_array(a, "all_reduce")
        div = self._div(a, op)
        self.comm.Allreduce(self.MPI.IN_PLACE, a, op=self._ops[op])
        if div:
            a /= div

    def iallreduce(self, a, op=ReduceOp.SUM) -> _Work:
        _check_array(a, "all_reduce")
        div = self._div(a, op)
        return _Work(self.comm.Iallreduce(self.MPI.IN_PLACE, a, op=self._ops[op]), a, div)

    def broadcast(self, a, src: int) -> None:
        self.comm.Bcast(_check_array(a, "broadcast"), root=src)

    def allgather(self, a):
        _check_array(a, "all_gather")
        out = np.empty((self.size,) + a.shape, dtype=a.dtype)
        self.comm.Allgather(a, out)
        return out

    def barrier(self) -> None:
        self.comm.Barrier()

    def close(self) -> None:
        pass  # COMM_WORLD is not ours to free; mpi4py finalises MPI at exit


def _nccl_modules():
    try:
        import cupy
        from cupy.cuda import nccl
    except Exception as e:  # ImportError, or CuPy's own errors when CUDA libs are missing
        raise RuntimeError("init_process_group(backend='nccl') needs CuPy with NCCL "
                           f"(pip install 'loomgrad[cuda]'): {e}") from None
    if not getattr(nccl, "available", True):
        raise RuntimeError("init_process_group(backend='nccl'): this CuPy was built "
                           "without NCCL")
    return cupy, nccl


class _NCCLGroup:
    """GPU collectives on CuPy arrays through ``cupy.cuda.nccl``, on CuPy's current stream.

    Written against CuPy 13's NcclCommunicator; not run on the development machine (no GPU).
    """

    backend = "nccl"

    def __init__(self, mpi_comm, local_rank):
        cupy, nccl = _nccl_modules()
        try:
            ndev = cupy.cuda.runtime.getDeviceCount()
        except Exception as e:
            raise RuntimeError(f"init_process_group(backend='nccl'): no usable GPU: {e}") \
                from None
        if ndev < 1:
            raise RuntimeError("init_process_group(backend='nccl'): no GPU found")
        self.cupy, self.nccl = cupy, nccl
        self.rank, self.size = mpi_comm.Get_rank(), mpi_comm.Get_size()
        self.mpi_comm = mpi_comm
        if local_rank is None:  # ranks on one node are consecutive under the usual mappings
            local_rank = mpi_comm.Split_type(_mpi().COMM_TYPE_SHARED).Get_rank()
        self.device = local_rank % ndev
        cupy.cuda.Device(self.device).use()
        uid = nccl.get_unique_id() if self.rank == 0 else None
        uid = mpi_comm.bcast(uid, root=0)  # the rendezvous goes over MPI
        self.comm = nccl.NcclCommunicator(self.size, uid, self.rank)
        self._types = {np.dtype(np.float32): nccl.NCCL_FLOAT32,
                       np.dtype(np.float64): nccl.NCCL_FLOAT64,
                       np.dtype(np.float16): nccl.NCCL_FLOAT16,
                       np.dtype(np.int32): nccl.NCCL_INT32,
                       np.dtype(np.int64): nccl.NCCL_INT64,
                       np.dtype(np.uint8): nccl.NCCL_UINT8,
                       np.dtype(np.int8): nccl.NCCL_INT8}
        self._ops = {ReduceOp.SUM: nccl.NCCL_SUM, ReduceOp.AVG: nccl.NCCL_SUM,
                     ReduceOp.MAX: nccl.NCCL_MAX, ReduceOp.MIN: nccl.NCCL_MIN}

    def _args(self, a, what):
        if not hasattr(a, "__cuda_array_interface__"):
            raise TypeError(f"{what}: the NCCL backend works on GPU (CuPy) tensors, got "
                            f"{type(a).__name__}")
        if not a.flags.c_contiguous:
            raise ValueError(f"{what}: array must be C-contiguous")
        t = self._types.get(np.dtype(a.dtype))
        if t is None:
            raise TypeError(f"{what}: NCCL has no type for {a.dtype}")
        return a.data.ptr, a.size, t, self.cupy.cuda.get_current_stream().ptr

    def allreduce(self, a, op=ReduceOp.SUM) -> None:
        self.iallreduce(a, op).wait()

    def iallreduce(self, a, op=ReduceOp.SUM) -> _Work:
        ptr, n, t, stream = self._args(a, "all_reduce")
        self.comm.allReduce(ptr, ptr, n, t, self._ops[op], stream)
        # NCCL is asynchronous on the stream; later work on that stream is ordered after it
        div = self.size if op == ReduceOp.AVG and self.size > 1 else None
        return _Work(None, a, None) if div is None else _DivWork(a, div)

    def broadcast(self, a, src: int) -> None:
        ptr, n, t, stream = self._args(a, "broadcast")
        self.comm.bcast(ptr, n, t, src, stream)

    def allgather(self, a):
        ptr, n, t, stream = self._args(a, "all_gather")
        out = self.cupy.empty((self.size,) + tuple(a.shape), dtype=a.dtype)
        self.comm.allGather(ptr, out.data.ptr, n, t, stream)
        return out

    def barrier(self) -> None:
        self.cupy.cuda.get_current_stream().synchronize()
        self.mpi_comm.Barrier()

    def close(self) -> None:
        self.comm.destroy()


class _DivWork(_Work):
    def __init__(self, array, div):
        super().__init__(None, array, div)

    def wait(self) -> None:
        self._finish()

    def test(self) -> bool:
        self._finish()
        return True


# ----------------------------------------------------------------------- the default group
_group = None


def init_process_group(backend: str = "mpi", comm=None) -> None:
    """Join the job's process group (once per process, before any collective).

    ``backend``: ``"mpi"`` (CPU tensors, mpi4py) or ``"nccl"`` (GPU tensors, CuPy's NCCL;
    the unique id is broadcast over MPI). ``comm``: an mpi4py communicator (default
    ``MPI.COMM_WORLD``). MPI's rank and size are authoritative; when a launcher's environment
    variables disagree with them (typically: mpi4py built for another MPI than the mpirun
    that started the job, so every process is rank 0 of 1) this raises RuntimeError saying so.
    """
    global _group
    if _group is not None:
        raise RuntimeError("init_process_group: the default process group is already "
                           "initialised (call destroy_process_group first)")
    if backend not in ("mpi", "nccl"):
        raise ValueError(f"init_process_group: backend must be 'mpi' or 'nccl', got {backend!r}")
    if backend == "nccl":
        _nccl_modules()  # fail before touching MPI when CuPy/NCCL is missing
    MPI = _mpi()
    if comm is None:
        comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    env = _check_env(rank, size) if comm == MPI.COMM_WORLD else None
    local = env[2] if env is not None else None
    _group = _MPIGroup(comm) if backend == "mpi" else _NCCLGroup(comm, local)
    _group.local_rank = local if local is not None else 0


def _check_env(rank: int, size: int, environ=None):
    """The launcher's view (env_rank_size), after checking it agrees with MPI's rank/size."""
    env = env_rank_size(environ)
    if env is not None and (env[0], env[1]) != (rank, size):
        raise RuntimeError(
            f"init_process_group: the {env[3]} launcher says rank {env[0]} of {env[1]}, but MPI "
            f"says rank {rank} of {size}. Usually mpi4py is linked to a different MPI than the "
            f"one whose mpirun/srun started this process (compare `python -c \"from mpi4py "
            f"import MPI; print(MPI.Get_library_version())\"` with `mpirun --version`), or "
            f"stale RANK/WORLD_SIZE variables are set.")
    return env


def destroy_process_group() -> None:
    """Leave the default group (MPI itself stays initialised until the process exits)."""
    global _group
    if _group is not None:
        _group.close()
    _group = None


def is_initialized() -> bool:
    return _group is not None


def _default():
    if _group is None:
        raise RuntimeError("loomgrad.distributed: the default process group is not "
                           "initialised; call lg.distributed.init_process_group() first")
    return _group


def get_rank() -> int:
    return _default().rank


def get_world_size() -> int:
    return _default().size


def get_local_rank() -> int:
    """This process's rank on its node (from the launcher; 0 when it did not say)."""
    return getattr(_default(), "local_rank", 0)


def get_backend() -> str:
    return _default().backend


def barrier() -> None:
    _default().barrier()


def _tensor_array(tensor, what):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{what}: expected a loomgrad Tensor, got {type(tensor).__name__}")
    return tensor.array


def _in_place(tensor, what, fn):
    """Run fn on a contiguous array of tensor's data and write back if it had to copy."""
    a = _tensor_array(tensor, what)
    if a.flags.c_contiguous:
        return fn(a)
    tmp = a.copy()  # NumPy/CuPy copy() is C-ordered
    out = fn(tmp)
    a[...] = tmp
    return out


def all_reduce(tensor, op: str = ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduce ``tensor`` over all ranks, in place on every rank (``op``: ReduceOp.SUM,
    AVG, MAX, MIN). With ``async_op=True`` returns a work handle; call ``.wait()``
    before reading the tensor."""
    if op not in _OPS:
        raise ValueError(f"all_reduce: op must be one of ReduceOp.SUM/AVG/MAX/MIN, got {op!r}")
    g = group or _default()
    a = _tensor_array(tensor, "all_reduce")
    if async_op and a.flags.c_contiguous:
        return g.iallreduce(a, op)
    _in_place(tensor, "all_reduce", lambda x: g.allreduce(x, op))
    return _Work(None, a) if async_op else None


def broadcast(tensor, src: int, group=None, async_op: bool = False):
    """Copy ``tensor`` from rank ``src`` into ``tensor`` on every other rank (in place)."""
    g = group or _default()
    if not isinstance(src, int) or not 0 <= src < g.size:
        raise ValueError(f"broadcast: src must be a rank in [0, {g.size}), got {src!r}")
    _in_place(tensor, "broadcast", lambda x: g.broadcast(x, src))
    return _Work(None, None) if async_op else None


def all_gather(tensor_list, tensor, group=None, async_op: bool = False):
    """Fill ``tensor_list[r]`` with rank r's ``tensor`` (same shape and dtype on all ranks)."""
    g = group or _default()
    if not isinstance(tensor_list, (list, tuple)) or len(tensor_list) != g.size:
        raise ValueError(f"all_gather: tensor_list must be a list of world_size={g.size} "
                         f"Tensors, got {type(tensor_list).__name__} of "
                         f"{len(tensor_list) if hasattr(tensor_list, '__len__') else '?'}")
    a = _tensor_array(tensor, "all_gather")
    for i, t in enumerate(tensor_list):
        d = _tensor_array(t, "all_gather")
        if tuple(d.shape) != tuple(a.shape):
            raise ValueError(f"all_gather: tensor_list[{i}] has shape {tuple(d.shape)}, "
                             f"tensor has shape {tuple(a.shape)}")
    src = a if a.flags.c_contiguous else a.copy()
    out = g.allgather(src)
    for t, part in zip(tensor_list, out):
        t.array[...] = part
    return _Work(None, None) if async_op else None
