"""Softmax, log-softmax and fused softmax cross-entropy on arrays (last dimension).

torch's semantics (``torch.softmax``, ``log_softmax``, ``F.cross_entropy`` with
index or probability targets, ignore_index, class weights, label smoothing and
reductions). float32 or float64. NumPy arrays run on csrc/cpu/softmax_xent.cpp,
GPU arrays on csrc/cuda/softmax_xent.cu (kernels/gpu/xent.py).
"""
from __future__ import annotations

import numpy as np

from .. import _cpu
from . import _alloc
from ._args import float_array, rows, xent_options
from .gpu import xent as gpu_xent
from ._interop import any_array
from ._types import Array
from .gpu.arrays import any_gpu

__all__ = ["softmax", "softmax_backward", "log_softmax", "log_softmax_backward",
           "softmax_cross_entropy", "softmax_cross_entropy_backward"]


def _softmax_fwd(fn, x) -> np.ndarray:
    x = float_array("x", x)
    out = _alloc.empty("out", x.shape, x.dtype)
    if x.size:
        fn(rows("x", x), rows("x", out))
    return out


@any_array
def softmax(x) -> Array:
    """Softmax over the last dimension (any shape (..., C); a row of all -inf
    gives NaN, like torch). Returns an array shaped like x."""
    if any_gpu(x):
        return gpu_xent.softmax(x)
    return _softmax_fwd(_cpu.softmax_forward, x)


@any_array
def log_softmax(x) -> Array:
    """Log-softmax over the last dimension, computed stably as
    ``x - max - log(sum(exp(x - max)))``. Returns an array shaped like x."""
    if any_gpu(x):
        return gpu_xent.log_softmax(x)
    return _softmax_fwd(_cpu.log_softmax_forward, x)


def _softmax_bwd(fn, grad_out, out) -> np.ndarray:
    out = float_array("out", out)
    grad_out = float_array("grad_out", grad_out, out.dtype)
    if grad_out.shape != out.shape:
        raise ValueError(f"grad_out: expected shape {out.shape} (like out), got {grad_out.shape}")
    dx = _alloc.empty("grad_input", out.shape, out.dtype)
    if out.size:
        fn(rows("out", out), rows("grad_out", grad_out), rows("grad_input", dx))
    return dx


@any_array
def softmax_backward(grad_out, out) -> Array:
    """Gradient of :func:`softmax` from its output: ``out * (grad_out -
    sum(grad_out * out, -1))``. Shapes (..., C)."""
    if any_gpu(grad_out, out):
        return gpu_xent.softmax_backward(grad_out, out)
    return _softmax_bwd(_cpu.softmax_backward, grad_out, out)


@any_array
def log_softmax_backward(grad_out, out) -> Array:
    """Gradient of :func:`log_softmax` from its output: ``grad_out -
    exp(out) * sum(grad_out, -1)``. Shapes (..., C)."""
    if any_gpu(grad_out, out):
        return gpu_xent.log_softmax_backward(grad_out, out)
    return _softmax_bwd(_cpu.log_softmax_backward, grad_out, out)


def _xent_args(logits, target, weight, reduction, label_smoothing,
               ignore_index) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, float, int, bool]:
    logits = float_array("logits", logits)
    reduction, ls, ignore_index = xent_options(reduction, label_smoothing, ignore_index)
    target = np.asarray(target)
    unbatched = logits.ndim == 1
    if logits.ndim not in (1, 2):
        raise ValueError(f"logits: expected a 2-D (N, C) or 1-D (C,) array, got shape "
                         f"{logits.shape}")
    if unbatched:
        logits, target = logits[None], target[None]
    if np.issubdtype(target.dtype, np.integer):
        target = np.ascontiguousarray(target, dtype=np.int64)
    elif np.issubdtype(target.dtype, np.floating):
        target = float_array("target", target.astype(logits.dtype, copy=False))
    else:
        raise TypeError(f"target: expected integer class indices or float probabilities, "
                        f"got dtype {target.dtype}")
    if weight is not None:
        weight = float_array("weight", weight, logits.dtype)
    return logits, target, weight, ls, ignore_index, unbatched


@any_array
def softmax_cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean",
                          label_smoothing=0.0) -> Array:
    """Fused softmax cross-entropy, as ``torch.nn.functional.cross_entropy``.

    Shapes: logits (N, C) (or (C,)); target (N,) integer class indices (or a
    0-d index) -- rows equal to ``ignore_index`` contribute nothing -- or
    (N, C) class probabilities; weight (C,) or None. Returns the loss: a 0-d
    array for 'mean'/'sum', (N,) for 'none'. Weighted 'mean' divides by the
    summed weight of the non-ignored targets (by N for probability targets).
    The backward needs only the forward's arguments (nothing is saved).
    """
    if any_gpu(logits, target):
        return gpu_xent.softmax_cross_entropy(logits, target, weight, ignore_index, reduction,
                                                   label_smoothing)
    logits, target, weight, ls, ii, unbatched = _xent_args(
        logits, target, weight, reduction, label_smoothing, ignore_index)
    n = logits.shape[0]
    loss = np.empty((n,) if reduction == "none" else (), logits.dtype)
    _cpu.softmax_xent_forward(logits, target, weight, loss, ii, reduction, ls)
    if unbatched and reduction == "none":
        loss = loss.reshape(())
    return loss


@any_array
def softmax_cross_entropy_backward(grad_loss, logits, target, weight=None, ignore_index=-100,
                                   reduction="mean", label_smoothing=0.0) -> Array:
    """Gradient of :func:`softmax_cross_entropy` with respect to the logits.

    grad_loss is the loss's gradient: a scalar for 'mean'/'sum', (N,) for
    'none'. Other arguments as in the forward. Returns grad_logits shaped like
    logits.
    """
    if any_gpu(grad_loss, logits, target):
        return gpu_xent.softmax_cross_entropy_backward(grad_loss, logits, target, weight,
                                                            ignore_index, reduction, label_smoothing)
    shape = np.shape(logits)
    logits, target, weight, ls, ii, unbatched = _xent_args(
        logits, target, weight, reduction, label_smoothing, ignore_index)
    n = logits.shape[0]
    g = np.ascontiguousarray(grad_loss, dtype=logits.dtype)
    if reduction == "none":
        g = g.reshape((n,)) if g.size == n else g
    elif g.shape != ():
        if g.size != 1:
            raise ValueError(f"grad_loss: expected a scalar for reduction={reduction!r}, "
                             f"got shape {g.shape}")
        g = g.reshape(())
    dx = np.empty(logits.shape, logits.dtype)
    _cpu.softmax_xent_backward(g, logits, target, weight, dx, ii, reduction, ls)
    return dx.reshape(shape)
