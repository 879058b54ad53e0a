"""Activations, softmax/log_softmax with torch's default dims, flatten and dropout
(element-wise, and whole-channel: dropout1d/dropout2d)."""
from __future__ import annotations

import warnings

import numpy as np

from ... import random as _random
from ...autograd import array_module
from ...functions import activation as A
from ...tensor import Tensor
from ._checks import _check_probability, _check_tensor, _norm_dim

__all__ = ["relu", "sigmoid", "tanh", "softmax", "log_softmax", "flatten", "dropout",
           "leaky_relu", "elu", "gelu", "silu", "softplus", "hardtanh", "relu6", "prelu",
           "dropout1d", "dropout2d"]


def relu(input: Tensor) -> Tensor:
    """max(x, 0), elementwise."""
    return _check_tensor("relu", "input", input).relu()


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), elementwise."""
    return _check_tensor("sigmoid", "input", input).sigmoid()


def tanh(input: Tensor) -> Tensor:
    """tanh(x), elementwise."""
    return _check_tensor("tanh", "input", input).tanh()


def _real(fn: str, name: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: {name} must be a number, got {type(v).__name__}")
    return float(v)


def _float_input(fn: str, input) -> Tensor:
    _check_tensor(fn, "input", input)
    if not input.is_floating_point():
        raise TypeError(f"{fn}: input must be a floating-point Tensor, got {input.dtype}")
    return input


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``x`` where x > 0, ``negative_slope * x`` elsewhere. ``inplace`` is accepted for
    torch compatibility; the input is never mutated."""
    fn = "leaky_relu"
    return A.LeakyRelu.apply(_float_input(fn, input),
                             negative_slope=_real(fn, "negative_slope", negative_slope))


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``x`` where x > 0, ``alpha * (exp(x) - 1)`` elsewhere."""
    return A.Elu.apply(_float_input("elu", input), alpha=_real("elu", "alpha", alpha))


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """``x * Phi(x)`` (exact, erf) or ``approximate='tanh'``."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return A.Gelu.apply(_float_input("gelu", input), approximate=approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * sigmoid(x)`` (swish)."""
    return A.Silu.apply(_float_input("silu", input))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta * x)) / beta``, and ``x`` where ``beta * x > threshold``."""
    fn = "softplus"
    return A.Softplus.apply(_float_input(fn, input), beta=_real(fn, "beta", beta),
                            threshold=_real(fn, "threshold", threshold))


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """``x`` clipped to [min_val, max_val] (gradient 0 at the bounds, as torch)."""
    fn = "hardtanh"
    lo, hi = _real(fn, "min_val", min_val), _real(fn, "max_val", max_val)
    if lo > hi:
        raise ValueError(f"{fn}: min_val ({lo}) must not exceed max_val ({hi})")
    return A.Hardtanh.apply(_float_input(fn, input), min_val=lo, max_val=hi)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """``min(max(x, 0), 6)``: hardtanh(x, 0, 6)."""
    return A.Hardtanh.apply(_float_input("relu6", input), min_val=0.0, max_val=6.0)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """``x`` where x > 0, ``weight * x`` elsewhere; ``weight`` holds one slope or one per
    channel (dim 1 of input; an input of fewer than 2 dims has one channel)."""
    fn = "prelu"
    _float_input(fn, input)
    _check_tensor(fn, "weight", weight)
    if weight.dtype != input.dtype:
        raise TypeError(f"{fn}: input and weight must have the same dtype, got {input.dtype} "
                        f"and {weight.dtype}")
    channels = input.shape[1] if input.ndim >= 2 else 1
    if weight.numel() not in (1, channels):
        raise ValueError(f"{fn}: weight must have 1 or {channels} elements (channels of input "
                         f"shape {tuple(input.shape)}), got shape {tuple(weight.shape)}")
    return A.Prelu.apply(input, weight)


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
    return input * Tensor(_keep_mask(input.array, input.array.shape, p))


def _keep_mask(data, shape, p: float):
    """A mask of ``shape`` in data's dtype and device: 0 with probability ``p``, else
    1/(1-p) (inverted dropout). Drawn from the library generator (on the GPU, from
    lg.manual_seed's CUDA stream, with no host round trip)."""
    if p == 1.0:
        return array_module(data).zeros(shape, dtype=data.dtype)
    if isinstance(data, np.ndarray):
        keep = _random.get_generator().random(shape) >= p
    else:
        with data.device:
            gen = _random.get_cuda_generator(data.device.id)
            keep = gen.random_sample(shape, dtype=np.float32) >= p
    return (keep / (1.0 - p)).astype(data.dtype)


def _feature_dropout(fn: str, input: Tensor, p: float, training: bool) -> Tensor:
    """Whole-channel dropout of a (N, C, ...) input: one draw per (n, c), broadcast over
    the remaining dims (torch's feature_dropout)."""
    _check_probability(fn, p)
    if not training or p == 0.0:
        return input
    shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)
    return input * Tensor(_keep_mask(input.array, shape, p))


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of a (N, C, L) or (C, L) input with probability ``p`` and scale
    the rest by 1/(1-p) when ``training``; the identity otherwise."""
    fn = "dropout1d"
    _check_tensor(fn, "input", input)
    if input.ndim not in (2, 3):
        raise ValueError(f"{fn}: expected a 2-D (C, L) or 3-D (N, C, L) input, got shape "
                         f"{tuple(input.shape)}")
    if input.ndim == 2 and training and p != 0.0:
        return _feature_dropout(fn, input.unsqueeze(0), p, training).squeeze(0)
    return _feature_dropout(fn, input, p, training)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels (input[n, c]) of a (N, C, H, W) input with probability ``p`` and
    scale the rest by 1/(1-p) when ``training``. As torch, a 3-D input is read as (N, C, L)
    (with torch's warning), not as an unbatched (C, H, W)."""
    fn = "dropout2d"
    _check_tensor(fn, "input", input)
    if input.ndim < 2:
        raise ValueError(f"{fn}: expected a 4-D (N, C, H, W) input, got shape "
                         f"{tuple(input.shape)}")
    if input.ndim != 4:
        warnings.warn(f"{fn}: received a {input.ndim}-D input; as torch, it is read as "
                      f"(N, C, ...) with channel-wise dropout over dims 0 and 1 (use "
                      f"dropout1d for (N, C, L) inputs)", stacklevel=2)
    return _feature_dropout(fn, input, p, training)
