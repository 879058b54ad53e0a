"""Tensor: an n-d array (NumPy on "cpu", CuPy on "cuda") with reverse-mode autograd.

``Tensor.data`` is the raw array (optimizers update it in place), ``.grad`` a
Tensor or None, ``.grad_fn`` the node that made it (None for leaves). Every
method is written in the class body; each differentiable one applies an
autograd Function from ``functions/`` (elementwise, reduce, softmax, matmul,
shape), whose forward and backward work on raw arrays; the engine is
:mod:`loomgrad.autograd`. The function API (``lg.exp(x)``) and the creation
functions live in :mod:`loomgrad.ops`, above this module.

Note: the class defines methods named ``sum``, ``max``, ``min``, ``abs``,
``int``, ``float`` and ``bool``; inside the module those names are still the
builtins (methods are class attributes, not globals).
"""
from __future__ import annotations

import collections

import numpy as np

from . import autograd
from .autograd import (array_module, check_same_device, enable_grad, is_grad_enabled, no_grad,
                       set_grad_enabled)
from .device import _CPU, as_cupy, device, move, parse_device
from .functions import activation as A
from .functions import elementwise as E
from .functions import reduce as R
from .functions import shape as S
from .functions import matmul as MM
from .functions import softmax as SM
from .random import get_generator

_FLOATS = frozenset(np.dtype(t) for t in (np.float16, np.float32, np.float64))
_SUPPORTED = _FLOATS | frozenset(np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64,
                                                       np.uint8, np.bool_))


class DimError(IndexError, ValueError):
    """A dimension out of range: an IndexError like torch's, and a ValueError."""


def _parse_dtype(dtype, arg="dtype"):
    if dtype is None:
        return None
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{arg}: not a dtype: {dtype!r} (use lg.float32, lg.int64, ...)") from None
    if dt not in _SUPPORTED:
        raise TypeError(f"{arg}: unsupported dtype {dt}; supported: float16/32/64, "
                        f"int8/16/32/64, uint8, bool")
    return dt


def _to_array(data, dtype=None, copy=False, default_float=np.float32):
    """An ndarray from ``data``: arrays keep their dtype (copied only if asked),
    Python numbers/lists get torch's defaults (float32, int64, bool)."""
    if isinstance(data, Tensor):
        arr = data.data
    elif isinstance(data, np.ndarray):
        arr = data
    elif hasattr(data, "__cuda_array_interface__"):
        arr = as_cupy(data)
    elif isinstance(data, np.generic):
        arr = np.asarray(data)
    else:
        arr = np.asarray(data)
        if arr.dtype == np.float64 and default_float is not None:
            arr = arr.astype(default_float)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int64, copy=False)
    if arr.dtype not in _SUPPORTED and dtype is None:
        raise TypeError(f"can't make a Tensor from {type(data).__name__} with dtype {arr.dtype}; "
                        f"supported: float16/32/64, int8/16/32/64, uint8, bool")
    if dtype is not None:
        return arr.astype(dtype, copy=copy)
    return arr.copy() if copy else arr


def _norm_dim(d, ndim, fn="dim"):
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
        raise TypeError(f"{fn}: dim must be an int, got {type(d).__name__}")
    lo, hi = -max(ndim, 1), max(ndim, 1) - 1
    if not lo <= d <= hi:
        raise DimError(f"{fn}: dimension out of range (expected to be in range of "
                       f"[{lo}, {hi}], but got {d})")
    return int(d) % max(ndim, 1)


def _norm_dims(dim, ndim, fn="dim"):
    """None (all) or a sorted tuple of distinct non-negative axes."""
    if dim is None:
        return None
    if isinstance(dim, (tuple, list)):
        if len(dim) == 0:
            return None
        axes = tuple(sorted(_norm_dim(d, ndim, fn) for d in dim))
        if len(set(axes)) != len(axes):
            raise ValueError(f"{fn}: dim {tuple(dim)} names a dimension twice")
        return axes if ndim else None
    return (_norm_dim(dim, ndim, fn),) if ndim else None


def _size_args(args, fn, kw=None):
    """Sizes given as ``f(2, 3)``, ``f((2, 3))`` or ``f(size=(2, 3))`` -> tuple of ints."""
    if kw is not None:
        if args:
            raise TypeError(f"{fn}: give sizes either positionally or as size=, not both")
        args = (kw,)
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    for s in args:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"{fn}: sizes must be ints, got {args!r}")
        if s < 0:
            raise ValueError(f"{fn}: negative size in {tuple(args)}")
    return tuple(int(s) for s in args)


def _weak_scalar_array(s, like):
    """A 0-d array for Python scalar ``s`` in an op with array ``like``, typed as
    torch types a "wrapped number": it never widens a float tensor."""
    if not isinstance(s, (int, float, np.generic)) or isinstance(s, complex):
        raise TypeError(f"unsupported operand type {type(s).__name__} for a Tensor op")
    xp = array_module(like)
    k = like.dtype.kind
    if k == "f":
        return xp.asarray(s, dtype=like.dtype)
    if isinstance(s, (float, np.floating)):
        return xp.asarray(s, dtype=np.float32)
    if k == "b" and not isinstance(s, (bool, np.bool_)):
        return xp.asarray(s, dtype=np.int64)
    return xp.asarray(s, dtype=like.dtype)


def _shape_args(shape, fn):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for s in shape:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"{fn}: shape must be ints, got {shape!r}")
    return tuple(int(s) for s in shape)


_ValuesIndices = collections.namedtuple("ValuesIndices", ["values", "indices"])


class Tensor:
    """An n-dimensional array with autograd.

    ``Tensor(data, requires_grad=False)`` wraps NumPy/CuPy arrays without a
    copy (keeping their dtype); other data (lists, numbers) becomes float32
    like ``torch.Tensor``. Prefer :func:`loomgrad.tensor` for torch's dtype
    inference (ints -> int64).
    """

    __slots__ = ("data", "grad", "grad_fn", "_requires_grad", "__weakref__")
    __array_ufunc__ = None  # numpy defers `ndarray op Tensor` to our reflected operators
    __hash__ = object.__hash__  # __eq__ is elementwise; identity hashing like torch

    def __init__(self, data, requires_grad=False):
        if isinstance(data, Tensor):
            data = data.data
        elif isinstance(data, np.generic):
            data = np.asarray(data)
        elif isinstance(data, np.ndarray):
            pass
        elif hasattr(data, "__cuda_array_interface__"):
            data = as_cupy(data)
        else:
            data = _to_array(data, dtype=np.float32)
        self.data = data
        self.grad = None
        self.grad_fn = None
        self._requires_grad = False
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _wrap(cls, data, grad_fn=None):
        """Fast path for op results: no checks, no conversion."""
        t = object.__new__(Tensor)
        t.data = data
        t.grad = None
        t.grad_fn = grad_fn
        t._requires_grad = grad_fn is not None
        return t

    # ---------------------------------------------------------------- autograd state

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        value = bool(value)
        if self.grad_fn is not None:
            if not value:
                raise RuntimeError("you can only change requires_grad flags of leaf tensors; "
                                   "use .detach() to get a tensor without a graph")
            return
        if value and self.data.dtype.kind != "f":
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients, "
                               f"got dtype {self.data.dtype}")
        self._requires_grad = value

    def requires_grad_(self, requires_grad=True) -> "Tensor":
        """Set ``requires_grad`` in place; returns self."""
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def retains_grad(self) -> bool:
        return self.grad_fn is not None and self.grad_fn.retained is not None

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf after backward (a no-op on leaves)."""
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on a Tensor that has requires_grad=False")
        if self.grad_fn is not None:
            autograd.retain(self)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(self)`` after backward has accumulated into this leaf's ``.grad``
        (as torch); returns a handle with ``remove()``. See autograd.py."""
        return autograd.register_post_accumulate_grad_hook(self, hook)

    def backward(self, gradient=None, retain_graph=None, create_graph=False) -> None:
        """Accumulate d(self)/d(leaf) into each leaf's ``.grad``.

        ``gradient`` (shape of self) is required unless self has one element.
        The graph's saved arrays are freed unless ``retain_graph=True``.
        """
        if create_graph:
            raise NotImplementedError("backward(create_graph=True): higher-order gradients "
                                      "are not supported")
        if not self._requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a "
                               "grad_fn (did you create it under no_grad(), or forget "
                               "requires_grad=True on an input?)")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs; "
                                   f"this tensor has shape {self.shape}: pass gradient=")
            g = array_module(self.data).ones_like(self.data)
        else:
            g = gradient.data if isinstance(gradient, Tensor) else \
                array_module(self.data).asarray(gradient)
            if g.shape != self.data.shape:
                raise ValueError(f"backward: gradient has shape {tuple(g.shape)} but the output "
                                 f"has shape {self.shape}")
            autograd.check_same_device((self.data, g), "backward")
        autograd.backward(self, g, retain_graph=bool(retain_graph))

    def detach(self) -> "Tensor":
        """A new leaf sharing this data, cut from the graph."""
        return Tensor._wrap(self.data)

    def detach_(self) -> "Tensor":
        self.grad_fn = None
        self._requires_grad = False
        return self

    # ---------------------------------------------------------------- metadata

    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    def size(self, dim=None):
        """The shape tuple, or the size of dimension ``dim``."""
        if dim is None:
            return self.shape
        return self.data.shape[_norm_dim(dim, self.data.ndim, "size")]

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self) -> device:
        if isinstance(self.data, np.ndarray):
            return _CPU
        return device(f"cuda:{self.data.device.id}")

    @property
    def is_cuda(self) -> bool:
        return not isinstance(self.data, np.ndarray)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return int(self.data.size)

    nelement = numel

    def element_size(self) -> int:
        return self.data.itemsize

    def is_floating_point(self) -> bool:
        return self.data.dtype.kind == "f"

    def is_contiguous(self) -> bool:
        return bool(self.data.flags.c_contiguous)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    # ---------------------------------------------------------------- conversion

    def numpy(self, force=False) -> np.ndarray:
        """The NumPy array itself (no copy). Refused on tensors that require grad
        (use ``.detach().numpy()``), and on CUDA tensors (use ``.cpu()``)."""
        if self._requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        if not isinstance(self.data, np.ndarray):
            if force:
                return self.data.get()
            raise TypeError(f"can't convert {self.device} tensor to numpy; use .cpu() first")
        return self.data

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        if dtype is not None and np.dtype(dtype) != a.dtype:
            return a.astype(dtype)
        return a.copy() if copy else a

    def __dlpack__(self, *args, **kwargs):
        if self._requires_grad:
            raise RuntimeError("Can't export tensors that require gradient, use tensor.detach()")
        return self.data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self.data.__dlpack_device__()

    def item(self):
        """The single element as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item(): a Tensor with {self.data.size} elements (shape "
                             f"{self.shape}) cannot be converted to a Python scalar")
        return self.data.item()

    def tolist(self):
        d = self.data
        return (d if isinstance(d, np.ndarray) else d.get()).tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.data.dtype.kind not in "iub" or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted "
                            "to an index")
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self.data.size} elements "
                               f"(shape {self.shape}) is ambiguous")
        return bool(self.data.item())

    def to(self, *args, **kwargs) -> "Tensor":
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(other)``;
        differentiable; returns self when nothing changes."""
        dev = kwargs.pop("device", None)
        dtype = kwargs.pop("dtype", None)
        copy = kwargs.pop("copy", False)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise TypeError(f"to(): unexpected arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                dev, dtype = a.device, a.dtype
            elif isinstance(a, str):
                dev = a
            else:
                dtype = a
        out = self
        if dev is not None:
            dev = parse_device(dev)
            if dev != self.device:
                out = _ToDevice.apply(out, target=dev)
        if dtype is not None:
            dt = _parse_dtype(dtype)
            if dt != out.data.dtype:
                out = S.Copy.apply(out, dtype=dt)
        if copy and out is self:
            out = self.clone()
        return out

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self, device=None) -> "Tensor":
        """A copy on the GPU (self if already there); ``device``: an index or 'cuda:N'."""
        return self.to("cuda" if device is None else
                       device if isinstance(device, str) else f"cuda:{device}")

    def float(self) -> "Tensor":
        return self.to(np.float32)

    def double(self) -> "Tensor":
        return self.to(np.float64)

    def half(self) -> "Tensor":
        return self.to(np.float16)

    def long(self) -> "Tensor":
        return self.to(np.int64)

    def int(self) -> "Tensor":
        return self.to(np.int32)

    def bool(self) -> "Tensor":
        return self.to(np.bool_)

    def type(self, dtype=None):
        """The dtype's name with no argument, else ``to(dtype)``."""
        return str(self.data.dtype) if dtype is None else self.to(dtype)

    def clone(self) -> "Tensor":
        """A copy of the data; gradients flow back to self."""
        return S.Copy.apply(self)

    def contiguous(self) -> "Tensor":
        return self if self.data.flags.c_contiguous else S.Contiguous.apply(self)

    # ---------------------------------------------------------------- repr

    def __repr__(self) -> str:
        d = self.data if isinstance(self.data, np.ndarray) else self.data.get()
        extra = []
        if d.dtype not in (np.float32, np.int64, np.bool_):
            extra.append(f"dtype={d.dtype}")
        if self.is_cuda:
            extra.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            extra.append(f"grad_fn=<{self.grad_fn.name()}>")
        elif self._requires_grad:
            extra.append("requires_grad=True")
        if d.size == 0:
            body = f"[], size={d.shape}" if d.ndim > 1 else "[]"
        else:
            opts = dict(precision=4, separator=", ", prefix="tensor(", threshold=1000,
                        edgeitems=3, max_line_width=80)
            if d.dtype.kind == "f":
                finite = d[np.isfinite(d)]
                integral = finite.size == 0 or bool(np.all(finite == np.round(finite)))
                opts["floatmode"] = "maxprec" if integral else "fixed"
            body = np.array2string(d, **opts)
        return "tensor(" + ", ".join([body] + extra) + ")"

    __str__ = __repr__

    # ---------------------------------------------------------------- pickling / copying

    def __reduce_ex__(self, protocol):
        if self.grad_fn is not None:
            raise RuntimeError("only leaf tensors can be pickled; call .detach() first")
        return (_rebuild, (self.data, self._requires_grad))

    def __deepcopy__(self, memo):
        if self.grad_fn is not None:
            raise RuntimeError("only leaf tensors (created by the user) support deepcopy; "
                               "call .detach() first")
        if id(self) in memo:
            return memo[id(self)]
        out = Tensor(self.data.copy(), requires_grad=self._requires_grad)
        if self.grad is not None:
            out.grad = Tensor(self.grad.data.copy())
        memo[id(self)] = out
        return out

    # ---------------------------------------------------------------- in place (no autograd)

    def _check_inplace(self, fn):
        if self._requires_grad and autograd._mode.enabled:
            raise RuntimeError(f"{fn}: a tensor that requires grad can't be modified in place "
                               f"while recording a graph (wrap it in lg.no_grad(), or update "
                               f".data)")

    def __setitem__(self, index, value):
        self._check_inplace("__setitem__")
        self.data[_convert_index(index)] = value.data if isinstance(value, Tensor) else value

    def zero_(self) -> "Tensor":
        self._check_inplace("zero_")
        self.data[...] = 0
        return self

    def fill_(self, value) -> "Tensor":
        self._check_inplace("fill_")
        self.data[...] = value
        return self

    def copy_(self, src) -> "Tensor":
        """Copy ``src`` (a Tensor or array on any device, broadcast) into self."""
        self._check_inplace("copy_")
        src = src.data if isinstance(src, Tensor) else src
        if isinstance(self.data, np.ndarray) is not isinstance(src, np.ndarray) \
                and (isinstance(src, np.ndarray) or hasattr(src, "__cuda_array_interface__")):
            src = move(src, self.device)  # a cross-device copy, as torch's copy_
        self.data[...] = src
        return self

    def add_(self, other, alpha=1) -> "Tensor":
        self._check_inplace("add_")
        o = other.data if isinstance(other, Tensor) else other
        self.data += o * alpha if alpha != 1 else o
        return self

    def sub_(self, other, alpha=1) -> "Tensor":
        return self.add_(other, alpha=-alpha)

    def mul_(self, other) -> "Tensor":
        self._check_inplace("mul_")
        self.data *= other.data if isinstance(other, Tensor) else other
        return self

    def div_(self, other) -> "Tensor":
        self._check_inplace("div_")
        self.data /= other.data if isinstance(other, Tensor) else other
        return self

    def clamp_(self, min=None, max=None) -> "Tensor":
        self._check_inplace("clamp_")
        xp = array_module(self.data)
        xp.clip(self.data, min, max, out=self.data)
        return self

    def uniform_(self, a=0.0, b=1.0) -> "Tensor":
        self._check_inplace("uniform_")
        self.data[...] = _xp_like(get_generator().uniform(a, b, self.shape), self.data)
        return self

    def normal_(self, mean=0.0, std=1.0) -> "Tensor":
        self._check_inplace("normal_")
        self.data[...] = _xp_like(get_generator().normal(mean, std, self.shape), self.data)
        return self

    # ---------------------------------------------------------------- operators

    def _operand(self, other):
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (int, float, np.generic)):
            return Tensor._wrap(_weak_scalar_array(other, self.data))
        if isinstance(other, np.ndarray) or hasattr(other, "__cuda_array_interface__"):
            return Tensor._wrap(other)
        if isinstance(other, (list, tuple)):
            return Tensor._wrap(_to_array(other))
        raise TypeError(f"unsupported operand type for a Tensor op: {type(other).__name__}")

    def _binary(self, other, fn, reflected=False):
        a, o = self, self._operand(other)
        ka, ko = a.data.dtype.kind, o.data.dtype.kind
        # torch's category rule: int/bool op float takes the float's dtype (numpy would widen
        # int64 op float32 to float64)
        if ka != ko:
            if ko == "f":
                a = Tensor._wrap(a.data.astype(o.data.dtype))
            elif ka == "f":
                o = Tensor._wrap(o.data.astype(a.data.dtype))
        return fn.apply(o, a) if reflected else fn.apply(a, o)

    def __add__(self, other):
        return self._binary(other, E.Add)

    def __radd__(self, other):
        return self._binary(other, E.Add, True)

    def __sub__(self, other):
        return self._binary(other, E.Sub)

    def __rsub__(self, other):
        return self._binary(other, E.Sub, True)

    def __mul__(self, other):
        return self._binary(other, E.Mul)

    def __rmul__(self, other):
        return self._binary(other, E.Mul, True)

    def __truediv__(self, other):
        return self._binary(other, E.Div)

    def __rtruediv__(self, other):
        return self._binary(other, E.Div, True)

    def __neg__(self):
        return E.Neg.apply(self)

    def __pos__(self):
        return self

    def __pow__(self, other):
        if isinstance(other, (int, float, np.generic)) and not isinstance(other, bool):
            a = self
            if a.data.dtype.kind != "f" and (isinstance(other, (float, np.floating)) or other < 0):
                a = Tensor._wrap(a.data.astype(np.float32))
            return E.PowScalar.apply(a, p=other)
        return self._binary(other, E.Pow)

    def __rpow__(self, other):
        return self._binary(other, E.Pow, True)

    def __matmul__(self, other):
        return MM.Matmul.apply(self, self._operand(other))

    def __rmatmul__(self, other):
        return MM.Matmul.apply(self._operand(other), self)

    def _nograd(self, other, op):
        o = other.data if isinstance(other, Tensor) else \
            self._operand(other).data
        autograd.check_same_device((self.data, o), "comparison")
        return Tensor._wrap(op(self.data, o))

    # comparisons, logic and integer maths: results carry no gradient
    def __lt__(self, o): return self._nograd(o, lambda a, b: a < b)  # noqa: E704
    def __le__(self, o): return self._nograd(o, lambda a, b: a <= b)  # noqa: E704
    def __gt__(self, o): return self._nograd(o, lambda a, b: a > b)  # noqa: E704
    def __ge__(self, o): return self._nograd(o, lambda a, b: a >= b)  # noqa: E704
    def __eq__(self, o): return self._nograd(o, lambda a, b: a == b)  # noqa: E704
    def __ne__(self, o): return self._nograd(o, lambda a, b: a != b)  # noqa: E704
    def __and__(self, o): return self._nograd(o, lambda a, b: a & b)  # noqa: E704
    def __or__(self, o): return self._nograd(o, lambda a, b: a | b)  # noqa: E704
    def __xor__(self, o): return self._nograd(o, lambda a, b: a ^ b)  # noqa: E704
    def __floordiv__(self, o): return self._nograd(o, lambda a, b: a // b)  # noqa: E704
    def __mod__(self, o): return self._nograd(o, lambda a, b: a % b)  # noqa: E704
    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __invert__(self):
        return Tensor._wrap(~self.data)

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    def __getitem__(self, index):
        return S.Getitem.apply(self, index=_convert_index(index))

    # ---------------------------------------------------------------- elementwise maths


    def add(self, other, alpha=1) -> Tensor:
        """``self + alpha * other`` (broadcasting)."""
        return self + (other * alpha if alpha != 1 else other)


    def sub(self, other, alpha=1) -> Tensor:
        """``self - alpha * other`` (broadcasting)."""
        return self - (other * alpha if alpha != 1 else other)


    def mul(self, other) -> Tensor:
        """``self * other`` (broadcasting)."""
        return self * other


    def div(self, other) -> Tensor:
        """``self / other`` (broadcasting; int / int gives float32)."""
        return self / other


    def neg(self) -> Tensor:
        """``-self``."""
        return -self


    def matmul(self, other) -> Tensor:
        """Matrix product with numpy/torch rules: (.., n, k) @ (.., k, m) -> (.., n, m),
        batch dims broadcast, a 1-D operand is a vector. Runs on our GEMM."""
        return self @ other


    def exp(self) -> Tensor:
        """``e ** x``, elementwise."""
        return E.Exp.apply(self)


    def log(self) -> Tensor:
        """Natural logarithm, elementwise."""
        return E.Log.apply(self)


    def sqrt(self) -> Tensor:
        """Square root, elementwise."""
        return E.Sqrt.apply(self)


    def abs(self) -> Tensor:
        """Absolute value, elementwise (gradient 0 at 0, like torch)."""
        return E.Abs.apply(self)


    def relu(self) -> Tensor:
        """``max(x, 0)``, elementwise."""
        return A.Relu.apply(self)


    def sigmoid(self) -> Tensor:
        """``1 / (1 + e**-x)``, elementwise, without overflow."""
        return A.Sigmoid.apply(self)


    def tanh(self) -> Tensor:
        """Hyperbolic tangent, elementwise."""
        return A.Tanh.apply(self)


    def silu(self) -> Tensor:
        """``x * sigmoid(x)``, elementwise."""
        return A.Silu.apply(self)


    def softplus(self, beta=1.0, threshold=20.0) -> Tensor:
        """``log(1 + exp(beta * x)) / beta``, and ``x`` where ``beta * x > threshold``."""
        return A.Softplus.apply(self, beta=beta, threshold=threshold)


    def gelu(self, approximate="none") -> Tensor:
        """GELU, ``x * Phi(x)`` (exact, erf) or ``approximate='tanh'``. Same shape out."""
        if approximate not in ("none", "tanh"):
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        return A.Gelu.apply(self, approximate=approximate)


    def softmax(self, dim=-1) -> Tensor:
        """``exp(x) / sum(exp(x))`` along ``dim`` (max-shifted: no overflow). Same shape out."""
        return SM.Softmax.apply(self, axis=_norm_dim(dim, self.ndim, "softmax"))


    def log_softmax(self, dim=-1) -> Tensor:
        """``x - logsumexp(x)`` along ``dim``, computed stably. Same shape out."""
        return SM.LogSoftmax.apply(self, axis=_norm_dim(dim, self.ndim, "log_softmax"))


    def clamp(self, min=None, max=None) -> Tensor:  # noqa: A002
        """Clip to [min, max] (either may be None, or a Tensor); gradient 1 inside, bounds included."""
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            out = self if min is None else self.maximum(min)
            return out if max is None else out.minimum(max)
        return E.Clamp.apply(self, lo=min, hi=max)




    def maximum(self, other) -> Tensor:
        """Elementwise max with broadcasting; on ties each side gets half the gradient."""
        return E.Maximum.apply(self, self._operand(other))


    def minimum(self, other) -> Tensor:
        """Elementwise min with broadcasting; on ties each side gets half the gradient."""
        return E.Minimum.apply(self, self._operand(other))


    # ---------------------------------------------------------------- reductions


    def sum(self, dim=None, keepdim=False, dtype=None) -> Tensor:  # noqa: A001
        """Sum over ``dim`` (int, tuple, or None for all); drops the reduced dims unless keepdim."""
        if dtype is not None:
            self = self.to(dtype)
        return R.Sum.apply(self, axes=_norm_dims(dim, self.ndim, "sum"), keepdim=keepdim)


    def mean(self, dim=None, keepdim=False, dtype=None) -> Tensor:
        """Mean over ``dim`` (int, tuple, or None for all); floating tensors only."""
        if dtype is not None:
            self = self.to(dtype)
        if self.dtype.kind != "f":
            raise TypeError(f"mean: self dtype must be floating point, got {self.dtype}; "
                            "use .float() first")
        return R.Mean.apply(self, axes=_norm_dims(dim, self.ndim, "mean"), keepdim=keepdim)


    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None) -> Tensor:
        """Variance over ``dim``; divides by N - correction (correction=1, i.e. unbiased,
        by default; ``unbiased=False`` means correction=0)."""
        if unbiased is not None and correction is not None:
            raise ValueError("var: give unbiased or correction, not both")
        if correction is None:
            correction = 0 if unbiased is False else 1
        return R.Var.apply(self, axes=_norm_dims(dim, self.ndim, "var"), correction=correction,
                           keepdim=keepdim)


    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None) -> Tensor:
        """Square root of :func:`var` (same arguments)."""
        return self.var(dim, unbiased, keepdim, correction=correction).sqrt()



    def _minmax(self, dim, keepdim, is_min, name):
        if isinstance(dim, Tensor):  # max(a, b): the elementwise form
            return (self.minimum if is_min else self.maximum)(dim)
        if dim is None:
            return R.AMax.apply(self, axes=None, keepdim=False, is_min=is_min)
        axis = _norm_dim(dim, self.ndim, name)
        if self.ndim == 0:
            return _ValuesIndices(self.clone(),
                                  Tensor(array_module(self.data).zeros((), np.int64)))
        xp = array_module(self.data)
        if self.data.shape[axis] == 0:
            raise ValueError(f"{name}: cannot reduce dim {dim} of size 0 (shape {self.shape})")
        idx = (xp.argmin if is_min else xp.argmax)(self.data, axis=axis, keepdims=True)
        vals = R.MaxDim.apply(self, idx=idx, axis=axis, keepdim=keepdim)
        return _ValuesIndices(vals, Tensor(idx if keepdim else idx.squeeze(axis)))


    def max(self, dim=None, keepdim=False):  # noqa: A001
        """``max(x)``: the largest element (ties share the gradient evenly);
        ``max(x, dim)``: a (values, indices) namedtuple, gradient to the returned index;
        ``max(x, other)``: :func:`maximum`."""
        return self._minmax(dim, keepdim, False, "max")


    def min(self, dim=None, keepdim=False):  # noqa: A001
        """Like :func:`max`, for the smallest element."""
        return self._minmax(dim, keepdim, True, "min")


    def amax(self, dim=None, keepdim=False) -> Tensor:
        """Max over ``dim`` (int or tuple); ties share the gradient evenly."""
        return R.AMax.apply(self, axes=_norm_dims(dim, self.ndim, "amax"), keepdim=keepdim)


    def amin(self, dim=None, keepdim=False) -> Tensor:
        """Min over ``dim`` (int or tuple); ties share the gradient evenly."""
        return R.AMax.apply(self, axes=_norm_dims(dim, self.ndim, "amin"), keepdim=keepdim,
                            is_min=True)


    def argmax(self, dim=None, keepdim=False) -> Tensor:
        """Index of the max (flat index when dim is None), int64, no gradient."""
        if dim is None:
            return Tensor(self.data.argmax().astype(np.int64))
        axis = _norm_dim(dim, self.ndim, "argmax")
        return Tensor(self.data.argmax(axis=axis, keepdims=keepdim).astype(np.int64))


    def argmin(self, dim=None, keepdim=False) -> Tensor:
        """Index of the min (flat index when dim is None), int64, no gradient."""
        if dim is None:
            return Tensor(self.data.argmin().astype(np.int64))
        axis = _norm_dim(dim, self.ndim, "argmin")
        return Tensor(self.data.argmin(axis=axis, keepdims=keepdim).astype(np.int64))


    # ---------------------------------------------------------------- shapes


    def reshape(self, *shape) -> Tensor:
        """The same elements in ``shape`` (one entry may be -1); ``x.reshape(2, -1)``
        and ``lg.reshape(x, (2, -1))`` both work."""
        shape = _shape_args(shape, "reshape")
        n = self.data.size
        known = 1
        for s in shape:
            known *= s if s != -1 else 1
        bad = sum(s == -1 for s in shape) > 1 or any(s < -1 for s in shape)
        if bad or (-1 in shape and (known == 0 or n % known)) or (-1 not in shape and known != n):
            raise ValueError(f"reshape: shape {shape} is invalid for self of shape {self.shape} "
                             f"({n} elements)")
        if shape == self.shape:
            return self
        return S.Reshape.apply(self, shape=shape)




    def flatten(self, start_dim=0, end_dim=-1) -> Tensor:
        """Merge dims ``start_dim..end_dim`` into one: (2, 3, 4) -> (24,) by default."""
        if self.ndim == 0:
            return self.reshape(1)
        s = _norm_dim(start_dim, self.ndim, "flatten")
        e = _norm_dim(end_dim, self.ndim, "flatten")
        if s > e:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        sh = self.shape
        return self.reshape(sh[:s] + (int(np.prod(sh[s:e + 1])),) + sh[e + 1:])


    def permute(self, *dims) -> Tensor:
        """Reorder dims: ``x.permute(2, 0, 1)`` of (a, b, c) is (c, a, b)."""
        dims = _shape_args(dims, "permute")
        perm = tuple(_norm_dim(d, self.ndim, "permute") for d in dims) if self.ndim else ()
        if sorted(perm) != list(range(self.ndim)):
            raise ValueError(f"permute: dims {dims} are not a permutation of the "
                             f"{self.ndim} dims of shape {self.shape}")
        return S.Permute.apply(self, perm=perm)


    def transpose(self, dim0, dim1) -> Tensor:
        """Swap two dims."""
        if self.ndim == 0:
            return self
        a, b = _norm_dim(dim0, self.ndim, "transpose"), _norm_dim(dim1, self.ndim, "transpose")
        perm = list(range(self.ndim))
        perm[a], perm[b] = b, a
        return S.Permute.apply(self, perm=tuple(perm))


    def squeeze(self, dim=None) -> Tensor:
        """Drop size-1 dims (all, or those in ``dim`` — others are left alone, like torch)."""
        axes = _norm_dims(dim, self.ndim, "squeeze")
        shape = tuple(s for i, s in enumerate(self.shape)
                      if not (s == 1 and (axes is None or i in axes)))
        return self.reshape(shape)


    def unsqueeze(self, dim) -> Tensor:
        """Insert a size-1 dim at ``dim`` (in [-ndim-1, ndim])."""
        d = _norm_dim(dim, self.ndim + 1, "unsqueeze")
        sh = self.shape
        return self.reshape(sh[:d] + (1,) + sh[d:])


    def expand(self, *sizes) -> Tensor:
        """Broadcast to ``sizes`` (-1 keeps a dim) without copying."""
        sizes = _shape_args(sizes, "expand")
        lead = len(sizes) - self.ndim
        if lead < 0:
            raise ValueError(f"expand: {sizes} has fewer dims than shape {self.shape}")
        target = tuple(self.shape[i - lead] if s == -1 and i >= lead else s
                       for i, s in enumerate(sizes))
        try:
            np.broadcast_shapes(self.shape, target)
            ok = np.broadcast_shapes(self.shape, target) == target
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"expand: can't expand shape {self.shape} to {sizes}")
        return S.Expand.apply(self, shape=target)


    def split(self, split_size_or_sections, dim=0):
        """Pieces of ``split_size`` (last may be smaller) or of the listed sizes, along dim."""
        axis = _norm_dim(dim, self.ndim, "split")
        n = self.shape[axis]
        if isinstance(split_size_or_sections, (int, np.integer)):
            step = int(split_size_or_sections)
            sizes = [min(step, n - i) for i in range(0, n, step)] if step > 0 else None
            if sizes is None:
                raise ValueError(f"split: split_size must be positive, got {step}")
        else:
            sizes = list(split_size_or_sections)
            if sum(sizes) != n:
                raise ValueError(f"split: sizes {sizes} don't sum to {n} (dim {dim} of shape "
                                 f"{self.shape})")
        out, start = [], 0
        pre = (slice(None),) * axis
        for s in sizes:
            out.append(self[pre + (slice(start, start + s),)])
            start += s
        return tuple(out)


    def chunk(self, chunks, dim=0):
        """Split into ``chunks`` nearly equal pieces along dim (torch's sizes)."""
        axis = _norm_dim(dim, self.ndim, "chunk")
        n = self.shape[axis]
        step = -(-n // chunks) if n else 1
        return self.split(step, axis)

    clip = clamp
    view = reshape

    def pow(self, exponent) -> Tensor:
        """``self ** exponent`` (a number or a Tensor, broadcasting)."""
        return self ** exponent

    def where(self, condition, other) -> Tensor:
        """``self`` where ``condition`` else ``other`` (torch's ``x.where(cond, y)``)."""
        return where(condition, self, other)

    def t(self) -> Tensor:
        """Transpose of a matrix (a 0-d or 1-D tensor is returned as is)."""
        return self if self.ndim < 2 else self.transpose(0, 1)

    @property
    def T(self) -> Tensor:
        """All dims reversed."""
        return self if self.ndim < 2 else S.Permute.apply(self, perm=tuple(range(self.ndim))[::-1])

    @property
    def mT(self) -> Tensor:
        """Transpose of the last two dims (a batch of matrices)."""
        return self.transpose(-2, -1)

    def masked_fill(self, mask, value) -> Tensor:
        """``value`` where ``mask`` is True, else self (gradient flows to the rest)."""
        return where(mask, _weak_scalar_array(value, self.data).item(), self)

    def expand_as(self, other) -> Tensor:
        """:meth:`expand` to ``other``'s shape."""
        return self.expand(other.shape)

    def view_as(self, other) -> Tensor:
        """:meth:`reshape` to ``other``'s shape."""
        return self.reshape(other.shape)

    def type_as(self, other) -> Tensor:
        """This tensor in ``other``'s dtype."""
        return self.to(other.dtype)

    def square(self) -> Tensor:
        """``self * self``."""
        return self * self

    def all(self) -> Tensor:
        """True if every element is nonzero (a 0-d bool tensor, no gradient)."""
        return Tensor(array_module(self.data).asarray(self.data.all()))

    def any(self) -> Tensor:
        """True if some element is nonzero (a 0-d bool tensor, no gradient)."""
        return Tensor(array_module(self.data).asarray(self.data.any()))


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


def _rebuild(data, requires_grad):
    return Tensor(data, requires_grad=requires_grad)


def _xp_like(arr, like):
    return arr if isinstance(like, np.ndarray) else array_module(like).asarray(arr)


def _convert_index(index):
    """Tensors and lists inside an index become arrays (int arrays or bool masks)."""
    if isinstance(index, (int, slice)) or index is None or index is Ellipsis:
        return index
    if isinstance(index, tuple):
        return tuple(_convert_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return np.asarray(index)
    return index


class _ToDevice(autograd.Function):
    """A copy to another device; the gradient is copied back to the source's."""

    def forward(self, a, target):
        self.back = device(autograd.device_name(a))
        return move(a, target)

    def backward(self, g):
        return (move(g, self.back),)


autograd._Tensor = Tensor  # the engine and Function.apply need the class without a cycle


__all__ = ["Tensor", "DimError", "device", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled", "where"]
