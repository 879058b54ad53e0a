"""Elementwise autograd Functions: arithmetic with broadcasting, unary maths, clamp.

Activations (relu, sigmoid, tanh, softplus, silu, gelu) are in functions/activation.py.

Each op is a :class:`~loomgrad.autograd.Function`: ``forward`` takes and
returns raw arrays (NumPy or CuPy, chosen by ``array_module``), ``backward``
returns one gradient per input, reduced to that input's shape by
:func:`unbroadcast`. Gradients are never written in place: an array handed to
backward may be shared.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function, array_module


def unbroadcast(g, shape):
    """Sum gradient ``g`` over the axes that broadcasting added to ``shape``."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    if lead:
        g = g.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g


class Add(Function):
    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a + b

    def backward(self, g):
        sa, sb = self.shapes
        return unbroadcast(g, sa), unbroadcast(g, sb)


class Sub(Function):
    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a - b

    def backward(self, g):
        sa, sb = self.shapes
        return unbroadcast(g, sa), (unbroadcast(-g, sb) if self.needs_input_grad[1] else None)


class Mul(Function):
    def forward(self, a, b):
        na, nb = self.needs_input_grad
        self.saved = (b if na else None, a if nb else None)
        self.shapes = (a.shape, b.shape)
        return a * b

    def backward(self, g):
        b, a = self.saved
        sa, sb = self.shapes
        return (unbroadcast(g * b, sa) if b is not None else None,
                unbroadcast(g * a, sb) if a is not None else None)


class Div(Function):
    def forward(self, a, b):
        self.saved = (a, b)
        self.shapes = (a.shape, b.shape)
        out = a / b
        if a.dtype.kind in "biu" and b.dtype.kind in "biu":
            out = out.astype(np.float32)  # torch: int / int is the default float dtype
        return out

    def backward(self, g):
        a, b = self.saved
        sa, sb = self.shapes
        ga = unbroadcast(g / b, sa) if self.needs_input_grad[0] else None
        gb = unbroadcast(-g * a / (b * b), sb) if self.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return (-g,)


class Pow(Function):
    """``a ** b`` for two arrays (either may be a 0-d constant wrapped as a Tensor)."""

    def forward(self, a, b):
        out = a ** b
        self.saved = (a, b, out)
        self.shapes = (a.shape, b.shape)
        return out

    def backward(self, g):
        a, b, out = self.saved
        sa, sb = self.shapes
        xp = array_module(g)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = unbroadcast(g * b * a ** (b - 1), sa)
        if self.needs_input_grad[1]:
            # torch's convention: d/db at a == 0 is 0 when b >= 0 (instead of 0 * -inf)
            safe = (a == 0) & (b >= 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                loga = xp.log(xp.where(safe, 1, a))
            gb = unbroadcast(g * out * loga, sb)
        return ga, gb


class PowScalar(Function):
    """``a ** p`` with a Python-number exponent (no gradient for ``p``)."""

    def forward(self, a, p):
        self.saved = (a,)
        self.p = p
        return a ** p

    def backward(self, g):
        (a,) = self.saved
        p = self.p
        if p == 0:
            return (g * 0,)
        return (g * (p * a ** (p - 1)),)


class Maximum(Function):
    def forward(self, a, b):
        self.saved = (a, b)
        return array_module(a).maximum(a, b)

    def backward(self, g):
        a, b = self.saved
        # ties split evenly, like torch.maximum
        w = (a > b) + 0.5 * (a == b)
        return (unbroadcast(g * w, a.shape) if self.needs_input_grad[0] else None,
                unbroadcast(g * (1 - w), b.shape) if self.needs_input_grad[1] else None)


class Minimum(Function):
    def forward(self, a, b):
        self.saved = (a, b)
        return array_module(a).minimum(a, b)

    def backward(self, g):
        a, b = self.saved
        w = (a < b) + 0.5 * (a == b)
        return (unbroadcast(g * w, a.shape) if self.needs_input_grad[0] else None,
                unbroadcast(g * (1 - w), b.shape) if self.needs_input_grad[1] else None)


class Exp(Function):
    def forward(self, a):
        out = array_module(a).exp(a)
        self.saved = (out,)
        return out

    def backward(self, g):
        return (g * self.saved[0],)


class Log(Function):
    def forward(self, a):
        self.saved = (a,)
        return array_module(a).log(a)

    def backward(self, g):
        return (g / self.saved[0],)


class Sqrt(Function):
    def forward(self, a):
        out = array_module(a).sqrt(a)
        self.saved = (out,)
        return out

    def backward(self, g):
        return (g / (2 * self.saved[0]),)


class Abs(Function):
    def forward(self, a):
        self.saved = (a,)
        return array_module(a).abs(a)

    def backward(self, g):
        return (g * array_module(g).sign(self.saved[0]),)


class Clamp(Function):
    def forward(self, a, lo=None, hi=None):
        xp = array_module(a)
        self.saved = (a,)
        self.bounds = (lo, hi)
        out = a
        if lo is not None:
            out = xp.maximum(out, lo)
        if hi is not None:
            out = xp.minimum(out, hi)
        return out.astype(a.dtype, copy=False) if out is not a else a.copy()

    def backward(self, g):
        (a,) = self.saved
        lo, hi = self.bounds
        mask = True
        # inclusive at the bounds, like torch.clamp's backward
        if lo is not None:
            mask = mask & (a >= lo)
        if hi is not None:
            mask = mask & (a <= hi)
        return (g * mask,)


class Log1p(Function):
    def forward(self, a):
        self.saved = (a,)
        return array_module(a).log1p(a)

    def backward(self, g):
        return (g / (1 + self.saved[0]),)


class Expm1(Function):
    def forward(self, a):
        out = array_module(a).expm1(a)
        self.saved = (out,)
        return out

    def backward(self, g):
        return (g * (self.saved[0] + 1),)


class Sin(Function):
    def forward(self, a):
        self.saved = (a,)
        return array_module(a).sin(a)

    def backward(self, g):
        return (g * array_module(g).cos(self.saved[0]),)


class Cos(Function):
    def forward(self, a):
        self.saved = (a,)
        return array_module(a).cos(a)

    def backward(self, g):
        return (-g * array_module(g).sin(self.saved[0]),)


class TriangleMask(Function):
    """``tril``/``triu`` of the last two dims: zero above (``lower``) or below the
    ``diagonal``-th diagonal; the gradient is masked the same way."""

    def forward(self, a, diagonal=0, lower=True):
        xp = array_module(a)
        self.args = (diagonal, lower)
        return xp.tril(a, diagonal) if lower else xp.triu(a, diagonal)

    def backward(self, g):
        diagonal, lower = self.args
        xp = array_module(g)
        return (xp.tril(g, diagonal) if lower else xp.triu(g, diagonal),)
