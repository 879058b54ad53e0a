"""The slow, obviously-right NumPy twin of the upsampling kernels (tests only): torch's
source-index formulas written out per output pixel (float32 index arithmetic for nearest, as
torch; the data type's for bilinear), the backward as the explicit adjoint (a dense
interpolation matrix per dim, transposed)."""
from __future__ import annotations

import math

import numpy as np


def _scale(in_, out, scale, dtype):
    return dtype(1.0 / scale) if scale else dtype(in_) / dtype(out)


def nearest_index(in_, out, scale=None):
    if out == in_:
        return np.arange(out)
    if out == 2 * in_:
        return np.arange(out) >> 1
    sc = _scale(in_, out, scale, np.float32)
    return np.array([min(int(math.floor(np.float32(o) * sc)), in_ - 1) for o in range(out)])


def linear_matrix(in_, out, align_corners, scale=None, dtype=np.float64):
    """(out, in_) matrix whose rows hold the two bilinear weights of each output position."""
    t = np.dtype(dtype).type
    m = np.zeros((out, in_), np.float64)
    if align_corners:
        ratio = t(in_ - 1) / t(out - 1) if out > 1 else t(0)
    else:
        ratio = _scale(in_, out, scale, t)
    for o in range(out):
        if out == in_:
            m[o, o] = 1.0
            continue
        src = ratio * t(o) if align_corners else max(ratio * (t(o) + t(0.5)) - t(0.5), t(0))
        i = min(int(math.floor(src)), in_ - 1)
        lam = min(max(src - t(i), t(0)), t(1))
        m[o, i] += 1 - lam
        m[o, i + (1 if i < in_ - 1 else 0)] += lam
    return m


def _matrices(mode, in_hw, out_hw, align_corners, scales, dtype):
    scales = scales or (None, None)
    if mode == "nearest":
        mats = []
        for n, o, s in zip(in_hw, out_hw, scales):
            m = np.zeros((o, n))
            m[np.arange(o), nearest_index(n, o, s)] = 1.0
            mats.append(m)
        return mats
    return [linear_matrix(n, o, align_corners, s, dtype) for n, o, s in
            zip(in_hw, out_hw, scales)]


def upsample2d(x, mode, output_size, align_corners=False, scales=None):
    """Forward in float64: y = Mh @ x @ Mw^T per plane."""
    mh, mw = _matrices(mode, x.shape[2:], output_size, align_corners, scales, x.dtype)
    return np.einsum("oh,nchw,pw->ncop", mh, np.asarray(x, np.float64), mw)


def upsample2d_backward(grad_out, mode, input_shape, align_corners=False, scales=None):
    mh, mw = _matrices(mode, input_shape[2:], grad_out.shape[2:], align_corners, scales,
                       grad_out.dtype)
    return np.einsum("oh,ncop,pw->nchw", mh, np.asarray(grad_out, np.float64), mw)
