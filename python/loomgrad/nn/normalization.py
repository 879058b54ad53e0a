"""nn.LayerNorm and nn.GroupNorm (torch.nn's parameters, defaults, init, state_dict keys and
repr) on the fused kernels of csrc/cpu/norm.cpp (through F.layer_norm / F.group_norm)."""
from __future__ import annotations

import numbers

import numpy as np

from . import init
from .functional.norm import group_norm, layer_norm
from .module import Module
from .parameter import Parameter

__all__ = ["LayerNorm", "GroupNorm"]


def _float_dtype(cls: str, dtype) -> np.dtype:
    dt = np.dtype(np.float32 if dtype is None else dtype)
    if dt.kind != "f":
        raise TypeError(f"{cls}: dtype must be floating point, got {dt}")
    return dt


class _AffineNorm(Module):
    """weight (ones) and bias (zeros) of ``shape`` when ``affine`` (``bias=False`` drops the
    bias), as torch registers them (None otherwise)."""

    def _make_affine(self, shape: tuple, affine: bool, bias: bool, dtype, device) -> None:
        dt = _float_dtype(type(self).__name__, dtype)
        self.register_parameter("weight", Parameter(np.empty(shape, dt)) if affine else None)
        self.register_parameter("bias", Parameter(np.empty(shape, dt)) if affine and bias
                                else None)
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        """weight = 1, bias = 0 (torch's init)."""
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)


class LayerNorm(_AffineNorm):
    """Layer normalisation over the last ``len(normalized_shape)`` dims (torch.nn.LayerNorm):
    ``y = (x - mean) / sqrt(var + eps) * weight + bias``. ``weight`` (ones) and ``bias``
    (zeros) have ``normalized_shape`` when ``elementwise_affine`` (``bias=False`` drops the
    bias)."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else \
            tuple(normalized_shape)
        if not shape or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 0
                            for s in shape):
            raise ValueError(f"LayerNorm: normalized_shape must be a non-empty tuple of ints "
                             f">= 0, got {normalized_shape!r}")
        self.normalized_shape = tuple(int(s) for s in shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        self._make_affine(self.normalized_shape, elementwise_affine, bias, dtype, device)

    def forward(self, input):
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class GroupNorm(_AffineNorm):
    """Group normalisation (torch.nn.GroupNorm): the ``num_channels`` channels of an (N, C, *)
    input form ``num_groups`` groups, each normalised per sample over its channels and
    positions; per-channel ``weight`` (ones) and ``bias`` (zeros) when ``affine`` (keyword
    ``bias=False`` drops the bias, as torch)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        for name, v in (("num_groups", num_groups), ("num_channels", num_channels)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"GroupNorm: {name} must be an int >= 1, got {v!r}")
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.num_groups = int(num_groups)
        self.num_channels = int(num_channels)
        self.eps = eps
        self.affine = affine
        self._make_affine((self.num_channels,), affine, bias, dtype, device)

    def forward(self, input):
        if input.ndim >= 2 and input.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm: expected {self.num_channels} channels, got input "
                             f"shape {tuple(input.shape)}")
        return group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")
