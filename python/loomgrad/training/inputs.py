"""What ``fit``/``evaluate``/``predict`` accept as data, turned into batches of Tensors.

- arrays (NumPy, lists, Tensors) ``x`` and ``y``: a TensorDataset in a DataLoader; floating
  inputs are cast to the model's floating dtype (float64 NumPy data meets float32 weights, as
  in Keras), integer targets stay integers (class indices);
- a Dataset (``__getitem__`` + ``__len__``) yielding (x, y) samples: a DataLoader over it;
- a DataLoader, or any re-iterable of (x, y) batches (a list of them too, when y is None):
  used as it is (its own
  batch size, order and shuffling; ``batch_size``/``shuffle`` are not used).
"""
from __future__ import annotations

import math

import numpy as np

from ..data.dataloader import DataLoader
from ..data.dataset import TensorDataset
from ..tensor import Tensor

__all__ = ["is_array", "as_array", "batches", "split_validation", "to_device"]


def is_array(x) -> bool:
    return isinstance(x, (np.ndarray, Tensor, list)) or hasattr(x, "__array__") or \
        hasattr(x, "__cuda_array_interface__")


def as_array(x, name: str, float_dtype=None):
    """The array behind ``x`` (a Tensor's data stays where it is); floating arrays cast to
    ``float_dtype`` when given."""
    a = x.array if isinstance(x, Tensor) else x
    if not hasattr(a, "__cuda_array_interface__"):
        a = np.asarray(a)
        if a.dtype == object:
            raise TypeError(f"{name} must be a numeric array, got an object array")
    if a.ndim == 0:
        raise ValueError(f"{name} must have a sample axis, got a scalar")
    if float_dtype is not None and a.dtype.kind == "f" and a.dtype != float_dtype:
        a = a.astype(float_dtype)
    return a


def split_validation(x, y, fraction: float):
    """Keras' validation_split: the last ``ceil``-rounded fraction of the samples, taken
    before any shuffling. Returns (x_train, y_train, x_val, y_val)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fit: validation_split must be in [0, 1), got {fraction}")
    n = len(x)
    split_at = int(math.ceil(n * (1.0 - fraction)))
    if split_at == n or split_at == 0:
        raise ValueError(f"fit: validation_split={fraction} leaves "
                         f"{'no validation' if split_at == n else 'no training'} samples "
                         f"out of {n}")
    return x[:split_at], y[:split_at], x[split_at:], y[split_at:]


def batches(fn: str, x, y, batch_size: int, shuffle: bool, float_dtype, need_y: bool = True):
    """An iterable of (x, y) batches (``y`` None for predict on arrays) and its length."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or \
            batch_size < 1:
        raise ValueError(f"{fn}: batch_size must be an int >= 1, got {batch_size!r}")
    if is_array(x) and not (isinstance(x, list) and y is None and need_y):
        xa = as_array(x, "x", float_dtype)
        if y is None:
            if need_y:
                raise ValueError(f"{fn}: y is required when x is an array")
            return DataLoader(TensorDataset(Tensor(xa)), batch_size=int(batch_size))
        ya = as_array(y, "y", float_dtype)
        if len(xa) != len(ya):
            raise ValueError(f"{fn}: x and y have different numbers of samples: x "
                             f"{tuple(xa.shape)}, y {tuple(ya.shape)}")
        if len(xa) == 0:
            raise ValueError(f"{fn}: no samples (x has shape {tuple(xa.shape)})")
        return DataLoader(TensorDataset(Tensor(xa), Tensor(ya)), batch_size=int(batch_size),
                          shuffle=bool(shuffle))
    if y is not None:
        raise ValueError(f"{fn}: y must be None when x is a {type(x).__name__} (it yields "
                         f"the targets)")
    if isinstance(x, (DataLoader, list)) or (hasattr(x, "__iter__") and
                                             not hasattr(x, "__getitem__")):
        return x
    if hasattr(x, "__getitem__") and hasattr(x, "__len__"):
        return DataLoader(x, batch_size=int(batch_size), shuffle=bool(shuffle))
    raise TypeError(f"{fn}: x must be an array, a Tensor, a Dataset or a DataLoader, got "
                    f"{type(x).__name__}")


def unpack(fn: str, batch, need_y: bool = True):
    """(x, y) from a batch: a (x, y) pair, or for predict also a bare x or (x,)."""
    if isinstance(batch, (tuple, list)):
        if len(batch) == 2:
            return batch[0], batch[1]
        if len(batch) == 1 and not need_y:
            return batch[0], None
        raise ValueError(f"{fn}: a batch must be (x, y), got a {type(batch).__name__} of "
                         f"{len(batch)}")
    if need_y:
        raise ValueError(f"{fn}: a batch must be an (x, y) pair, got {type(batch).__name__}")
    return batch, None


def to_device(t, device, float_dtype=None) -> Tensor:
    """A batch part as a Tensor on ``device`` (floating data cast to ``float_dtype``)."""
    if not isinstance(t, Tensor):
        t = Tensor(as_array(t, "batch", float_dtype))
    elif float_dtype is not None and t.array.dtype.kind == "f" and t.array.dtype != float_dtype:
        t = Tensor(t.array.astype(float_dtype))
    return t if str(t.device) == str(device) else t.to(device)
