"""Dataset and TensorDataset."""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor

__all__ = ["Dataset", "TensorDataset"]


class Dataset:
    """Map-style dataset: subclasses define ``__getitem__(i)`` and ``__len__``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


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
        return tuple(Tensor(t.data[index]) for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]
