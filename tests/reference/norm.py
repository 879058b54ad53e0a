"""The slow, obviously-right NumPy twin of the normalisation kernels (tests only): layer_norm,
group_norm and (training-mode) batch_norm forward and backward in float64, written from the definitions (two-pass
variance, the three-term backward), with lg.kernels' signatures and return values."""
from __future__ import annotations

import math

import numpy as np


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """(out, mean, rstd) of LayerNorm over the last len(normalized_shape) dims."""
    shape = (normalized_shape,) if np.isscalar(normalized_shape) else tuple(normalized_shape)
    x64 = np.asarray(x, np.float64)
    axes = tuple(range(x64.ndim - len(shape), x64.ndim))
    mean = x64.mean(axis=axes, keepdims=True)
    var = ((x64 - mean) ** 2).mean(axis=axes, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    out = (x64 - mean) * rstd
    if weight is not None:
        out = out * np.asarray(weight, np.float64)
    if bias is not None:
        out = out + np.asarray(bias, np.float64)
    stats = x64.shape[:x64.ndim - len(shape)]
    return out, mean.reshape(stats), rstd.reshape(stats)


def _norm_backward(g, x, axes, mean, rstd, w):
    """dx of (x - mean) * rstd * w over ``axes`` (mean, rstd broadcastable to x)."""
    xhat = (x - mean) * rstd
    gw = g * w
    return rstd * (gw - gw.mean(axis=axes, keepdims=True)
                   - xhat * (gw * xhat).mean(axis=axes, keepdims=True)), xhat


def layer_norm_backward(grad_out, x, normalized_shape, mean, rstd, weight=None,
                        need=(True, True, True)):
    shape = (normalized_shape,) if np.isscalar(normalized_shape) else tuple(normalized_shape)
    x64, g = np.asarray(x, np.float64), np.asarray(grad_out, np.float64)
    k = len(shape)
    axes = tuple(range(x64.ndim - k, x64.ndim))
    bshape = x64.shape[:x64.ndim - k] + (1,) * k
    w = 1.0 if weight is None else np.asarray(weight, np.float64)
    dx, xhat = _norm_backward(g, x64, axes, np.asarray(mean, np.float64).reshape(bshape),
                              np.asarray(rstd, np.float64).reshape(bshape), w)
    lead = tuple(range(x64.ndim - k))
    return (dx if need[0] else None, (g * xhat).sum(axis=lead) if need[1] else None,
            g.sum(axis=lead) if need[2] else None)


def _grouped(x, num_groups):
    x64 = np.asarray(x, np.float64)
    N, C = x64.shape[:2]
    return x64.reshape(N, num_groups, C // num_groups * math.prod(x64.shape[2:]))


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    """(out, mean (N, G), rstd (N, G)) of GroupNorm."""
    xg = _grouped(x, num_groups)
    mean = xg.mean(axis=2, keepdims=True)
    rstd = 1.0 / np.sqrt(((xg - mean) ** 2).mean(axis=2, keepdims=True) + eps)
    x64 = np.asarray(x, np.float64)
    out = ((xg - mean) * rstd).reshape(x64.shape)
    cshape = (1, x64.shape[1]) + (1,) * (x64.ndim - 2)
    if weight is not None:
        out = out * np.asarray(weight, np.float64).reshape(cshape)
    if bias is not None:
        out = out + np.asarray(bias, np.float64).reshape(cshape)
    return out, mean[..., 0], rstd[..., 0]


def group_norm_backward(grad_out, x, num_groups, mean, rstd, weight=None,
                        need=(True, True, True)):
    x64 = np.asarray(x, np.float64)
    N, C = x64.shape[:2]
    cshape = (1, C) + (1,) * (x64.ndim - 2)
    g = np.asarray(grad_out, np.float64)
    w = np.ones(cshape) if weight is None else np.asarray(weight, np.float64).reshape(cshape)
    gw = _grouped(g * w, num_groups)
    xg = _grouped(x64, num_groups)
    m = np.asarray(mean, np.float64)[..., None]
    r = np.asarray(rstd, np.float64)[..., None]
    dx, _ = _norm_backward(gw, xg, (2,), m, r, 1.0)
    xhat = ((xg - m) * r).reshape(x64.shape)
    red = (0,) + tuple(range(2, x64.ndim))
    return (dx.reshape(x64.shape) if need[0] else None,
            (g * xhat).sum(axis=red) if need[1] else None, g.sum(axis=red) if need[2] else None)


def batch_norm(x, weight=None, bias=None, eps=1e-5):
    """(out, mean (C,), biased var (C,), rstd (C,)) of training-mode BatchNorm."""
    x64 = np.asarray(x, np.float64)
    axes = (0,) + tuple(range(2, x64.ndim))
    cshape = (1, x64.shape[1]) + (1,) * (x64.ndim - 2)
    mean = x64.mean(axis=axes, keepdims=True)
    var = ((x64 - mean) ** 2).mean(axis=axes, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    out = (x64 - mean) * rstd
    if weight is not None:
        out = out * np.asarray(weight, np.float64).reshape(cshape)
    if bias is not None:
        out = out + np.asarray(bias, np.float64).reshape(cshape)
    return out, mean.reshape(-1), var.reshape(-1), rstd.reshape(-1)


def batch_norm_backward(grad_out, x, mean, rstd, weight=None, need=(True, True, True)):
    x64, g = np.asarray(x, np.float64), np.asarray(grad_out, np.float64)
    axes = (0,) + tuple(range(2, x64.ndim))
    cshape = (1, x64.shape[1]) + (1,) * (x64.ndim - 2)
    w = 1.0 if weight is None else np.asarray(weight, np.float64).reshape(cshape)
    dx, xhat = _norm_backward(g, x64, axes, np.asarray(mean, np.float64).reshape(cshape),
                              np.asarray(rstd, np.float64).reshape(cshape), w)
    return (dx if need[0] else None, (g * xhat).sum(axis=axes) if need[1] else None,
            g.sum(axis=axes) if need[2] else None)
