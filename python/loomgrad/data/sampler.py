"""Samplers: which dataset indices a DataLoader visits, in which order.

``DistributedSampler`` gives each rank of a data-parallel job its own slice of the data set,
with the same indices, shuffling and padding as ``torch.utils.data.DistributedSampler``: for a
given (seed, epoch) both produce identical index lists (the permutation is torch's
``randperm`` on a Mersenne Twister seeded with ``seed + epoch``; tests check this).
"""
from __future__ import annotations

import math

import numpy as np

from .. import distributed, random as _random

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "DistributedSampler"]


class Sampler:
    """Base class: iterate over dataset indices; ``len()`` is how many."""

    def __iter__(self):  # pragma: no cover - abstract
        raise NotImplementedError


class SequentialSampler(Sampler):
    """0, 1, ..., len(dataset) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A fresh permutation per epoch from ``generator`` (a numpy Generator) or the library's."""

    def __init__(self, data_source, generator: np.random.Generator | None = None):
        self.data_source = data_source
        self.generator = generator

    def __iter__(self):
        gen = self.generator if self.generator is not None else _random.get_generator()
        return iter(gen.permutation(len(self.data_source)).tolist())

    def __len__(self) -> int:
        return len(self.data_source)


def torch_randperm(n: int, seed: int) -> list:
    """The permutation ``torch.randperm(n, generator=torch.Generator().manual_seed(seed))``
    returns on the CPU: Fisher-Yates swaps with ``mt19937() % (n - i)``. NumPy's legacy
    RandomState is the same MT19937 with the same seeding, and ``randint`` over the full
    uint32 range returns its raw outputs."""
    if n <= 1:
        return list(range(n))
    if not 0 <= seed < 2**32:
        raise ValueError(f"DistributedSampler: seed + epoch must be in [0, 2**32), got {seed}")
    draws = np.random.RandomState(seed).randint(0, 2**32, size=n - 1, dtype=np.uint64)
    # z_i = draw_i % (n - i) vectorised; the swaps themselves are sequential
    z = (draws % np.arange(n, 1, -1, dtype=np.uint64)).astype(np.int64).tolist()
    p = list(range(n))
    for i, zi in enumerate(z):
        j = i + zi
        p[i], p[j] = p[j], p[i]
    return p


class DistributedSampler(Sampler):
    """This rank's share of ``dataset`` (like ``torch.utils.data.DistributedSampler``).

    Every rank gets ``num_samples = ceil(N / num_replicas)`` indices (``drop_last=False``:
    the shuffled list is padded by repeating its start so all ranks get as many), or
    ``ceil((N - num_replicas) / num_replicas)`` with ``drop_last=True`` (the tail is dropped).
    Rank r takes every num_replicas-th index starting at r. With ``shuffle`` the order is a
    permutation seeded by ``seed + epoch``: call ``set_epoch(epoch)`` at the start of each
    epoch, or every epoch repeats the same order. ``num_replicas`` / ``rank`` default to
    ``lg.distributed``'s world size and rank.
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        if num_replicas is None or rank is None:
            if not distributed.is_initialized():
                raise RuntimeError("DistributedSampler: pass num_replicas and rank, or call "
                                   "lg.distributed.init_process_group() first")
            num_replicas = distributed.get_world_size() if num_replicas is None else num_replicas
            rank = distributed.get_rank() if rank is None else rank
        for name, v in (("num_replicas", num_replicas), ("rank", rank), ("seed", seed)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"DistributedSampler: {name} must be an int, got "
                                f"{type(v).__name__}")
        if num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be >= 1, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last and n % self.num_replicas != 0:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def __iter__(self):
        n = len(self.dataset)
        indices = torch_randperm(n, self.seed + self.epoch) if self.shuffle else list(range(n))
        if not self.drop_last:
            pad = self.total_size - len(indices)
            if pad <= len(indices):
                indices += indices[:pad]
            else:
                indices += (indices * math.ceil(pad / len(indices)))[:pad]
        else:
            indices = indices[:self.total_size]
        assert len(indices) == self.total_size
        indices = indices[self.rank:self.total_size:self.num_replicas]
        assert len(indices) == self.num_samples
        return iter(indices)

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` for the next iteration's shuffle (same on every rank)."""
        self.epoch = int(epoch)
