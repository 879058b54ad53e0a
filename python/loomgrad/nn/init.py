"""Parameter initialisation, in place, with torch.nn.init's names and formulas.

Every function writes into ``tensor.array`` (no autograd) and returns the
tensor. Random ones draw from ``generator`` when given, else from the
library's one generator (:func:`loomgrad.random.get_generator`), so
``lg.manual_seed(s)`` makes an initialisation repeatable. Values are drawn
in float64 and cast to the tensor's dtype.
"""
from __future__ import annotations

import math

import numpy as np

from .. import random as _random
from ..autograd import array_module

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_", "eye_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
           "trunc_normal_", "orthogonal_", "dirac_", "sparse_", "delta_orthogonal_"]

_LINEAR_FNS = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
               "conv_transpose3d", "sigmoid", "identity")


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for a nonlinearity (torch.nn.init.calculate_gain).

    linear/conv*/sigmoid/identity: 1; tanh: 5/3; relu: sqrt(2);
    leaky_relu: sqrt(2 / (1 + slope**2)) with slope ``param`` (default 0.01);
    selu: 3/4.
    """
    if nonlinearity in _LINEAR_FNS:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, bool) or not isinstance(param, (int, float)):
            raise ValueError(f"calculate_gain: param must be a number for leaky_relu, got {param!r}")
        else:
            slope = float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _array(tensor, fn: str) -> np.ndarray:
    data = getattr(tensor, "array", None)
    if data is None or not hasattr(data, "shape"):
        raise TypeError(f"{fn}: tensor must be a Tensor, got {type(tensor).__name__}")
    return data


def _fill(tensor, values) -> None:
    """Write host-drawn ``values`` into the tensor on its device (one seed gives the
    same init on every device)."""
    data = tensor.array
    values = np.asarray(values).astype(data.dtype, copy=False)
    data[...] = values if isinstance(data, np.ndarray) else array_module(data).asarray(values)


def _gen(generator):
    return _random.get_generator() if generator is None else generator


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight: dim 1 and dim 0 times the receptive field
    (the product of dims 2...), as torch computes them."""
    shape = _array(tensor, "fan in/out").shape
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dimensions, "
                         f"got shape {tuple(shape)}")
    receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _calculate_correct_fan(tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None):
    """Fill with U(a, b)."""
    data = _array(tensor, "uniform_")
    if not a <= b:
        raise ValueError(f"uniform_: need a <= b, got a={a}, b={b}")
    _fill(tensor, _gen(generator).uniform(a, b, size=data.shape))
    return tensor


def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None):
    """Fill with N(mean, std**2)."""
    data = _array(tensor, "normal_")
    if std < 0:
        raise ValueError(f"normal_: std must be >= 0, got {std}")
    _fill(tensor, _gen(generator).normal(mean, std, size=data.shape))
    return tensor


def trunc_normal_(tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator=None):
    """Fill with N(mean, std**2) redrawn outside [a, b] (absolute bounds, as torch)."""
    data = _array(tensor, "trunc_normal_")
    if not a < b:
        raise ValueError(f"trunc_normal_: need a < b, got a={a}, b={b}")
    g = _gen(generator)
    out = g.normal(mean, std, size=data.shape)
    bad = (out < a) | (out > b)
    # Rejection sampling: fine unless [a, b] holds almost no mass, which init never asks for.
    for _ in range(1000):
        if not bad.any():
            break
        out[bad] = g.normal(mean, std, size=int(bad.sum()))
        bad = (out < a) | (out > b)
    _fill(tensor, np.clip(out, a, b))
    return tensor


def constant_(tensor, val: float):
    """Fill with ``val``."""
    _array(tensor, "constant_")[...] = val
    return tensor


def zeros_(tensor):
    """Fill with 0."""
    return constant_(tensor, 0)


def ones_(tensor):
    """Fill with 1."""
    return constant_(tensor, 1)


def eye_(tensor):
    """Fill a 2-D tensor with the identity (ones on the diagonal)."""
    data = _array(tensor, "eye_")
    if data.ndim != 2:
        raise ValueError(f"eye_: tensor must be 2-D, got shape {tuple(data.shape)}")
    _fill(tensor, np.eye(*data.shape))
    return tensor


def xavier_uniform_(tensor, gain: float = 1.0, generator=None):
    """Glorot uniform: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / float(fan_in + fan_out)) if fan_in + fan_out else 0.0
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain: float = 1.0, generator=None):
    """Glorot normal: N(0, std**2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out)) if fan_in + fan_out else 0.0
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator=None):
    """He uniform: U(-bound, bound), bound = gain * sqrt(3 / fan),
    gain = calculate_gain(nonlinearity, a), fan = fan_in or fan_out (``mode``).

    nn.Linear's default weight init is ``kaiming_uniform_(w, a=sqrt(5))``,
    i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    """
    if 0 in _array(tensor, "kaiming_uniform_").shape:
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator=None):
    """He normal: N(0, std**2), std = gain / sqrt(fan)."""
    if 0 in _array(tensor, "kaiming_normal_").shape:
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)


def _orthogonal(rows: int, cols: int, gen) -> np.ndarray:
    """A (rows, cols) matrix with orthonormal rows or columns (whichever are fewer), from the
    QR of a Gaussian matrix with R's diagonal signs folded into Q (torch's recipe: uniform
    over the orthogonal group)."""
    a = gen.standard_normal((rows, cols))
    if rows < cols:
        a = a.T
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    return q.T if rows < cols else q


def orthogonal_(tensor, gain: float = 1.0, generator=None):
    """Fill with a (semi-)orthogonal matrix times ``gain`` (torch.nn.init.orthogonal_): the
    tensor is viewed as (shape[0], numel / shape[0]); needs at least 2 dims."""
    shape = _array(tensor, "orthogonal_").shape
    if len(shape) < 2:
        raise ValueError(f"orthogonal_: only tensors with 2 or more dimensions are supported, "
                         f"got shape {tuple(shape)}")
    rows = shape[0]
    cols = math.prod(shape[1:])
    if rows * cols == 0:
        return tensor
    _fill(tensor, (gain * _orthogonal(rows, cols, _gen(generator))).reshape(shape))
    return tensor


def dirac_(tensor, groups: int = 1):
    """The identity convolution (torch.nn.init.dirac_): a 3-, 4- or 5-D weight (out, in, *k)
    with a 1 at the kernel centre of w[g*out_g + d, d] for d < min(out_g, in), each of
    ``groups`` groups keeping its channels; zeros elsewhere."""
    data = _array(tensor, "dirac_")
    if data.ndim not in (3, 4, 5):
        raise ValueError(f"dirac_: only 3, 4 or 5-D tensors are supported, got shape "
                         f"{tuple(data.shape)}")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1 or \
            data.shape[0] % groups:
        raise ValueError(f"dirac_: dim 0 ({data.shape[0]}) must be divisible by groups "
                         f"({groups!r})")
    out_g = data.shape[0] // groups
    values = np.zeros(data.shape)
    centre = tuple(k // 2 for k in data.shape[2:])
    for g in range(groups):
        for d in range(min(out_g, data.shape[1])):
            values[(g * out_g + d, d) + centre] = 1.0
    _fill(tensor, values)
    return tensor


def sparse_(tensor, sparsity: float, std: float = 0.01, generator=None):
    """A sparse 2-D matrix (torch.nn.init.sparse_, Martens 2010): N(0, std) entries with
    ceil(sparsity * rows) zeros in every column, at random rows."""
    data = _array(tensor, "sparse_")
    if data.ndim != 2:
        raise ValueError(f"sparse_: only 2-D tensors are supported, got shape "
                         f"{tuple(data.shape)}")
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or \
            not 0 <= sparsity <= 1:
        raise ValueError(f"sparse_: sparsity must be in [0, 1], got {sparsity!r}")
    rows, cols = data.shape
    gen = _gen(generator)
    values = gen.normal(0.0, std, size=(rows, cols))
    zeros = int(math.ceil(sparsity * rows))
    for c in range(cols):
        values[gen.permutation(rows)[:zeros], c] = 0.0
    _fill(tensor, values)
    return tensor


def delta_orthogonal_(weight, gain: float = 1.0, generator=None):
    """The delta-orthogonal initialiser for convolutions (Xiao et al., "Dynamical Isometry
    and a Mean Field Theory of CNNs", ICML 2018): zero everywhere but the kernel centre, where
    w[:, :, centre] is a random orthogonal (out, in) matrix times ``gain``, so every layer is
    norm-preserving at initialisation and a very deep vanilla CNN keeps its signal (needs
    out_channels >= in_channels; 3-, 4- or 5-D weights)."""
    data = _array(weight, "delta_orthogonal_")
    if data.ndim not in (3, 4, 5):
        raise ValueError(f"delta_orthogonal_: only 3, 4 or 5-D convolution weights are "
                         f"supported, got shape {tuple(data.shape)}")
    out, inp = data.shape[:2]
    if out < inp:
        raise ValueError(f"delta_orthogonal_: out_channels ({out}) must be >= in_channels "
                         f"({inp}) (weight shape {tuple(data.shape)})")
    values = np.zeros(data.shape)
    centre = tuple(k // 2 for k in data.shape[2:])
    values[(slice(None), slice(None)) + centre] = gain * _orthogonal(out, inp, _gen(generator))
    _fill(weight, values)
    return weight
