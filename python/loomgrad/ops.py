"""The function API (``lg.exp(x)``, ``lg.cat(...)``), creation functions and dtypes.

Every op here is defined once as a function taking the tensor first; the ones
torch also has as methods are attached to :class:`~loomgrad.tensor.Tensor` at
the bottom, so ``x.exp()`` and ``lg.exp(x)`` are the same code.

Note: this module defines ``sum``, ``max``, ``min``, ``abs`` and ``bool``;
it uses ``builtins`` for the Python ones.
"""
from __future__ import annotations

import builtins
import collections

import numpy as np

from . import functional as F
from . import shape_ops as S
from .autograd import array_module, check_same_device
from .random import get_generator
from .tensor import (Tensor, _norm_dim, _norm_dims, _parse_device, _parse_dtype, _size_args,
                     _to_array, _weak_scalar_array, _move)

float16, float32, float64 = np.float16, np.float32, np.float64
int8, int16, int32, int64, uint8 = np.int8, np.int16, np.int32, np.int64, np.uint8
bool = np.bool_  # noqa: A001  (lg.bool, like torch.bool)
# torch's short names, except `float`/`int`: as lg.* they would shadow the builtins in the
# package's __init__ (which star-imports these)
half, double, long = np.float16, np.float64, np.int64

__all__ = [
    "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool",
    "half", "double", "long",
    "tensor", "as_tensor", "from_numpy", "from_dlpack", "zeros", "ones", "empty", "full",
    "rand", "randn", "randint", "arange", "linspace", "eye", "zeros_like", "ones_like",
    "empty_like", "full_like", "rand_like", "randn_like",
    "add", "sub", "mul", "div", "neg", "pow", "matmul", "exp", "log", "sqrt", "abs", "relu",
    "sigmoid", "tanh", "softplus", "silu", "gelu", "softmax", "log_softmax", "clamp", "clip",
    "maximum", "minimum", "where", "sum", "mean", "max", "min", "amax", "amin", "var", "std",
    "argmax", "argmin", "reshape", "view", "transpose", "permute", "flatten", "squeeze",
    "unsqueeze", "expand", "cat", "concatenate", "stack", "split", "chunk", "is_tensor",
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
        arr = _move(arr, _parse_device(device))
    return Tensor(arr, requires_grad=requires_grad)


def _make(device, make, requires_grad):
    """A Tensor of ``make(xp)`` made directly on ``device`` (no host array and copy)."""
    dev = _parse_device(device)
    if dev.type == "cpu":
        return Tensor(make(np), requires_grad=requires_grad)
    from . import cuda
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
    from . import cuda
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


def randint(low, high=None, size=(), dtype=None, device=None, requires_grad=False) -> Tensor:
    """Integers uniform on [low, high) of shape ``size`` (int64 by default)."""
    if high is None:
        low, high = 0, low
    shape = _size_args((size,), "randint")
    dt = _parse_dtype(dtype) or np.dtype(np.int64)
    return _finish(get_generator().integers(low, high, shape).astype(dt), device, requires_grad)


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


# ============================================================================ elementwise


def add(input, other, alpha=1) -> Tensor:
    """``input + alpha * other`` (broadcasting)."""
    return input + (other * alpha if alpha != 1 else other)


def sub(input, other, alpha=1) -> Tensor:
    """``input - alpha * other`` (broadcasting)."""
    return input - (other * alpha if alpha != 1 else other)


def mul(input, other) -> Tensor:
    """``input * other`` (broadcasting)."""
    return input * other


def div(input, other) -> Tensor:
    """``input / other`` (broadcasting; int / int gives float32)."""
    return input / other


def neg(input) -> Tensor:
    """``-input``."""
    return -input


def pow(input, exponent) -> Tensor:  # noqa: A001
    """``input ** exponent``; either may be a Python number."""
    if isinstance(input, Tensor):
        return input ** exponent
    return _tensor_arg(exponent, "pow", "exponent").__rpow__(input)


def matmul(input, other) -> Tensor:
    """Matrix product with numpy/torch rules: (.., n, k) @ (.., k, m) -> (.., n, m),
    batch dims broadcast, a 1-D operand is a vector. Runs on our GEMM."""
    _tensor_arg(input, "matmul")
    return input @ other


def _unary(cls, name, doc):
    def op(input) -> Tensor:
        return cls.apply(_tensor_arg(input, name))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc + " Elementwise; same shape out."
    return op


exp = _unary(F.Exp, "exp", "``e ** x``.")
log = _unary(F.Log, "log", "Natural logarithm.")
sqrt = _unary(F.Sqrt, "sqrt", "Square root.")
abs = _unary(F.Abs, "abs", "Absolute value (gradient 0 at 0, like torch).")  # noqa: A001
relu = _unary(F.Relu, "relu", "``max(x, 0)``.")
sigmoid = _unary(F.Sigmoid, "sigmoid", "``1 / (1 + e**-x)``, without overflow.")
tanh = _unary(F.Tanh, "tanh", "Hyperbolic tangent.")
silu = _unary(F.Silu, "silu", "``x * sigmoid(x)``.")


def softplus(input, beta=1.0, threshold=20.0) -> Tensor:
    """``log(1 + exp(beta * x)) / beta``, and ``x`` where ``beta * x > threshold``."""
    return F.Softplus.apply(_tensor_arg(input, "softplus"), beta=beta, threshold=threshold)


def gelu(input, approximate="none") -> Tensor:
    """GELU, ``x * Phi(x)`` (exact, erf) or ``approximate='tanh'``. Same shape out."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return F.Gelu.apply(_tensor_arg(input, "gelu"), approximate=approximate)


def softmax(input, dim=-1) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim`` (max-shifted: no overflow). Same shape out."""
    _tensor_arg(input, "softmax")
    return F.Softmax.apply(input, axis=_norm_dim(dim, input.ndim, "softmax"))


def log_softmax(input, dim=-1) -> Tensor:
    """``x - logsumexp(x)`` along ``dim``, computed stably. Same shape out."""
    _tensor_arg(input, "log_softmax")
    return F.LogSoftmax.apply(input, axis=_norm_dim(dim, input.ndim, "log_softmax"))


def clamp(input, min=None, max=None) -> Tensor:  # noqa: A002
    """Clip to [min, max] (either may be None, or a Tensor); gradient 1 inside, bounds included."""
    _tensor_arg(input, "clamp")
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = input if min is None else maximum(input, min)
        return out if max is None else minimum(out, max)
    return F.Clamp.apply(input, lo=min, hi=max)


clip = clamp


def maximum(input, other) -> Tensor:
    """Elementwise max with broadcasting; on ties each side gets half the gradient."""
    _tensor_arg(input, "maximum")
    return F.Maximum.apply(input, input._operand(other))


def minimum(input, other) -> Tensor:
    """Elementwise min with broadcasting; on ties each side gets half the gradient."""
    _tensor_arg(input, "minimum")
    return F.Minimum.apply(input, input._operand(other))


def where(condition, input, other) -> Tensor:
    """``input`` where ``condition`` else ``other`` (all broadcast; numbers allowed)."""
    cond = condition.data if isinstance(condition, Tensor) else None
    if cond is None:
        like = input if isinstance(input, Tensor) else other
        cond = array_module(like.data).asarray(condition) if isinstance(like, Tensor) \
            else np.asarray(condition)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got dtype {cond.dtype}")
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError("where: input or other must be a Tensor")
    a = input if isinstance(input, Tensor) else other._operand(input)
    b = other if isinstance(other, Tensor) else input._operand(other)
    try:
        np.broadcast_shapes(cond.shape, a.shape, b.shape)
    except ValueError:
        raise ValueError(f"where: shapes do not broadcast: condition {tuple(cond.shape)}, "
                         f"input {a.shape}, other {b.shape}") from None
    check_same_device((cond, a.data, b.data), "where")
    return S.Where.apply(a, b, cond=cond)


# ============================================================================ reductions


def sum(input, dim=None, keepdim=False, dtype=None) -> Tensor:  # noqa: A001
    """Sum over ``dim`` (int, tuple, or None for all); drops the reduced dims unless keepdim."""
    _tensor_arg(input, "sum")
    if dtype is not None:
        input = input.to(dtype)
    return F.Sum.apply(input, axes=_norm_dims(dim, input.ndim, "sum"), keepdim=keepdim)


def mean(input, dim=None, keepdim=False, dtype=None) -> Tensor:
    """Mean over ``dim`` (int, tuple, or None for all); floating tensors only."""
    _tensor_arg(input, "mean")
    if dtype is not None:
        input = input.to(dtype)
    if input.dtype.kind != "f":
        raise TypeError(f"mean: input dtype must be floating point, got {input.dtype}; "
                        "use .float() first")
    return F.Mean.apply(input, axes=_norm_dims(dim, input.ndim, "mean"), keepdim=keepdim)


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None) -> Tensor:
    """Variance over ``dim``; divides by N - correction (correction=1, i.e. unbiased,
    by default; ``unbiased=False`` means correction=0)."""
    _tensor_arg(input, "var")
    if unbiased is not None and correction is not None:
        raise ValueError("var: give unbiased or correction, not both")
    if correction is None:
        correction = 0 if unbiased is False else 1
    return F.Var.apply(input, axes=_norm_dims(dim, input.ndim, "var"), correction=correction,
                       keepdim=keepdim)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None) -> Tensor:
    """Square root of :func:`var` (same arguments)."""
    return var(input, dim, unbiased, keepdim, correction=correction).sqrt()


_ValuesIndices = collections.namedtuple("ValuesIndices", ["values", "indices"])


def _minmax(input, dim, keepdim, is_min, name):
    _tensor_arg(input, name)
    if isinstance(dim, Tensor):  # max(a, b): the elementwise form
        return (minimum if is_min else maximum)(input, dim)
    if dim is None:
        return F.AMax.apply(input, axes=None, keepdim=False, is_min=is_min)
    axis = _norm_dim(dim, input.ndim, name)
    if input.ndim == 0:
        return _ValuesIndices(input.clone(),
                              Tensor(array_module(input.data).zeros((), np.int64)))
    xp = array_module(input.data)
    if input.data.shape[axis] == 0:
        raise ValueError(f"{name}: cannot reduce dim {dim} of size 0 (shape {input.shape})")
    idx = (xp.argmin if is_min else xp.argmax)(input.data, axis=axis, keepdims=True)
    vals = F.MaxDim.apply(input, idx=idx, axis=axis, keepdim=keepdim)
    return _ValuesIndices(vals, Tensor(idx if keepdim else idx.squeeze(axis)))


def max(input, dim=None, keepdim=False):  # noqa: A001
    """``max(x)``: the largest element (ties share the gradient evenly);
    ``max(x, dim)``: a (values, indices) namedtuple, gradient to the returned index;
    ``max(x, other)``: :func:`maximum`."""
    return _minmax(input, dim, keepdim, False, "max")


def min(input, dim=None, keepdim=False):  # noqa: A001
    """Like :func:`max`, for the smallest element."""
    return _minmax(input, dim, keepdim, True, "min")


def amax(input, dim=None, keepdim=False) -> Tensor:
    """Max over ``dim`` (int or tuple); ties share the gradient evenly."""
    _tensor_arg(input, "amax")
    return F.AMax.apply(input, axes=_norm_dims(dim, input.ndim, "amax"), keepdim=keepdim)


def amin(input, dim=None, keepdim=False) -> Tensor:
    """Min over ``dim`` (int or tuple); ties share the gradient evenly."""
    _tensor_arg(input, "amin")
    return F.AMax.apply(input, axes=_norm_dims(dim, input.ndim, "amin"), keepdim=keepdim,
                        is_min=True)


def argmax(input, dim=None, keepdim=False) -> Tensor:
    """Index of the max (flat index when dim is None), int64, no gradient."""
    _tensor_arg(input, "argmax")
    if dim is None:
        return Tensor(input.data.argmax().astype(np.int64))
    axis = _norm_dim(dim, input.ndim, "argmax")
    return Tensor(input.data.argmax(axis=axis, keepdims=keepdim).astype(np.int64))


def argmin(input, dim=None, keepdim=False) -> Tensor:
    """Index of the min (flat index when dim is None), int64, no gradient."""
    _tensor_arg(input, "argmin")
    if dim is None:
        return Tensor(input.data.argmin().astype(np.int64))
    axis = _norm_dim(dim, input.ndim, "argmin")
    return Tensor(input.data.argmin(axis=axis, keepdims=keepdim).astype(np.int64))


# ============================================================================ shapes


def _shape_args(shape, fn):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for s in shape:
        if isinstance(s, _bool) or not isinstance(s, (_int, np.integer)):
            raise TypeError(f"{fn}: shape must be ints, got {shape!r}")
    return tuple(_int(s) for s in shape)


def reshape(input, *shape) -> Tensor:
    """The same elements in ``shape`` (one entry may be -1); ``x.reshape(2, -1)``
    and ``lg.reshape(x, (2, -1))`` both work."""
    _tensor_arg(input, "reshape")
    shape = _shape_args(shape, "reshape")
    n = input.data.size
    known = 1
    for s in shape:
        known *= s if s != -1 else 1
    bad = builtins.sum(s == -1 for s in shape) > 1 or builtins.any(s < -1 for s in shape)
    if bad or (-1 in shape and (known == 0 or n % known)) or (-1 not in shape and known != n):
        raise ValueError(f"reshape: shape {shape} is invalid for input of shape {input.shape} "
                         f"({n} elements)")
    if shape == input.shape:
        return input
    return S.Reshape.apply(input, shape=shape)


view = reshape


def flatten(input, start_dim=0, end_dim=-1) -> Tensor:
    """Merge dims ``start_dim..end_dim`` into one: (2, 3, 4) -> (24,) by default."""
    _tensor_arg(input, "flatten")
    if input.ndim == 0:
        return reshape(input, 1)
    s = _norm_dim(start_dim, input.ndim, "flatten")
    e = _norm_dim(end_dim, input.ndim, "flatten")
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    sh = input.shape
    return reshape(input, sh[:s] + (_int(np.prod(sh[s:e + 1])),) + sh[e + 1:])


def permute(input, *dims) -> Tensor:
    """Reorder dims: ``x.permute(2, 0, 1)`` of (a, b, c) is (c, a, b)."""
    _tensor_arg(input, "permute")
    dims = _shape_args(dims, "permute")
    perm = tuple(_norm_dim(d, input.ndim, "permute") for d in dims) if input.ndim else ()
    if sorted(perm) != list(range(input.ndim)):
        raise ValueError(f"permute: dims {dims} are not a permutation of the "
                         f"{input.ndim} dims of shape {input.shape}")
    return S.Permute.apply(input, perm=perm)


def transpose(input, dim0, dim1) -> Tensor:
    """Swap two dims."""
    _tensor_arg(input, "transpose")
    if input.ndim == 0:
        return input
    a, b = _norm_dim(dim0, input.ndim, "transpose"), _norm_dim(dim1, input.ndim, "transpose")
    perm = list(range(input.ndim))
    perm[a], perm[b] = b, a
    return S.Permute.apply(input, perm=tuple(perm))


def squeeze(input, dim=None) -> Tensor:
    """Drop size-1 dims (all, or those in ``dim`` — others are left alone, like torch)."""
    _tensor_arg(input, "squeeze")
    axes = _norm_dims(dim, input.ndim, "squeeze")
    shape = tuple(s for i, s in enumerate(input.shape)
                  if not (s == 1 and (axes is None or i in axes)))
    return reshape(input, shape)


def unsqueeze(input, dim) -> Tensor:
    """Insert a size-1 dim at ``dim`` (in [-ndim-1, ndim])."""
    _tensor_arg(input, "unsqueeze")
    d = _norm_dim(dim, input.ndim + 1, "unsqueeze")
    sh = input.shape
    return reshape(input, sh[:d] + (1,) + sh[d:])


def expand(input, *sizes) -> Tensor:
    """Broadcast to ``sizes`` (-1 keeps a dim) without copying."""
    _tensor_arg(input, "expand")
    sizes = _shape_args(sizes, "expand")
    lead = len(sizes) - input.ndim
    if lead < 0:
        raise ValueError(f"expand: {sizes} has fewer dims than shape {input.shape}")
    target = tuple(input.shape[i - lead] if s == -1 and i >= lead else s
                   for i, s in enumerate(sizes))
    try:
        np.broadcast_shapes(input.shape, target)
        ok = np.broadcast_shapes(input.shape, target) == target
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"expand: can't expand shape {input.shape} to {sizes}")
    return S.Expand.apply(input, shape=target)


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


def split(tensor, split_size_or_sections, dim=0):
    """Pieces of ``split_size`` (last may be smaller) or of the listed sizes, along dim."""
    axis = _norm_dim(dim, _tensor_arg(tensor, "split").ndim, "split")
    n = tensor.shape[axis]
    if isinstance(split_size_or_sections, (_int, np.integer)):
        step = _int(split_size_or_sections)
        sizes = [builtins.min(step, n - i) for i in range(0, n, step)] if step > 0 else None
        if sizes is None:
            raise ValueError(f"split: split_size must be positive, got {step}")
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} don't sum to {n} (dim {dim} of shape "
                             f"{tensor.shape})")
    out, start = [], 0
    pre = (slice(None),) * axis
    for s in sizes:
        out.append(tensor[pre + (slice(start, start + s),)])
        start += s
    return tuple(out)


def chunk(input, chunks, dim=0):
    """Split into ``chunks`` nearly equal pieces along dim (torch's sizes)."""
    axis = _norm_dim(dim, _tensor_arg(input, "chunk").ndim, "chunk")
    n = input.shape[axis]
    step = -(-n // chunks) if n else 1
    return split(input, step, axis)


# ============================================================================ methods

for _name in ("exp", "log", "sqrt", "abs", "relu", "sigmoid", "tanh", "softplus", "silu",
              "gelu", "softmax", "log_softmax", "clamp", "clip", "maximum", "minimum", "sum",
              "mean", "max", "min", "amax", "amin", "var", "std", "argmax", "argmin", "reshape",
              "view", "transpose", "permute", "flatten", "squeeze", "unsqueeze", "expand",
              "matmul", "pow", "add", "sub", "mul", "div", "neg", "split", "chunk"):
    setattr(Tensor, _name, globals()[_name])


def _t(self):
    """Transpose of a matrix (a 0-d or 1-D tensor is returned as is)."""
    return self if self.ndim < 2 else transpose(self, 0, 1)


def _T(self):
    """All dims reversed."""
    return self if self.ndim < 2 else S.Permute.apply(self, perm=tuple(range(self.ndim))[::-1])


def _mT(self):
    """Transpose of the last two dims (a batch of matrices)."""
    return transpose(self, -2, -1)


def _masked_fill(self, mask, value):
    """``value`` where ``mask`` is True, else self (gradient flows to the rest)."""
    return where(mask, _weak_scalar_array(value, self.data).item(), self)


def _expand_as(self, other):
    return expand(self, other.shape)


def _view_as(self, other):
    return reshape(self, other.shape)


def _type_as(self, other):
    return self.to(other.dtype)


def _square(self):
    return self * self


def _logical(op):
    def f(self):
        return Tensor(array_module(self.data).asarray(op(self.data)))
    return f


Tensor.t = _t
Tensor.T = property(_T)
Tensor.mT = property(_mT)
Tensor.masked_fill = _masked_fill
Tensor.expand_as = _expand_as
Tensor.view_as = _view_as
Tensor.type_as = _type_as
Tensor.square = _square
Tensor.all = _logical(lambda d: d.all())
Tensor.any = _logical(lambda d: d.any())
