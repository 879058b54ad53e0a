"""nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d (torch.nn's parameters,
defaults, init, state_dict keys and repr), on one base ``_ConvNd`` as torch's."""
from __future__ import annotations

import math

import numpy as np

from . import init
from ..kernels._args import pair
from .functional.conv import conv2d
from .functional.conv_transpose import (conv1d, conv_transpose1d, conv_transpose2d,
                                        conv_transpose_output_size)
from .module import Module
from .parameter import Parameter

__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]


def _positive_int(fn: str, name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{fn}: {name} must be an int, got {type(v).__name__}")
    if v < 1:
        raise ValueError(f"{fn}: {name} must be >= 1, got {v}")
    return int(v)


def _ntuple(fn: str, name: str, v, n: int, lo: int) -> tuple:
    """torch's _single / _pair: an int or an n-tuple, each >= lo."""
    if n == 2:
        return pair(name, v, lo=lo, fn=fn)
    vals = tuple(v) if isinstance(v, (tuple, list)) else (v,)
    if len(vals) != 1:
        raise ValueError(f"{fn}: {name} must be an int or a 1-tuple, got {v!r}")
    return pair(name, vals[0], lo=lo, fn=fn)[:1]


class _ConvNd(Module):
    """The parameters of an n-D (1 or 2) convolution or transposed convolution.

    ``weight``: (out_channels, in_channels / groups, *kernel_size) for a convolution,
    (in_channels, out_channels / groups, *kernel_size) for a transposed one (as torch);
    ``bias``: (out_channels,). Default init as torch: weight ~ kaiming_uniform_(a=sqrt(5)),
    bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = weight.shape[1] * prod(kernel).
    Only ``padding_mode='zeros'`` is supported.
    """

    _n = 2
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 groups, bias, padding_mode, device, dtype, output_padding=0):
        super().__init__()
        fn, n = type(self).__name__, self._n
        self.in_channels = _positive_int(fn, "in_channels", in_channels)
        self.out_channels = _positive_int(fn, "out_channels", out_channels)
        self.groups = _positive_int(fn, "groups", groups)
        if self.in_channels % self.groups:
            raise ValueError(f"{fn}: in_channels ({in_channels}) must be divisible by groups "
                             f"({groups})")
        if self.out_channels % self.groups:
            raise ValueError(f"{fn}: out_channels ({out_channels}) must be divisible by groups "
                             f"({groups})")
        self.kernel_size = _ntuple(fn, "kernel_size", kernel_size, n, 1)
        self.stride = _ntuple(fn, "stride", stride, n, 1)
        self.dilation = _ntuple(fn, "dilation", dilation, n, 1)
        if isinstance(padding, str):
            if self._transposed or padding not in ("same", "valid"):
                allowed = "an int or a tuple" if self._transposed else \
                    "an int, a tuple, 'valid' or 'same'"
                raise ValueError(f"{fn}: padding must be {allowed}, got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{fn}: padding='same' is not supported for strided "
                                 f"convolutions")
            self.padding = padding
        else:
            self.padding = _ntuple(fn, "padding", padding, n, 0)
        self.output_padding = _ntuple(fn, "output_padding", output_padding, n, 0)
        if padding_mode != "zeros":
            raise NotImplementedError(f"{fn}: padding_mode {padding_mode!r} is not supported "
                                      f"(only 'zeros')")
        self.padding_mode = padding_mode
        dt = np.dtype(np.float32 if dtype is None else dtype)
        if dt.kind != "f":
            raise TypeError(f"{fn}: dtype must be floating point, got {dt}")
        lead = (self.in_channels, self.out_channels // self.groups) if self._transposed else \
            (self.out_channels, self.in_channels // self.groups)
        self.weight = Parameter(np.empty(lead + self.kernel_size, dt))
        if bias:
            self.bias = Parameter(np.empty((self.out_channels,), dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        """Re-draw weight and bias with torch's default init."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        n = self._n
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    """1-D convolution layer (torch.nn.Conv1d): input (N, in_channels, L) or (in_channels, L)
    -> (N, out_channels, L_out); weight (out_channels, in_channels / groups, kW). See
    :func:`loomgrad.nn.functional.conv1d`; init and state_dict keys as torch."""

    _n = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype)

    def forward(self, input):
        return conv1d(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                      self.groups)


class Conv2d(_ConvNd):
    """2-D convolution layer (torch.nn.Conv2d): ``y = conv2d(x, weight) + bias``.

    Shapes: input (N, in_channels, H, W) or (in_channels, H, W) -> (N,
    out_channels, OH, OW) (see :func:`loomgrad.nn.functional.conv2d` for OH,
    OW); ``weight`` (out_channels, in_channels / groups, kH, kW), ``bias``
    (out_channels,). ``padding``: int, pair, 'valid' or 'same'. Default init
    as torch: weight ~ kaiming_uniform_(a=sqrt(5)), bias ~ U(-1/sqrt(fan_in),
    1/sqrt(fan_in)) with fan_in = in_channels / groups * kH * kW. Only
    ``padding_mode='zeros'`` is supported.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype)

    def forward(self, input):
        return conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                      self.groups)


class _ConvTransposeNd(_ConvNd):
    _transposed = True

    def _output_padding(self, input, output_size) -> tuple:
        """``output_padding``, or the one that gives ``output_size`` (torch's rule: each size
        must lie in [smallest, smallest + stride - 1])."""
        if output_size is None:
            return self.output_padding
        n, fn = self._n, type(self).__name__
        size = [int(v) for v in output_size]
        lead = input.ndim - n
        if len(size) == n + lead:
            size = size[lead:]
        if len(size) != n:
            raise ValueError(f"{fn}: output_size must have {n} or {n + lead} elements (for "
                             f"input shape {tuple(input.shape)}), got {tuple(output_size)}")
        out = []
        for d in range(n):
            lo = conv_transpose_output_size(input.shape[lead + d], self.kernel_size[d],
                                            self.stride[d], self.padding[d],
                                            self.dilation[d], 0)
            hi = lo + self.stride[d] - 1
            if not lo <= size[d] <= hi:
                raise ValueError(f"{fn}: requested output size {tuple(size)} is not in the "
                                 f"valid range: dim {d} must lie in [{lo}, {hi}] for input "
                                 f"shape {tuple(input.shape)}")
            out.append(size[d] - lo)
        return tuple(out)


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution layer (torch.nn.ConvTranspose1d): input (N, in_channels, L)
    -> (N, out_channels, L_out); weight (in_channels, out_channels / groups, kW).
    ``forward(input, output_size=None)``."""

    _n = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype, output_padding)

    def forward(self, input, output_size=None):
        op = self._output_padding(input, output_size)
        return conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding, op,
                                self.groups, self.dilation)


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution layer (torch.nn.ConvTranspose2d): input (N, in_channels, H,
    W) or (in_channels, H, W) -> (N, out_channels, H_out, W_out) (see
    :func:`loomgrad.nn.functional.conv_transpose2d`); weight (in_channels, out_channels /
    groups, kH, kW), bias (out_channels,). ``forward(input, output_size=None)``: an
    ``output_size`` picks the output_padding that gives it, as torch."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype, output_padding)

    def forward(self, input, output_size=None):
        op = self._output_padding(input, output_size)
        return conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, op,
                                self.groups, self.dilation)
