"""conv2d as one autograd node on the conv kernels (lg.kernels.conv2d / conv2d_backward).

The path of one call: ``F.conv2d`` checks the Tensors and the geometry (and
turns padding='same' into symmetric padding plus an extra bottom/right pad)
-> ``Conv2dFunction.apply`` -> ``kernels.conv2d`` on the arrays (argument
parsing, output from ``_cpu.conv2d_output_shape``) -> the C++ (or CUDA)
kernel; backward goes ``Conv2dFunction.backward`` -> ``kernels.conv2d_backward``.
"""
from __future__ import annotations

import numpy as np

from ... import kernels
from ...autograd import Function, array_module
from ...kernels._args import pair
from ...tensor import Tensor
from ._checks import _contig, _image_input, _unsqueeze0

__all__ = ["conv2d", "Conv2dFunction"]


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
        return kernels.conv2d(_contig("input", x), _contig("weight", w), b, *self.args)

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
            dx, dw, db = kernels.conv2d_backward(xp.ascontiguousarray(g), xx, ww, *self.args,
                                                  need=want)
        if dx is not None and dx.shape != self.orig_shape:
            dx = xp.ascontiguousarray(dx[:, :, :self.orig_shape[2], :self.orig_shape[3]])
        return (dx, dw, db)[:len(need)]


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
    s = pair("stride", stride, lo=1, fn=fn)
    d = pair("dilation", dilation, lo=1, fn=fn)
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
        p = pair("padding", padding, lo=0, fn=fn)
    eff_h, eff_w = d[0] * (R - 1) + 1, d[1] * (S - 1) + 1
    if H + 2 * p[0] + extra[0] < eff_h or W + 2 * p[1] + extra[1] < eff_w:
        raise ValueError(f"{fn}: kernel {R}x{S} (dilated {eff_h}x{eff_w}) is larger than the "
                         f"padded input {H + 2 * p[0] + extra[0]}x{W + 2 * p[1] + extra[1]} "
                         f"(input shape {tuple(input.shape)})")
    args = (x, weight) if bias is None else (x, weight, bias)
    out = Conv2dFunction.apply(*args, stride=s, padding=p, dilation=d, groups=groups,
                               extra=extra)
    return out.reshape(*out.shape[1:]) if unbatched else out
