"""Layer, group and batch normalisation on arrays: :func:`layer_norm`, :func:`group_norm`,
:func:`batch_norm` (training mode: the batch's statistics) and their backwards
(csrc/cpu/norm.cpp).

torch's semantics (``torch.native_layer_norm`` / ``native_group_norm`` and their backwards):
biased variance, ``rstd = 1 / sqrt(var + eps)``, optional affine. float32 or float64 NumPy
arrays; the forwards return ``(out, mean, rstd)`` so the backwards recompute x-hat instead of
saving it. CPU only: a GPU array is a TypeError (no CUDA kernel yet). Inputs that are not
C-contiguous are copied; outputs are new arrays.
"""
from __future__ import annotations

import math

import numpy as np

from .. import _cpu
from . import _alloc
from ._args import float_array, to_int
from ._interop import any_array
from ._types import Array
from .gpu.arrays import any_gpu

__all__ = ["layer_norm", "layer_norm_backward", "group_norm", "group_norm_backward",
           "batch_norm", "batch_norm_backward"]


def _cpu_only(fn: str, *arrays) -> None:
    if any_gpu(*arrays):
        raise TypeError(f"{fn}: GPU arrays are not supported (CPU only: there is no CUDA "
                        f"normalisation kernel yet); move them to the host first")


def _normalized_shape(x, normalized_shape) -> tuple[int, ...]:
    """``normalized_shape`` as a tuple, checked against the last dims of ``x``."""
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else \
        tuple(normalized_shape)
    shape = tuple(to_int("normalized_shape", s) for s in shape)
    k = len(shape)
    if k == 0 or x.ndim < k or tuple(x.shape[x.ndim - k:]) != shape:
        raise ValueError(f"layer_norm: normalized_shape {shape} must be non-empty and match the "
                         f"last dims of input shape {tuple(x.shape)}")
    return shape


def _optional(name, a, dtype, shape) -> np.ndarray | None:
    """An optional weight/bias of exactly ``shape``, flattened for the kernel."""
    if a is None:
        return None
    a = float_array(name, a, dtype)
    if tuple(a.shape) != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {tuple(a.shape)}")
    return a.reshape(-1)


@any_array
def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5) -> tuple[Array, Array, Array]:
    """LayerNorm over the last ``len(normalized_shape)`` dims of ``x``: returns ``(out, mean,
    rstd)``; out like x, mean and rstd of shape ``x.shape[:-len(normalized_shape)]``.
    weight, bias: ``normalized_shape`` elements each (or None)."""
    _cpu_only("layer_norm", x, weight, bias)
    x = float_array("x", x)
    shape = _normalized_shape(x, normalized_shape)
    stats = x.shape[:x.ndim - len(shape)]
    M, N = math.prod(stats), math.prod(shape)
    w = _optional("weight", weight, x.dtype, shape)
    b = _optional("bias", bias, x.dtype, shape)
    out = _alloc.empty("out", x.shape, x.dtype)
    mean = np.empty(stats, x.dtype)
    rstd = np.empty(stats, x.dtype)
    _cpu.layer_norm_forward(x.reshape(M, N), w, b, float(eps), out.reshape(M, N),
                            mean.reshape(M), rstd.reshape(M))
    return out, mean, rstd


def _backward_arrays(x, grad_out, mean, rstd) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """grad_out (of x's shape), mean and rstd as contiguous arrays of x's dtype."""
    grad_out = float_array("grad_out", grad_out, x.dtype)
    if grad_out.shape != x.shape:
        raise ValueError(f"grad_out: expected shape {tuple(x.shape)} (the input's), got "
                         f"{tuple(grad_out.shape)}")
    return grad_out, float_array("mean", mean, x.dtype), float_array("rstd", rstd, x.dtype)


def _grads(need, shapes, dtype) -> list[np.ndarray | None]:
    return [np.empty(s, dtype) if n else None for n, s in zip(need, shapes)]


@any_array
def layer_norm_backward(grad_out, x, normalized_shape, mean, rstd, weight=None,
                        need=(True, True, True)) -> tuple[Array | None, Array | None, Array | None]:
    """Gradients of :func:`layer_norm` from its saved ``mean`` and ``rstd``: returns
    ``(grad_x, grad_weight, grad_bias)``, each None where ``need`` is False (grad_weight and
    grad_bias have ``normalized_shape``)."""
    _cpu_only("layer_norm_backward", grad_out, x, mean, rstd, weight)
    x = float_array("x", x)
    shape = _normalized_shape(x, normalized_shape)
    M, N = math.prod(x.shape[:x.ndim - len(shape)]), math.prod(shape)
    grad_out, mean, rstd = _backward_arrays(x, grad_out, mean, rstd)
    w = _optional("weight", weight, x.dtype, shape)
    dx, dw, db = _grads(need, (x.shape, shape, shape), x.dtype)
    _cpu.layer_norm_backward(grad_out.reshape(M, N), x.reshape(M, N), mean.reshape(-1),
                             rstd.reshape(-1), w, None if dx is None else dx.reshape(M, N),
                             None if dw is None else dw.reshape(N),
                             None if db is None else db.reshape(N))
    return dx, dw, db


def _groups_view(x, num_groups) -> tuple[np.ndarray, int]:
    if x.ndim < 2:
        raise ValueError(f"group_norm: expected an input of at least 2 dims (N, C, ...), got "
                         f"shape {tuple(x.shape)}")
    g = to_int("num_groups", num_groups)
    if g < 1 or x.shape[1] % g:
        raise ValueError(f"group_norm: num_groups ({g}) must be >= 1 and divide the "
                         f"{x.shape[1]} channels of input shape {tuple(x.shape)}")
    return x.reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:])), g


@any_array
def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5) -> tuple[Array, Array, Array]:
    """GroupNorm of ``x`` (N, C, ...): returns ``(out, mean, rstd)``; out like x, mean and
    rstd of shape (N, num_groups). weight, bias: (C,) or None."""
    _cpu_only("group_norm", x, weight, bias)
    x = float_array("x", x)
    x3, g = _groups_view(x, num_groups)
    C = x.shape[1]
    w = _optional("weight", weight, x.dtype, (C,))
    b = _optional("bias", bias, x.dtype, (C,))
    out = _alloc.empty("out", x.shape, x.dtype)
    mean = np.empty((x.shape[0], g), x.dtype)
    rstd = np.empty((x.shape[0], g), x.dtype)
    _cpu.group_norm_forward(x3, w, b, g, float(eps), out.reshape(x3.shape), mean, rstd)
    return out, mean, rstd


@any_array
def group_norm_backward(grad_out, x, num_groups, mean, rstd, weight=None,
                        need=(True, True, True)) -> tuple[Array | None, Array | None, Array | None]:
    """Gradients of :func:`group_norm`: ``(grad_x, grad_weight, grad_bias)``, each None where
    ``need`` is False (grad_weight, grad_bias: (C,))."""
    _cpu_only("group_norm_backward", grad_out, x, mean, rstd, weight)
    x = float_array("x", x)
    x3, g = _groups_view(x, num_groups)
    C = x.shape[1]
    grad_out, mean, rstd = _backward_arrays(x, grad_out, mean, rstd)
    w = _optional("weight", weight, x.dtype, (C,))
    dx, dw, db = _grads(need, (x.shape, (C,), (C,)), x.dtype)
    _cpu.group_norm_backward(grad_out.reshape(x3.shape), x3, mean, rstd, w, g,
                             None if dx is None else dx.reshape(x3.shape), dw, db)
    return dx, dw, db


def _planes_view(fn, x) -> np.ndarray:
    if x.ndim < 2:
        raise ValueError(f"{fn}: expected an input of at least 2 dims (N, C, ...), got shape "
                         f"{tuple(x.shape)}")
    return x.reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:]))


@any_array
def batch_norm(x, weight=None, bias=None, eps=1e-5) -> tuple[Array, Array, Array, Array]:
    """Training-mode BatchNorm of ``x`` (N, C, ...) with the batch's statistics over every axis
    but 1: returns ``(out, mean, var, rstd)``; out like x; mean, the biased var and
    ``rstd = 1 / sqrt(var + eps)`` of shape (C,). weight, bias: (C,) or None. The running
    buffers are the caller's (torch's ``native_batch_norm`` with ``training=True``)."""
    _cpu_only("batch_norm", x, weight, bias)
    x = float_array("x", x)
    x3 = _planes_view("batch_norm", x)
    C = x.shape[1]
    w = _optional("weight", weight, x.dtype, (C,))
    b = _optional("bias", bias, x.dtype, (C,))
    out = _alloc.empty("out", x.shape, x.dtype)
    mean, var, rstd = (np.empty((C,), x.dtype) for _ in range(3))
    _cpu.batch_norm_forward(x3, w, b, float(eps), out.reshape(x3.shape), mean, var, rstd)
    return out, mean, var, rstd


@any_array
def batch_norm_backward(grad_out, x, mean, rstd, weight=None,
                        need=(True, True, True)) -> tuple[Array | None, Array | None, Array | None]:
    """Gradients of :func:`batch_norm` from its saved ``mean`` and ``rstd``: ``(grad_x,
    grad_weight, grad_bias)``, each None where ``need`` is False (grad_weight, grad_bias:
    (C,))."""
    _cpu_only("batch_norm_backward", grad_out, x, mean, rstd, weight)
    x = float_array("x", x)
    x3 = _planes_view("batch_norm_backward", x)
    C = x.shape[1]
    grad_out, mean, rstd = _backward_arrays(x, grad_out, mean, rstd)
    w = _optional("weight", weight, x.dtype, (C,))
    dx, dw, db = _grads(need, (x.shape, (C,), (C,)), x.dtype)
    _cpu.batch_norm_backward(grad_out.reshape(x3.shape), x3, mean, rstd, w,
                             None if dx is None else dx.reshape(x3.shape), dw, db)
    return dx, dw, db
