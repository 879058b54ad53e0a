"""2-D pooling on arrays: max (with int64 argmax indices), average and adaptive average.

torch's argument names, defaults, output sizes and semantics
(``torch.nn.functional.max_pool2d(..., return_indices=True)``, ``avg_pool2d``,
``adaptive_avg_pool2d`` and ATen's backwards). NCHW or unbatched CHW; float32
or float64. NumPy arrays run on csrc/cpu/pool.cpp, GPU arrays on
csrc/cuda/pool.cu (kernels/gpu/pool.py).
"""
from __future__ import annotations

import numpy as np

from .. import _cpu
from . import _alloc
from ._args import adaptive_size, batched, divisor, float_array, pool_args, shape4
from .gpu import pool as gpu_pool
from ._interop import any_array
from ._types import Array
from .gpu.arrays import any_gpu

__all__ = ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
           "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward"]


@any_array
def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode=False) -> tuple[Array, Array]:
    """Max pooling with argmax, as ``torch.nn.functional.max_pool2d(...,
    return_indices=True)``: returns ``(out, indices)``.

    Shapes: x (N, C, H, W) or (C, H, W); out and indices (N, C, OH, OW) with
    torch's output size (``ceil_mode``: the last window must start inside the
    input or the left padding). indices are int64 flat offsets ``ih * W + iw``
    into each H x W plane; ties keep the first maximum, NaN propagates.
    ``stride`` defaults to ``kernel_size``; padding must be <= kernel_size / 2.
    """
    if any_gpu(x):
        return gpu_pool.max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode)
    x = float_array("x", x)
    x4, added = batched("x", x)
    k, s, p, d = pool_args(kernel_size, stride, padding, dilation)
    shape = _cpu.pool2d_output_shape("max_pool2d", x4.shape, k, s, p, d, bool(ceil_mode))
    out = _alloc.empty("out", shape, x.dtype)
    idx = _alloc.empty("indices", shape, np.int64)
    _cpu.max_pool2d_forward(x4, out, idx, k, s, p, d, bool(ceil_mode))
    return (out[0], idx[0]) if added else (out, idx)


@any_array
def max_pool2d_backward(grad_out, indices, input_shape, kernel_size, stride=None, padding=0,
                        dilation=1, ceil_mode=False) -> Array:
    """Gradient of :func:`max_pool2d` with respect to its input, of shape
    ``input_shape`` ((N, C, H, W) or (C, H, W); an array's shape is taken):
    each grad_out value is added at its argmax in ``indices``."""
    if any_gpu(grad_out, indices):
        return gpu_pool.max_pool2d_backward(grad_out, indices, input_shape, kernel_size, stride, padding,
                                                 dilation, ceil_mode)
    grad_out = float_array("grad_out", grad_out)
    indices = np.asarray(indices)
    if np.issubdtype(indices.dtype, np.integer):  # others: the binding refuses them (no cast)
        indices = _alloc.contiguous("indices", indices, np.int64)
    shape, added = shape4("input_shape", input_shape)
    g4, _ = batched("grad_out", grad_out)
    i4 = indices[None] if indices.ndim == 3 else indices
    k, s, p, d = pool_args(kernel_size, stride, padding, dilation)
    dx = _alloc.empty("grad_input", shape, grad_out.dtype)
    _cpu.max_pool2d_backward(g4, i4, dx, k, s, p, d, bool(ceil_mode))
    return dx[0] if added else dx


@any_array
def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None) -> Array:
    """Average pooling, as ``torch.nn.functional.avg_pool2d``.

    Shapes: x (N, C, H, W) or (C, H, W) -> (N, C, OH, OW). The divisor is
    ``divisor_override`` if given, else the window size clipped to the padded
    input (``count_include_pad=True``) or to the input itself (False).
    """
    if any_gpu(x):
        return gpu_pool.avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                        divisor_override)
    x = float_array("x", x)
    x4, added = batched("x", x)
    k, s, p, _ = pool_args(kernel_size, stride, padding, 1)
    div = divisor(divisor_override)
    shape = _cpu.pool2d_output_shape("avg_pool2d", x4.shape, k, s, p, (1, 1), bool(ceil_mode))
    out = _alloc.empty("out", shape, x.dtype)
    _cpu.avg_pool2d_forward(x4, out, k, s, p, bool(ceil_mode), bool(count_include_pad), div)
    return out[0] if added else out


@any_array
def avg_pool2d_backward(grad_out, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True, divisor_override=None) -> Array:
    """Gradient of :func:`avg_pool2d` with respect to its input (shape
    ``input_shape``, (N, C, H, W) or (C, H, W))."""
    if any_gpu(grad_out):
        return gpu_pool.avg_pool2d_backward(grad_out, input_shape, kernel_size, stride, padding,
                                                 ceil_mode, count_include_pad, divisor_override)
    grad_out = float_array("grad_out", grad_out)
    shape, added = shape4("input_shape", input_shape)
    g4, _ = batched("grad_out", grad_out)
    k, s, p, _ = pool_args(kernel_size, stride, padding, 1)
    div = divisor(divisor_override)
    dx = _alloc.empty("grad_input", shape, grad_out.dtype)
    _cpu.avg_pool2d_backward(g4, dx, k, s, p, bool(ceil_mode), bool(count_include_pad), div)
    return dx[0] if added else dx


@any_array
def adaptive_avg_pool2d(x, output_size) -> Array:
    """Adaptive average pooling, as ``torch.nn.functional.adaptive_avg_pool2d``:
    (N, C, H, W) or (C, H, W) -> (N, C, OH, OW) with ``output_size = (OH, OW)``
    (an int for both; None keeps that input size). Output cell o covers input
    rows ``[floor(o*H/OH), ceil((o+1)*H/OH))``."""
    if any_gpu(x):
        return gpu_pool.adaptive_avg_pool2d(x, output_size)
    x = float_array("x", x)
    x4, added = batched("x", x)
    oh, ow = adaptive_size(output_size, x4.shape[2], x4.shape[3])
    out = _alloc.empty("out", x4.shape[:2] + (oh, ow), x.dtype)
    _cpu.adaptive_avg_pool2d_forward(x4, out)
    return out[0] if added else out


@any_array
def adaptive_avg_pool2d_backward(grad_out, input_shape) -> Array:
    """Gradient of :func:`adaptive_avg_pool2d`: grad_out (N, C, OH, OW) ->
    (N, C, H, W) = ``input_shape`` (3-D shapes allowed)."""
    if any_gpu(grad_out):
        return gpu_pool.adaptive_avg_pool2d_backward(grad_out, input_shape)
    grad_out = float_array("grad_out", grad_out)
    shape, added = shape4("input_shape", input_shape)
    g4, _ = batched("grad_out", grad_out)
    dx = _alloc.empty("grad_input", shape, grad_out.dtype)
    _cpu.adaptive_avg_pool2d_backward(g4, dx)
    return dx[0] if added else dx
