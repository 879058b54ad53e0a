"""max_pool2d, avg_pool2d and adaptive_avg_pool2d as autograd nodes on the pool kernels."""
from __future__ import annotations

import numpy as np

from ... import kernels
from ...autograd import Function, array_module
from ...kernels._args import pair
from ...tensor import Tensor
from ._checks import _contig, _image_input, _unsqueeze0

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "pool_output_size",
           "MaxPool2dFunction", "AvgPool2dFunction", "AdaptiveAvgPool2dFunction"]


def pool_output_size(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """torch's pooling output length: floor (or ceil) of (n + 2p - d(k-1) - 1) / s + 1,
    where with ``ceil_mode`` the last window must start inside the input or left padding."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


class MaxPool2dFunction(Function):
    """max_pool2d as one node; ``self.indices`` keeps the argmax (flat h*W + w per plane)."""

    def forward(self, x, *, kernel_size, stride, padding, dilation, ceil_mode):
        y, idx = kernels.max_pool2d(_contig("input", x), kernel_size, stride, padding,
                                     dilation, ceil_mode)
        self.indices = idx
        self.x_shape = x.shape
        self.window = (kernel_size, stride, padding, dilation, ceil_mode)
        return y

    def backward(self, g):
        return (kernels.max_pool2d_backward(array_module(g).ascontiguousarray(g), self.indices,
                                             self.x_shape, *self.window),)


class AvgPool2dFunction(Function):
    def forward(self, x, *, kernel_size, stride, padding, ceil_mode, count_include_pad,
                divisor_override):
        self.args = (kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)
        self.x_shape = x.shape
        return kernels.avg_pool2d(_contig("input", x), *self.args)

    def backward(self, g):
        return (kernels.avg_pool2d_backward(array_module(g).ascontiguousarray(g), self.x_shape,
                                             *self.args),)


class AdaptiveAvgPool2dFunction(Function):
    def forward(self, x, *, output_size):
        self.x_shape = x.shape
        return kernels.adaptive_avg_pool2d(_contig("input", x), output_size)

    def backward(self, g):
        return (kernels.adaptive_avg_pool2d_backward(array_module(g).ascontiguousarray(g),
                                                      self.x_shape),)


def _pool_args(fn, x, kernel_size, stride, padding, dilation=1):
    k = pair("kernel_size", kernel_size, lo=1, fn=fn)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) \
        else pair("stride", stride, lo=1, fn=fn)
    p = pair("padding", padding, lo=0, fn=fn)
    d = pair("dilation", dilation, lo=1, fn=fn)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"{fn}: padding should be at most half of the effective kernel size, "
                         f"got padding={p} and kernel_size={k}")
    return k, s, p, d


def _pool_out_check(fn, input, H, W, k, s, p, d, ceil_mode):
    OH = pool_output_size(H, k[0], s[0], p[0], d[0], ceil_mode)
    OW = pool_output_size(W, k[1], s[1], p[1], d[1], ceil_mode)
    if OH < 1 or OW < 1:
        raise ValueError(f"{fn}: output size would be {OH}x{OW} for input "
                         f"{tuple(input.shape)}, kernel_size={k}, stride={s}, padding={p}, "
                         f"dilation={d}: too small")


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """Max over (dilated) windows, as torch.nn.functional.max_pool2d.

    Shapes: (N, C, H, W) or (C, H, W) -> (N, C, OH, OW), OH = floor or ceil
    ((H + 2*pad - dil*(k-1) - 1) / stride) + 1; ``stride`` defaults to
    ``kernel_size``; padding (at most half the kernel) counts as -inf. With
    ``return_indices`` also returns the int64 argmax of each window as a flat
    index h*W + w into its input plane (like torch).
    """
    fn = "max_pool2d"
    unbatched = _image_input(fn, input)
    k, s, p, d = _pool_args(fn, input, kernel_size, stride, padding, dilation)
    x = _unsqueeze0(input) if unbatched else input
    _pool_out_check(fn, input, x.shape[2], x.shape[3], k, s, p, d, ceil_mode)
    if 0 in x.shape[1:]:
        raise ValueError(f"{fn}: expected non-empty C, H, W, got input shape "
                         f"{tuple(input.shape)}")
    out = MaxPool2dFunction.apply(x, kernel_size=k, stride=s, padding=p, dilation=d,
                                  ceil_mode=bool(ceil_mode))
    if return_indices:
        node = out.grad_fn
        idx = node.indices if node is not None else kernels.max_pool2d(
            _contig("input", x.array), k, s, p, d, bool(ceil_mode))[1]
        idx_t = Tensor(idx)
    if unbatched:
        out = out.reshape(*out.shape[1:])
        if return_indices:
            idx_t = Tensor(idx.reshape(idx.shape[1:]))
    return (out, idx_t) if return_indices else out


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over windows, as torch.nn.functional.avg_pool2d.

    Shapes as :func:`max_pool2d` (no dilation). The divisor is the window
    area clipped to the padded input (``count_include_pad``) or to the input
    itself, or ``divisor_override`` when given.
    """
    fn = "avg_pool2d"
    unbatched = _image_input(fn, input)
    k, s, p, _ = _pool_args(fn, input, kernel_size, stride, padding)
    if divisor_override is not None and (isinstance(divisor_override, bool) or not isinstance(
            divisor_override, (int, np.integer)) or divisor_override == 0):
        raise ValueError(f"{fn}: divisor_override must be a non-zero int, got "
                         f"{divisor_override!r}")
    x = _unsqueeze0(input) if unbatched else input
    _pool_out_check(fn, input, x.shape[2], x.shape[3], k, s, p, (1, 1), ceil_mode)
    if 0 in x.shape[1:]:
        raise ValueError(f"{fn}: expected non-empty C, H, W, got input shape "
                         f"{tuple(input.shape)}")
    out = AvgPool2dFunction.apply(x, kernel_size=k, stride=s, padding=p,
                                  ceil_mode=bool(ceil_mode),
                                  count_include_pad=bool(count_include_pad),
                                  divisor_override=divisor_override)
    return out.reshape(*out.shape[1:]) if unbatched else out


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Mean over windows chosen so the output is ``output_size`` (an int, a
    pair, with None keeping that input size): (N, C, H, W) -> (N, C, OH, OW);
    window o spans [floor(o*H/OH), ceil((o+1)*H/OH))."""
    fn = "adaptive_avg_pool2d"
    unbatched = _image_input(fn, input)
    x = _unsqueeze0(input) if unbatched else input
    H, W = x.shape[2:]
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    if len(sizes) != 2:
        raise ValueError(f"{fn}: output_size must be an int or a pair, got {output_size!r}")
    out_hw = []
    for v, n in zip(sizes, (H, W)):
        if v is None:
            v = n
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"{fn}: output_size must hold ints >= 0 or None, got "
                             f"{output_size!r}")
        out_hw.append(int(v))
    if 0 in x.shape[1:]:
        raise ValueError(f"{fn}: expected non-empty C, H, W, got input shape "
                         f"{tuple(input.shape)}")
    out = AdaptiveAvgPool2dFunction.apply(x, output_size=tuple(out_hw))
    return out.reshape(*out.shape[1:]) if unbatched else out
