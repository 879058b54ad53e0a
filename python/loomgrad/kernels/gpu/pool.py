"""GPU half of the raw pooling kernels (``loomgrad._cuda``, csrc/cuda/pool.cu).

Same signatures, shapes, 3-D unbatched handling and errors as the CPU
functions in kernels/conv.py, pool.py and xent.py (which route GPU arrays here); the
argument parsers and torch's output-size rule (``_cpu.pool2d_output_shape``)
are shared with them. float32 only; outputs come from CuPy's pool and the
kernels run on CuPy's current stream. ``max_pool2d_backward`` reads one flag
back from the GPU (a synchronisation) to raise the CPU kernel's ValueError
for indices outside the input plane.
"""
from __future__ import annotations

import numpy as np

from ... import _cpu
from .._types import GpuArray
from .. import _args
from . import arrays


def _sizes(in_shape, out_shape) -> tuple[int, int, int, int, int]:
    """(planes, H, W, OH, OW) for the bindings."""
    return (int(in_shape[0]) * int(in_shape[1]), int(in_shape[2]), int(in_shape[3]),
            int(out_shape[2]), int(out_shape[3]))


def _input_shape(name, input_shape) -> tuple[tuple[int, ...], bool]:
    shape, added = _args.shape4(name, input_shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"grad_input: negative dimension in shape {shape}")
    return shape, added


def _grad_out(fn, grad_out, expected, what) -> GpuArray:
    g = arrays.float_array(fn, "grad_out", grad_out)
    g4, _ = _args.batched("grad_out", g)
    if tuple(g4.shape) != tuple(expected):
        raise ValueError(f"grad_out: expected shape {tuple(expected)} ({what}), got "
                         f"{tuple(grad_out.shape)}")
    return g4


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode=False) -> tuple[GpuArray, GpuArray]:
    """GPU :func:`loomgrad.kernels.max_pool2d`: ``(out, indices)``."""
    cuda, _ = arrays.require()
    x = arrays.float_array("max_pool2d", "x", x)
    x4, added = _args.batched("x", x)
    k, s, p, d = _args.pool_args(kernel_size, stride, padding, dilation)
    shape = _cpu.pool2d_output_shape("max_pool2d", x4.shape, k, s, p, d, bool(ceil_mode))
    out = arrays.empty(shape)
    idx = arrays.empty(shape, np.int64)
    cuda.max_pool2d_forward(_sizes(x4.shape, shape), k, s, p, d, arrays.ptr(x4), arrays.ptr(out),
                            arrays.ptr(idx), arrays.stream())
    return (out[0], idx[0]) if added else (out, idx)


def max_pool2d_backward(grad_out, indices, input_shape, kernel_size, stride=None, padding=0,
                        dilation=1, ceil_mode=False) -> GpuArray:
    """GPU :func:`loomgrad.kernels.max_pool2d_backward` (a deterministic gather)."""
    cuda, cp = arrays.require()
    fn = "max_pool2d_backward"
    shape, added = _input_shape("input_shape", input_shape)
    k, s, p, d = _args.pool_args(kernel_size, stride, padding, dilation)
    oshape = _cpu.pool2d_output_shape(fn, shape, k, s, p, d, bool(ceil_mode))
    g4 = _grad_out(fn, grad_out, oshape, "the max_pool2d output for this input")
    indices = arrays.as_cupy(fn, "indices", indices)
    if not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(f"indices: expected int64, got dtype {indices.dtype} with shape "
                         f"{tuple(indices.shape)}")
    i4 = arrays.int_array(fn, "indices", indices)
    i4 = i4[None] if i4.ndim == 3 else i4
    if tuple(i4.shape) != tuple(oshape):
        raise ValueError(f"indices: expected shape {tuple(oshape)} (same as grad_out), got "
                         f"{tuple(indices.shape)}")
    dx = arrays.empty(shape)
    if dx.size:
        bad = cp.zeros(1, cp.int32)
        cuda.max_pool2d_backward(_sizes(shape, oshape), k, s, p, d, arrays.ptr(g4), arrays.ptr(i4),
                                 arrays.ptr(dx), arrays.ptr(bad), arrays.stream())
        if int(bad[0]):
            raise ValueError(f"{fn}: indices lie outside the {shape[2]}x{shape[3]} input plane "
                             f"(indices must come from max_pool2d on this input shape)")
    return dx[0] if added else dx


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None) -> GpuArray:
    """GPU :func:`loomgrad.kernels.avg_pool2d`."""
    cuda, _ = arrays.require()
    x = arrays.float_array("avg_pool2d", "x", x)
    x4, added = _args.batched("x", x)
    k, s, p, _ = _args.pool_args(kernel_size, stride, padding, 1)
    div = _args.divisor(divisor_override)
    shape = _cpu.pool2d_output_shape("avg_pool2d", x4.shape, k, s, p, (1, 1), bool(ceil_mode))
    out = arrays.empty(shape)
    cuda.avg_pool2d_forward(_sizes(x4.shape, shape), k, s, p, bool(count_include_pad), div,
                            arrays.ptr(x4), arrays.ptr(out), arrays.stream())
    return out[0] if added else out


def avg_pool2d_backward(grad_out, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True, divisor_override=None) -> GpuArray:
    """GPU :func:`loomgrad.kernels.avg_pool2d_backward` (a deterministic gather)."""
    cuda, _ = arrays.require()
    fn = "avg_pool2d_backward"
    shape, added = _input_shape("input_shape", input_shape)
    k, s, p, _ = _args.pool_args(kernel_size, stride, padding, 1)
    div = _args.divisor(divisor_override)
    oshape = _cpu.pool2d_output_shape(fn, shape, k, s, p, (1, 1), bool(ceil_mode))
    g4 = _grad_out(fn, grad_out, oshape, "the avg_pool2d output for this input")
    dx = arrays.empty(shape)
    cuda.avg_pool2d_backward(_sizes(shape, oshape), k, s, p, bool(count_include_pad), div,
                             arrays.ptr(g4), arrays.ptr(dx), arrays.stream())
    return dx[0] if added else dx


def _check_adaptive(N, C, H, W, OH, OW) -> None:
    if (N * C) and (H < 1 or W < 1):
        raise ValueError(f"adaptive_avg_pool2d: output size must be >= 1 and the input "
                         f"non-empty, got input ({H}, {W}), output ({OH}, {OW})")


def adaptive_avg_pool2d(x, output_size) -> GpuArray:
    """GPU :func:`loomgrad.kernels.adaptive_avg_pool2d`."""
    cuda, _ = arrays.require()
    x = arrays.float_array("adaptive_avg_pool2d", "x", x)
    x4, added = _args.batched("x", x)
    N, C, H, W = x4.shape
    oh, ow = _args.adaptive_size(output_size, H, W)
    _check_adaptive(N, C, H, W, oh, ow)
    out = arrays.empty((N, C, oh, ow))
    if out.size:
        cuda.adaptive_avg_pool2d((N * C, H, W, oh, ow), False, arrays.ptr(x4), arrays.ptr(out),
                                 arrays.stream())
    return out[0] if added else out


def adaptive_avg_pool2d_backward(grad_out, input_shape) -> GpuArray:
    """GPU :func:`loomgrad.kernels.adaptive_avg_pool2d_backward`."""
    cuda, _ = arrays.require()
    shape, added = _input_shape("input_shape", input_shape)
    g = arrays.float_array("adaptive_avg_pool2d_backward", "grad_out", grad_out)
    g4, _ = _args.batched("grad_out", g)
    N, C, H, W = shape
    if tuple(g4.shape[:2]) != (N, C):
        raise ValueError(f"grad_input: batch and channels must match grad_out "
                         f"{tuple(g4.shape)}, got grad_input {shape}")
    oh, ow = g4.shape[2:]
    if oh < 1 or ow < 1:
        raise ValueError(f"adaptive_avg_pool2d: output size must be >= 1 and the input "
                         f"non-empty, got input ({H}, {W}), output ({oh}, {ow})")
    _check_adaptive(N, C, H, W, oh, ow)
    dx = arrays.empty(shape)
    if dx.size:
        cuda.adaptive_avg_pool2d((N * C, H, W, oh, ow), True, arrays.ptr(g4), arrays.ptr(dx),
                                 arrays.stream())
    return dx[0] if added else dx
