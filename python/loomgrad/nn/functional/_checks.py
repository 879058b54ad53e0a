"""Argument checks and helpers shared by the nn.functional families (one home each)."""
from __future__ import annotations

import numbers

import numpy as np

from ...autograd import array_module, check_same_device
from ...kernels import _alloc
from ...kernels._args import REDUCTIONS
from ...tensor import Tensor


def _check_tensor(fn: str, name: str, x) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: {name} must be a Tensor, got {type(x).__name__}")
    return x


def _check_reduction(fn: str, reduction) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _check_probability(fn: str, p) -> None:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{fn}: p must be a probability in [0, 1], got {p!r}")


def _raw(x, input: Tensor, fn: str):
    """The array behind a Tensor, or ``x`` (a list, number or array) as an array on
    ``input``'s device; an array or Tensor on another device is a RuntimeError."""
    if isinstance(x, Tensor):
        a = x.array
    elif isinstance(x, np.ndarray) or hasattr(x, "__cuda_array_interface__"):
        a = x
    else:
        a = array_module(input.array).asarray(x)
    check_same_device((input.array, a), fn)
    return a


def _like_input(x, input: Tensor, fn: str) -> Tensor:
    """``x`` (Tensor, array, list or number) as a Tensor on input's device (in
    input's dtype unless it is a Tensor already)."""
    if isinstance(x, Tensor):
        check_same_device((input.array, x.array), fn)
        return x
    return Tensor(_raw(x, input, fn).astype(input.dtype, copy=False))


def _norm_dim(fn: str, dim: int, ndim: int) -> int:
    n = max(ndim, 1)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not -n <= dim < n:
        raise ValueError(f"{fn}: dim {dim!r} is out of range for a {ndim}-D input")
    return int(dim) % n


def _reduce(fn: str, per_item: Tensor, reduction: str, denom=None) -> Tensor:
    if reduction == "none":
        return per_item
    total = per_item.sum()
    if reduction == "sum":
        return total
    return total / (per_item.numel() if denom is None else denom)


def _target_like(fn: str, input: Tensor, target) -> Tensor:
    """``target`` as a Tensor of input's dtype and shape (a mismatch is a ValueError:
    broadcasting a target is almost always a bug, and torch refuses it for BCE)."""
    target = _like_input(target, input, fn)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"{fn}: target shape {tuple(target.shape)} differs from input shape "
                         f"{tuple(input.shape)}")
    return target


def _loss_args(fn: str, input, target, size_average, reduce, reduction) -> Tensor:
    _check_tensor(fn, "input", input)
    if size_average is not None or reduce is not None:
        raise TypeError(f"{fn}: size_average and reduce are deprecated; use reduction=")
    _check_reduction(fn, reduction)
    if input.dtype.kind != "f":
        raise TypeError(f"{fn}: input must be floating point, got {input.dtype}")
    return _target_like(fn, input, target)


def _loss_args(fn: str, input, target, size_average, reduce, reduction) -> Tensor:
    """The checks every elementwise loss makes; returns target as a Tensor like input."""
    _check_tensor(fn, "input", input)
    _check_legacy_reduction(fn, size_average, reduce)
    _check_reduction(fn, reduction)
    if input.dtype.kind != "f":
        raise TypeError(f"{fn}: input must be floating point, got {input.dtype}")
    return _target_like(fn, input, target)


def _check_legacy_reduction(fn: str, size_average, reduce) -> None:
    if size_average is not None or reduce is not None:
        raise TypeError(f"{fn}: size_average and reduce are deprecated; use reduction=")


def _image_input(fn: str, x) -> bool:
    """Checks a (N, C, H, W) or unbatched (C, H, W) input; True when unbatched."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim not in (3, 4):
        raise ValueError(f"{fn}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
                         f"{tuple(x.shape)}")
    if x.dtype.kind != "f":
        raise TypeError(f"{fn}: input must be floating point, got {x.dtype}")
    return x.ndim == 3


def _unsqueeze0(t: Tensor) -> Tensor:
    return t.reshape(1, *t.shape)


def _contig(name: str, x):
    """C-contiguous input for the kernels: size-checked on the host; on the GPU
    the GPU glue makes it contiguous (from CuPy's pool)."""
    return _alloc.contiguous(name, x) if isinstance(x, np.ndarray) else x
