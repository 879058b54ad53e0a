"""Convolution and pooling: autograd Functions and their torch.nn.functional forms.

``conv2d``, ``max_pool2d``, ``avg_pool2d`` and ``adaptive_avg_pool2d`` take
and return Tensors (NCHW, or unbatched CHW) with torch's argument names,
orders, output sizes and gradients. Each is one autograd node whose
forward/backward call a *backend* on raw arrays:

* ``_NumpyBackend`` (this file): im2col through
  ``numpy.lib.stride_tricks.sliding_window_view`` and our GEMM
  (``lg.kernels.gemm``) for convolution, NumPy window reductions for pooling.
  It is the slow, obviously-right twin of the C++ kernels.
* the C++/OpenMP kernels (``loomgrad._nn_kernels``), which ``_backend``
  below always uses; tests swap in the NumPy twin to compare the two.

Both backends share the raw API: ``conv2d(x, w, bias, stride, padding,
dilation, groups) -> y``, ``conv2d_backward(gy, x, w, stride, padding,
dilation, groups, need) -> (dx, dw, db)``, ``max_pool2d(...) -> (y,
indices)`` etc., with symmetric integer padding; the asymmetric padding that
``padding='same'`` needs for even kernels is applied here, around the call.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .. import _alloc, _nn_kernels, kernels
from ..autograd import Function, array_module
from ..tensor import Tensor

__all__ = ["conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "Conv2dFunction",
           "MaxPool2dFunction", "AvgPool2dFunction", "AdaptiveAvgPool2dFunction"]

_GEMM_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# ------------------------------------------------------------------ argument checks
def _pair(fn: str, name: str, v, low: int = 1) -> tuple[int, int]:
    """An int or a pair of ints >= ``low`` as a pair (torch's _pair)."""
    vals = (v, v) if not isinstance(v, (tuple, list)) else tuple(v)
    if len(vals) == 1:
        vals = vals * 2
    if len(vals) != 2 or any(isinstance(a, bool) or not isinstance(a, (int, np.integer))
                             for a in vals):
        raise TypeError(f"{fn}: {name} must be an int or a pair of ints, got {v!r}")
    if any(a < low for a in vals):
        raise ValueError(f"{fn}: {name} must be >= {low}, got {v!r}")
    return int(vals[0]), int(vals[1])


def pool_output_size(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """torch's pooling output length: floor (or ceil) of (n + 2p - d(k-1) - 1) / s + 1,
    where with ``ceil_mode`` the last window must start inside the input or left padding."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _image_input(fn: str, x) -> bool:
    """Checks a (N, C, H, W) or unbatched (C, H, W) input; True when unbatched."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim not in (3, 4):
        raise ValueError(f"{fn}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
                         f"{tuple(x.shape)}")
    if x.dtype.kind != "f":
        raise TypeError(f"{fn}: input must be floating point, got {x.dtype}")
    return x.ndim == 3


def _unsqueeze0(t: Tensor) -> Tensor:
    return t.reshape(1, *t.shape)


# ------------------------------------------------------------------ NumPy backend
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
    if a.dtype in _GEMM_DTYPES and 0 not in a.shape and 0 not in b.shape:
        if a.shape[0] == 1 == b.shape[0]:  # groups=1: a plain 2-D GEMM
            return kernels.gemm(a[0], b[0], trans_a=trans_a, trans_b=trans_b)[None]
        return kernels.gemm(a, b, trans_a=trans_a, trans_b=trans_b)
    a = a.swapaxes(-1, -2) if trans_a else a
    b = b.swapaxes(-1, -2) if trans_b else b
    return np.matmul(a, b)


class _NumpyBackend:
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


# The backend the Functions call: always the C++ kernels. The NumPy twin is
# the reference the tests run the same Functions through (never a silent
# fallback: a build without the kernels fails at import instead).
_backend = _nn_kernels


def _contig(name: str, x):
    """C-contiguous input for the kernels: size-checked on the host; on the GPU
    ``loomgrad._gpu`` makes it contiguous (from CuPy's pool)."""
    return _alloc.contiguous(name, x) if isinstance(x, np.ndarray) else x


# ------------------------------------------------------------------ autograd Functions
class Conv2dFunction(Function):
    """conv2d as one node: inputs (x, w) or (x, w, bias). ``extra`` is (bottom,
    right) padding beyond the symmetric ``padding`` (padding='same', even kernels)."""

    def forward(self, x, w, *bias, stride, padding, dilation, groups, extra=(0, 0)):
        b = bias[0] if bias else None
        self.orig_shape = x.shape
        xp = array_module(x)
        if extra != (0, 0):
            x = xp.pad(x, ((0, 0), (0, 0), (0, extra[0]), (0, extra[1])))
        self.args = (stride, padding, dilation, groups)
        need = self.needs_input_grad
        # x is needed for dw, w for dx
        self.saved = (x if (len(need) > 1 and need[1]) else None,
                      w if need[0] else None, w.shape, x.shape)
        if 0 in x.shape or 0 in w.shape:
            return self._empty_out(x, w, b)
        return _backend.conv2d(_contig("input", x), _contig("weight", w), b, *self.args)

    def _empty_out(self, x, w, b):
        (sh, sw), (ph, pw), (dh, dw), _ = self.args
        N, _, H, W = x.shape
        K, _, R, S = w.shape
        OH = (H + 2 * ph - dh * (R - 1) - 1) // sh + 1
        OW = (W + 2 * pw - dw * (S - 1) - 1) // sw + 1
        y = array_module(x).zeros((N, K, OH, OW), x.dtype)
        return y if b is None else y + b.reshape(1, K, 1, 1).astype(x.dtype)

    def backward(self, g):
        x, w, w_shape, x_shape = self.saved
        need = self.needs_input_grad
        want = (need[0], need[1], len(need) > 2 and need[2])
        xp = array_module(g)
        if 0 in g.shape or 0 in x_shape or 0 in w_shape:
            dx = xp.zeros(x_shape, g.dtype) if want[0] else None
            dw = xp.zeros(w_shape, g.dtype) if want[1] else None
            db = g.sum(axis=(0, 2, 3)) if want[2] else None
        else:
            xx = x if x is not None else xp.empty(x_shape, g.dtype)  # shape only
            ww = w if w is not None else xp.empty(w_shape, g.dtype)
            dx, dw, db = _backend.conv2d_backward(xp.ascontiguousarray(g), xx, ww, *self.args,
                                                  need=want)
        if dx is not None and dx.shape != self.orig_shape:
            dx = xp.ascontiguousarray(dx[:, :, :self.orig_shape[2], :self.orig_shape[3]])
        return (dx, dw, db)[:len(need)]


class MaxPool2dFunction(Function):
    """max_pool2d as one node; ``self.indices`` keeps the argmax (flat h*W + w per plane)."""

    def forward(self, x, *, kernel_size, stride, padding, dilation, ceil_mode):
        y, idx = _backend.max_pool2d(_contig("input", x), kernel_size, stride, padding,
                                     dilation, ceil_mode)
        self.indices = idx
        self.x_shape = x.shape
        self.window = (kernel_size, stride, padding, dilation, ceil_mode)
        return y

    def backward(self, g):
        return (_backend.max_pool2d_backward(array_module(g).ascontiguousarray(g), self.indices,
                                             self.x_shape, *self.window),)


class AvgPool2dFunction(Function):
    def forward(self, x, *, kernel_size, stride, padding, ceil_mode, count_include_pad,
                divisor_override):
        self.args = (kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)
        self.x_shape = x.shape
        return _backend.avg_pool2d(_contig("input", x), *self.args)

    def backward(self, g):
        return (_backend.avg_pool2d_backward(array_module(g).ascontiguousarray(g), self.x_shape,
                                             *self.args),)


class AdaptiveAvgPool2dFunction(Function):
    def forward(self, x, *, output_size):
        self.x_shape = x.shape
        return _backend.adaptive_avg_pool2d(_contig("input", x), output_size)

    def backward(self, g):
        return (_backend.adaptive_avg_pool2d_backward(array_module(g).ascontiguousarray(g),
                                                      self.x_shape),)


# ------------------------------------------------------------------ functional forms
def _same_padding(fn, k, d, s):
    """padding='same': total d*(k-1) per dim, torch's split (left = total // 2,
    the odd pixel on the right/bottom)."""
    if s != (1, 1):
        raise ValueError(f"{fn}: padding='same' is not supported for strided convolutions "
                         f"(stride={s})")
    total = (d[0] * (k[0] - 1), d[1] * (k[1] - 1))
    left = (total[0] // 2, total[1] // 2)
    return left, (total[0] - 2 * left[0], total[1] - 2 * left[1])


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D cross-correlation, as torch.nn.functional.conv2d.

    Shapes: input (N, C, H, W) or (C, H, W); weight (K, C/groups, R, S);
    bias (K,); output (N, K, OH, OW) with OH = (H + 2*pad_h - dil_h*(R-1) - 1)
    // stride_h + 1 (likewise OW). ``padding``: int, pair, 'valid' (0) or
    'same' (output size = input size; stride must be 1; an odd total pads one
    more row/column at the bottom/right, as torch). ``groups`` splits C and
    K into that many independent convolutions (groups = C: depthwise).
    """
    fn = "conv2d"
    unbatched = _image_input(fn, input)
    if not isinstance(weight, Tensor):
        raise TypeError(f"{fn}: weight must be a Tensor, got {type(weight).__name__}")
    if weight.ndim != 4:
        raise ValueError(f"{fn}: weight must be 4-D (out_channels, in_channels/groups, kH, kW), "
                         f"got shape {tuple(weight.shape)}")
    if weight.dtype != input.dtype:
        raise TypeError(f"{fn}: input and weight must have the same dtype, got {input.dtype} and "
                        f"{weight.dtype}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{fn}: groups must be an int >= 1, got {groups!r}")
    groups = int(groups)
    x = _unsqueeze0(input) if unbatched else input
    N, C, H, W = x.shape
    K, Cg, R, S = weight.shape
    if Cg * groups != C:
        raise ValueError(f"{fn}: input has {C} channels but weight {tuple(weight.shape)} with "
                         f"groups={groups} expects {Cg * groups} (input shape "
                         f"{tuple(input.shape)})")
    if K % groups:
        raise ValueError(f"{fn}: out_channels {K} must be divisible by groups={groups}")
    if bias is not None:
        if not isinstance(bias, Tensor):
            raise TypeError(f"{fn}: bias must be a Tensor, got {type(bias).__name__}")
        if tuple(bias.shape) != (K,):
            raise ValueError(f"{fn}: bias must have shape ({K},), got {tuple(bias.shape)}")
    s = _pair(fn, "stride", stride)
    d = _pair(fn, "dilation", dilation)
    extra = (0, 0)
    if isinstance(padding, str):
        if padding == "valid":
            p = (0, 0)
        elif padding == "same":
            p, extra = _same_padding(fn, (R, S), d, s)
        else:
            raise ValueError(f"{fn}: padding must be an int, a pair, 'valid' or 'same', got "
                             f"{padding!r}")
    else:
        p = _pair(fn, "padding", padding, low=0)
    eff_h, eff_w = d[0] * (R - 1) + 1, d[1] * (S - 1) + 1
    if H + 2 * p[0] + extra[0] < eff_h or W + 2 * p[1] + extra[1] < eff_w:
        raise ValueError(f"{fn}: kernel {R}x{S} (dilated {eff_h}x{eff_w}) is larger than the "
                         f"padded input {H + 2 * p[0] + extra[0]}x{W + 2 * p[1] + extra[1]} "
                         f"(input shape {tuple(input.shape)})")
    args = (x, weight) if bias is None else (x, weight, bias)
    out = Conv2dFunction.apply(*args, stride=s, padding=p, dilation=d, groups=groups,
                               extra=extra)
    return out.reshape(*out.shape[1:]) if unbatched else out


def _pool_args(fn, x, kernel_size, stride, padding, dilation=1):
    k = _pair(fn, "kernel_size", kernel_size)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) \
        else _pair(fn, "stride", stride)
    p = _pair(fn, "padding", padding, low=0)
    d = _pair(fn, "dilation", dilation)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"{fn}: padding should be at most half of the effective kernel size, "
                         f"got padding={p} and kernel_size={k}")
    return k, s, p, d


def _pool_out_check(fn, input, H, W, k, s, p, d, ceil_mode):
    OH = pool_output_size(H, k[0], s[0], p[0], d[0], ceil_mode)
    OW = pool_output_size(W, k[1], s[1], p[1], d[1], ceil_mode)
    if OH < 1 or OW < 1:
        raise ValueError(f"{fn}: output size would be {OH}x{OW} for input "
                         f"{tuple(input.shape)}, kernel_size={k}, stride={s}, padding={p}, "
                         f"dilation={d}: too small")


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """Max over (dilated) windows, as torch.nn.functional.max_pool2d.

    Shapes: (N, C, H, W) or (C, H, W) -> (N, C, OH, OW), OH = floor or ceil
    ((H + 2*pad - dil*(k-1) - 1) / stride) + 1; ``stride`` defaults to
    ``kernel_size``; padding (at most half the kernel) counts as -inf. With
    ``return_indices`` also returns the int64 argmax of each window as a flat
    index h*W + w into its input plane (like torch).
    """
    fn = "max_pool2d"
    unbatched = _image_input(fn, input)
    k, s, p, d = _pool_args(fn, input, kernel_size, stride, padding, dilation)
    x = _unsqueeze0(input) if unbatched else input
    _pool_out_check(fn, input, x.shape[2], x.shape[3], k, s, p, d, ceil_mode)
    if 0 in x.shape[1:]:
        raise ValueError(f"{fn}: expected non-empty C, H, W, got input shape "
                         f"{tuple(input.shape)}")
    out = MaxPool2dFunction.apply(x, kernel_size=k, stride=s, padding=p, dilation=d,
                                  ceil_mode=bool(ceil_mode))
    if return_indices:
        node = out.grad_fn
        idx = node.indices if node is not None else _backend.max_pool2d(
            _contig("input", x.data), k, s, p, d, bool(ceil_mode))[1]
        idx_t = Tensor(idx)
    if unbatched:
        out = out.reshape(*out.shape[1:])
        if return_indices:
            idx_t = Tensor(idx.reshape(idx.shape[1:]))
    return (out, idx_t) if return_indices else out


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over windows, as torch.nn.functional.avg_pool2d.

    Shapes as :func:`max_pool2d` (no dilation). The divisor is the window
    area clipped to the padded input (``count_include_pad``) or to the input
    itself, or ``divisor_override`` when given.
    """
    fn = "avg_pool2d"
    unbatched = _image_input(fn, input)
    k, s, p, _ = _pool_args(fn, input, kernel_size, stride, padding)
    if divisor_override is not None and (isinstance(divisor_override, bool) or not isinstance(
            divisor_override, (int, np.integer)) or divisor_override == 0):
        raise ValueError(f"{fn}: divisor_override must be a non-zero int, got "
                         f"{divisor_override!r}")
    x = _unsqueeze0(input) if unbatched else input
    _pool_out_check(fn, input, x.shape[2], x.shape[3], k, s, p, (1, 1), ceil_mode)
    if 0 in x.shape[1:]:
        raise ValueError(f"{fn}: expected non-empty C, H, W, got input shape "
                         f"{tuple(input.shape)}")
    out = AvgPool2dFunction.apply(x, kernel_size=k, stride=s, padding=p,
                                  ceil_mode=bool(ceil_mode),
                                  count_include_pad=bool(count_include_pad),
                                  divisor_override=divisor_override)
    return out.reshape(*out.shape[1:]) if unbatched else out


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Mean over windows chosen so the output is ``output_size`` (an int, a
    pair, with None keeping that input size): (N, C, H, W) -> (N, C, OH, OW);
    window o spans [floor(o*H/OH), ceil((o+1)*H/OH))."""
    fn = "adaptive_avg_pool2d"
    unbatched = _image_input(fn, input)
    x = _unsqueeze0(input) if unbatched else input
    H, W = x.shape[2:]
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    if len(sizes) != 2:
        raise ValueError(f"{fn}: output_size must be an int or a pair, got {output_size!r}")
    out_hw = []
    for v, n in zip(sizes, (H, W)):
        if v is None:
            v = n
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"{fn}: output_size must hold ints >= 0 or None, got "
                             f"{output_size!r}")
        out_hw.append(int(v))
    if 0 in x.shape[1:]:
        raise ValueError(f"{fn}: expected non-empty C, H, W, got input shape "
                         f"{tuple(input.shape)}")
    out = AdaptiveAvgPool2dFunction.apply(x, output_size=tuple(out_hw))
    return out.reshape(*out.shape[1:]) if unbatched else out
