"""cross_entropy and nll_loss (torch's semantics): the fused softmax cross-entropy
kernel for CPU arrays and GPU float32, one array-maths node for the rest."""
from __future__ import annotations

import numbers

import numpy as np

from ... import kernels
from ...autograd import Function, array_module
from ...tensor import Tensor
from ._checks import (_check_legacy_reduction, _check_reduction, _check_tensor, _raw,
                      _reduce)

__all__ = ["cross_entropy", "nll_loss"]


def _class_layout(fn: str, input: Tensor):
    """Input shape checks; returns (C, shape of one loss per item)."""
    shape = tuple(input.shape)
    if len(shape) == 0:
        raise ValueError(f"{fn}: input must have a class dimension, got a 0-D tensor")
    if len(shape) == 1:
        return shape[0], ()
    return shape[1], (shape[0],) + shape[2:]


def _class_weights(fn: str, weight, C: int, input: Tensor):
    if weight is None:
        return None
    w = _raw(weight, input, fn)
    if w.shape != (C,):
        raise ValueError(f"{fn}: weight must have shape ({C},) (one per class), got "
                         f"{tuple(w.shape)}")
    return w.astype(input.dtype, copy=False)


def _index_target_weights(fn: str, target, C: int, item_shape, ignore_index: int, w,
                          input: Tensor):
    """For class-index targets: (t, valid, wy) flattened to (M,), where t are
    safe indices, valid marks non-ignored items and wy their class weights."""
    dtype, xp = input.dtype, array_module(input.array)
    t = _raw(target, input, fn)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{fn}: class-index target must be an integer array, got dtype {t.dtype} "
                        f"with shape {tuple(t.shape)}")
    if tuple(t.shape) != tuple(item_shape):
        raise ValueError(f"{fn}: target shape {tuple(t.shape)} does not match input: expected "
                         f"{tuple(item_shape)} (input's shape without its class dim)")
    t = t.reshape(-1).astype(np.int64, copy=False)
    valid = t != ignore_index
    bad = valid & ((t < 0) | (t >= C))
    if bad.any():
        raise ValueError(f"{fn}: target holds class index {int(t[bad][0])}, outside [0, {C}) "
                         f"(and not ignore_index={ignore_index})")
    t = xp.where(valid, t, 0)
    wy = valid.astype(dtype) if w is None else xp.where(valid, w[t], 0).astype(dtype)
    return t, valid, wy


def _to_rows(a: np.ndarray, C: int) -> np.ndarray:
    """(N, C, d1, ...) or (C,) -> (M, C) with the class dim last."""
    if a.ndim == 1:
        return a.reshape(1, C)
    return array_module(a).moveaxis(a, 1, -1).reshape(-1, C)


def _from_rows(rows: np.ndarray, shape) -> np.ndarray:
    if len(shape) == 1:
        return rows.reshape(shape)
    moved = rows.reshape((shape[0],) + tuple(shape[2:]) + (shape[1],))
    return array_module(rows).moveaxis(moved, -1, 1)


def _xent_forward_rows(z: np.ndarray, q: np.ndarray):
    """Rows of logits z (M, C) and target weights q (M, C) -> per-row loss
    -sum(q * log_softmax(z)) (M,) and softmax(z) (M, C). Subtracting the row
    max keeps logits of +-1e4 finite."""
    xp = array_module(z)
    shifted = z - z.max(axis=1, keepdims=True)
    lse = xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    logp = shifted - lse
    loss = -(q * logp).sum(axis=1)
    return loss, xp.exp(logp)


def cross_entropy(input: Tensor, target, weight=None, size_average=None,
                  ignore_index: int = -100, reduce=None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy between logits and targets (torch's semantics).

    Shapes: input (N, C), (C,) or (N, C, d1, ...); target either class
    indices, integer (N,), () or (N, d1, ...), or class probabilities with
    input's shape (float). ``weight`` (C,) rescales classes; items whose
    target is ``ignore_index`` contribute nothing; 'mean' divides by the
    summed weights of the counted items (by the item count for probability
    targets); ``label_smoothing`` mixes the target with the uniform
    distribution. Output: () for 'mean'/'sum', the item shape for 'none'.

    One fused op: the gradient is ``sum(q) * softmax(input) - q`` per item,
    q being the (weighted, smoothed) target distribution.
    """
    fn = "cross_entropy"
    _check_tensor(fn, "input", input)
    _check_legacy_reduction(fn, size_average, reduce)
    _check_reduction(fn, reduction)
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real) \
            or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    if input.dtype.kind != "f":
        raise TypeError(f"{fn}: input must be floating point, got {input.dtype}")
    C, item_shape = _class_layout(fn, input)
    dtype = input.dtype
    w = _class_weights(fn, weight, C, input)
    eps = float(label_smoothing)
    t_raw = _raw(target, input, fn)
    xp = array_module(input.array)
    # the fused kernel: every CPU float dtype; the CUDA kernel is float32 only
    if xp is np or dtype == np.float32:
        return _cross_entropy_fused(fn, input, target, t_raw, C, item_shape, w, ignore_index,
                                    reduction, eps)
    if t_raw.dtype.kind == "f" and tuple(t_raw.shape) == tuple(input.shape):
        q = _to_rows(t_raw.astype(dtype, copy=False), C)
        if eps:
            q = q * (1 - eps) + eps / C
        if w is not None:
            q = q * w
        denom = q.shape[0]
    else:
        if t_raw.dtype.kind == "f":
            raise ValueError(f"{fn}: float target must have input's shape {tuple(input.shape)} "
                             f"(class probabilities), got {tuple(t_raw.shape)}; class-index "
                             f"targets must be integers of shape {tuple(item_shape)}")
        t, valid, wy = _index_target_weights(fn, target, C, item_shape, ignore_index, w, input)
        wc = xp.ones(C, dtype) if w is None else w
        q = (eps / C) * wc[None, :] * valid[:, None].astype(dtype)
        q[xp.arange(t.size), t] += (1 - eps) * wy
        denom = wy.sum()
    return _SoftmaxCrossEntropy.apply(input, q=q.astype(dtype, copy=False), reduction=reduction,
                               denom=denom, item_shape=item_shape)


def _cross_entropy_fused(fn, input, target, t_raw, C, item_shape, w, ignore_index, reduction,
                         eps):
    """CPU path: the fused C++ kernel (loomgrad.kernels.softmax_cross_entropy) on
    (M, C) rows; nothing but the rows and targets is kept for backward."""
    if t_raw.dtype.kind == "f":
        if tuple(t_raw.shape) != tuple(input.shape):
            raise ValueError(f"{fn}: float target must have input's shape {tuple(input.shape)} "
                             f"(class probabilities), got {tuple(t_raw.shape)}; class-index "
                             f"targets must be integers of shape {tuple(item_shape)}")
        t = array_module(t_raw).ascontiguousarray(
            _to_rows(t_raw.astype(input.dtype, copy=False), C))
    else:
        if t_raw.dtype.kind not in "iu":
            raise TypeError(f"{fn}: class-index target must be an integer array, got dtype "
                            f"{t_raw.dtype} with shape {tuple(t_raw.shape)}")
        if tuple(t_raw.shape) != tuple(item_shape):
            raise ValueError(f"{fn}: target shape {tuple(t_raw.shape)} does not match input: "
                             f"expected {tuple(item_shape)} (input's shape without its class "
                             f"dim)")
        t = t_raw.reshape(-1).astype(np.int64, copy=False)
        bad = (t != ignore_index) & ((t < 0) | (t >= C))
        if bad.any():
            raise ValueError(f"{fn}: target holds class index {int(t[bad][0])}, outside "
                             f"[0, {C}) (and not ignore_index={ignore_index})")
    return _FusedCrossEntropy.apply(input, target=t, weight=w, ignore_index=int(ignore_index),
                                       reduction=reduction, label_smoothing=float(eps),
                                       item_shape=tuple(item_shape))


class _FusedCrossEntropy(Function):
    """Softmax cross-entropy on the fused kernel (C++ for CPU arrays, CUDA for GPU float32):
    forward and backward in one node; backward recomputes the softmax from the
    logits instead of saving it."""

    def forward(self, z, *, target, weight, ignore_index, reduction, label_smoothing,
                item_shape):
        rows = array_module(z).ascontiguousarray(
            _to_rows(z, z.shape[0] if z.ndim == 1 else z.shape[1]))
        self.args = (target, weight, ignore_index, reduction, label_smoothing)
        self.shape = z.shape
        if self.needs_input_grad[0]:
            self.saved = (rows,)
        loss = kernels.softmax_cross_entropy(rows, target, weight, ignore_index, reduction,
                                             label_smoothing)
        return loss.reshape(item_shape) if reduction == "none" else loss

    def backward(self, grad):
        (rows,) = self.saved
        target, weight, ignore_index, reduction, label_smoothing = self.args
        g = grad.reshape(-1) if reduction == "none" else grad
        d = kernels.softmax_cross_entropy_backward(g, rows, target, weight, ignore_index,
                                                   reduction, label_smoothing)
        return (_from_rows(d, self.shape),)


class _SoftmaxCrossEntropy(Function):
    """Fused softmax cross-entropy: forward and backward in one node, so the
    graph keeps one (M, C) softmax instead of a chain of intermediates."""

    def forward(self, z, *, q, reduction, denom, item_shape):
        self.shape, self.reduction, self.denom = z.shape, reduction, denom
        loss, p = _xent_forward_rows(_to_rows(z, z.shape[-1] if z.ndim == 1 else z.shape[1]), q)
        if self.needs_input_grad[0]:
            self.saved = (p, q)
        if reduction == "none":
            return loss.reshape(item_shape)
        xp = array_module(z)
        total = loss.sum()
        if reduction == "sum":
            return xp.asarray(total, dtype=z.dtype)
        with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 -> nan, as torch
            return xp.asarray(total / denom, dtype=z.dtype)

    def backward(self, grad):
        p, q = self.saved
        if self.reduction == "none":
            g = grad.reshape(-1, 1)
        elif self.reduction == "sum":
            g = grad
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                g = grad / self.denom
        rows = g * (q.sum(axis=1, keepdims=True) * p - q)
        return (_from_rows(rows.astype(p.dtype, copy=False), self.shape),)


def nll_loss(input: Tensor, target, weight=None, size_average=None, ignore_index: int = -100,
             reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (torch's nll_loss).

    Shapes as :func:`cross_entropy` with class-index targets: loss_i =
    -weight[t_i] * input[i, t_i]; 'mean' divides by the summed weights.
    """
    fn = "nll_loss"
    _check_tensor(fn, "input", input)
    _check_legacy_reduction(fn, size_average, reduce)
    _check_reduction(fn, reduction)
    C, item_shape = _class_layout(fn, input)
    dtype = input.dtype
    w = _class_weights(fn, weight, C, input)
    t, valid, wy = _index_target_weights(fn, target, C, item_shape, ignore_index, w, input)
    xp = array_module(input.array)
    q = xp.zeros((t.size, C), dtype)
    q[xp.arange(t.size), t] = wy
    q_full = Tensor(_from_rows(q, tuple(input.shape)).astype(dtype, copy=False))
    picked = input * q_full
    per_item = -(picked.sum(1) if input.ndim > 1 else picked.sum())
    if reduction == "mean":
        return per_item.sum() / Tensor(xp.asarray(wy.sum(), dtype))
    return _reduce(fn, per_item, reduction)
