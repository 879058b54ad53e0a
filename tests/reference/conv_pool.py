"""The slow, obviously-right NumPy twin of the conv and pooling kernels (tests only).

im2col through ``numpy.lib.stride_tricks.sliding_window_view`` and our GEMM
(``lg.kernels.gemm``) for convolution, NumPy window reductions for pooling.
:class:`NumpyConvPool` has the raw API of ``lg.kernels`` (``conv2d(x, w, bias,
stride, padding, dilation, groups)``, ``conv2d_backward(gy, x, w, ...,
need)``, ``max_pool2d(...) -> (y, indices)``, ...), so tests can run the
autograd Functions through it in place of the C++ kernels.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from loomgrad import kernels
from loomgrad.kernels._args import FLOAT_DTYPES
from loomgrad.nn.functional.pool import pool_output_size


def _windows(xp_, kh, kw, sh, sw, dh, dw, OH, OW):
    """(N, C, OH, OW, kh, kw) strided view of padded input ``xp_`` (no copy)."""
    v = sliding_window_view(xp_, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
    return v[:, :, :sh * (OH - 1) + 1:sh, :sw * (OW - 1) + 1:sw, ::dh, ::dw]


def _pad_to(x, ph, pw, OH, OW, kh, kw, sh, sw, dh, dw, value):
    """Pad H/W by (ph, pw) on the left and as much as the windows need on the right
    (ceil_mode can need more than ``ph``; a short last stride needs less)."""
    H, W = x.shape[2:]
    need_h = (OH - 1) * sh + dh * (kh - 1) + 1
    need_w = (OW - 1) * sw + dw * (kw - 1) + 1
    rh, rw = need_h - H - ph, need_w - W - pw
    out = np.pad(x, ((0, 0), (0, 0), (ph, max(rh, 0)), (pw, max(rw, 0))),
                 constant_values=value)
    return out[:, :, :need_h, :need_w]


def _col2im(cols, shape, ph, pw, sh, sw, dh, dw):
    """Adjoint of :func:`_windows` for cols (N, C, OH, OW, kh, kw): sum every window
    element back into an (N, C, H, W) array (padding cropped)."""
    N, C, H, W = shape
    _, _, OH, OW, kh, kw = cols.shape
    Hp = max(H + 2 * ph, (OH - 1) * sh + dh * (kh - 1) + 1)
    Wp = max(W + 2 * pw, (OW - 1) * sw + dw * (kw - 1) + 1)
    out = np.zeros((N, C, Hp, Wp), dtype=cols.dtype)
    for r in range(kh):
        for s in range(kw):
            out[:, :, r * dh:r * dh + sh * (OH - 1) + 1:sh,
                s * dw:s * dw + sw * (OW - 1) + 1:sw] += cols[:, :, :, :, r, s]
    return out[:, :, ph:ph + H, pw:pw + W]


def _bgemm(a, b, trans_a=False, trans_b=False):
    """Batched GEMM on our kernel (float32/64), NumPy's matmul otherwise."""
    if a.dtype in FLOAT_DTYPES and 0 not in a.shape and 0 not in b.shape:
        if a.shape[0] == 1 == b.shape[0]:  # groups=1: a plain 2-D GEMM
            return kernels.gemm(a[0], b[0], trans_a=trans_a, trans_b=trans_b)[None]
        return kernels.gemm(a, b, trans_a=trans_a, trans_b=trans_b)
    a = a.swapaxes(-1, -2) if trans_a else a
    b = b.swapaxes(-1, -2) if trans_b else b
    return np.matmul(a, b)


class NumpyConvPool:
    """Reference implementations on NumPy arrays (float32/float64, NCHW)."""

    @staticmethod
    def _conv_cols(x, w, stride, padding, dilation, groups):
        N, C, H, W = x.shape
        K, Cg, R, S = w.shape
        (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
        OH = (H + 2 * ph - dh * (R - 1) - 1) // sh + 1
        OW = (W + 2 * pw - dw * (S - 1) - 1) // sw + 1
        xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        win = _windows(xpad, R, S, sh, sw, dh, dw, OH, OW)  # (N, C, OH, OW, R, S)
        G = groups
        # im2col per group: rows are output pixels, columns (c, r, s) like the weight
        cols = win.reshape(N, G, Cg, OH, OW, R, S).transpose(1, 0, 3, 4, 2, 5, 6)
        cols = np.ascontiguousarray(cols).reshape(G, N * OH * OW, Cg * R * S)
        return cols, OH, OW

    @classmethod
    def conv2d(cls, x, w, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
        N = x.shape[0]
        K, Cg, R, S = w.shape
        G = groups
        cols, OH, OW = cls._conv_cols(x, w, stride, padding, dilation, groups)
        wg = w.reshape(G, K // G, Cg * R * S)
        y = _bgemm(cols, wg, trans_b=True)  # (G, N*OH*OW, K/G)
        y = y.reshape(G, N, OH, OW, K // G).transpose(1, 0, 4, 2, 3).reshape(N, K, OH, OW)
        if bias is not None:
            y = y + bias.reshape(1, K, 1, 1)
        return np.ascontiguousarray(y, dtype=x.dtype)

    @classmethod
    def conv2d_backward(cls, gy, x, w, stride, padding, dilation, groups,
                        need=(True, True, True)):
        N, C, H, W = x.shape
        K, Cg, R, S = w.shape
        G, Kg = groups, K // groups
        OH, OW = gy.shape[2:]
        g = np.ascontiguousarray(gy.reshape(N, G, Kg, OH, OW).transpose(1, 0, 3, 4, 2))
        g = g.reshape(G, N * OH * OW, Kg)
        dx = dw = db = None
        if need[1]:
            cols, _, _ = cls._conv_cols(x, w, stride, padding, dilation, groups)
            dw = _bgemm(g, cols, trans_a=True).reshape(K, Cg, R, S).astype(w.dtype, copy=False)
        if need[0]:
            dcols = _bgemm(g, w.reshape(G, Kg, Cg * R * S))  # (G, N*OH*OW, Cg*R*S)
            dcols = dcols.reshape(G, N, OH, OW, Cg, R, S).transpose(1, 0, 4, 2, 3, 5, 6)
            dx = _col2im(dcols.reshape(N, C, OH, OW, R, S), x.shape, *padding, *stride,
                         *dilation).astype(x.dtype, copy=False)
        if need[2]:
            db = gy.sum(axis=(0, 2, 3)).astype(gy.dtype, copy=False)
        return dx, dw, db

    @staticmethod
    def max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode):
        N, C, H, W = x.shape
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
        OH = pool_output_size(H, kh, sh, ph, dh, ceil_mode)
        OW = pool_output_size(W, kw, sw, pw, dw, ceil_mode)
        fill = -np.inf
        xpad = _pad_to(x, ph, pw, OH, OW, kh, kw, sh, sw, dh, dw, fill)
        win = _windows(xpad, kh, kw, sh, sw, dh, dw, OH, OW).reshape(N, C, OH, OW, kh * kw)
        a = win.argmax(axis=-1)  # first maximum; a NaN wins, as in torch
        y = np.take_along_axis(win, a[..., None], axis=-1)[..., 0]
        ih = np.arange(OH)[:, None] * sh - ph + (a // kw) * dh
        iw = np.arange(OW)[None, :] * sw - pw + (a % kw) * dw
        return np.ascontiguousarray(y), (ih * W + iw).astype(np.int64)

    @staticmethod
    def max_pool2d_backward(gy, indices, x_shape, *window):
        N, C, H, W = x_shape
        planes = np.arange(N * C).reshape(N, C, 1, 1) * (H * W)
        flat = (indices + planes).ravel()
        dx = np.bincount(flat, weights=gy.ravel(), minlength=N * C * H * W)
        return dx.reshape(x_shape).astype(gy.dtype, copy=False)

    @staticmethod
    def _avg_divisor(H, W, OH, OW, k, s, p, count_include_pad, divisor_override, dtype):
        if divisor_override:
            return np.asarray(divisor_override, dtype)

        def counts(n, out, k, s, p):
            start = np.arange(out) * s - p
            end = np.minimum(start + k, n + p)
            if count_include_pad:
                return end - start
            return np.minimum(end, n) - np.maximum(start, 0)
        return (counts(H, OH, k[0], s[0], p[0])[:, None]
                * counts(W, OW, k[1], s[1], p[1])[None, :]).astype(dtype)

    @classmethod
    def avg_pool2d(cls, x, kernel_size, stride, padding, ceil_mode=False,
                   count_include_pad=True, divisor_override=None):
        N, C, H, W = x.shape
        (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
        OH = pool_output_size(H, kh, sh, ph, 1, ceil_mode)
        OW = pool_output_size(W, kw, sw, pw, 1, ceil_mode)
        xpad = _pad_to(x, ph, pw, OH, OW, kh, kw, sh, sw, 1, 1, 0)
        total = _windows(xpad, kh, kw, sh, sw, 1, 1, OH, OW).sum(axis=(-2, -1))
        div = cls._avg_divisor(H, W, OH, OW, kernel_size, stride, padding, count_include_pad,
                               divisor_override, x.dtype)
        return np.ascontiguousarray(total / div, dtype=x.dtype)

    @classmethod
    def avg_pool2d_backward(cls, gy, x_shape, kernel_size, stride, padding, ceil_mode=False,
                            count_include_pad=True, divisor_override=None):
        H, W = x_shape[2:]
        OH, OW = gy.shape[2:]
        (kh, kw) = kernel_size
        div = cls._avg_divisor(H, W, OH, OW, kernel_size, stride, padding, count_include_pad,
                               divisor_override, gy.dtype)
        g = gy / div
        cols = np.broadcast_to(g[..., None, None], g.shape + (kh, kw))
        return _col2im(cols, x_shape, *padding, *stride, 1, 1).astype(gy.dtype, copy=False)

    @staticmethod
    def _adaptive_matrix(n, out, dtype):
        """(out, n) averaging matrix: row o averages [floor(o*n/out), ceil((o+1)*n/out))."""
        m = np.zeros((out, n), dtype)
        for o in range(out):
            a, b = (o * n) // out, -(-((o + 1) * n) // out)
            m[o, a:b] = 1.0 / (b - a)
        return m

    @classmethod
    def adaptive_avg_pool2d(cls, x, output_size):
        H, W = x.shape[2:]
        OH, OW = output_size
        ph, pw = cls._adaptive_matrix(H, OH, x.dtype), cls._adaptive_matrix(W, OW, x.dtype)
        # the average over a rectangle is separable: Ph @ X @ Pw^T per plane
        return np.ascontiguousarray(np.matmul(np.matmul(ph, x), pw.T), dtype=x.dtype)

    @classmethod
    def adaptive_avg_pool2d_backward(cls, gy, x_shape):
        H, W = x_shape[2:]
        OH, OW = gy.shape[2:]
        ph, pw = cls._adaptive_matrix(H, OH, gy.dtype), cls._adaptive_matrix(W, OW, gy.dtype)
        return np.ascontiguousarray(np.matmul(np.matmul(ph.T, gy), pw), dtype=gy.dtype)
