"""interpolate (nearest, linear, bilinear) as one autograd node on the upsampling kernels
(lg.kernels.upsample_nearest2d / upsample_bilinear2d and their backwards).

torch.nn.functional.interpolate's arguments and rules: exactly one of ``size`` and
``scale_factor``; the output size is floor(in * scale_factor); unless
``recompute_scale_factor=True`` the given scale factors (not in/out) place the source pixels,
as torch does. A 3-D (N, C, L) input runs as a (N, C, 1, L) image.
"""
from __future__ import annotations

import math
import numbers
import warnings

from ... import kernels
from ...autograd import Function
from ...tensor import Tensor

__all__ = ["interpolate", "upsample", "upsample_nearest", "upsample_bilinear",
           "InterpolateFunction"]

_MODES = {"nearest": (3, 4), "linear": (3,), "bilinear": (4,)}


class InterpolateFunction(Function):
    """One resize node on a 4-D array: ``mode`` 'nearest' or 'bilinear'."""

    def forward(self, x, *, mode, size, scales, align_corners):
        self.args = (mode, scales, align_corners, x.shape)
        if mode == "nearest":
            return kernels.upsample_nearest2d(x, size, scales)
        return kernels.upsample_bilinear2d(x, size, align_corners, scales)

    def backward(self, g):
        mode, scales, align_corners, shape = self.args
        if mode == "nearest":
            return (kernels.upsample_nearest2d_backward(g, shape, scales),)
        return (kernels.upsample_bilinear2d_backward(g, shape, align_corners, scales),)


def _per_dim(fn: str, name: str, v, dim: int, kind):
    vals = tuple(v) if isinstance(v, (tuple, list)) else (v,) * dim
    if len(vals) != dim:
        raise ValueError(f"{fn}: {name} must have {dim} elements for a {dim + 2}-D input "
                         f"(one per spatial dim), got {v!r}")
    for x in vals:
        if isinstance(x, bool) or not isinstance(x, kind):
            raise TypeError(f"{fn}: {name} must hold numbers, got {v!r}")
    return vals


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize (N, C, L) or (N, C, H, W) inputs, as torch.nn.functional.interpolate.

    ``mode``: 'nearest' (3-D or 4-D), 'linear' (3-D), 'bilinear' (4-D). ``size``: the output's
    spatial size (an int or one per dim); ``scale_factor``: a multiplier (a float or one per
    dim), output = floor(in * scale_factor). ``align_corners`` (linear modes only, default
    False): map the corner pixels' centres onto each other. CPU only.
    """
    fn = "interpolate"
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn}: input must be a Tensor, got {type(input).__name__}")
    if input.dtype.kind != "f":
        raise TypeError(f"{fn}: input must be floating point, got {input.dtype}")
    if mode not in _MODES:
        raise NotImplementedError(f"{fn}: mode {mode!r} is not supported (supported: "
                                  f"{', '.join(_MODES)})")
    if input.ndim not in _MODES[mode]:
        raise ValueError(f"{fn}: mode {mode!r} expects a "
                         f"{' or '.join(f'{d}-D' for d in _MODES[mode])} input, got shape "
                         f"{tuple(input.shape)}")
    if antialias:
        raise NotImplementedError(f"{fn}: antialias=True is not supported")
    if mode == "nearest":
        if align_corners is not None:
            raise ValueError(f"{fn}: align_corners can only be set with the interpolating modes "
                             f"(linear, bilinear)")
    elif align_corners is None:
        align_corners = False
    dim = input.ndim - 2
    in_size = tuple(input.shape[2:])
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{fn}: exactly one of size and scale_factor must be given")
    if size is not None:
        if recompute_scale_factor:
            raise ValueError(f"{fn}: recompute_scale_factor is not meaningful with an explicit "
                             f"size")
        out_size = tuple(int(s) for s in _per_dim(fn, "size", size, dim, numbers.Integral))
        scales = (None,) * dim
    else:
        factors = tuple(float(f) for f in _per_dim(fn, "scale_factor", scale_factor, dim,
                                                    numbers.Real))
        if not all(math.isfinite(f) and f > 0 for f in factors):
            raise ValueError(f"{fn}: scale_factor must be positive and finite, got "
                             f"{scale_factor!r}")
        out_size = tuple(math.floor(n * f) for n, f in zip(in_size, factors))
        scales = (None,) * dim if recompute_scale_factor else factors
    if min(out_size) < 1 or min(in_size) < 1:
        raise ValueError(f"{fn}: input {in_size} and output {out_size} sizes must be > 0 "
                         f"(input shape {tuple(input.shape)})")
    x = input.unsqueeze(2) if dim == 1 else input
    if dim == 1:
        out_size, scales = (1,) + out_size, (None,) + scales
    out = InterpolateFunction.apply(x, mode="nearest" if mode == "nearest" else "bilinear",
                                    size=out_size, scales=scales, align_corners=align_corners)
    return out.squeeze(2) if dim == 1 else out


def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
             align_corners: bool | None = None) -> Tensor:
    """Deprecated alias of :func:`interpolate` (as torch, with its warning)."""
    warnings.warn("nn.functional.upsample is deprecated. Use nn.functional.interpolate "
                  "instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """interpolate(..., mode='nearest') (deprecated in torch, kept for old programs)."""
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """interpolate(..., mode='bilinear', align_corners=True) (torch's legacy function)."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
