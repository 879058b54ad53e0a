"""Batch normalisation: ``batch_norm`` (functional) and BatchNorm1d / BatchNorm2d modules.

Training mode normalises with the batch's statistics in one fused autograd
node (the classic three-term backward) and, when running buffers are given,
updates them in place the way torch does: ``running = (1 - momentum) *
running + momentum * batch_stat``, with the *unbiased* batch variance for
``running_var``. Eval mode normalises with the running statistics (plain
Tensor maths, so gradients reach input, weight and bias).
"""
from __future__ import annotations

import numbers

import numpy as np

from ..tensor import Tensor
from . import init
from .functional.norm import batch_norm
from .module import Module
from .parameter import Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d"]


def _check_num_features(cls: str, n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{cls}: num_features must be an int >= 1, got {n!r}")
    return int(n)


class _BatchNorm(Module):
    """Shared body of BatchNorm1d/2d (torch's _BatchNorm): parameters ``weight``
    (ones) and ``bias`` (zeros) when ``affine``; buffers ``running_mean``
    (zeros), ``running_var`` (ones) and ``num_batches_tracked`` (int64 0) when
    ``track_running_stats``. ``momentum=None`` means a cumulative average
    (factor 1 / num_batches_tracked)."""

    _ndims: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None, dtype=None,
                 *, bias: bool = True):
        super().__init__()
        name = type(self).__name__
        self.num_features = _check_num_features(name, num_features)
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or eps < 0:
            raise ValueError(f"{name}: eps must be a number >= 0, got {eps!r}")
        if momentum is not None and (isinstance(momentum, bool) or
                                     not isinstance(momentum, numbers.Real)):
            raise TypeError(f"{name}: momentum must be a number or None, got {momentum!r}")
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self._has_bias = bool(bias)
        dt = np.dtype(np.float32 if dtype is None else dtype)
        if dt.kind != "f":
            raise TypeError(f"{name}: dtype must be floating point, got {dt}")
        C = self.num_features
        if affine:
            self.weight = Parameter(np.empty(C, dt))
            if bias:
                self.bias = Parameter(np.empty(C, dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(C, dt)))
            self.register_buffer("running_var", Tensor(np.ones(C, dt)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.array[...] = 0
            self.running_var.array[...] = 1
            self.num_batches_tracked.array[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def _check_input_dim(self, input) -> None:
        if not isinstance(input, Tensor):
            raise TypeError(f"{type(self).__name__}: input must be a Tensor, got "
                            f"{type(input).__name__}")
        if input.ndim not in self._ndims:
            want = " or ".join(f"{d}D" for d in self._ndims)
            raise ValueError(f"{type(self).__name__}: expected {want} input (got {input.ndim}D "
                             f"input of shape {tuple(input.shape)})")
        if input.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: input has {input.shape[1]} channels "
                             f"(dim 1 of {tuple(input.shape)}), expected num_features="
                             f"{self.num_features}")

    def forward(self, input):
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.array += 1
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.array)
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        keep = not self.training or self.track_running_stats
        return batch_norm(input, self.running_mean if keep else None,
                          self.running_var if keep else None, self.weight, self.bias,
                          use_batch, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self._has_bias and self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs, per channel C."""

    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) inputs, per channel C."""

    _ndims = (4,)
