"""Reduction autograd Functions: sum, mean, var, amax/amin and max/min along a dim."""
from __future__ import annotations

import numpy as np

from ..autograd import Function, array_module


def _expand_back(g, shape, axes, keepdim):
    """Broadcast reduced gradient ``g`` back to ``shape`` (axes: normalised tuple or None)."""
    xp = array_module(g)
    if axes is not None and not keepdim:
        g = xp.expand_dims(g, axes)
    return xp.broadcast_to(g, shape)


class Sum(Function):
    def forward(self, a, axes=None, keepdim=False):
        self.args = (a.shape, axes, keepdim)
        return a.sum(axis=axes, keepdims=keepdim)

    def backward(self, g):
        return (_expand_back(g, *self.args),)


class Mean(Function):
    def forward(self, a, axes=None, keepdim=False):
        self.args = (a.shape, axes, keepdim)
        n = a.size if axes is None else int(np.prod([a.shape[i] for i in axes]))
        self.n = n
        return a.mean(axis=axes, keepdims=keepdim)

    def backward(self, g):
        return (_expand_back(g / self.n, *self.args),)


class Var(Function):
    def forward(self, a, axes=None, correction=1, keepdim=False):
        xp = array_module(a)
        n = a.size if axes is None else int(np.prod([a.shape[i] for i in axes]))
        mu = a.mean(axis=axes, keepdims=True)
        d = a - mu
        self.saved = (d,)
        self.args = (a.shape, axes, keepdim)
        self.denom = max(n - correction, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (xp.sum(d * d, axis=axes, keepdims=keepdim) / self.denom).astype(a.dtype)

    def backward(self, g):
        (d,) = self.saved
        with np.errstate(divide="ignore", invalid="ignore"):
            return (_expand_back(g, *self.args) * (2 * d / self.denom),)


class AMax(Function):
    """max/min over ``axes`` (all when None); ties share the gradient evenly (torch.amax)."""

    def forward(self, a, axes=None, keepdim=False, is_min=False):
        if a.size == 0:
            raise ValueError(f"{'min' if is_min else 'max'}(): cannot reduce an empty tensor "
                             f"of shape {tuple(a.shape)}")
        out = a.min(axis=axes, keepdims=True) if is_min else a.max(axis=axes, keepdims=True)
        self.saved = (a, out)
        self.args = (a.shape, axes, keepdim)
        if not keepdim:
            out = out.reshape(out.shape if axes is None and a.ndim == 0 else
                              tuple(s for i, s in enumerate(a.shape)
                                    if not (axes is None or i in axes)))
        return out

    def backward(self, g):
        a, out = self.saved
        shape, axes, keepdim = self.args
        mask = a == out
        count = mask.sum(axis=axes, keepdims=True)
        return (_expand_back(g, shape, axes, keepdim) * mask / count,)


class MaxDim(Function):
    """max/min along one axis at indices ``idx`` (argmax/argmin, keepdims=True,
    computed by the caller, who also returns them); the gradient goes to
    those indices only."""

    def forward(self, a, idx, axis, keepdim=False):
        vals = array_module(a).take_along_axis(a, idx, axis=axis)
        self.saved = (idx,)
        self.args = (a.shape, a.dtype, axis, keepdim)
        return vals if keepdim else vals.squeeze(axis)

    def backward(self, g):
        (idx,) = self.saved
        shape, dtype, axis, keepdim = self.args
        xp = array_module(g)
        if not keepdim:
            g = xp.expand_dims(g, axis)
        out = xp.zeros(shape, dtype=dtype)
        xp.put_along_axis(out, idx, g, axis=axis)
        return (out,)
