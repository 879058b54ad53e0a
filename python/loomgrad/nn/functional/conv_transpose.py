"""conv_transpose2d as one autograd node on the conv kernels, and conv1d / conv_transpose1d
as the 2-D ones on (N, C, 1, L) images.

A transposed convolution is the adjoint of a convolution, so it needs no new maths:
with ``weight`` (C_in, C_out / groups, R, S) read as a conv2d weight of a conv that maps
C_out channels to C_in,

* forward  = conv2d backward-data of the input (``kernels.conv2d_backward``, grad_x only)
* grad_x   = conv2d forward of the output gradient (``kernels.conv2d``)
* grad_w   = conv2d backward-weight with the roles swapped (the transpose's input is the
  conv's output gradient, the transpose's output gradient the conv's input)
* grad_b   = the output gradient summed over (N, H, W).

Output size (torch's formula): ``H_out = (H - 1)*stride - 2*padding + dilation*(R - 1) +
output_padding + 1``. When output_padding >= stride (torch allows it below the dilation),
the adjoint conv of an H_out image has more than H output rows; the input is padded with
zero rows to that size (and the gradient cut back). CPU and GPU arrays alike: the conv
kernels pick the device.
"""
from __future__ import annotations

import numpy as np

from ... import kernels
from ...autograd import Function, array_module
from ...kernels._args import pair, to_int
from ...tensor import Tensor
from ._checks import _contig, _image_input, _unsqueeze0
from .conv import conv2d

__all__ = ["conv_transpose2d", "conv1d", "conv_transpose1d", "ConvTranspose2dFunction",
           "conv_transpose_output_size"]


def conv_transpose_output_size(size: int, kernel: int, stride: int, padding: int,
                               dilation: int, output_padding: int) -> int:
    """One spatial dim of a transposed convolution's output (torch's formula)."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def _adjoint_rows(out_size, kernel, stride, padding, dilation):
    """Output rows of the conv2d whose input has ``out_size`` rows (the adjoint's size)."""
    return (out_size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


class ConvTranspose2dFunction(Function):
    """conv_transpose2d as one node: inputs (x, w) or (x, w, bias); ``out_hw`` is the
    output's (H_out, W_out)."""

    def forward(self, x, w, *bias, stride, padding, dilation, groups, out_hw):
        b = bias[0] if bias else None
        xp = array_module(x)
        N, _, H, W = x.shape
        C_out = w.shape[1] * groups
        self.args = (stride, padding, dilation, groups)
        self.x_shape = x.shape
        R, S = w.shape[2], w.shape[3]
        # rows of the adjoint conv's output: H, or more when output_padding >= stride
        self.adj = tuple(_adjoint_rows(o, k, s, p, d) for o, k, s, p, d in
                         zip(out_hw, (R, S), stride, padding, dilation))
        need = self.needs_input_grad
        self.saved = (x if (len(need) > 1 and need[1]) else None, w if need[0] else None,
                      w.shape)
        out_shape = (N, C_out) + tuple(out_hw)
        if 0 in x.shape or 0 in w.shape:
            y = xp.zeros(out_shape, x.dtype)
        else:
            xa = self._pad_to_adjoint(xp, x)
            y, _, _ = kernels.conv2d_backward(_contig("input", xa), xp.empty(out_shape, x.dtype),
                                              _contig("weight", w), *self.args,
                                              need=(True, False, False))
        if b is not None:
            y += b.reshape(1, C_out, 1, 1).astype(y.dtype, copy=False)
        return y

    def _pad_to_adjoint(self, xp, x):
        extra = (self.adj[0] - x.shape[2], self.adj[1] - x.shape[3])
        if extra == (0, 0):
            return x
        return xp.pad(x, ((0, 0), (0, 0), (0, extra[0]), (0, extra[1])))

    def backward(self, g):
        x, w, w_shape = self.saved
        need = self.needs_input_grad
        want_b = len(need) > 2 and need[2]
        xp = array_module(g)
        g = xp.ascontiguousarray(g)
        dx = dw = db = None
        empty = 0 in g.shape or 0 in self.x_shape or 0 in w_shape
        if need[0]:
            if empty:
                dx = xp.zeros(self.x_shape, g.dtype)
            else:
                dx = kernels.conv2d(g, w, None, *self.args)
                H, W = self.x_shape[2], self.x_shape[3]
                if dx.shape[2:] != (H, W):
                    dx = xp.ascontiguousarray(dx[:, :, :H, :W])
        if len(need) > 1 and need[1]:
            if empty:
                dw = xp.zeros(w_shape, g.dtype)
            else:
                xa = self._pad_to_adjoint(xp, x)
                _, dw, _ = kernels.conv2d_backward(_contig("input", xa), g,
                                                   xp.empty(w_shape, g.dtype), *self.args,
                                                   need=(False, True, False))
        if want_b:
            db = g.sum(axis=(0, 2, 3))
        return (dx, dw, db)[:len(need)]


def _check_weight_bias(fn, input, weight, bias, ndim, layout):
    if not isinstance(weight, Tensor):
        raise TypeError(f"{fn}: weight must be a Tensor, got {type(weight).__name__}")
    if weight.ndim != ndim:
        raise ValueError(f"{fn}: weight must be {ndim}-D {layout}, got shape "
                         f"{tuple(weight.shape)}")
    if weight.dtype != input.dtype:
        raise TypeError(f"{fn}: input and weight must have the same dtype, got {input.dtype} and "
                        f"{weight.dtype}")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"{fn}: bias must be a Tensor, got {type(bias).__name__}")


def _groups(fn, groups) -> int:
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{fn}: groups must be an int >= 1, got {groups!r}")
    return int(groups)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """2-D transposed convolution ("deconvolution"), as torch.nn.functional.conv_transpose2d.

    Shapes: input (N, C_in, H, W) or (C_in, H, W); weight (C_in, C_out / groups, R, S);
    bias (C_out,); output (N, C_out, H_out, W_out) with H_out = (H - 1)*stride[0] -
    2*padding[0] + dilation[0]*(R - 1) + output_padding[0] + 1 (likewise W_out).
    ``output_padding`` (added on the bottom/right) must be smaller than stride or dilation.
    Note torch's argument order: ``groups`` comes before ``dilation``.
    """
    fn = "conv_transpose2d"
    unbatched = _image_input(fn, input)
    _check_weight_bias(fn, input, weight, bias, 4, "(in_channels, out_channels/groups, kH, kW)")
    groups = _groups(fn, groups)
    x = _unsqueeze0(input) if unbatched else input
    N, C, H, W = x.shape
    C_in, C_out_g, R, S = weight.shape
    if C_in != C:
        raise ValueError(f"{fn}: input has {C} channels but weight {tuple(weight.shape)} expects "
                         f"{C_in} (weight.shape[0]; input shape {tuple(input.shape)})")
    if C_in % groups:
        raise ValueError(f"{fn}: in_channels {C_in} must be divisible by groups={groups}")
    C_out = C_out_g * groups
    if bias is not None and tuple(bias.shape) != (C_out,):
        raise ValueError(f"{fn}: bias must have shape ({C_out},), got {tuple(bias.shape)}")
    s = pair("stride", stride, lo=1, fn=fn)
    p = pair("padding", padding, lo=0, fn=fn)
    d = pair("dilation", dilation, lo=1, fn=fn)
    op = pair("output_padding", output_padding, lo=0, fn=fn)
    for i in range(2):
        if op[i] >= s[i] and op[i] >= d[i]:
            raise ValueError(f"{fn}: output_padding {op} must be smaller than either stride "
                             f"{s} or dilation {d}")
    out_hw = tuple(conv_transpose_output_size(n, k, s[i], p[i], d[i], op[i])
                   for i, (n, k) in enumerate(((H, R), (W, S))))
    if min(out_hw) < 1:
        raise ValueError(f"{fn}: the output would be {out_hw[0]}x{out_hw[1]} for input shape "
                         f"{tuple(input.shape)}, kernel {R}x{S}, stride {s}, padding {p}, "
                         f"dilation {d}, output_padding {op} (padding too large)")
    args = (x, weight) if bias is None else (x, weight, bias)
    out = ConvTranspose2dFunction.apply(*args, stride=s, padding=p, dilation=d, groups=groups,
                                        out_hw=out_hw)
    return out.reshape(*out.shape[1:]) if unbatched else out


def _single(fn: str, name: str, v, lo: int) -> int:
    """An int or a 1-tuple (torch's ``_single``), >= lo."""
    if isinstance(v, (tuple, list)):
        if len(v) != 1:
            raise ValueError(f"{fn}: {name} must be an int or a 1-tuple, got {v!r}")
        v = v[0]
    out = to_int(f"{fn}: {name}", v)
    if out < lo:
        raise ValueError(f"{fn}: {name} must be >= {lo}, got {v!r}")
    return out


def _signal_input(fn: str, input) -> bool:
    """Checks a (N, C, L) or unbatched (C, L) input; True when unbatched."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (2, 3):
        raise ValueError(f"{fn}: expected a 2-D (C, L) or 3-D (N, C, L) input, got shape "
                         f"{tuple(input.shape)}")
    if input.dtype.kind != "f":
        raise TypeError(f"{fn}: input must be floating point, got {input.dtype}")
    return input.ndim == 2


def _as_image(input: Tensor, unbatched: bool) -> Tensor:
    """(N, C, L) or (C, L) -> (N, C, 1, L)."""
    x = input.unsqueeze(0) if unbatched else input
    return x.unsqueeze(2)


def _from_image(out: Tensor, unbatched: bool) -> Tensor:
    out = out.squeeze(2)
    return out.squeeze(0) if unbatched else out


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """1-D cross-correlation, as torch.nn.functional.conv1d, run as conv2d on a 1 x L image.

    Shapes: input (N, C, L) or (C, L); weight (K, C/groups, S); bias (K,); output (N, K,
    L_out) with L_out = (L + 2*padding - dilation*(S - 1) - 1) // stride + 1. ``padding``: an
    int, a 1-tuple, 'valid' or 'same'.
    """
    fn = "conv1d"
    unbatched = _signal_input(fn, input)
    _check_weight_bias(fn, input, weight, bias, 3, "(out_channels, in_channels/groups, kW)")
    s = _single(fn, "stride", stride, 1)
    d = _single(fn, "dilation", dilation, 1)
    p = padding if isinstance(padding, str) else (0, _single(fn, "padding", padding, 0))
    out = conv2d(_as_image(input, unbatched), weight.unsqueeze(2), bias, (1, s), p, (1, d),
                 groups)
    return _from_image(out, unbatched)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """1-D transposed convolution, as torch.nn.functional.conv_transpose1d (conv_transpose2d
    on a 1 x L image). Shapes: input (N, C_in, L) or (C_in, L); weight (C_in, C_out/groups,
    kW); output (N, C_out, (L - 1)*stride - 2*padding + dilation*(kW - 1) + output_padding + 1).
    """
    fn = "conv_transpose1d"
    unbatched = _signal_input(fn, input)
    _check_weight_bias(fn, input, weight, bias, 3, "(in_channels, out_channels/groups, kW)")
    st, pa, op, di = (_single(fn, name, v, lo) for name, v, lo in
                      (("stride", stride, 1), ("padding", padding, 0),
                       ("output_padding", output_padding, 0), ("dilation", dilation, 1)))
    out = conv_transpose2d(_as_image(input, unbatched), weight.unsqueeze(2), bias, (1, st),
                           (0, pa), (0, op), groups, (1, di))
    return _from_image(out, unbatched)
