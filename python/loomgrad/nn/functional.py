"""loomgrad.nn.functional: the stateless layer and loss functions (torch.nn.functional).

Everything takes and returns Tensors and is differentiable. ``cross_entropy``
is one fused op (stable log-sum-exp forward, ``softmax - target`` backward,
NumPy maths for now); the other losses are compositions of Tensor ops.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import random as _random
from ..autograd import Function, array_module, check_same_device
from ..tensor import Tensor

__all__ = ["linear", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "flatten", "dropout",
           "cross_entropy", "nll_loss", "mse_loss"]
# CNN layers and losses (convolution, pooling, batch norm, l1/huber/bce)
__all__ += ["conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm",
            "l1_loss", "huber_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits"]
# sequence layers (fused LSTM kernels, embedding lookup)
__all__ += ["lstm_cell", "embedding"]

_REDUCTIONS = ("mean", "sum", "none")


# ------------------------------------------------------------------ argument checks
def _check_tensor(fn: str, name: str, x) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: {name} must be a Tensor, got {type(x).__name__}")
    return x


def _check_reduction(fn: str, reduction) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_probability(fn: str, p) -> None:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{fn}: p must be a probability in [0, 1], got {p!r}")


def _raw(x, input: Tensor, fn: str):
    """The array behind a Tensor, or ``x`` (a list, number or array) as an array on
    ``input``'s device; an array or Tensor on another device is a RuntimeError."""
    if isinstance(x, Tensor):
        a = x.data
    elif isinstance(x, np.ndarray) or hasattr(x, "__cuda_array_interface__"):
        a = x
    else:
        a = array_module(input.data).asarray(x)
    check_same_device((input.data, a), fn)
    return a


def _like_input(x, input: Tensor, fn: str) -> Tensor:
    """``x`` (Tensor, array, list or number) as a Tensor on input's device (in
    input's dtype unless it is a Tensor already)."""
    if isinstance(x, Tensor):
        check_same_device((input.data, x.data), fn)
        return x
    return Tensor(_raw(x, input, fn).astype(input.dtype, copy=False))


def _norm_dim(fn: str, dim: int, ndim: int) -> int:
    n = max(ndim, 1)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not -n <= dim < n:
        raise ValueError(f"{fn}: dim {dim!r} is out of range for a {ndim}-D input")
    return int(dim) % n


# ------------------------------------------------------------------ layers
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``: (*, in) x (out, in) [+ (out,)] -> (*, out).

    One GEMM on our kernels (the transpose is a flag, not a copy). Inputs
    with more than two dims are flattened to 2-D around the GEMM.
    """
    _check_tensor("linear", "input", input)
    _check_tensor("linear", "weight", weight)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape "
                         f"{tuple(weight.shape)}")
    if input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input's last dim must equal in_features = {weight.shape[1]}, "
                         f"got input {tuple(input.shape)} and weight {tuple(weight.shape)}")
    if input.dtype != weight.dtype:
        raise TypeError(f"linear: input and weight must have the same dtype, got {input.dtype} "
                        f"{tuple(input.shape)} and {weight.dtype} {tuple(weight.shape)} "
                        f"(convert the input with .float() / .double() or the model with "
                        f".to(dtype))")
    if bias is not None:
        _check_tensor("linear", "bias", bias)
        if tuple(bias.shape) != (weight.shape[0],):
            raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got "
                             f"{tuple(bias.shape)}")
    # our GEMM: CPU float32/float64, GPU float32; other cases through the generic ops
    if not (input.dtype == np.float32 or
            (isinstance(input.data, np.ndarray) and input.dtype == np.float64)):
        out = input @ weight.T
        return out if bias is None else out + bias
    if bias is None:
        return _Linear.apply(input, weight)
    if bias.dtype != weight.dtype:
        raise TypeError(f"linear: bias must have weight's dtype {weight.dtype}, got {bias.dtype}")
    return _Linear.apply(input, weight, bias)


class _Linear(Function):
    """y = x·Wᵀ + b as one node on our GEMM (CPU float32/64, GPU float32). The leading
    dims of x fold into GEMM rows; backward uses the transpose flags, so
    dW = dyᵀ·x comes out C-ordered in W's own (out, in) layout (through
    ``x @ weight.T`` it would arrive as a transposed view, which makes every
    later elementwise update of W stride across memory)."""

    def forward(self, x, w, b=None):
        from .. import _alloc, kernels

        self.x_shape = x.shape
        xc = _alloc.contiguous("input", x) if isinstance(x, np.ndarray) else \
            array_module(x).ascontiguousarray(x)
        x2 = xc.reshape(_rows(x), w.shape[1])
        out = kernels.gemm(x2, w, trans_b=True)
        if b is not None:
            out += b
        nx, nw = self.needs_input_grad[0], self.needs_input_grad[1]
        self.saved = (x2 if nw else None, w if nx else None)
        return out.reshape(x.shape[:-1] + (w.shape[0],))

    def backward(self, g):
        from .. import kernels

        x2, w = self.saved
        g2 = array_module(g).ascontiguousarray(g).reshape(_rows(g), g.shape[-1])
        dx = dw = db = None
        if self.needs_input_grad[0]:
            dx = kernels.gemm(g2, w).reshape(self.x_shape)
        if self.needs_input_grad[1]:
            dw = kernels.gemm(g2, x2, trans_a=True)
        if len(self.needs_input_grad) > 2 and self.needs_input_grad[2]:
            db = g2.sum(axis=0)
        return (dx, dw) if len(self.needs_input_grad) == 2 else (dx, dw, db)


def _rows(x) -> int:
    """Product of all but the last dim (explicit: reshape(-1, n) fails on size 0)."""
    n = 1
    for d in x.shape[:-1]:
        n *= d
    return n


def relu(input: Tensor) -> Tensor:
    """max(x, 0), elementwise."""
    return _check_tensor("relu", "input", input).relu()


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), elementwise."""
    return _check_tensor("sigmoid", "input", input).sigmoid()


def tanh(input: Tensor) -> Tensor:
    """tanh(x), elementwise."""
    return _check_tensor("tanh", "input", input).tanh()


def _softmax_dim(ndim: int) -> int:
    # torch's legacy choice when dim is not given
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim`` (stable)."""
    _check_tensor("softmax", "input", input)
    dim = _softmax_dim(input.ndim) if dim is None else dim
    return input.softmax(_norm_dim("softmax", dim, input.ndim))


def log_softmax(input: Tensor, dim: int | None = None) -> Tensor:
    """x - logsumexp(x) along ``dim`` (stable)."""
    _check_tensor("log_softmax", "input", input)
    dim = _softmax_dim(input.ndim) if dim is None else dim
    return input.log_softmax(_norm_dim("log_softmax", dim, input.ndim))


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims ``start_dim..end_dim``: e.g. (N, C, H, W), 1, -1 -> (N, C*H*W)."""
    _check_tensor("flatten", "input", input)
    shape = tuple(input.shape)
    if not shape:
        return input.reshape(1)
    s = _norm_dim("flatten", start_dim, len(shape))
    e = _norm_dim("flatten", end_dim, len(shape))
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for "
                         f"shape {shape}")
    new = shape[:s] + (int(np.prod(shape[s:e + 1], dtype=np.int64)),) + shape[e + 1:]
    return input if new == shape else input.reshape(*new)


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero elements with probability ``p`` and scale the rest by 1/(1-p) when
    ``training``; the identity otherwise. Masks come from the library generator."""
    _check_tensor("dropout", "input", input)
    _check_probability("dropout", p)
    if not training or p == 0.0:
        return input
    data = input.data
    if p == 1.0:
        mask = array_module(data).zeros(data.shape, dtype=data.dtype)
    else:
        if isinstance(data, np.ndarray):
            keep = _random.get_generator().random(data.shape) >= p
        else:  # drawn on the GPU (no host round trip), from lg.manual_seed's stream
            with data.device:
                gen = _random.get_cuda_generator(data.device.id)
                keep = gen.random_sample(data.shape, dtype=np.float32) >= p
        mask = (keep / (1.0 - p)).astype(data.dtype)
    return input * Tensor(mask)


# ------------------------------------------------------------------ losses
def _reduce(fn: str, per_item: Tensor, reduction: str, denom=None) -> Tensor:
    if reduction == "none":
        return per_item
    total = per_item.sum()
    if reduction == "sum":
        return total
    return total / (per_item.numel() if denom is None else denom)


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
    dtype, xp = input.dtype, array_module(input.data)
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
    if size_average is not None or reduce is not None:
        raise TypeError(f"{fn}: size_average and reduce are deprecated; use reduction=")
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
    xp = array_module(input.data)
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
    return _FusedCrossEntropyCPU.apply(input, target=t, weight=w, ignore_index=int(ignore_index),
                                       reduction=reduction, label_smoothing=float(eps),
                                       item_shape=tuple(item_shape))


class _FusedCrossEntropyCPU(Function):
    """Softmax cross-entropy on the C++ kernel (or the CUDA one, for GPU float32):
    forward and backward in one node; backward recomputes the softmax from the
    logits instead of saving it."""

    def forward(self, z, *, target, weight, ignore_index, reduction, label_smoothing,
                item_shape):
        from .. import kernels

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
        from .. import kernels

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
    if size_average is not None or reduce is not None:
        raise TypeError(f"{fn}: size_average and reduce are deprecated; use reduction=")
    _check_reduction(fn, reduction)
    C, item_shape = _class_layout(fn, input)
    dtype = input.dtype
    w = _class_weights(fn, weight, C, input)
    t, valid, wy = _index_target_weights(fn, target, C, item_shape, ignore_index, w, input)
    xp = array_module(input.data)
    q = xp.zeros((t.size, C), dtype)
    q[xp.arange(t.size), t] = wy
    q_full = Tensor(_from_rows(q, tuple(input.shape)).astype(dtype, copy=False))
    picked = input * q_full
    per_item = -(picked.sum(1) if input.ndim > 1 else picked.sum())
    if reduction == "mean":
        return per_item.sum() / Tensor(xp.asarray(wy.sum(), dtype))
    return _reduce(fn, per_item, reduction)


def mse_loss(input: Tensor, target, size_average=None, reduce=None,
             reduction: str = "mean") -> Tensor:
    """Mean (or sum, or elementwise with 'none') of (input - target)**2.

    ``target`` must have input's shape (torch would broadcast with a warning;
    here a mismatch is a ValueError, since it is almost always a bug).
    """
    fn = "mse_loss"
    _check_tensor(fn, "input", input)
    if size_average is not None or reduce is not None:
        raise TypeError(f"{fn}: size_average and reduce are deprecated; use reduction=")
    _check_reduction(fn, reduction)
    target = _like_input(target, input, fn)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"{fn}: target shape {tuple(target.shape)} differs from input shape "
                         f"{tuple(input.shape)}")
    diff = input - target
    return _reduce(fn, diff * diff, reduction)


# ------------------------------------------------------------------ CNN layers, more losses
from .batchnorm import batch_norm  # noqa: E402  (neither module imports this one)
from .conv_ops import adaptive_avg_pool2d, avg_pool2d, conv2d, max_pool2d  # noqa: E402


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


def l1_loss(input: Tensor, target, size_average=None, reduce=None,
            reduction: str = "mean") -> Tensor:
    """Mean (or sum, or elementwise with 'none') of |input - target|; shapes must match."""
    target = _loss_args("l1_loss", input, target, size_average, reduce, reduction)
    return _reduce("l1_loss", (input - target).abs(), reduction)


def huber_loss(input: Tensor, target, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """Huber loss per element, d = input - target: 0.5 d**2 where |d| < delta,
    else delta (|d| - 0.5 delta); then reduced. Shapes must match."""
    fn = "huber_loss"
    target = _loss_args(fn, input, target, None, None, reduction)
    if isinstance(delta, bool) or not isinstance(delta, numbers.Real) or not delta > 0:
        raise ValueError(f"{fn}: delta must be a number > 0, got {delta!r}")
    d = input - target
    # with c = clamp(d, -delta, delta): 0.5 c**2 + delta (|d| - |c|) is both branches in one
    c = d.clamp(-delta, delta)
    return _reduce(fn, 0.5 * c * c + delta * (d.abs() - c.abs()), reduction)


def _elementwise_weight(fn: str, weight, input: Tensor):
    if weight is None:
        return None
    w = _like_input(weight, input, fn)
    try:
        np.broadcast_shapes(tuple(w.shape), tuple(input.shape))
    except ValueError:
        raise ValueError(f"{fn}: weight of shape {tuple(w.shape)} does not broadcast to input "
                         f"shape {tuple(input.shape)}") from None
    return w


class _BinaryCrossEntropy(Function):
    """Elementwise -(y log x + (1 - y) log(1 - x)), each log clamped at -100 (torch),
    as one node: d/dx = (x - y) / max(x (1 - x), 1e-12), d/dy = log(1 - x) - log x."""

    def forward(self, x, y):
        xp = array_module(x)
        with np.errstate(divide="ignore"):
            lx = xp.maximum(xp.log(x), -100)
            l1x = xp.maximum(xp.log1p(-x), -100)
        self.saved = (x, y, lx, l1x)
        return ((y - 1) * l1x - y * lx).astype(x.dtype, copy=False)

    def backward(self, g):
        x, y, lx, l1x = self.saved
        gx = g * (x - y) / array_module(x).maximum((1 - x) * x, 1e-12) \
            if self.needs_input_grad[0] else None
        gy = g * (l1x - lx) if self.needs_input_grad[1] else None
        return gx, gy


def binary_cross_entropy(input: Tensor, target, weight=None, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities ``input`` (in [0, 1]) against ``target``
    (same shape): -w (y log x + (1 - y) log(1 - x)), logs clamped at -100 as in
    torch; ``weight`` broadcasts to input's shape."""
    fn = "binary_cross_entropy"
    target = _loss_args(fn, input, target, size_average, reduce, reduction)
    x = input.data
    if x.size and not ((x >= 0) & (x <= 1)).all():
        raise ValueError(f"{fn}: all elements of input should be between 0 and 1 (probabilities;"
                         f" use binary_cross_entropy_with_logits for logits)")
    loss = _BinaryCrossEntropy.apply(input, target)
    w = _elementwise_weight(fn, weight, input)
    return _reduce(fn, loss if w is None else loss * w, reduction)


class _BCEWithLogits(Function):
    """Elementwise (1 - y) x + (1 + (pw - 1) y) softplus(-x) as one node (stable for
    any x: softplus(-x) = log1p(exp(-|x|)) + max(-x, 0)); inputs (x, y[, pos_weight])."""

    def forward(self, x, y, *pw):
        xp = array_module(x)
        sp = xp.log1p(xp.exp(-xp.abs(x))) + xp.maximum(-x, 0)
        pw = pw[0] if pw else None
        lw = 1 if pw is None else 1 + (pw - 1) * y
        self.saved = (x, y, pw, sp)
        return ((1 - y) * x + lw * sp).astype(x.dtype, copy=False)

    def backward(self, g):
        from ..functional import _sigmoid, unbroadcast
        x, y, pw, sp = self.saved
        need = self.needs_input_grad
        lw = 1 if pw is None else 1 + (pw - 1) * y
        gx = g * ((1 - y) - lw * _sigmoid(array_module(x), -x)) if need[0] else None
        gy = None
        if need[1]:
            gy = g * (-x + (0 if pw is None else (pw - 1) * sp))
        grads = (gx, gy)
        if pw is not None:
            grads += (unbroadcast(g * y * sp, pw.shape) if need[2] else None,)
        return grads


def binary_cross_entropy_with_logits(input: Tensor, target, weight=None, size_average=None,
                                     reduce=None, reduction: str = "mean",
                                     pos_weight=None) -> Tensor:
    """Sigmoid + binary cross-entropy in one stable op, on logits ``input``:
    -w (pw y log s(x) + (1 - y) log(1 - s(x))); ``target`` has input's shape,
    ``weight`` broadcasts to it, ``pos_weight`` (e.g. (C,) for (N, C) input)
    weighs the positive term and broadcasts along the last dims."""
    fn = "binary_cross_entropy_with_logits"
    target = _loss_args(fn, input, target, size_average, reduce, reduction)
    args = (input, target)
    if pos_weight is not None:
        pw = _like_input(pos_weight, input, fn)
        try:
            if np.broadcast_shapes(tuple(pw.shape), tuple(input.shape)) != tuple(input.shape):
                raise ValueError
        except ValueError:
            raise ValueError(f"{fn}: pos_weight of shape {tuple(pw.shape)} does not broadcast "
                             f"to input shape {tuple(input.shape)}") from None
        args += (pw,)
    loss = _BCEWithLogits.apply(*args)
    w = _elementwise_weight(fn, weight, input)
    return _reduce(fn, loss if w is None else loss * w, reduction)


# At the end: these modules import this one (for dropout).
from .rnn import lstm_cell  # noqa: E402
from .sparse import embedding  # noqa: E402
