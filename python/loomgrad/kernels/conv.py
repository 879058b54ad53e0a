"""2-D convolution on arrays: :func:`conv2d` and :func:`conv2d_backward`.

torch's argument names, defaults and semantics (``torch.nn.functional.conv2d``
and ATen's ``convolution_backward``). Layout NCHW (or unbatched CHW); float32
or float64; ``stride``/``padding``/``dilation`` an int or a pair. NumPy arrays
run on csrc/cpu/conv.cpp, GPU arrays on csrc/cuda/conv.cu (kernels/gpu/conv.py).
Inputs that are not C-contiguous are copied; outputs are new arrays.
"""
from __future__ import annotations

import numpy as np

from .. import _cpu
from . import _alloc
from ._args import batched, conv_geometry, float_array
from .gpu import conv as gpu_conv
from ._interop import any_array
from ._types import Array
from .gpu.arrays import any_gpu

__all__ = ["conv2d", "conv2d_backward"]


@any_array
def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Array:
    """2-D convolution (cross-correlation), as ``torch.nn.functional.conv2d``.

    Shapes: x (N, C, H, W) or (C, H, W); weight (K, C // groups, R, S);
    bias (K,) or None; returns (N, K, OH, OW) (or (K, OH, OW)) with
    ``OH = (H + 2*padding[0] - dilation[0]*(R-1) - 1) // stride[0] + 1``.
    ``padding`` is an int or a pair (no 'same'/'valid' strings).
    """
    if any_gpu(x, weight, bias):
        return gpu_conv.conv2d(x, weight, bias, stride, padding, dilation, groups)
    x = float_array("x", x)
    weight = float_array("weight", weight, x.dtype)
    if bias is not None:
        bias = float_array("bias", bias, x.dtype)
    x4, added = batched("x", x)
    stride, padding, dilation, groups = conv_geometry(stride, padding, dilation, groups)
    shape = _cpu.conv2d_output_shape(x4.shape, weight.shape, stride, padding, dilation, groups)
    out = _alloc.empty("out", shape, x.dtype)
    _cpu.conv2d_forward(x4, weight, bias, out, stride, padding, dilation, groups)
    return out[0] if added else out


@any_array
def conv2d_backward(grad_out, x, weight, stride=1, padding=0, dilation=1, groups=1,
                    need=(True, True, True)) -> tuple[Array | None, Array | None, Array | None]:
    """Gradients of :func:`conv2d`: returns ``(grad_x, grad_weight, grad_bias)``,
    each None where ``need`` (for x, weight, bias) is False.

    Shapes: grad_out (N, K, OH, OW), x (N, C, H, W), weight (K, C // groups, R, S)
    (3-D unbatched arrays allowed as in :func:`conv2d`); grad_x like x,
    grad_weight like weight, grad_bias (K,).
    """
    if any_gpu(grad_out, x, weight):
        return gpu_conv.conv2d_backward(grad_out, x, weight, stride, padding, dilation, groups, need)
    x = float_array("x", x)
    grad_out = float_array("grad_out", grad_out, x.dtype)
    weight = float_array("weight", weight, x.dtype)
    x4, added = batched("x", x)
    g4, _ = batched("grad_out", grad_out)
    stride, padding, dilation, groups = conv_geometry(stride, padding, dilation, groups)
    need_x, need_w, need_b = (bool(n) for n in need)
    dx = dw = db = None
    if need_x:
        dx = _alloc.empty("grad_input", x4.shape, x.dtype)
        _cpu.conv2d_backward_data(g4, weight, dx, stride, padding, dilation, groups)
        if added:
            dx = dx[0]
    if need_w:
        dw = _alloc.empty("grad_weight", weight.shape, x.dtype)
        _cpu.conv2d_backward_weight(g4, x4, dw, stride, padding, dilation, groups)
    if need_b:
        if g4.shape[1] != weight.shape[0]:
            raise ValueError(f"grad_out: expected {weight.shape[0]} channels (weight "
                             f"{weight.shape}), got shape {grad_out.shape}")
        db = np.empty((weight.shape[0],), x.dtype)
        _cpu.conv2d_backward_bias(g4, db)
    return dx, dw, db
