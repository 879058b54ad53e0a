"""2-D upsampling on arrays: nearest and bilinear, forward and backward (csrc/cpu/upsample.cpp).

torch's ATen ops and semantics (``upsample_nearest2d(input, output_size, scales)``,
``upsample_bilinear2d(input, output_size, align_corners, scales)`` and their backwards): the
source index of each output row/column follows torch's rules, including the optional scale
factors (``scales``: the (scale_h, scale_w) given to interpolate, or None to use in/out).
NCHW float32/float64 NumPy arrays; CPU only (a GPU array is a TypeError: no CUDA kernel yet).
Inputs that are not C-contiguous are copied; outputs are new arrays.
"""
from __future__ import annotations

import math
import numbers

from .. import _cpu
from . import _alloc
from ._args import float_array, pair
from ._interop import any_array
from ._types import Array
from .gpu.arrays import any_gpu

__all__ = ["upsample_nearest2d", "upsample_nearest2d_backward", "upsample_bilinear2d",
           "upsample_bilinear2d_backward"]


def _cpu_only(fn: str, *arrays) -> None:
    if any_gpu(*arrays):
        raise TypeError(f"{fn}: GPU arrays are not supported (CPU only: there is no CUDA "
                        f"upsampling kernel yet); move them to the host first")


def _scales(scales) -> tuple[float, float]:
    """(scale_h, scale_w) for the binding: each a positive finite float, or 0.0 for none."""
    if scales is None:
        return 0.0, 0.0
    vals = tuple(scales)
    if len(vals) != 2:
        raise ValueError(f"scales: expected a pair (scale_h, scale_w), got {scales!r}")
    out = []
    for v in vals:
        if v is None:
            out.append(0.0)
            continue
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not (
                math.isfinite(v) and v > 0):
            raise ValueError(f"scales: each must be a positive finite number or None, got "
                             f"{scales!r}")
        out.append(float(v))
    return out[0], out[1]


def _nchw(name: str, x) -> Array:
    if x.ndim != 4:
        raise ValueError(f"{name}: expected a 4-D (N, C, H, W) array, got shape "
                         f"{tuple(x.shape)}")
    return x


def _forward(fn, x, output_size, scales, run) -> Array:
    _cpu_only(fn, x)
    x = _nchw("x", float_array("x", x))
    oh, ow = pair("output_size", output_size, lo=1, fn=fn)
    out = _alloc.empty("out", (x.shape[0], x.shape[1], oh, ow), x.dtype)
    run(x, out, *_scales(scales))
    return out


def _backward(fn, grad_out, input_shape, scales, run) -> Array:
    _cpu_only(fn, grad_out)
    grad_out = _nchw("grad_out", float_array("grad_out", grad_out))
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 4 or shape[:2] != tuple(grad_out.shape[:2]):
        raise ValueError(f"input_shape: expected (N, C, H, W) with grad_out's N and C "
                         f"{tuple(grad_out.shape[:2])}, got {shape}")
    dx = _alloc.empty("grad_input", shape, grad_out.dtype)
    run(grad_out, dx, *_scales(scales))
    return dx


@any_array
def upsample_nearest2d(x, output_size, scales=None) -> Array:
    """Nearest-neighbour resize of x (N, C, H, W) to (N, C, *output_size); output row oh reads
    input row min(floor(oh * (1/scale_h or H/OH)), H - 1) (likewise columns)."""
    return _forward("upsample_nearest2d", x, output_size, scales, _cpu.upsample_nearest2d_forward)


@any_array
def upsample_nearest2d_backward(grad_out, input_shape, scales=None) -> Array:
    """Gradient of :func:`upsample_nearest2d`: each grad_out value added at its source."""
    return _backward("upsample_nearest2d_backward", grad_out, input_shape, scales,
                     _cpu.upsample_nearest2d_backward)


@any_array
def upsample_bilinear2d(x, output_size, align_corners=False, scales=None) -> Array:
    """Bilinear resize of x (N, C, H, W) to (N, C, *output_size), torch's source positions
    (``align_corners``: corner centres map onto corner centres, scales ignored)."""
    ac = bool(align_corners)
    return _forward("upsample_bilinear2d", x, output_size, scales,
                    lambda a, o, sh, sw: _cpu.upsample_bilinear2d_forward(a, o, ac, sh, sw))


@any_array
def upsample_bilinear2d_backward(grad_out, input_shape, align_corners=False, scales=None) -> Array:
    """Gradient of :func:`upsample_bilinear2d` (each grad_out value spread onto its 4 inputs)."""
    ac = bool(align_corners)
    return _backward("upsample_bilinear2d_backward", grad_out, input_shape, scales,
                     lambda g, d, sh, sw: _cpu.upsample_bilinear2d_backward(g, d, ac, sh, sw))
