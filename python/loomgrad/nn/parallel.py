"""nn.parallel.DistributedDataParallel: data-parallel training over lg.distributed.

How it works (the same plan as torch's DDP, in a few hundred lines):

* At construction rank 0's parameters and buffers are broadcast, so every rank starts equal.
* Parameters (those requiring grad) are packed, in reverse registration order (roughly the
  order backward produces their gradients), into buckets of at most ``bucket_cap_mb`` MiB
  and one dtype each.
* Each parameter has a post-accumulate-grad hook (``autograd.register_post_accumulate_grad_hook``).
  The engine calls it as soon as that parameter's gradient is final, while the rest of backward
  still runs. When every parameter of a bucket is ready, the bucket's gradients are copied into
  its flat buffer and a non-blocking all-reduce (MPI ``Iallreduce``) starts. Buckets start
  strictly in bucket order on every rank, as MPI requires collectives to be issued in the same
  order everywhere; a ready bucket waits for its predecessors.
* A callback queued on the engine (``autograd.queue_callback``) runs when backward ends: it starts
  any bucket still waiting (parameters that got no gradient contribute zeros), waits for all,
  and writes ``sum / world_size`` back into every ``p.grad``. So after ``loss.backward()``
  returns, the gradients are averaged and ``optimizer.step()`` can run.

Overlap is real only as far as the MPI library progresses a collective in the background;
Open MPI over TCP mostly progresses inside MPI calls, so the hooks also ``Test`` the pending
requests to push them along. With NCCL the all-reduces run on the GPU stream asynchronously.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from .. import autograd, distributed
from ..tensor import Tensor
from .module import Module

__all__ = ["DistributedDataParallel"]


class _Bucket:
    __slots__ = ("params", "offsets", "numel", "dtype", "buffer", "pending", "work")

    def __init__(self, dtype):
        self.params, self.offsets, self.numel, self.dtype = [], [], 0, dtype
        self.buffer = self.work = None
        self.pending = 0


def _bucket_params(params, cap_bytes):
    """Split ``params`` (already in gradient-ready order) into buckets of one dtype and at
    most ``cap_bytes`` each (a parameter bigger than the cap gets a bucket to itself)."""
    buckets = []
    cur = None
    for p in params:
        dt = p.array.dtype
        nbytes = p.array.size * dt.itemsize
        if cur is None or cur.dtype != dt or (cur.params and
                                              (cur.numel * dt.itemsize + nbytes > cap_bytes)):
            cur = _Bucket(dt)
            buckets.append(cur)
        cur.params.append(p)
        cur.offsets.append(cur.numel)
        cur.numel += p.array.size
    return buckets


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training (like ``torch.nn.parallel.DistributedDataParallel``).

    Every rank builds the same model and wraps it; construction broadcasts rank 0's
    parameters and buffers. Each rank runs forward/backward on its own shard of the batch;
    when ``backward()`` returns, every parameter's ``.grad`` holds the average over ranks.
    ``forward`` calls ``module`` (with ``broadcast_buffers=True`` rank 0's buffers, e.g.
    BatchNorm running stats, are broadcast first, as torch does). ``no_sync()`` skips the
    averaging for gradient accumulation; the next synced backward averages the total.

    ``state_dict()`` / ``load_state_dict()`` are the wrapped module's, without torch's
    ``"module."`` prefix, so a checkpoint saved from the wrapper loads into the bare model and
    back; ``load_state_dict`` also accepts torch-style keys that all start with ``"module."``.
    ``named_parameters()`` does keep the prefix (``module.`` is a real sub-module).

    ``process_group``: an object with the lg.distributed group interface; default: the one
    ``lg.distributed.init_process_group`` made.
    """

    def __init__(self, module: Module, bucket_cap_mb: float = 25, broadcast_buffers: bool = True,
                 process_group=None):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be a Module, got "
                            f"{type(module).__name__}")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be > 0, got "
                             f"{bucket_cap_mb}")
        if process_group is None:
            process_group = distributed._default()
        self.module = module
        g = process_group
        object.__setattr__(self, "process_group", g)
        object.__setattr__(self, "broadcast_buffers", bool(broadcast_buffers))
        object.__setattr__(self, "bucket_cap_mb", bucket_cap_mb)
        object.__setattr__(self, "_sync", True)
        object.__setattr__(self, "_callback_queued", False)
        object.__setattr__(self, "_next_bucket", 0)
        # start from rank 0's state
        for t in [*module.parameters(), *module.buffers()]:
            self._broadcast(t)
        params = [p for p in module.parameters() if p.requires_grad]
        buckets = _bucket_params(list(reversed(params)), bucket_cap_mb * 2**20)
        where = {}
        for bi, b in enumerate(buckets):
            xp = autograd.array_module(b.params[0].array)
            b.buffer = xp.empty(b.numel, dtype=b.dtype)
            b.pending = len(b.params)
            for pi, p in enumerate(b.params):
                where[id(p)] = (bi, pi)
        object.__setattr__(self, "_buckets", buckets)
        object.__setattr__(self, "_where", where)
        handles = [p.register_post_accumulate_grad_hook(self._grad_ready) for p in params]
        object.__setattr__(self, "_hook_handles", handles)

    # ------------------------------------------------------------------ communication
    def _broadcast(self, t):
        a = t.array
        if a.flags.c_contiguous:
            self.process_group.broadcast(a, 0)
        else:
            tmp = a.copy()
            self.process_group.broadcast(tmp, 0)
            a[...] = tmp

    def _reset(self):
        object.__setattr__(self, "_next_bucket", 0)
        object.__setattr__(self, "_callback_queued", False)
        for b in self._buckets:
            b.pending = len(b.params)
            b.work = None

    def _grad_ready(self, p):
        if not self._sync:
            return
        if not self._callback_queued:
            autograd.queue_callback(self._finalize)
            object.__setattr__(self, "_callback_queued", True)
        bi, _ = self._where[id(p)]
        self._buckets[bi].pending -= 1
        self._launch_ready()
        for b in self._buckets[:self._next_bucket]:  # let MPI progress what is in flight
            if b.work is not None:
                b.work.test()

    def _launch_ready(self):
        buckets = self._buckets
        while self._next_bucket < len(buckets) and buckets[self._next_bucket].pending == 0:
            self._launch(buckets[self._next_bucket])
            object.__setattr__(self, "_next_bucket", self._next_bucket + 1)

    def _launch(self, b):
        flat = b.buffer
        for p, off in zip(b.params, b.offsets):
            n = p.array.size
            if p.grad is None:
                flat[off:off + n] = 0
            else:
                flat[off:off + n] = p.grad.array.reshape(-1)
        b.work = self.process_group.iallreduce(flat, "sum")

    def _finalize(self):
        """End of backward: start what is left, wait for everything, write the averages."""
        for b in self._buckets[self._next_bucket:]:
            self._launch(b)
        size = self.process_group.size
        for b in self._buckets:
            b.work.wait()
            flat = b.buffer
            if size > 1:
                flat /= size
            for p, off in zip(b.params, b.offsets):
                g = flat[off:off + p.array.size].reshape(p.array.shape)
                if p.grad is None:
                    p.grad = Tensor(g.copy())
                else:
                    p.grad.array[...] = g
        self._reset()

    @contextmanager
    def no_sync(self):
        """Inside, backward leaves gradients local (accumulate over several micro-batches);
        the first backward after it averages the accumulated total."""
        prev = self._sync
        object.__setattr__(self, "_sync", False)
        try:
            yield
        finally:
            object.__setattr__(self, "_sync", prev)

    # ------------------------------------------------------------------ module API
    def forward(self, *args, **kwargs):
        self._reset()  # a backward that raised midway leaves no stale bucket state
        if self.broadcast_buffers and self.training and self.process_group.size > 1:
            for b in self.module.buffers():
                self._broadcast(b)
        return self.module(*args, **kwargs)

    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False):
        return self.module.state_dict(destination=destination, prefix=prefix,
                                      keep_vars=keep_vars)

    def load_state_dict(self, state_dict, strict: bool = True):
        keys = list(state_dict.keys()) if hasattr(state_dict, "keys") else []
        if keys and all(k.startswith("module.") for k in keys):
            state_dict = {k[len("module."):]: state_dict[k] for k in keys}
        return self.module.load_state_dict(state_dict, strict=strict)

    # ------------------------------------------------------------------ fit (Trainer hooks)
    def _local_batch(self, x, y):
        """This rank's contiguous share of a global batch (every rank draws the same batches),
        and the factor on its mean loss that makes the ranks' averaged gradient the full
        batch's: local_n * world / global_n. A rank whose share is empty (a last batch
        smaller than the world) runs the first sample with factor 0, so it still joins the
        all-reduce."""
        n, world, rank = len(y), self.process_group.size, self.process_group.rank
        lo, hi = rank * n // world, (rank + 1) * n // world
        if hi == lo:
            return Tensor(x.array[:1]), Tensor(y.array[:1]), 0.0
        return Tensor(x.array[lo:hi]), Tensor(y.array[lo:hi]), (hi - lo) * world / n

    def _global_sums(self, values):
        """Per-rank sums added over all ranks (fit's epoch loss and counts; host arrays: fit
        with DDP runs on the MPI backend)."""
        a = np.asarray(values, dtype=np.float64)
        self.process_group.allreduce(a)
        return [float(v) for v in a]

    def extra_repr(self) -> str:
        return (f"world_size={self.process_group.size}, buckets={len(self._buckets)}, "
                f"bucket_cap_mb={self.bucket_cap_mb}")
