"""Activation autograd Functions: relu, sigmoid (and the stable sigmoid helper), tanh,
softplus, silu, gelu, leaky_relu, elu, hardtanh (relu6), prelu. Same contract as
functions/elementwise.py."""
from __future__ import annotations

import numpy as np

from ..autograd import Function, array_module


class Relu(Function):
    def forward(self, a):
        out = array_module(a).maximum(a, 0).astype(a.dtype, copy=False)
        self.saved = (out,)
        return out

    def backward(self, g):
        return (g * (self.saved[0] > 0),)


def stable_sigmoid(xp, a):
    """1 / (1 + exp(-a)) computed from exp(-|a|) only, so neither branch overflows."""
    e = xp.exp(-xp.abs(a))
    return xp.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)


class Sigmoid(Function):
    def forward(self, a):
        out = stable_sigmoid(array_module(a), a)
        self.saved = (out,)
        return out

    def backward(self, g):
        s = self.saved[0]
        return (g * s * (1 - s),)


class Tanh(Function):
    def forward(self, a):
        out = array_module(a).tanh(a)
        self.saved = (out,)
        return out

    def backward(self, g):
        t = self.saved[0]
        return (g * (1 - t * t),)


class Softplus(Function):
    """``log(1 + exp(beta*x)) / beta``, linear where ``beta*x > threshold`` (torch's rule)."""

    def forward(self, a, beta=1.0, threshold=20.0):
        xp = array_module(a)
        z = a * beta
        self.saved = (z,)
        self.threshold = threshold
        return xp.where(z > threshold, a, xp.logaddexp(0, z) / beta).astype(a.dtype, copy=False)

    def backward(self, g):
        (z,) = self.saved
        xp = array_module(z)
        return (g * xp.where(z > self.threshold, 1, stable_sigmoid(xp, z)),)


class Silu(Function):
    def forward(self, a):
        s = stable_sigmoid(array_module(a), a)
        self.saved = (a, s)
        return a * s

    def backward(self, g):
        a, s = self.saved
        return (g * (s * (1 + a * (1 - s))),)


def _erf(xp, x):
    if xp is np:
        from scipy.special import erf
    else:
        from cupyx.scipy.special import erf
    return erf(x)


class Gelu(Function):
    """GELU: exact ``x * Phi(x)`` or ``approximate='tanh'`` (torch's two forms)."""

    _K = float(np.sqrt(2.0 / np.pi))

    def forward(self, a, approximate="none"):
        xp = array_module(a)
        self.approximate = approximate
        self.saved = (a,)
        if approximate == "tanh":
            t = xp.tanh(self._K * (a + 0.044715 * a ** 3))
            return (0.5 * a * (1 + t)).astype(a.dtype, copy=False)
        return (0.5 * a * (1 + _erf(xp, a / np.sqrt(2.0)))).astype(a.dtype, copy=False)

    def backward(self, g):
        (a,) = self.saved
        xp = array_module(a)
        if self.approximate == "tanh":
            t = xp.tanh(self._K * (a + 0.044715 * a ** 3))
            d = 0.5 * (1 + t) + 0.5 * a * (1 - t * t) * self._K * (1 + 3 * 0.044715 * a * a)
        else:
            cdf = 0.5 * (1 + _erf(xp, a / np.sqrt(2.0)))
            pdf = xp.exp(-0.5 * a * a) / np.sqrt(2.0 * np.pi)
            d = cdf + a * pdf
        return ((g * d).astype(a.dtype, copy=False),)


class LeakyRelu(Function):
    """``x`` where ``x > 0``, ``negative_slope * x`` elsewhere (gradient ``negative_slope``
    at 0, as torch)."""

    def forward(self, a, negative_slope=0.01):
        xp = array_module(a)
        pos = a > 0
        self.saved = (pos,)
        self.slope = negative_slope
        return xp.where(pos, a, a * negative_slope).astype(a.dtype, copy=False)

    def backward(self, g):
        (pos,) = self.saved
        return (array_module(g).where(pos, g, g * self.slope).astype(g.dtype, copy=False),)


class Elu(Function):
    """``x`` where ``x > 0``, ``alpha * (exp(x) - 1)`` elsewhere."""

    def forward(self, a, alpha=1.0):
        xp = array_module(a)
        neg = alpha * xp.expm1(xp.minimum(a, 0))
        self.saved = (a, neg)
        self.alpha = alpha
        return xp.where(a > 0, a, neg).astype(a.dtype, copy=False)

    def backward(self, g):
        a, neg = self.saved
        xp = array_module(g)
        return (xp.where(a > 0, g, g * (neg + self.alpha)).astype(g.dtype, copy=False),)


class Hardtanh(Function):
    """``x`` clipped to ``[min_val, max_val]``; gradient 1 strictly inside, 0 at and beyond
    the bounds (torch's hardtanh_backward; ReLU6 is hardtanh(0, 6))."""

    def forward(self, a, min_val=-1.0, max_val=1.0):
        xp = array_module(a)
        self.saved = ((a > min_val) & (a < max_val),)
        return xp.clip(a, min_val, max_val).astype(a.dtype, copy=False)

    def backward(self, g):
        (inside,) = self.saved
        return ((g * inside).astype(g.dtype, copy=False),)


class Prelu(Function):
    """``x`` where ``x > 0``, ``weight[c] * x`` elsewhere; ``weight`` has one slope or one per
    channel (dim 1 of the input). Inputs (x, weight)."""

    def forward(self, a, w):
        xp = array_module(a)
        shape = [1] * a.ndim
        if w.size > 1:
            shape[1] = w.size
        wb = w.reshape(shape) if a.ndim else w.reshape(())
        self.saved = (a, wb)
        self.w_shape = w.shape
        return xp.where(a > 0, a, wb * a).astype(a.dtype, copy=False)

    def backward(self, g):
        a, wb = self.saved
        xp = array_module(g)
        pos = a > 0
        need = self.needs_input_grad
        dx = xp.where(pos, g, wb * g).astype(g.dtype, copy=False) if need[0] else None
        dw = None
        if need[1]:
            contrib = xp.where(pos, 0, a * g)
            if wb.size > 1:
                axes = tuple(i for i in range(a.ndim) if i != 1)
                dw = contrib.sum(axis=axes)
            else:
                dw = contrib.sum()
            dw = dw.reshape(self.w_shape).astype(g.dtype, copy=False)
        return dx, dw
