"""matmul (numpy/torch rules: 1-D operands, broadcast batches) on our GEMM."""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..autograd import Function, array_module
from ..kernels._args import FLOAT_DTYPES
from .elementwise import unbroadcast


def _gemm(a, b, trans_a=False, trans_b=False):
    """GEMM on our kernel for float32/float64; float16 goes through float32. On the
    GPU our CUDA GEMM takes float32 (2-D or batched); float64/16 use CuPy's matmul."""
    if not isinstance(a, np.ndarray) and a.dtype != np.float32:
        xp = array_module(a)
        return xp.matmul(xp.swapaxes(a, -1, -2) if trans_a else a,
                         xp.swapaxes(b, -1, -2) if trans_b else b)
    if a.dtype in FLOAT_DTYPES:
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
