"""softmax and log_softmax along any axis, on the row kernels (lg.kernels) where they apply."""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..autograd import Function, array_module
from ..kernels._args import FLOAT_DTYPES


def _on_row_kernel(a) -> bool:
    """True when the row kernels of loomgrad.kernels take ``a``: CPU float32/float64,
    GPU float32 (the CUDA kernels); other cases use the array module's maths."""
    if isinstance(a, np.ndarray):
        return a.dtype in FLOAT_DTYPES
    return a.dtype == np.float32


def _last_axis_kernel(fn, axis, *arrays):
    """Run a row kernel of loomgrad.kernels (which works over the last axis)
    along ``axis``: move it last, run, move it back."""
    if axis in (-1, arrays[0].ndim - 1):
        return fn(*arrays)
    xp = array_module(arrays[0])
    moved = [xp.moveaxis(x, axis, -1) for x in arrays]
    return xp.moveaxis(fn(*moved), -1, axis)


class Softmax(Function):
    """softmax along ``axis``; C++ row kernel for float32/float64 NumPy arrays."""

    def forward(self, a, axis):
        self.axis = axis
        if _on_row_kernel(a):
            out = _last_axis_kernel(kernels.softmax, axis, a)
        else:
            xp = array_module(a)
            e = xp.exp(a - a.max(axis=axis, keepdims=True))
            out = e / e.sum(axis=axis, keepdims=True)
        self.saved = (out,)
        return out

    def backward(self, g):
        (s,) = self.saved
        if _on_row_kernel(s) and g.dtype == s.dtype:
            return (_last_axis_kernel(kernels.softmax_backward, self.axis, g, s),)
        return (s * (g - (g * s).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(Function):
    """log_softmax along ``axis``; C++ row kernel for float32/float64 NumPy arrays."""

    def forward(self, a, axis):
        self.axis = axis
        if _on_row_kernel(a):
            out = _last_axis_kernel(kernels.log_softmax, axis, a)
        else:
            xp = array_module(a)
            z = a - a.max(axis=axis, keepdims=True)
            out = z - xp.log(xp.exp(z).sum(axis=axis, keepdims=True))
        self.saved = (out,)
        return out

    def backward(self, g):
        (out,) = self.saved
        if _on_row_kernel(out) and g.dtype == out.dtype:
            return (_last_axis_kernel(kernels.log_softmax_backward, self.axis, g, out),)
        xp = array_module(g)
        return (g - xp.exp(out) * g.sum(axis=self.axis, keepdims=True),)
