"""GPU half of the raw softmax / cross-entropy kernels (``loomgrad._cuda``,
csrc/cuda/softmax_xent.cu).

Same signatures, shapes and errors as the CPU functions in
kernels/conv.py, pool.py and xent.py (which route GPU arrays here). float32 only;
outputs and workspaces come from CuPy's pool and the kernels run on CuPy's
current stream. Class indices are checked inside the kernels, which never
read with a bad one and set a flag instead; the flag is read back after the
launch (a synchronisation, for class-index targets only) and a bad index
raises the CPU kernel's ValueError. A scalar ``grad_loss`` may be a Python
number or 0-d host array (it is copied over); other operands must be GPU
arrays.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _args
from .._types import GpuArray
from . import arrays


def _softmax_fwd(fn, x, log) -> GpuArray:
    cuda, _ = arrays.require()
    x = arrays.float_array(fn, "x", x)
    out = arrays.empty(x.shape)
    if x.size:
        rows = _args.rows("x", x)
        cuda.softmax_forward(rows.shape[0], rows.shape[1], arrays.ptr(x), arrays.ptr(out), log,
                             arrays.stream())
    return out


def softmax(x) -> GpuArray:
    """GPU :func:`loomgrad.kernels.softmax` (last dimension)."""
    return _softmax_fwd("softmax", x, False)


def log_softmax(x) -> GpuArray:
    """GPU :func:`loomgrad.kernels.log_softmax` (last dimension)."""
    return _softmax_fwd("log_softmax", x, True)


def _softmax_bwd(fn, grad_out, out, log) -> GpuArray:
    cuda, _ = arrays.require()
    out = arrays.float_array(fn, "out", out)
    grad_out = arrays.float_array(fn, "grad_out", grad_out)
    if grad_out.shape != out.shape:
        raise ValueError(f"grad_out: expected shape {out.shape} (like out), got {grad_out.shape}")
    dx = arrays.empty(out.shape)
    if out.size:
        rows = _args.rows("out", out)
        cuda.softmax_backward(rows.shape[0], rows.shape[1], arrays.ptr(out), arrays.ptr(grad_out),
                              arrays.ptr(dx), log, arrays.stream())
    return dx


def softmax_backward(grad_out, out) -> GpuArray:
    """GPU :func:`loomgrad.kernels.softmax_backward`."""
    return _softmax_bwd("softmax_backward", grad_out, out, False)


def log_softmax_backward(grad_out, out) -> GpuArray:
    """GPU :func:`loomgrad.kernels.log_softmax_backward`."""
    return _softmax_bwd("log_softmax_backward", grad_out, out, True)


def _xent_args(fn, logits, target, weight, reduction, label_smoothing,
               ignore_index) -> tuple[GpuArray, GpuArray | None, GpuArray | None, GpuArray | None,
                                      float, int, bool]:
    """The CPU ``_xent_args`` and the CPU binding's checks, on GPU arrays:
    (logits (N, C), int64 target or None, float32 target_prob or None,
    weight or None, label_smoothing, ignore_index, unbatched)."""
    _, cp = arrays.require()
    logits = arrays.float_array(fn, "logits", logits)
    reduction, ls, ignore_index = _args.xent_options(reduction, label_smoothing, ignore_index)
    if isinstance(target, numbers.Number) and not isinstance(target, bool):
        target = cp.asarray(target)  # a 0-d class index for unbatched logits
    else:
        target = arrays.as_cupy(fn, "target", target)
    if logits.ndim not in (1, 2):
        raise ValueError(f"logits: expected a 2-D (N, C) or 1-D (C,) array, got shape "
                         f"{logits.shape}")
    unbatched = logits.ndim == 1
    if unbatched:
        logits, target = logits[None], target[None]
    N, C = logits.shape
    index = prob = None
    if np.issubdtype(target.dtype, np.integer):
        index = arrays.int_array(fn, "target", target)
        if index.shape != (N,):
            raise ValueError(f"target: expected shape {(N,)} (class indices, one per row of "
                             f"logits), got {index.shape}")
    elif np.issubdtype(target.dtype, np.floating):
        prob = arrays.float_array(fn, "target", target.astype(cp.float32, copy=False))
        if prob.shape != (N, C):
            raise ValueError(f"target: expected shape {(N, C)} (class probabilities, like "
                             f"logits), got {prob.shape}")
    else:
        raise TypeError(f"target: expected integer class indices or float probabilities, "
                        f"got dtype {target.dtype}")
    if weight is not None:
        weight = arrays.float_array(fn, "weight", weight)
        if weight.shape != (C,):
            raise ValueError(f"weight: expected shape {(C,)} (one per class), got {weight.shape}")
    if index is not None and N and not C:  # no kernel runs: every index must be ignored
        _raise_bad_target(index, C, ignore_index)
    return logits, index, prob, weight, ls, ignore_index, unbatched


def _raise_bad_target(index, C, ignore_index) -> None:
    """The CPU kernel's ValueError for the first class index that is neither
    in [0, C) nor ignore_index, if there is one (the slow path: after a
    kernel raised its flag, or when C == 0)."""
    _, cp = arrays.require()
    bad = (index != ignore_index) & ((index < 0) | (index >= C))
    if bool(bad.any()):
        i = int(cp.argmax(bad))
        raise ValueError(f"softmax_cross_entropy: target[{i}] = {int(index[i])} is out of "
                         f"range for {C} classes (and is not ignore_index = {ignore_index})")


def _check_flag(flag, index, C, ignore_index) -> None:
    if index is not None and int(flag[0]):
        _raise_bad_target(index, C, ignore_index)


def softmax_cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean",
                          label_smoothing=0.0) -> GpuArray:
    """GPU :func:`loomgrad.kernels.softmax_cross_entropy`; mean/sum are
    deterministic (per-row losses summed in double by one block)."""
    cuda, _ = arrays.require()
    logits, index, prob, weight, ls, ii, unbatched = _xent_args(
        "softmax_cross_entropy", logits, target, weight, reduction, label_smoothing,
        ignore_index)
    n, C = logits.shape
    none = reduction == "none"
    loss = arrays.empty((n,) if none else ())
    if n == 0 or C == 0:  # empty sums; an empty mean is NaN (as the CPU kernel)
        loss.fill(np.nan if reduction == "mean" else 0.0)
    else:
        ws = None if none else arrays.empty((2, n), np.float64)
        flag = arrays.empty((1,), np.int32)  # zeroed by the launcher
        cuda.softmax_xent_forward(n, C, arrays.ptr(logits), arrays.ptr(index), arrays.ptr(prob),
                                  arrays.ptr(weight), ii, reduction, ls, arrays.ptr(loss),
                                  0 if ws is None else arrays.ptr(ws[0]),
                                  0 if ws is None else arrays.ptr(ws[1]), arrays.ptr(flag),
                                  arrays.stream())
        _check_flag(flag, index, C, ii)
    if unbatched and none:
        loss = loss.reshape(())
    return loss


def _grad_loss(fn, grad_loss, n, reduction) -> GpuArray:
    _, cp = arrays.require()
    if not arrays.is_gpu_array(grad_loss) and np.ndim(grad_loss) == 0:
        g = cp.asarray(np.asarray(grad_loss, dtype=np.float32))
    else:
        g = cp.ascontiguousarray(arrays.as_cupy(fn, "grad_loss", grad_loss), dtype=cp.float32)
    if reduction == "none":
        g = g.reshape((n,)) if g.size == n else g
        if g.shape != (n,):
            raise ValueError(f"grad_loss: expected shape {(n,)} (reduction='none': one per "
                             f"row), got {g.shape}")
    elif g.shape != ():
        if g.size != 1:
            raise ValueError(f"grad_loss: expected a scalar for reduction={reduction!r}, "
                             f"got shape {g.shape}")
        g = g.reshape(())
    return g


def softmax_cross_entropy_backward(grad_loss, logits, target, weight=None, ignore_index=-100,
                                   reduction="mean", label_smoothing=0.0) -> GpuArray:
    """GPU :func:`loomgrad.kernels.softmax_cross_entropy_backward`."""
    cuda, _ = arrays.require()
    fn = "softmax_cross_entropy_backward"
    logits, index, prob, weight, ls, ii, unbatched = _xent_args(
        fn, logits, target, weight, reduction, label_smoothing, ignore_index)
    n, C = logits.shape
    g = _grad_loss(fn, grad_loss, n, reduction)
    dx = arrays.empty((n, C))
    if n and C:
        scalars = arrays.empty((2,))
        flag = arrays.empty((1,), np.int32)  # zeroed by the launcher
        cuda.softmax_xent_backward(n, C, arrays.ptr(g), arrays.ptr(logits), arrays.ptr(index),
                                   arrays.ptr(prob), arrays.ptr(weight), ii, reduction, ls,
                                   arrays.ptr(dx), arrays.ptr(scalars), arrays.ptr(flag),
                                   arrays.stream())
        _check_flag(flag, index, C, ii)
    return dx[0] if unbatched else dx
