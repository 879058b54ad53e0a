"""The function API (``lg.exp(x)``, ``lg.cat(...)``), creation functions and dtypes.

Each op that torch also has as a method is written once, as a method in
:class:`~loomgrad.tensor.Tensor`'s body; the function here is an alias that
checks its first argument and calls the method, so ``x.exp()`` and
``lg.exp(x)`` are the same code. Functions with no method form (``cat``,
``stack``, ``where``, creation) are written here.

Note: this module defines ``sum``, ``max``, ``min``, ``abs``, ``pow`` and
``bool``; it uses ``builtins`` for the Python ones.
"""
from __future__ import annotations

import builtins

import numpy as np

from . import cuda
from .device import move, parse_device
from .functions import shape as S
from .random import get_generator
from .tensor import (Tensor, _is_size, _legacy_sizes, _norm_dim, _parse_dtype, _size_args,
                     _to_array, where)

float16, float32, float64 = np.float16, np.float32, np.float64
int8, int16, int32, int64, uint8 = np.int8, np.int16, np.int32, np.int64, np.uint8
bool = np.bool_  # noqa: A001  (lg.bool, like torch.bool)
# torch's short names, except `float`/`int`/`short`: as lg.* they would shadow the builtins in
# the package's __init__ (which star-imports these); loomgrad/__init__.py's module
# __getattr__ serves those from SHORT_DTYPE_NAMES instead
half, double, long = np.float16, np.float64, np.int64
SHORT_DTYPE_NAMES = {"float": np.float32, "int": np.int32, "short": np.int16}

__all__ = [
    "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool",
    "half", "double", "long",
    "FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor", "IntTensor", "ShortTensor",
    "CharTensor", "ByteTensor", "BoolTensor",
    "tensor", "as_tensor", "from_numpy", "from_dlpack", "zeros", "ones", "empty", "full",
    "rand", "randn", "randint", "arange", "linspace", "eye", "zeros_like", "ones_like",
    "empty_like", "full_like", "rand_like", "randn_like",
    "add", "sub", "mul", "div", "neg", "pow", "matmul", "exp", "log", "sqrt", "abs", "relu",
    "sigmoid", "tanh", "softplus", "silu", "gelu", "softmax", "log_softmax", "clamp", "clip",
    "maximum", "minimum", "where", "sum", "mean", "max", "min", "amax", "amin", "var", "std",
    "argmax", "argmin", "reshape", "view", "transpose", "permute", "flatten", "squeeze",
    "unsqueeze", "expand", "cat", "concatenate", "stack", "split", "chunk", "is_tensor",
    "log1p", "expm1", "sin", "cos", "tril", "triu", "narrow", "mm", "bmm", "norm", "multinomial",
]

_bool, _int = builtins.bool, builtins.int


def is_tensor(obj) -> _bool:
    """True if ``obj`` is a loomgrad Tensor."""
    return isinstance(obj, Tensor)


def _tensor_arg(x, fn, arg="input"):
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: {arg} must be a Tensor, got {type(x).__name__}")
    return x


# ============================================================================ creation


def _finish(arr, device, requires_grad):
    """A Tensor of ``arr`` on ``device`` (None: where ``arr`` is)."""
    if device is not None:
        arr = move(arr, parse_device(device))
    return Tensor(arr, requires_grad=requires_grad)


def _make(device, make, requires_grad):
    """A Tensor of ``make(xp)`` made directly on ``device`` (no host array and copy)."""
    dev = parse_device(device)
    if dev.type == "cpu":
        return Tensor(make(np), requires_grad=requires_grad)
    cp = cuda._require()[1]
    with cp.cuda.Device(dev.index or 0):
        return Tensor(make(cp), requires_grad=requires_grad)


def tensor(data, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, numbers, arrays, Tensors).

    dtype inference like torch: Python floats -> float32, ints -> int64,
    bools -> bool; a NumPy array keeps its dtype (float64 stays float64).
    """
    return _finish(_to_array(data, dtype=_parse_dtype(dtype), copy=True), device,
                   requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like :func:`tensor` but shares memory with an array/Tensor when it can."""
    if isinstance(data, Tensor) and dtype is None and device is None:
        return data
    return _finish(_to_array(data, dtype=_parse_dtype(dtype)), device, False)


def _legacy_type(name, dt):
    """torch's typed legacy constructors: ``FloatTensor(2, 3)`` (zeros of that shape; torch
    leaves them uninitialised) or ``FloatTensor([1, 2])`` (a copy of the data)."""
    dt = np.dtype(dt)

    def make(*args):
        if len(args) == 1 and not _is_size(args[0]):
            return Tensor(_to_array(args[0], dtype=dt, copy=True))
        return Tensor(_legacy_sizes(args, name).astype(dt))
    make.__name__ = make.__qualname__ = name
    make.__doc__ = f"``{name}(*sizes)`` or ``{name}(data)``: a {dt} tensor (torch's legacy " \
                   f"constructor)."
    return make


FloatTensor, DoubleTensor, HalfTensor = (_legacy_type(n, d) for n, d in (
    ("FloatTensor", np.float32), ("DoubleTensor", np.float64), ("HalfTensor", np.float16)))
LongTensor, IntTensor, ShortTensor, CharTensor, ByteTensor, BoolTensor = (
    _legacy_type(n, d) for n, d in (
        ("LongTensor", np.int64), ("IntTensor", np.int32), ("ShortTensor", np.int16),
        ("CharTensor", np.int8), ("ByteTensor", np.uint8), ("BoolTensor", np.bool_)))


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with NumPy ``array`` (writes show through both ways)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    _to_array(array)  # dtype check
    return Tensor(array)


def from_dlpack(ext) -> Tensor:
    """A tensor sharing memory with any DLPack producer (a torch tensor, a NumPy or
    CuPy array): CPU data becomes a NumPy array, CUDA data a CuPy array."""
    if not hasattr(ext, "__dlpack__"):
        raise TypeError(f"from_dlpack: {type(ext).__name__} does not support DLPack")
    dev_type = ext.__dlpack_device__()[0] if hasattr(ext, "__dlpack_device__") else 1
    if dev_type == 1:  # kDLCPU
        return Tensor(np.from_dlpack(ext))
    return Tensor(cuda._require()[1].from_dlpack(ext))


def _creator(fill, fn, direct=False):
    """``fill(xp, shape, dtype)``: with ``direct`` made on the device by its own array
    module; else on the host (random draws: the same numbers on every device for one
    seed) and copied."""
    def create(*size, dtype=None, device=None, requires_grad=False, **kw):
        shape = _size_args(size, fn, kw.pop("size", None))
        if kw:
            raise TypeError(f"{fn}: unexpected arguments {sorted(kw)}")
        dt = _parse_dtype(dtype) or np.dtype(np.float32)
        if direct:
            return _make(device, lambda xp: fill(xp, shape, dt), requires_grad)
        return _finish(fill(np, shape, dt), device, requires_grad)
    create.__name__ = create.__qualname__ = fn
    create.__doc__ = (f"``{fn}(*size, dtype=float32, device=None, requires_grad=False)``: a new "
                      f"tensor of shape ``size`` (ints or one tuple).")
    return create


def _random_fill(draw, fn):
    def fill(xp, shape, dt):
        if dt.kind != "f":
            raise TypeError(f"{fn}: needs a floating dtype, got {dt}")
        g = get_generator()
        if dt == np.float16:
            return draw(g, shape, np.float32).astype(dt)
        return draw(g, shape, dt)
    return fill


zeros = _creator(lambda xp, s, dt: xp.zeros(s, dt), "zeros", direct=True)
ones = _creator(lambda xp, s, dt: xp.ones(s, dt), "ones", direct=True)
empty = _creator(lambda xp, s, dt: xp.empty(s, dt), "empty", direct=True)
rand = _creator(_random_fill(lambda g, s, dt: g.random(s, dtype=dt), "rand"), "rand")
randn = _creator(_random_fill(lambda g, s, dt: g.standard_normal(s, dtype=dt), "randn"), "randn")
rand.__doc__ += (" Uniform on [0, 1), from the global generator (lg.manual_seed); drawn on "
                 "the host, so one seed gives the same values on every device.")
randn.__doc__ += (" Standard normal, from the global generator (lg.manual_seed); drawn on "
                  "the host, so one seed gives the same values on every device.")


def full(size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of shape ``size`` filled with ``fill_value`` (dtype inferred from it)."""
    shape = _size_args((size,), "full")
    dt = _parse_dtype(dtype) or _to_array(fill_value).dtype
    return _make(device, lambda xp: xp.full(shape, fill_value, dt), requires_grad)


def randint(low, high=None, size=None, dtype=None, device=None, requires_grad=False,
            generator=None) -> Tensor:
    """Integers uniform on [low, high) of shape ``size`` (int64 by default); torch's
    signatures: ``randint(high, size)`` and ``randint(low, high, size)``."""
    if size is None and isinstance(high, (tuple, list)):
        low, high, size = 0, low, high  # randint(high, size)
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint: missing the size argument (torch's randint(high, size) or "
                        "randint(low, high, size))")
    shape = _size_args((size,), "randint")
    dt = _parse_dtype(dtype) or np.dtype(np.int64)
    gen = generator or get_generator()
    return _finish(gen.integers(low, high, shape).astype(dt), device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive) by ``step``: int64 when all are ints, else float32."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    ints = builtins.all(isinstance(v, (_int, np.integer)) for v in (start, end, step))
    dt = _parse_dtype(dtype) or np.dtype(np.int64 if ints else np.float32)
    return _finish(np.arange(start, end, step).astype(dt), device, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    dt = _parse_dtype(dtype) or np.dtype(np.float32)
    return _finish(np.linspace(start, end, steps).astype(dt), device, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """The (n, m) identity matrix (m defaults to n)."""
    dt = _parse_dtype(dtype) or np.dtype(np.float32)
    return _finish(np.eye(n, m, dtype=dt), device, requires_grad)


def _like(fn):
    def create(input, dtype=None, device=None, requires_grad=False, **kw):
        _tensor_arg(input, fn.__name__ + "_like")
        return fn(input.shape, dtype=dtype or input.dtype,
                  device=device or input.device, requires_grad=requires_grad, **kw)
    create.__name__ = create.__qualname__ = fn.__name__ + "_like"
    create.__doc__ = f"Like ``{fn.__name__}`` with the shape, dtype and device of ``input``."
    return create


zeros_like, ones_like, empty_like = _like(zeros), _like(ones), _like(empty)
rand_like, randn_like = _like(rand), _like(randn)


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor shaped like ``input`` filled with ``fill_value``."""
    _tensor_arg(input, "full_like")
    return full(input.shape, fill_value, dtype=dtype or input.dtype,
                device=device or input.device, requires_grad=requires_grad)


# ============================================================================ method aliases


def _alias(name):
    """``lg.NAME(input, ...)``: ``input.NAME(...)`` after checking input is a Tensor."""
    method = getattr(Tensor, name)

    def op(input, *args, **kwargs):
        return method(_tensor_arg(input, name), *args, **kwargs)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = method.__doc__
    return op


(add, sub, mul, div, neg, matmul, exp, log, sqrt, abs, relu, sigmoid, tanh, silu,  # noqa: A001
 softplus, gelu, softmax, log_softmax, clamp, maximum, minimum, sum, mean, var, std, max, min,
 amax, amin, argmax, argmin, reshape, flatten, permute, transpose, squeeze, unsqueeze, expand,
 split, chunk, log1p, expm1, sin, cos, tril, triu, narrow, mm, bmm, norm, multinomial) = (
    _alias(n) for n in (
    "add", "sub", "mul", "div", "neg", "matmul", "exp", "log", "sqrt", "abs", "relu", "sigmoid",
    "tanh", "silu", "softplus", "gelu", "softmax", "log_softmax", "clamp", "maximum", "minimum",
    "sum", "mean", "var", "std", "max", "min", "amax", "amin", "argmax", "argmin", "reshape",
    "flatten", "permute", "transpose", "squeeze", "unsqueeze", "expand", "split", "chunk",
    "log1p", "expm1", "sin", "cos", "tril", "triu", "narrow", "mm", "bmm", "norm",
    "multinomial"))
clip, view = clamp, reshape


def pow(input, exponent) -> Tensor:  # noqa: A001
    """``input ** exponent``; either may be a Python number."""
    if isinstance(input, Tensor):
        return input ** exponent
    return _tensor_arg(exponent, "pow", "exponent").__rpow__(input)


# ============================================================================ joining


def _joinable(tensors, fn):
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{fn}: tensors must be a list or tuple of Tensors, "
                        f"got {type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{fn}: expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        _tensor_arg(t, fn, f"tensors[{i}]")
    return list(tensors)


def cat(tensors, dim=0) -> Tensor:
    """Join along existing dim ``dim``; other dims must match."""
    ts = _joinable(tensors, "cat")
    nd = ts[0].ndim
    axis = _norm_dim(dim, nd, "cat")
    for t in ts:
        if t.ndim != nd or t.shape[:axis] + t.shape[axis + 1:] != \
                ts[0].shape[:axis] + ts[0].shape[axis + 1:]:
            raise ValueError(f"cat: shapes must match except in dim {dim}, got "
                             f"{[x.shape for x in ts]}")
    return S.Cat.apply(*ts, axis=axis)


concatenate = cat


def stack(tensors, dim=0) -> Tensor:
    """Join along a new dim ``dim``; all shapes must be equal."""
    ts = _joinable(tensors, "stack")
    if builtins.any(t.shape != ts[0].shape for t in ts):
        raise ValueError(f"stack: all tensors must have the same shape, got "
                         f"{[x.shape for x in ts]}")
    return S.Stack.apply(*ts, axis=_norm_dim(dim, ts[0].ndim + 1, "stack"))
