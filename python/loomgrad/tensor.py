"""Tensor: an n-d array (NumPy on "cpu", CuPy on "cuda") with reverse-mode autograd.

``Tensor.array`` is the raw array (optimizers update it in place), ``Tensor.data``
the same memory as a detached Tensor (torch's ``.data``), ``.grad`` a Tensor or None, ``.grad_fn`` the node that made it (None for leaves). Every
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
from .multiprocessing import is_shared as _is_shared_array
from .multiprocessing import shared_array
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
        arr = data.array
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


def _is_size(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _legacy_sizes(args, fn):
    """torch's legacy ``Tensor(*sizes)``: an array of zeros (torch leaves it
    uninitialised) of that shape, float32; anything but ints is refused."""
    if not all(_is_size(a) for a in args):
        raise TypeError(f"{fn}(*sizes): expected ints for the sizes or one data argument "
                        f"(a list, array or Tensor), got {args!r}")
    return np.zeros(_size_args(args, fn) if args else (0,), np.float32)


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

    __slots__ = ("array", "grad", "grad_fn", "_requires_grad", "_vbox", "__weakref__")
    __array_ufunc__ = None  # numpy defers `ndarray op Tensor` to our reflected operators
    __hash__ = object.__hash__  # __eq__ is elementwise; identity hashing like torch

    def __init__(self, *args, requires_grad=False):
        if len(args) == 1 and (isinstance(args[0], np.generic) or not _is_size(args[0])):
            data = args[0]  # a NumPy scalar is data: op results come wrapped that way
        else:  # torch's legacy Tensor(*sizes): Tensor(), Tensor(3, 4), Tensor(5)
            data = _legacy_sizes(args, "Tensor")
        if isinstance(data, Tensor):
            data = data.array
        elif isinstance(data, np.generic):
            data = np.asarray(data)
        elif isinstance(data, np.ndarray):
            pass
        elif hasattr(data, "__cuda_array_interface__"):
            data = as_cupy(data)
        elif isinstance(data, float):
            raise TypeError(f"Tensor({data!r}): a single float is neither data nor a size; "
                            f"use lg.tensor({data!r}) for a 0-d tensor (torch refuses it too)")
        else:
            data = _to_array(data, dtype=np.float32)
        self.array = data
        self.grad = None
        self.grad_fn = None
        self._requires_grad = False
        self._vbox = None
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _wrap(cls, data, grad_fn=None):
        """Fast path for op results: no checks, no conversion."""
        t = object.__new__(Tensor)
        t.array = data
        t.grad = None
        t.grad_fn = grad_fn
        t._requires_grad = grad_fn is not None
        t._vbox = None
        return t

    # ---------------------------------------------------------------- data (torch's .data)

    @property
    def data(self) -> "Tensor":
        """This tensor's values as a new Tensor that shares its memory, detached (no
        grad, no graph) and with its own version counter, as torch's ``.data``: in-place
        updates through it (``p.data.add_(g, alpha=-lr)``) change self and autograd does
        not see them (``detach()`` shares the counter, so there it does). ``p.data = t``
        makes self use ``t``'s memory. The raw NumPy/CuPy array is ``.array``."""
        return Tensor._wrap(self.array)

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"data: expected a Tensor, got {type(value).__name__} (assign a "
                            f"raw array to .array)")
        self.array = value.array

    # ---------------------------------------------------------------- autograd state

    @property
    def requires_grad(self) -> bool:
        """Whether autograd records operations on this Tensor (settable on leaves)."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        value = bool(value)
        if self.grad_fn is not None:
            if not value:
                raise RuntimeError("you can only change requires_grad flags of leaf tensors; "
                                   "use .detach() to get a tensor without a graph")
            return
        if value and self.array.dtype.kind != "f":
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients, "
                               f"got dtype {self.array.dtype}")
        self._requires_grad = value

    def requires_grad_(self, requires_grad=True) -> "Tensor":
        """Set ``requires_grad`` in place; returns self."""
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        """True for a Tensor no recorded operation made (parameters, inputs): ``.grad`` is
        kept only on leaves unless :meth:`retain_grad` was called."""
        return self.grad_fn is None

    @property
    def retains_grad(self) -> bool:
        """Whether this non-leaf keeps its ``.grad`` after backward (:meth:`retain_grad`)."""
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
            if self.array.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs; "
                                   f"this tensor has shape {self.shape}: pass gradient=")
            g = array_module(self.array).ones_like(self.array)
        else:
            g = gradient.array if isinstance(gradient, Tensor) else \
                array_module(self.array).asarray(gradient)
            if g.shape != self.array.shape:
                raise ValueError(f"backward: gradient has shape {tuple(g.shape)} but the output "
                                 f"has shape {self.shape}")
            autograd.check_same_device((self.array, g), "backward")
        autograd.backward(self, g, retain_graph=bool(retain_graph))

    def detach(self) -> "Tensor":
        """A new leaf sharing this data and its version counter, cut from the graph."""
        t = Tensor._wrap(self.array)
        t._vbox = self._version_box()
        return t

    def detach_(self) -> "Tensor":
        """Detach this Tensor from the graph in place (no grad_fn, requires_grad False);
        returns self."""
        self.grad_fn = None
        self._requires_grad = False
        return self

    # ---------------------------------------------------------------- metadata

    @property
    def shape(self) -> tuple:
        """The size of each dimension, a tuple (torch's ``torch.Size``)."""
        return tuple(self.array.shape)

    def size(self, dim=None):
        """The shape tuple, or the size of dimension ``dim``."""
        if dim is None:
            return self.shape
        return self.array.shape[_norm_dim(dim, self.array.ndim, "size")]

    @property
    def dtype(self):
        """The element type, a NumPy dtype (``lg.float32`` is ``numpy.float32``)."""
        return self.array.dtype

    @property
    def device(self) -> device:
        """Where the data lives: an ``lg.device``, ``cpu`` or ``cuda:N``."""
        if isinstance(self.array, np.ndarray):
            return _CPU
        return device(f"cuda:{self.array.device.id}")

    @property
    def is_cuda(self) -> bool:
        """True when the data is on a GPU."""
        return not isinstance(self.array, np.ndarray)

    @property
    def ndim(self) -> int:
        """The number of dimensions (0 for a scalar)."""
        return self.array.ndim

    def dim(self) -> int:
        """The number of dimensions (0 for a scalar); same as :attr:`ndim`."""
        return self.array.ndim

    def numel(self) -> int:
        """The number of elements (the product of the shape); alias ``nelement``."""
        return int(self.array.size)

    nelement = numel

    def element_size(self) -> int:
        """Bytes per element (4 for float32)."""
        return self.array.itemsize

    def is_floating_point(self) -> bool:
        """True for a floating-point dtype (float16, float32, float64)."""
        return self.array.dtype.kind == "f"

    def is_contiguous(self) -> bool:
        """True when the elements are laid out in C (row-major) order without gaps."""
        return bool(self.array.flags.c_contiguous)

    def __len__(self) -> int:
        if self.array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    def __iter__(self):
        if self.array.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.array.shape[0]))

    # ---------------------------------------------------------------- conversion

    def numpy(self, force=False) -> np.ndarray:
        """The NumPy array itself (no copy). Refused on tensors that require grad
        (use ``.detach().numpy()``), and on CUDA tensors (use ``.cpu()``)."""
        if self._requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        if not isinstance(self.array, np.ndarray):
            if force:
                return self.array.get()
            raise TypeError(f"can't convert {self.device} tensor to numpy; use .cpu() first")
        return self.array

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        if dtype is not None and np.dtype(dtype) != a.dtype:
            return a.astype(dtype)
        return a.copy() if copy else a

    def __dlpack__(self, *args, **kwargs):
        if self._requires_grad:
            raise RuntimeError("Can't export tensors that require gradient, use tensor.detach()")
        return self.array.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self.array.__dlpack_device__()

    def item(self):
        """The single element as a Python number."""
        if self.array.size != 1:
            raise ValueError(f"item(): a Tensor with {self.array.size} elements (shape "
                             f"{self.shape}) cannot be converted to a Python scalar")
        return self.array.item()

    def tolist(self):
        """The values as (nested) Python lists of numbers, copied to the host; a Python
        number for a 0-d Tensor."""
        d = self.array
        return (d if isinstance(d, np.ndarray) else d.get()).tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.array.dtype.kind not in "iub" or self.array.size != 1:
            raise TypeError("only integer tensors of a single element can be converted "
                            "to an index")
        return int(self.item())

    def __bool__(self):
        if self.array.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self.array.size} elements "
                               f"(shape {self.shape}) is ambiguous")
        return bool(self.array.item())

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
            if dt != out.array.dtype:
                out = S.Copy.apply(out, dtype=dt)
        if copy and out is self:
            out = self.clone()
        return out

    def share_memory_(self) -> "Tensor":
        """Move the array (and ``.grad``'s) into shared memory in place, for processes
        forked afterwards (Hogwild training; see :mod:`loomgrad.multiprocessing`). A no-op
        when already shared; CUDA tensors are left alone (as torch)."""
        for t in (self, self.grad):
            if t is not None and isinstance(t.array, np.ndarray) \
                    and not _is_shared_array(t.array):
                shared = shared_array(t.array.shape, t.array.dtype)
                shared[...] = t.array
                t.array = shared
        return self

    def is_shared(self) -> bool:
        """True when the array lives in shared memory (see :meth:`share_memory_`)."""
        return not isinstance(self.array, np.ndarray) or _is_shared_array(self.array)

    def cpu(self) -> "Tensor":
        """A copy in host memory (self if already there)."""
        return self.to("cpu")

    def cuda(self, device=None) -> "Tensor":
        """A copy on the GPU (self if already there); ``device``: an index or 'cuda:N'."""
        return self.to("cuda" if device is None else
                       device if isinstance(device, str) else f"cuda:{device}")

    def float(self) -> "Tensor":
        """A float32 copy (self if already float32), recorded by autograd like :meth:`to`."""
        return self.to(np.float32)

    def double(self) -> "Tensor":
        """A float64 copy (self if already float64), recorded by autograd like :meth:`to`."""
        return self.to(np.float64)

    def half(self) -> "Tensor":
        """A float16 copy (self if already float16), recorded by autograd like :meth:`to`."""
        return self.to(np.float16)

    def long(self) -> "Tensor":
        """An int64 copy (self if already int64)."""
        return self.to(np.int64)

    def int(self) -> "Tensor":
        """An int32 copy (self if already int32)."""
        return self.to(np.int32)

    def bool(self) -> "Tensor":
        """A bool copy (self if already bool): True where the value is nonzero."""
        return self.to(np.bool_)

    def type(self, dtype=None):
        """The dtype's name with no argument, else ``to(dtype)``."""
        return str(self.array.dtype) if dtype is None else self.to(dtype)

    def clone(self) -> "Tensor":
        """A copy of the data; gradients flow back to self."""
        return S.Copy.apply(self)

    def contiguous(self) -> "Tensor":
        """Self if C-contiguous, else a C-contiguous copy (gradient passes through)."""
        return self if self.array.flags.c_contiguous else S.Contiguous.apply(self)

    # ---------------------------------------------------------------- repr

    def __repr__(self) -> str:
        d = self.array if isinstance(self.array, np.ndarray) else self.array.get()
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
        return (_rebuild, (self.array, self._requires_grad))

    def __deepcopy__(self, memo):
        if self.grad_fn is not None:
            raise RuntimeError("only leaf tensors (created by the user) support deepcopy; "
                               "call .detach() first")
        if id(self) in memo:
            return memo[id(self)]
        out = Tensor(self.array.copy(), requires_grad=self._requires_grad)
        if self.grad is not None:
            out.grad = Tensor(self.grad.array.copy())
        memo[id(self)] = out
        return out

    # ---------------------------------------------------------------- in place
    # torch's rules: an in-place op on a leaf that requires grad is refused while a graph
    # is recorded (update ``.data`` or wrap it in lg.no_grad()); every in-place op bumps the
    # version counter (``_version``) shared by the tensors that share this memory (``.data``,
    # ``detach()``), and backward refuses a node whose saved arrays changed version since.
    # Recorded in place (a non-leaf, or an operand that requires grad): the differentiable
    # out-of-place op runs on a copy of self, its result is written into self's memory and
    # self takes the new node as grad_fn.

    def _version_box(self):
        box = self._vbox
        if box is None:
            box = self._vbox = [0]
        return box

    @property
    def _version(self) -> int:
        """How many in-place changes this memory has seen (torch's ``_version``)."""
        return 0 if self._vbox is None else self._vbox[0]

    def _bump_version(self) -> None:
        self._version_box()[0] += 1

    def _inplace(self, name, raw, graph=None, operands=()):
        """``raw(array)`` updates self's array in place when no graph is recorded;
        ``graph(src) -> Tensor`` is the differentiable out-of-place form."""
        record = autograd._mode.enabled and (
            self._requires_grad or any(isinstance(o, Tensor) and o._requires_grad
                                               for o in operands))
        if not record:
            for o in operands:
                if isinstance(o, Tensor):
                    check_same_device((self.array, o.array), name)
            raw(self.array)
            self._bump_version()
            return self
        if self.grad_fn is None and self._requires_grad:
            raise RuntimeError(f"{name}: a leaf Variable that requires grad is being used in an "
                               f"in-place operation (wrap it in lg.no_grad(), or update .data)")
        if graph is None:
            raise RuntimeError(f"{name}: not differentiable; run it under lg.no_grad() or on "
                               f".detach()")
        src = Tensor._wrap(self.array.copy(), self.grad_fn)
        res = graph(src)
        if res.shape != self.shape:
            raise ValueError(f"{name}: the result has shape {res.shape}, which does not fit "
                             f"self's shape {self.shape} (in-place ops can't broadcast self)")
        self.array[...] = res.array
        self.grad_fn = res.grad_fn
        self._requires_grad = res._requires_grad
        self._bump_version()
        return self

    @staticmethod
    def _raw(other):
        return other.array if isinstance(other, Tensor) else other

    def __setitem__(self, index, value):
        if self._requires_grad and autograd._mode.enabled:
            raise RuntimeError("__setitem__: a tensor that requires grad can't be assigned to "
                               "in place while recording a graph (wrap it in lg.no_grad(), or "
                               "assign to .data)")
        self.array[_convert_index(index)] = self._raw(value)
        self._bump_version()

    def zero_(self) -> "Tensor":
        """Fill with zeros in place."""
        return self._inplace("zero_", _setter(0), lambda s: s._filled(0))

    def fill_(self, value) -> "Tensor":
        """Fill with ``value`` (a number or a one-element Tensor) in place."""
        v = value.item() if isinstance(value, Tensor) else value
        return self._inplace("fill_", _setter(v), lambda s: s._filled(v))

    def _filled(self, value) -> "Tensor":
        """``value`` everywhere, as a node whose gradient to self is zero (torch's
        fill_ on a non-leaf keeps a grad_fn)."""
        everywhere = Tensor._wrap(array_module(self.array).ones(self.shape, np.bool_))
        return self.masked_fill(everywhere, value)

    def copy_(self, src, non_blocking=False) -> "Tensor":
        """Copy ``src`` (a Tensor or array on any device, broadcast) into self."""
        a = self._raw(src)
        if isinstance(self.array, np.ndarray) is not isinstance(a, np.ndarray) \
                and (isinstance(a, np.ndarray) or hasattr(a, "__cuda_array_interface__")):
            a = move(a, self.device)  # a cross-device copy, as torch's copy_
        if isinstance(src, Tensor):
            def graph(_s):
                return src.to(self.device, self.dtype).expand(self.shape).clone()
        else:
            def graph(_s):
                return Tensor._wrap(array_module(self.array).broadcast_to(a, self.shape)
                                    .astype(self.dtype))
        return self._inplace("copy_", _setter(a), graph, (src,))

    def add_(self, other, alpha=1) -> "Tensor":
        """``self += alpha * other`` in place."""
        o = self._raw(other)
        return self._inplace("add_", lambda a: _iadd(a, o if alpha == 1 else o * alpha),
                             lambda s: s.add(other, alpha=alpha), (other,))

    def sub_(self, other, alpha=1) -> "Tensor":
        """``self -= alpha * other`` in place."""
        return self.add_(other, alpha=-alpha)

    def mul_(self, other) -> "Tensor":
        """``self *= other`` in place."""
        o = self._raw(other)
        return self._inplace("mul_", lambda a: a.__imul__(o), lambda s: s * other, (other,))

    def div_(self, other) -> "Tensor":
        """``self /= other`` in place."""
        o = self._raw(other)
        return self._inplace("div_", lambda a: a.__itruediv__(o), lambda s: s / other, (other,))

    def addcmul_(self, tensor1, tensor2, value=1) -> "Tensor":
        """``self += value * tensor1 * tensor2`` in place."""
        t1, t2 = self._raw(tensor1), self._raw(tensor2)
        return self._inplace("addcmul_", lambda a: _iadd(a, t1 * t2 * value if value != 1
                                                          else t1 * t2),
                             lambda s: s + tensor1 * tensor2 * value, (tensor1, tensor2))

    def addcdiv_(self, tensor1, tensor2, value=1) -> "Tensor":
        """``self += value * tensor1 / tensor2`` in place."""
        t1, t2 = self._raw(tensor1), self._raw(tensor2)
        return self._inplace("addcdiv_", lambda a: _iadd(a, t1 / t2 * value if value != 1
                                                          else t1 / t2),
                             lambda s: s + tensor1 / tensor2 * value, (tensor1, tensor2))

    def lerp_(self, end, weight) -> "Tensor":
        """``self += weight * (end - self)`` in place."""
        e, w = self._raw(end), self._raw(weight)
        return self._inplace("lerp_", lambda a: _iadd(a, w * (e - a)),
                             lambda s: s + weight * (end - s), (end, weight))

    def pow_(self, exponent) -> "Tensor":
        """``self **= exponent`` in place."""
        e = self._raw(exponent)
        return self._inplace("pow_", lambda a: a.__ipow__(e), lambda s: s ** exponent,
                             (exponent,))

    def clamp_(self, min=None, max=None) -> "Tensor":  # noqa: A002
        """Clip to [min, max] in place (either may be None)."""
        if min is None and max is None:
            raise ValueError("clamp_: at least one of min and max must be given")
        lo, hi = self._raw(min), self._raw(max)
        return self._inplace("clamp_", lambda a: array_module(a).clip(a, lo, hi, out=a),
                             lambda s: s.clamp(min, max), (min, max))

    clip_ = clamp_

    def masked_fill_(self, mask, value) -> "Tensor":
        """``value`` where ``mask`` is True, in place."""
        m = self._raw(mask)
        v = value.item() if isinstance(value, Tensor) else value
        return self._inplace("masked_fill_", lambda a: a.__setitem__(
            array_module(a).broadcast_to(m, a.shape), v), lambda s: s.masked_fill(mask, v))

    def uniform_(self, a=0.0, b=1.0, generator=None) -> "Tensor":
        """Fill with draws uniform on [a, b) (from the global generator) in place."""
        g = generator or get_generator()
        return self._inplace("uniform_", lambda x: x.__setitem__(
            Ellipsis, _xp_like(g.uniform(a, b, self.shape), x)))

    def normal_(self, mean=0.0, std=1.0, generator=None) -> "Tensor":
        """Fill with normal draws N(mean, std**2) (from the global generator) in place."""
        g = generator or get_generator()
        return self._inplace("normal_", lambda x: x.__setitem__(
            Ellipsis, _xp_like(g.normal(mean, std, self.shape), x)))

    def bernoulli_(self, p=0.5, generator=None) -> "Tensor":
        """Fill with 1 with probability ``p``, else 0, in place."""
        g = generator or get_generator()
        return self._inplace("bernoulli_", lambda x: x.__setitem__(
            Ellipsis, _xp_like(g.random(self.shape) < p, x)))

    def neg_(self) -> "Tensor":
        """:meth:`neg` in place."""
        return self._inplace("neg_", lambda a: a.__setitem__(Ellipsis, self.neg().array),
                             lambda s: s.neg())

    def exp_(self) -> "Tensor":
        """:meth:`exp` in place."""
        return self._inplace("exp_", lambda a: a.__setitem__(Ellipsis, self.exp().array),
                             lambda s: s.exp())

    def log_(self) -> "Tensor":
        """:meth:`log` in place."""
        return self._inplace("log_", lambda a: a.__setitem__(Ellipsis, self.log().array),
                             lambda s: s.log())

    def sqrt_(self) -> "Tensor":
        """:meth:`sqrt` in place."""
        return self._inplace("sqrt_", lambda a: a.__setitem__(Ellipsis, self.sqrt().array),
                             lambda s: s.sqrt())

    def abs_(self) -> "Tensor":
        """:meth:`abs` in place."""
        return self._inplace("abs_", lambda a: a.__setitem__(Ellipsis, self.abs().array),
                             lambda s: s.abs())

    def relu_(self) -> "Tensor":
        """:meth:`relu` in place."""
        return self._inplace("relu_", lambda a: a.__setitem__(Ellipsis, self.relu().array),
                             lambda s: s.relu())

    def sigmoid_(self) -> "Tensor":
        """:meth:`sigmoid` in place."""
        return self._inplace("sigmoid_", lambda a: a.__setitem__(Ellipsis, self.sigmoid().array),
                             lambda s: s.sigmoid())

    def tanh_(self) -> "Tensor":
        """:meth:`tanh` in place."""
        return self._inplace("tanh_", lambda a: a.__setitem__(Ellipsis, self.tanh().array),
                             lambda s: s.tanh())

    # ---------------------------------------------------------------- operators

    def _operand(self, other):
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (int, float, np.generic)):
            return Tensor._wrap(_weak_scalar_array(other, self.array))
        if isinstance(other, np.ndarray) or hasattr(other, "__cuda_array_interface__"):
            return Tensor._wrap(other)
        if isinstance(other, (list, tuple)):
            return Tensor._wrap(_to_array(other))
        raise TypeError(f"unsupported operand type for a Tensor op: {type(other).__name__}")

    def _binary(self, other, fn, reflected=False):
        a, o = self, self._operand(other)
        ka, ko = a.array.dtype.kind, o.array.dtype.kind
        # torch's category rule: int/bool op float takes the float's dtype (numpy would widen
        # int64 op float32 to float64)
        if ka != ko:
            if ko == "f":
                a = Tensor._wrap(a.array.astype(o.array.dtype))
            elif ka == "f":
                o = Tensor._wrap(o.array.astype(a.array.dtype))
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

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def __neg__(self):
        return E.Neg.apply(self)

    def __pos__(self):
        return self

    def __pow__(self, other):
        if isinstance(other, (int, float, np.generic)) and not isinstance(other, bool):
            a = self
            if a.array.dtype.kind != "f" and (isinstance(other, (float, np.floating)) or other < 0):
                a = Tensor._wrap(a.array.astype(np.float32))
            return E.PowScalar.apply(a, p=other)
        return self._binary(other, E.Pow)

    def __rpow__(self, other):
        return self._binary(other, E.Pow, True)

    def __matmul__(self, other):
        return MM.Matmul.apply(self, self._operand(other))

    def __rmatmul__(self, other):
        return MM.Matmul.apply(self._operand(other), self)

    def _nograd(self, other, op):
        o = other.array if isinstance(other, Tensor) else \
            self._operand(other).array
        autograd.check_same_device((self.array, o), "comparison")
        return Tensor._wrap(op(self.array, o))

    # comparisons, logic and integer maths: results carry no gradient
    def __lt__(self, o):
        """``self < o`` elementwise (broadcasting): a bool Tensor, no gradient; ``o`` a
        Tensor or a number. Also :meth:`lt`."""
        return self._nograd(o, lambda a, b: a < b)

    def __le__(self, o):
        """``self <= o`` elementwise (broadcasting): a bool Tensor, no gradient; ``o`` a
        Tensor or a number. Also :meth:`le`."""
        return self._nograd(o, lambda a, b: a <= b)

    def __gt__(self, o):
        """``self > o`` elementwise (broadcasting): a bool Tensor, no gradient; ``o`` a
        Tensor or a number. Also :meth:`gt`."""
        return self._nograd(o, lambda a, b: a > b)

    def __ge__(self, o):
        """``self >= o`` elementwise (broadcasting): a bool Tensor, no gradient; ``o`` a
        Tensor or a number. Also :meth:`ge`."""
        return self._nograd(o, lambda a, b: a >= b)

    def __eq__(self, o):
        """``self == o`` elementwise (broadcasting): a bool Tensor, no gradient; ``o`` a
        Tensor or a number. Also :meth:`eq`."""
        return self._nograd(o, lambda a, b: a == b)

    def __ne__(self, o):
        """``self != o`` elementwise (broadcasting): a bool Tensor, no gradient; ``o`` a
        Tensor or a number. Also :meth:`ne`."""
        return self._nograd(o, lambda a, b: a != b)

    def __and__(self, o): return self._nograd(o, lambda a, b: a & b)  # noqa: E704
    def __or__(self, o): return self._nograd(o, lambda a, b: a | b)  # noqa: E704
    def __xor__(self, o): return self._nograd(o, lambda a, b: a ^ b)  # noqa: E704
    def __floordiv__(self, o): return self._nograd(o, lambda a, b: a // b)  # noqa: E704
    def __mod__(self, o): return self._nograd(o, lambda a, b: a % b)  # noqa: E704
    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __invert__(self):
        return Tensor._wrap(~self.array)

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
                                  Tensor(array_module(self.array).zeros((), np.int64)))
        xp = array_module(self.array)
        if self.array.shape[axis] == 0:
            raise ValueError(f"{name}: cannot reduce dim {dim} of size 0 (shape {self.shape})")
        idx = (xp.argmin if is_min else xp.argmax)(self.array, axis=axis, keepdims=True)
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
            return Tensor(self.array.argmax().astype(np.int64))
        axis = _norm_dim(dim, self.ndim, "argmax")
        return Tensor(self.array.argmax(axis=axis, keepdims=keepdim).astype(np.int64))


    def argmin(self, dim=None, keepdim=False) -> Tensor:
        """Index of the min (flat index when dim is None), int64, no gradient."""
        if dim is None:
            return Tensor(self.array.argmin().astype(np.int64))
        axis = _norm_dim(dim, self.ndim, "argmin")
        return Tensor(self.array.argmin(axis=axis, keepdims=keepdim).astype(np.int64))


    # ---------------------------------------------------------------- shapes


    def reshape(self, *shape) -> Tensor:
        """The same elements in ``shape`` (one entry may be -1); ``x.reshape(2, -1)``
        and ``lg.reshape(x, (2, -1))`` both work."""
        shape = _shape_args(shape, "reshape")
        n = self.array.size
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
        return where(mask, _weak_scalar_array(value, self.array).item(), self)

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

    def log1p(self) -> Tensor:
        """``log(1 + x)``, accurate for small x."""
        return E.Log1p.apply(self)

    def expm1(self) -> Tensor:
        """``exp(x) - 1``, accurate for small x."""
        return E.Expm1.apply(self)

    def sin(self) -> Tensor:
        """Sine, elementwise."""
        return E.Sin.apply(self)

    def cos(self) -> Tensor:
        """Cosine, elementwise."""
        return E.Cos.apply(self)

    def tril(self, diagonal=0) -> Tensor:
        """Zero above the ``diagonal``-th diagonal of the last two dims (torch's tril)."""
        if self.ndim < 2:
            raise ValueError(f"tril: input must have at least 2 dims, got shape {self.shape}")
        return E.TriangleMask.apply(self, diagonal=int(diagonal), lower=True)

    def triu(self, diagonal=0) -> Tensor:
        """Zero below the ``diagonal``-th diagonal of the last two dims (torch's triu)."""
        if self.ndim < 2:
            raise ValueError(f"triu: input must have at least 2 dims, got shape {self.shape}")
        return E.TriangleMask.apply(self, diagonal=int(diagonal), lower=False)

    def narrow(self, dim, start, length) -> Tensor:
        """Elements ``start .. start+length-1`` of dimension ``dim`` (a view in torch; here
        an indexed result that shares the gradient path)."""
        axis = _norm_dim(dim, self.ndim, "narrow")
        n = self.shape[axis]
        start = int(start) + (n if int(start) < 0 else 0)
        if not (0 <= start <= n and 0 <= int(length) and start + int(length) <= n):
            raise ValueError(f"narrow: start {start} + length {length} exceeds dimension "
                             f"{dim} of size {n} (shape {self.shape})")
        return self[(slice(None),) * axis + (slice(start, start + int(length)),)]

    def mm(self, mat2) -> Tensor:
        """Matrix product of two 2-D tensors (no broadcasting, as torch.mm)."""
        if not isinstance(mat2, Tensor) or self.ndim != 2 or mat2.ndim != 2:
            raise ValueError(f"mm: both arguments must be 2-D Tensors, got shapes {self.shape} "
                             f"and {getattr(mat2, 'shape', type(mat2).__name__)}")
        if self.shape[1] != mat2.shape[0]:
            raise ValueError(f"mm: self {self.shape} and mat2 {mat2.shape} cannot be multiplied")
        return MM.Matmul.apply(self, mat2)

    def bmm(self, mat2) -> Tensor:
        """Batched matrix product of (b, n, k) and (b, k, m) tensors (no broadcasting)."""
        if not isinstance(mat2, Tensor) or self.ndim != 3 or mat2.ndim != 3:
            raise ValueError(f"bmm: both arguments must be 3-D Tensors, got shapes {self.shape} "
                             f"and {getattr(mat2, 'shape', type(mat2).__name__)}")
        if self.shape[0] != mat2.shape[0] or self.shape[2] != mat2.shape[1]:
            raise ValueError(f"bmm: self {self.shape} and mat2 {mat2.shape} cannot be multiplied")
        return MM.Matmul.apply(self, mat2)

    def norm(self, p="fro", dim=None, keepdim=False) -> Tensor:
        """The vector p-norm over ``dim`` (all elements when None): p = 'fro' or 2
        (Euclidean), 1, any positive number, ``inf`` or ``-inf``."""
        if p == "fro" or p is None:
            p = 2
        if not isinstance(p, (int, float)) or isinstance(p, bool) or p == 0:
            raise ValueError(f"norm: p must be 'fro', a nonzero number or +-inf, got {p!r}")
        a = self.abs()
        if p == float("inf"):
            return a.amax(dim, keepdim)
        if p == float("-inf"):
            return a.amin(dim, keepdim)
        if p == 1:
            return a.sum(dim, keepdim)
        if p == 2:
            return (self * self).sum(dim, keepdim).sqrt()
        return (a ** p).sum(dim, keepdim) ** (1.0 / p)

    def _new(self, make, size, dtype, device, requires_grad, fn):
        shape = _size_args(size, fn) if size else ()
        dt = _parse_dtype(dtype) or self.dtype
        arr = make(array_module(self.array), shape, dt)
        if device is not None and parse_device(device) != self.device:
            arr = move(arr, parse_device(device))
        return Tensor(arr, requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False) -> Tensor:
        """Zeros of ``size`` with self's dtype and device (unless given)."""
        return self._new(lambda xp, s, d: xp.zeros(s, d), size, dtype, device, requires_grad,
                         "new_zeros")

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False) -> Tensor:
        """Ones of ``size`` with self's dtype and device (unless given)."""
        return self._new(lambda xp, s, d: xp.ones(s, d), size, dtype, device, requires_grad,
                         "new_ones")

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False) -> Tensor:
        """An uninitialised tensor of ``size`` with self's dtype and device (unless given)."""
        return self._new(lambda xp, s, d: xp.empty(s, d), size, dtype, device, requires_grad,
                         "new_empty")

    def new_full(self, size, fill_value, dtype=None, device=None,
                 requires_grad=False) -> Tensor:
        """``fill_value`` everywhere, of ``size``, with self's dtype and device (unless given)."""
        return self._new(lambda xp, s, d: xp.full(s, fill_value, d), (size,), dtype, device,
                         requires_grad, "new_full")

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False) -> Tensor:
        """A copy of ``data`` with self's dtype and device (unless given)."""
        arr = _to_array(data, dtype=_parse_dtype(dtype) or self.dtype, copy=True)
        arr = move(arr, parse_device(device) if device is not None else self.device)
        return Tensor(arr, requires_grad=requires_grad)

    def multinomial(self, num_samples, replacement=False, generator=None) -> Tensor:
        """``num_samples`` indices per row drawn with probabilities proportional to the
        row's (non-negative) weights; int64, no gradient. Without replacement each index
        comes at most once (needs that many nonzero weights)."""
        if self.ndim not in (1, 2):
            raise ValueError(f"multinomial: input must be 1-D or 2-D, got shape {self.shape}")
        w = self.array if isinstance(self.array, np.ndarray) else self.array.get()
        w2 = np.asarray(w, np.float64).reshape(-1, w.shape[-1])
        if (w2 < 0).any() or not np.isfinite(w2).all():
            raise ValueError("multinomial: weights must be finite and non-negative")
        n = int(num_samples)
        g = generator or get_generator()
        out = np.empty((w2.shape[0], n), np.int64)
        for r, row in enumerate(w2):
            total = row.sum()
            if total <= 0:
                raise ValueError(f"multinomial: row {r} has no positive weight")
            if not replacement and n > np.count_nonzero(row):
                raise ValueError(f"multinomial: cannot draw {n} samples without replacement "
                                 f"from {np.count_nonzero(row)} nonzero weights (row {r})")
            out[r] = g.choice(row.size, size=n, replace=bool(replacement), p=row / total)
        out = out.reshape(w.shape[:-1] + (n,))
        return Tensor(_xp_like(out, self.array))

    def __format__(self, spec):
        if self.ndim == 0:
            return format(self.item(), spec)
        return object.__format__(self, spec) if spec else repr(self)

    def all(self) -> Tensor:
        """True if every element is nonzero (a 0-d bool tensor, no gradient)."""
        return Tensor(array_module(self.array).asarray(self.array.all()))

    def any(self) -> Tensor:
        """True if some element is nonzero (a 0-d bool tensor, no gradient)."""
        return Tensor(array_module(self.array).asarray(self.array.any()))


def where(condition, input, other) -> Tensor:
    """``input`` where ``condition`` else ``other`` (all broadcast; numbers allowed)."""
    cond = condition.array if isinstance(condition, Tensor) else None
    if cond is None:
        like = input if isinstance(input, Tensor) else other
        cond = array_module(like.array).asarray(condition) if isinstance(like, Tensor) \
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
    check_same_device((cond, a.array, b.array), "where")
    return S.Where.apply(a, b, cond=cond)


def _setter(value):
    """An in-place update writing ``value`` (broadcast) into an array."""
    def set_(a):
        a[...] = value
    return set_


def _iadd(a, b):
    a += b


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
        return index.array
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
