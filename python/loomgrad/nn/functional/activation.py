"""Activations, softmax/log_softmax with torch's default dims, flatten and dropout."""
from __future__ import annotations

import numpy as np

from ... import random as _random
from ...autograd import array_module
from ...tensor import Tensor
from ._checks import _check_probability, _check_tensor, _norm_dim

__all__ = ["relu", "sigmoid", "tanh", "softmax", "log_softmax", "flatten", "dropout"]


def relu(input: Tensor) -> Tensor:
    """max(x, 0), elementwise."""
    return _check_tensor("relu", "input", input).relu()


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), elementwise."""
    return _check_tensor("sigmoid", "input", input).sigmoid()


def tanh(input: Tensor) -> Tensor:
    """tanh(x), elementwise."""
    return _check_tensor("tanh", "input", input).tanh()


def _softmax_dim(ndim: int) -> int:
    # torch's legacy choice when dim is not given
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim`` (stable)."""
    _check_tensor("softmax", "input", input)
    dim = _softmax_dim(input.ndim) if dim is None else dim
    return input.softmax(_norm_dim("softmax", dim, input.ndim))


def log_softmax(input: Tensor, dim: int | None = None) -> Tensor:
    """x - logsumexp(x) along ``dim`` (stable)."""
    _check_tensor("log_softmax", "input", input)
    dim = _softmax_dim(input.ndim) if dim is None else dim
    return input.log_softmax(_norm_dim("log_softmax", dim, input.ndim))


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims ``start_dim..end_dim``: e.g. (N, C, H, W), 1, -1 -> (N, C*H*W)."""
    _check_tensor("flatten", "input", input)
    shape = tuple(input.shape)
    if not shape:
        return input.reshape(1)
    s = _norm_dim("flatten", start_dim, len(shape))
    e = _norm_dim("flatten", end_dim, len(shape))
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for "
                         f"shape {shape}")
    new = shape[:s] + (int(np.prod(shape[s:e + 1], dtype=np.int64)),) + shape[e + 1:]
    return input if new == shape else input.reshape(*new)


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero elements with probability ``p`` and scale the rest by 1/(1-p) when
    ``training``; the identity otherwise. Masks come from the library generator."""
    _check_tensor("dropout", "input", input)
    _check_probability("dropout", p)
    if not training or p == 0.0:
        return input
    data = input.array
    if p == 1.0:
        mask = array_module(data).zeros(data.shape, dtype=data.dtype)
    else:
        if isinstance(data, np.ndarray):
            keep = _random.get_generator().random(data.shape) >= p
        else:  # drawn on the GPU (no host round trip), from lg.manual_seed's stream
            with data.device:
                gen = _random.get_cuda_generator(data.device.id)
                keep = gen.random_sample(data.shape, dtype=np.float32) >= p
        mask = (keep / (1.0 - p)).astype(data.dtype)
    return input * Tensor(mask)
