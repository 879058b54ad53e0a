"""DataLoader: batches, shuffling and collation."""
from __future__ import annotations

import math
import numbers
from typing import Callable, Iterator

import numpy as np

from .. import random as _random
from ..autograd import array_module
from ..tensor import Tensor
from .dataset import TensorDataset
from .worker import WorkerIterator, WorkerPool

__all__ = ["DataLoader", "default_collate"]


def default_collate(batch: list):
    """Stack a list of samples into a batch: Tensors/arrays -> a Tensor with
    a new first dim; ints -> int64, floats -> float64 Tensors (as torch);
    tuples/lists and dicts are collated field by field."""
    if not batch:
        raise ValueError("default_collate: empty batch")
    first = batch[0]
    if isinstance(first, Tensor):
        # samples stay where they are: CPU data (the usual case) gives CPU batches
        return Tensor(array_module(first.array).stack([s.array for s in batch]))
    if isinstance(first, (np.ndarray, np.number)):
        return Tensor(np.stack([np.asarray(s) for s in batch]))
    if isinstance(first, bool):
        return Tensor(np.asarray(batch, dtype=np.bool_))
    if isinstance(first, numbers.Integral):
        return Tensor(np.asarray(batch, dtype=np.int64))
    if isinstance(first, numbers.Real):
        return Tensor(np.asarray(batch, dtype=np.float64))
    if isinstance(first, dict):
        return {k: default_collate([s[k] for s in batch]) for k in first}
    if isinstance(first, (tuple, list)):
        if any(len(s) != len(first) for s in batch):
            raise ValueError("default_collate: samples in a batch have different lengths")
        fields = [default_collate(list(f)) for f in zip(*batch)]
        return fields if isinstance(first, list) else tuple(fields)
    if isinstance(first, str):
        return list(batch)
    raise TypeError(f"default_collate: don't know how to batch samples of type "
                    f"{type(first).__name__}")


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"DataLoader: {name} must be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"DataLoader: {name} must be >= {low}, got {value}")
    return int(value)


class DataLoader:
    """Iterate over a dataset in batches (like ``torch.utils.data.DataLoader``).

    Yields ``collate_fn([dataset[i] for i in batch_indices])``; for a
    TensorDataset with the default collate the tensors' arrays are indexed
    once per batch instead (same result, much faster). ``len(loader)`` is the
    number of batches: ceil(n / batch_size), or floor with ``drop_last``.

    Shuffling: with ``generator`` (a ``numpy.random.Generator``) or ``seed``
    each epoch draws a new permutation from that generator, so the sequence
    of epochs repeats run to run; without either, each epoch draws from the
    library generator (``lg.manual_seed`` controls it).

    ``sampler`` (any iterable of indices with ``len``, e.g. a
    :class:`~loomgrad.data.DistributedSampler`) decides the indices and their
    order instead; like torch, it excludes ``shuffle=True``.

    ``num_workers > 0`` fetches batches in that many worker processes (see
    :mod:`loomgrad.data.worker`: same batches in the same order as ``num_workers=0``,
    workers seeded per worker as torch, a worker's exception re-raised here, a dead
    worker a RuntimeError); ``multiprocessing_context`` picks the start method ("fork",
    Linux's default, needs nothing picklable; "spawn"/"forkserver" pickle the dataset
    and collate_fn), ``persistent_workers`` keeps them between epochs,
    ``prefetch_factor`` batches per worker are requested ahead (2), ``timeout`` bounds the
    wait for one batch (0: no bound), ``worker_init_fn(worker_id)`` runs first in each.
    ``pin_memory`` is accepted and has no effect.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, collate_fn: Callable | None = None,
                 generator: np.random.Generator | None = None, seed: int | None = None,
                 sampler=None, num_workers: int = 0, pin_memory: bool = False,
                 timeout: float = 0, worker_init_fn: Callable | None = None,
                 multiprocessing_context=None, prefetch_factor: int | None = None,
                 persistent_workers: bool = False, pin_memory_device: str = ""):
        if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise TypeError(f"DataLoader: dataset must define __getitem__ and __len__, got "
                            f"{type(dataset).__name__}")
        self.dataset = dataset
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.shuffle = bool(shuffle)
        if sampler is not None:
            if self.shuffle:
                raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
            if not hasattr(sampler, "__iter__") or not hasattr(sampler, "__len__"):
                raise TypeError(f"DataLoader: sampler must be an iterable of indices with "
                                f"__len__, got {type(sampler).__name__}")
        self.sampler = sampler
        self.drop_last = bool(drop_last)
        self.collate_fn = default_collate if collate_fn is None else collate_fn
        if generator is not None and seed is not None:
            raise ValueError("DataLoader: pass generator or seed, not both")
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise TypeError(f"DataLoader: generator must be a numpy.random.Generator, got "
                            f"{type(generator).__name__}")
        if seed is not None:
            generator = np.random.default_rng(_check_int("seed", seed, 0))
        self.generator = generator
        self.num_workers = _check_int("num_workers", num_workers, 0)
        if self.num_workers == 0 and (prefetch_factor is not None or persistent_workers):
            raise ValueError("DataLoader: prefetch_factor and persistent_workers need "
                             "num_workers > 0 (as torch)")
        self.prefetch_factor = 2 if prefetch_factor is None else \
            _check_int("prefetch_factor", prefetch_factor, 1)
        self.persistent_workers = bool(persistent_workers)
        self.pin_memory = bool(pin_memory)  # no effect: see the class docstring
        if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or timeout < 0:
            raise ValueError(f"DataLoader: timeout must be a number >= 0, got {timeout!r}")
        self.timeout = float(timeout)
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self._pool = None

    def __len__(self) -> int:
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self) -> np.ndarray:
        if self.sampler is not None:
            return np.fromiter(iter(self.sampler), dtype=np.int64)
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        gen = self.generator if self.generator is not None else _random.get_generator()
        return gen.permutation(n)

    def __iter__(self) -> Iterator:
        order = self._order()
        batches = [order[b * self.batch_size:(b + 1) * self.batch_size]
                   for b in range(len(self))]
        fetch = _Fetcher(self.dataset, self.collate_fn)
        if self.num_workers == 0:
            return map(fetch, batches)
        if self._pool is None or not self._pool.procs:
            seeds = self.generator if self.generator is not None else _random.get_generator()
            self._pool = WorkerPool(fetch, self.dataset, self.num_workers, self.worker_init_fn,
                                    self.multiprocessing_context, seeds)
        pool = self._pool
        if not self.persistent_workers:
            self._pool = None
        return WorkerIterator(pool, batches, self.prefetch_factor, self.timeout,
                              close_after=not self.persistent_workers)

    def __del__(self):
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown()

    def __repr__(self) -> str:
        return (f"DataLoader(dataset={type(self.dataset).__name__} of {len(self.dataset)}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last})")


class _Fetcher:
    """One batch from its indices: a TensorDataset with the default collate is indexed
    once per batch (fancy indexing copies, so a batch never aliases the dataset); else
    ``collate_fn`` of the samples. A class, so that "spawn" workers can unpickle it."""

    def __init__(self, dataset, collate_fn):
        self.dataset, self.collate_fn = dataset, collate_fn
        self.fast = isinstance(dataset, TensorDataset) and collate_fn is default_collate

    def __call__(self, idx):
        if self.fast:
            return tuple(Tensor(t.array[idx]) for t in self.dataset.tensors)
        return self.collate_fn([self.dataset[int(i)] for i in idx])
