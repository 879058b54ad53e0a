"""Differentiable ops on arrays: elementwise maths, activations, reductions, matmul.

Each op is a :class:`~loomgrad.autograd.Function`: ``forward`` takes and
returns raw arrays (NumPy or CuPy, chosen by ``array_module``), ``backward``
returns one gradient per input, reduced to that input's shape. Gradients are
never written in place: an array handed to backward may be shared.
Shape ops (views, indexing, joining) live in :mod:`loomgrad.shape_ops`.
"""
from __future__ import annotations

import numpy as np

from . import kernels
from .autograd import Function, array_module

_GEMM_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


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


# ----------------------------------------------------------------------------- binary


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


# ----------------------------------------------------------------------------- unary


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


class Relu(Function):
    def forward(self, a):
        out = array_module(a).maximum(a, 0).astype(a.dtype, copy=False)
        self.saved = (out,)
        return out

    def backward(self, g):
        return (g * (self.saved[0] > 0),)


def _sigmoid(xp, a):
    # exp of -|a| only, so neither branch overflows
    e = xp.exp(-xp.abs(a))
    return xp.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)


class Sigmoid(Function):
    def forward(self, a):
        out = _sigmoid(array_module(a), a)
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
        return (g * xp.where(z > self.threshold, 1, _sigmoid(xp, z)),)


class Silu(Function):
    def forward(self, a):
        s = _sigmoid(array_module(a), a)
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


# ----------------------------------------------------------------------------- reductions


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


def _on_row_kernel(a) -> bool:
    """True when the row kernels of loomgrad.kernels take ``a``: CPU float32/float64,
    GPU float32 (the CUDA kernels); other cases use the array module's maths."""
    if isinstance(a, np.ndarray):
        return a.dtype in _GEMM_DTYPES
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


# ----------------------------------------------------------------------------- matmul


def _gemm(a, b, trans_a=False, trans_b=False):
    """GEMM on our kernel for float32/float64; float16 goes through float32. On the
    GPU our CUDA GEMM takes float32 (2-D or batched); float64/16 use CuPy's matmul."""
    if not isinstance(a, np.ndarray) and a.dtype != np.float32:
        xp = array_module(a)
        return xp.matmul(xp.swapaxes(a, -1, -2) if trans_a else a,
                         xp.swapaxes(b, -1, -2) if trans_b else b)
    if a.dtype in _GEMM_DTYPES:
        return kernels.gemm(a, b, trans_a=trans_a, trans_b=trans_b)
    out = kernels.gemm(a.astype(np.float32), b.astype(np.float32), trans_a=trans_a,
                       trans_b=trans_b)
    return out.astype(a.dtype)


def _fold(x, keep):
    """Reshape ``x`` so its leading dims become one, keeping the last ``keep``
    dims. Explicit sizes, because reshape(-1, ...) is ambiguous when a kept
    dim is 0 (e.g. K == 0)."""
    lead = 1
    for d in x.shape[:x.ndim - keep]:
        lead *= d
    return x.reshape((lead,) + tuple(x.shape[x.ndim - keep:]))


class Matmul(Function):
    """``a @ b`` with numpy/torch rules: 1-D operands get a unit dim added then
    removed, batch dims broadcast. When ``b`` is a matrix, the batch of ``a``
    folds into its rows so one 2-D GEMM does the work (the Linear case)."""

    def forward(self, a, b):
        xp = array_module(a)
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes "
                             f"{tuple(a.shape)} and {tuple(b.shape)}")
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if a2.shape[-1] != b2.shape[-2]:
            raise ValueError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be "
                             f"multiplied ({a2.shape[-1]} != {b2.shape[-2]})")
        try:
            batch = () if a2.ndim == 2 == b2.ndim else \
                np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        except ValueError:
            raise ValueError(f"matmul: batch dimensions of shapes {tuple(a.shape)} and "
                             f"{tuple(b.shape)} do not broadcast") from None
        M, K, N = a2.shape[-2], a2.shape[-1], b2.shape[-1]
        full = batch + (M, N)
        out_shape = full[:-2] + ((M,) if a.ndim > 1 else ()) + ((N,) if b.ndim > 1 else ())
        self.meta = (a.shape, b.shape, a2.shape, b2.shape, batch, full)
        if a.dtype.kind in "biu" or b.dtype.kind in "biu":
            return xp.matmul(a, b)
        dt = np.result_type(a.dtype, b.dtype)
        a2, b2 = a2.astype(dt, copy=False), b2.astype(dt, copy=False)
        self.saved = (a2 if self.needs_input_grad[1] else None,
                      b2 if self.needs_input_grad[0] else None)
        if b2.ndim == 2:
            out = _gemm(_fold(a2, 1), b2)
        else:
            out = _gemm(self._as3(a2, batch), self._as3(b2, batch))
        return out.reshape(out_shape)

    @staticmethod
    def _as3(x, batch):
        """(B, r, c) view of ``x`` broadcast over ``batch``, or ``x`` itself when 2-D
        (gemm broadcasts a matrix over the batch without copying it)."""
        if x.ndim == 2:
            return x
        xp = array_module(x)
        if x.shape[:-2] != batch:
            x = xp.broadcast_to(x, batch + x.shape[-2:])
        return _fold(x, 2)

    def backward(self, g):
        a2, b2 = self.saved
        a_shape, b_shape, a2_shape, b2_shape, batch, full = self.meta
        g = g.reshape(full)
        ga = gb = None
        na, nb = self.needs_input_grad
        if len(b2_shape) == 2:
            # folded case: the batch of a lives in the rows
            g2 = _fold(g, 1)
            if na:
                ga = _gemm(g2, b2, trans_b=True)
            if nb:
                gb = _gemm(_fold(a2, 1), g2, trans_a=True)
        else:
            g3 = _fold(g, 2)
            if na:
                ga = _gemm(g3, self._as3(b2, batch), trans_b=True)
                ga = unbroadcast(ga.reshape(batch + ga.shape[-2:]), a2_shape)
            if nb:
                gb = _gemm(self._as3(a2, batch), g3, trans_a=True)
                gb = unbroadcast(gb.reshape(batch + gb.shape[-2:]), b2_shape)
        if ga is not None:
            ga = ga.reshape(a_shape)
        if gb is not None:
            gb = gb.reshape(b_shape)
        return ga, gb
