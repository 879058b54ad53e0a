"""Regression and binary losses: mse, l1, huber, binary cross-entropy (probabilities and logits)."""
from __future__ import annotations

import numbers

import numpy as np

from ...autograd import Function, array_module
from ...functions.activation import stable_sigmoid
from ...functions.elementwise import unbroadcast
from ...tensor import Tensor
from ._checks import (_check_legacy_reduction, _check_reduction, _check_tensor, _like_input,
                      _loss_args, _reduce)

__all__ = ["mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits"]


def mse_loss(input: Tensor, target, size_average=None, reduce=None,
             reduction: str = "mean") -> Tensor:
    """Mean (or sum, or elementwise with 'none') of (input - target)**2.

    ``target`` must have input's shape (torch would broadcast with a warning;
    here a mismatch is a ValueError, since it is almost always a bug).
    """
    fn = "mse_loss"
    _check_tensor(fn, "input", input)
    _check_legacy_reduction(fn, size_average, reduce)
    _check_reduction(fn, reduction)
    target = _like_input(target, input, fn)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"{fn}: target shape {tuple(target.shape)} differs from input shape "
                         f"{tuple(input.shape)}")
    diff = input - target
    return _reduce(fn, diff * diff, reduction)


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


def smooth_l1_loss(input: Tensor, target, size_average=None, reduce=None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """torch's smooth L1 per element, d = input - target: 0.5 d**2 / beta where |d| < beta,
    else |d| - 0.5 beta (huber_loss with delta=beta, divided by beta; beta=0 is l1_loss);
    then reduced. Shapes must match."""
    fn = "smooth_l1_loss"
    target = _loss_args(fn, input, target, size_average, reduce, reduction)
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or beta < 0:
        raise ValueError(f"{fn}: beta must be a number >= 0, got {beta!r}")
    d = input - target
    if beta == 0:
        return _reduce(fn, d.abs(), reduction)
    c = d.clamp(-beta, beta)
    return _reduce(fn, (0.5 / beta) * c * c + (d.abs() - c.abs()), reduction)


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
    x = input.array
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
        x, y, pw, sp = self.saved
        need = self.needs_input_grad
        lw = 1 if pw is None else 1 + (pw - 1) * y
        gx = g * ((1 - y) - lw * stable_sigmoid(array_module(x), -x)) if need[0] else None
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
