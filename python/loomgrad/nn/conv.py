"""nn.Conv2d (torch.nn.Conv2d's parameters, defaults, init and repr)."""
from __future__ import annotations

import math

import numpy as np

from . import init
from ..kernels._args import pair
from .functional.conv import conv2d
from .module import Module
from .parameter import Parameter

__all__ = ["Conv2d"]


def _positive_int(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"Conv2d: {name} must be an int, got {type(v).__name__}")
    if v < 1:
        raise ValueError(f"Conv2d: {name} must be >= 1, got {v}")
    return int(v)


class Conv2d(Module):
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
        super().__init__()
        self.in_channels = _positive_int("in_channels", in_channels)
        self.out_channels = _positive_int("out_channels", out_channels)
        self.groups = _positive_int("groups", groups)
        if self.in_channels % self.groups:
            raise ValueError(f"Conv2d: in_channels ({in_channels}) must be divisible by groups "
                             f"({groups})")
        if self.out_channels % self.groups:
            raise ValueError(f"Conv2d: out_channels ({out_channels}) must be divisible by groups "
                             f"({groups})")
        self.kernel_size = pair("kernel_size", kernel_size, lo=1, fn="Conv2d")
        self.stride = pair("stride", stride, lo=1, fn="Conv2d")
        self.dilation = pair("dilation", dilation, lo=1, fn="Conv2d")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Conv2d: padding must be an int, a pair, 'valid' or 'same', "
                                 f"got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError("Conv2d: padding='same' is not supported for strided "
                                 "convolutions")
            self.padding = padding
        else:
            self.padding = pair("padding", padding, lo=0, fn="Conv2d")
        if padding_mode != "zeros":
            raise NotImplementedError(f"Conv2d: padding_mode {padding_mode!r} is not supported "
                                      f"(only 'zeros')")
        self.padding_mode = padding_mode
        dt = np.dtype(np.float32 if dtype is None else dtype)
        if dt.kind != "f":
            raise TypeError(f"Conv2d: dtype must be floating point, got {dt}")
        kh, kw = self.kernel_size
        self.weight = Parameter(np.empty((self.out_channels, self.in_channels // self.groups,
                                          kh, kw), dt))
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

    def forward(self, input):
        return conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                      self.groups)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s
