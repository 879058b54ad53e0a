"""Map-style datasets as torch.utils.data has them: Dataset, TensorDataset, Subset,
ConcatDataset, random_split."""
from __future__ import annotations

import bisect
import math

import numpy as np

from .. import random as _random
from ..tensor import Tensor

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split"]


class Dataset:
    """Map-style dataset: subclasses define ``__getitem__(i)`` and ``__len__``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __add__(self, other) -> "ConcatDataset":
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Samples are rows of the given tensors: ``ds[i] == (t0[i], t1[i], ...)``.

    Every tensor needs the same first dimension (the sample count); NumPy
    arrays are wrapped into Tensors (no copy). ``DataLoader`` slices the
    tensors' arrays directly for whole batches instead of calling
    ``__getitem__`` per sample.
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: needs at least one tensor")
        wrapped = []
        for i, t in enumerate(tensors):
            if isinstance(t, (np.ndarray, np.generic)):
                t = Tensor(np.asarray(t))
            elif not isinstance(t, Tensor):
                raise TypeError(f"TensorDataset: tensors[{i}] must be a Tensor or NumPy array, "
                                f"got {type(t).__name__}")
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: tensors[{i}] is 0-D; every tensor needs a "
                                 f"first (sample) dimension")
            wrapped.append(t)
        sizes = [t.shape[0] for t in wrapped]
        if len(set(sizes)) != 1:
            shapes = ", ".join(str(tuple(t.shape)) for t in wrapped)
            raise ValueError(f"TensorDataset: size mismatch between tensors: first dimensions "
                             f"differ (shapes {shapes})")
        self.tensors = tuple(wrapped)

    def __getitem__(self, index):
        return tuple(Tensor(t.array[index]) for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    def __getitem__(self, index):
        if isinstance(index, (list, tuple)):
            return [self.dataset[self.indices[i]] for i in index]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """Several datasets one after another; index ``i`` falls into the first whose
    cumulative size exceeds it (negative indices count from the end)."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        self.cumulative_sizes, total = [], 0
        for d in self.datasets:
            total += len(d)
            self.cumulative_sizes.append(total)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        if index < 0:
            if -index > len(self):
                raise IndexError(f"ConcatDataset: index {index} out of range for length "
                                 f"{len(self)}")
            index += len(self)
        if index >= len(self):
            raise IndexError(f"ConcatDataset: index {index} out of range for length {len(self)}")
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` into non-overlapping random :class:`Subset` s of ``lengths``
    (counts summing to ``len(dataset)``, or fractions summing to 1: torch's rounding,
    the remainder handed out one by one from the first). The permutation comes from
    ``generator`` (a ``numpy.random.Generator``) or the library's (``lg.manual_seed``)."""
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(0 <= f <= 1 for f in lengths) and math.isclose(sum(lengths), 1) \
            and sum(lengths) != n:
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if any(isinstance(x, float) and not float(x).is_integer() for x in lengths) \
            or sum(lengths) != n:
        raise ValueError(f"random_split: lengths {lengths} must sum to the length of the "
                         f"dataset ({n}) or be fractions summing to 1")
    gen = generator if generator is not None else _random.get_generator()
    perm = gen.permutation(n).tolist()
    out, start = [], 0
    for k in lengths:
        k = int(k)
        out.append(Subset(dataset, perm[start:start + k]))
        start += k
    return out
