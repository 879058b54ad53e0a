"""Any array in, the caller's kind out: the one door of every ``lg.kernels.*`` entry point.

Every family module decorates its public functions with :func:`any_array`.
A call whose arguments are all NumPy arrays, Python scalars, tuples or None
goes straight to the function (one type test per argument). Otherwise each
array argument is looked at once:

- a CPU array of another library becomes a NumPy view of the same memory, no
  copy: a ``torch.Tensor`` through ``Tensor.numpy()``, anything else through
  DLPack (``__dlpack__``: JAX, CuPy-on-host, ...) or the NumPy array interface
  (``__array_interface__`` / ``__array_struct__``). Strided views stay strided;
  the family's own parsers then copy exactly what they copied for NumPy input
  (non-contiguous or wrongly typed arrays), so no second rule exists here;
- a GPU array (CuPy, ``torch.cuda``, anything with ``__cuda_array_interface__``
  or a CUDA DLPack capsule) is passed unchanged to the family's GPU branch;
- a torch tensor that requires grad is refused (TypeError) with a pointer to
  :mod:`loomgrad.interop.torch`, whose autograd Functions call these kernels;
- arrays of two different libraries in one call are a TypeError naming both.

The results come back as the caller's kind: NumPy in, NumPy out; torch in,
torch out (``torch.from_numpy`` on the CPU, ``torch.from_dlpack`` on the GPU:
both zero-copy views of our output buffers); JAX in, JAX out; CuPy in, CuPy
out. An ``out=`` array the caller passed comes back as the caller's own
object. Arrays of libraries this module has no name for come back as NumPy.
A recurrent forward's ``saved`` object remembers the caller's kind, so its
backward answers in that kind even when every gradient argument is None.

Libraries are told apart by ``type(x).__module__`` and duck typing, and a
library's module is taken from ``sys.modules`` (the caller has imported it to
make the array): importing loomgrad never imports torch or jax.
"""
from __future__ import annotations

import functools
import inspect
import sys
from typing import Any, Callable, TypeVar

import numpy as np

from ._saved import _Saved
from .gpu.arrays import is_gpu_array

_F = TypeVar("_F", bound=Callable[..., Any])  # any_array keeps the signature

__all__ = ["any_array", "library_of"]

# Argument types that need no look: the fast path of every kernel call.
_PLAIN = frozenset({type(None), bool, int, float, str, tuple, list, np.ndarray, np.dtype,
                    slice})
# Libraries whose arrays come back as their own kind (others come back as NumPy).
_RETURNED = ("numpy", "torch", "jax", "cupy")


_LIBRARY_OF_TYPE: dict[type, str] = {}


def library_of(x) -> str:
    """The top-level package of ``x``'s type ("numpy", "torch", "jax", ...);
    jaxlib's array type counts as "jax". Cached per type."""
    t = type(x)
    lib = _LIBRARY_OF_TYPE.get(t)
    if lib is None:
        lib = t.__module__.partition(".")[0]
        lib = _LIBRARY_OF_TYPE[t] = "jax" if lib == "jaxlib" else lib
    return lib


def _is_array(x) -> bool:
    return (hasattr(x, "__dlpack__") or hasattr(x, "__array_interface__")
            or hasattr(x, "__array_struct__") or hasattr(x, "__cuda_array_interface__"))


def _refuse_grad(fn: str, name: str, x) -> None:
    raise TypeError(
        f"{fn}: {name} is a torch tensor that requires grad (shape {tuple(x.shape)}); the raw "
        f"kernels record no gradients. Use the autograd bridge loomgrad.interop.torch "
        f"(its modules and functions call these kernels inside torch.autograd), or pass "
        f"{name}.detach() if no gradient should flow")


def _host_view(fn: str, name: str, x) -> np.ndarray:
    """A CPU array of another library as a NumPy array over the same memory."""
    try:
        if type(x) in _TORCH_TENSOR_TYPES:
            return x.numpy()
        if hasattr(x, "__dlpack__"):
            return np.from_dlpack(x)
        return np.asarray(x)
    except (TypeError, ValueError, RuntimeError, BufferError) as e:
        dtype = getattr(x, "dtype", "?")
        raise TypeError(f"{fn}: {name}: cannot view this {type(x).__module__}."
                        f"{type(x).__name__} (dtype {dtype}, shape "
                        f"{tuple(getattr(x, 'shape', ()))}) as a NumPy array: {e}") from None


def _to_caller(lib: str, x, originals: dict) -> Any:
    """A NumPy/CuPy result as library ``lib``'s array (``originals``: the
    caller's own objects, by id of the view made of them)."""
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if isinstance(x, _Saved):
        x.caller = lib
        return x
    if type(x) is tuple:
        return tuple([_to_caller(lib, v, originals) for v in x])
    orig = originals.get(id(x))
    if orig is not None and orig[0] is x:
        return orig[1]
    mod = sys.modules[lib]
    host = isinstance(x, np.ndarray)
    if not host and not hasattr(x, "__dlpack__"):
        return x   # not an array (e.g. a PackedGemmB)
    if lib == "torch":
        return mod.from_numpy(x) if host else mod.from_dlpack(x)
    if lib == "jax":
        return mod.numpy.asarray(x) if host else mod.dlpack.from_dlpack(x)
    return x


_SCALARS = _PLAIN - {np.ndarray}
_TORCH_TENSOR_TYPES: set[type] = set()   # torch.Tensor, nn.Parameter, ...: seen once, then fast


def _look(fn: str, name: str, x, libs: dict, originals: dict) -> Any:
    """One argument: a NumPy view of another library's CPU array (recorded in
    ``originals``), or ``x`` itself; its library goes into ``libs``."""
    t = type(x)
    if t in _TORCH_TENSOR_TYPES:   # the bridge's case first: a handful of attribute reads
        if "torch" not in libs:
            libs["torch"] = name
        if x.requires_grad:
            _refuse_grad(fn, name, x)
        if not x.is_cpu:
            return x   # the family's GPU branch takes it (torch.cuda via DLPack)
        view = _host_view(fn, name, x)
        originals[id(view)] = (view, x)
        return view
    if t is np.ndarray:
        if "numpy" not in libs:
            libs["numpy"] = name
        return x
    if isinstance(x, np.generic):
        return x   # a NumPy scalar is a scalar argument, not an array
    if isinstance(x, _Saved):
        lib = getattr(x, "caller", None)
        if lib is not None and lib not in libs:
            libs[lib] = name
        return x
    lib = library_of(x)
    if lib == "torch" and hasattr(x, "requires_grad") and hasattr(x, "is_cpu"):
        _TORCH_TENSOR_TYPES.add(t)
        return _look(fn, name, x, libs, originals)
    if not _is_array(x):
        return x
    if lib not in libs:
        libs[lib] = name
    if isinstance(x, np.ndarray) or is_gpu_array(x):
        return x   # a NumPy subclass, or the family's GPU branch takes it as it is
    view = _host_view(fn, name, x)
    originals[id(view)] = (view, x)
    return view


def _prepare(fn: str, names: tuple, args: tuple, kwargs: dict) -> tuple[list, dict, str, dict]:
    """(args, kwargs) with other libraries' CPU arrays viewed as NumPy, the
    caller's library, and {id(view): (view, original)}."""
    libs: dict[str, str] = {}   # library -> the first argument of that library
    originals: dict[int, tuple] = {}
    args = list(args)
    for i, x in enumerate(args):
        if type(x) not in _SCALARS:
            args[i] = _look(fn, names[i] if i < len(names) else f"argument {i}", x, libs,
                            originals)
    for k, x in kwargs.items():
        if type(x) not in _SCALARS:
            kwargs[k] = _look(fn, k, x, libs, originals)
    if len(libs) > 1:
        parts = ", ".join(f"{name} is a {lib} array" for lib, name in libs.items())
        raise TypeError(f"{fn}: arrays of different libraries in one call ({parts}); "
                        f"pass them all as one kind (e.g. torch.from_numpy(a) or t.numpy())")
    lib = next(iter(libs), "numpy")
    return args, kwargs, lib if lib in _RETURNED else "numpy", originals


def any_array(fn: _F) -> _F:
    """Decorate a raw-kernel entry point: accept any CPU/GPU array kind and
    answer in the caller's kind (see the module docstring)."""
    names = tuple(inspect.signature(fn).parameters)
    fname = fn.__name__

    @functools.wraps(fn)
    def entry(*args, **kwargs):
        for a in args:
            if type(a) not in _PLAIN:
                break
        else:
            for a in kwargs.values():
                if type(a) not in _PLAIN:
                    break
            else:
                return fn(*args, **kwargs)
        args, kwargs, lib, originals = _prepare(fname, names, args, kwargs)
        result = fn(*args, **kwargs)
        if lib == "numpy" or lib == "cupy":
            if isinstance(result, tuple):
                for r in result:
                    if isinstance(r, _Saved):
                        r.caller = lib
            return result
        return _to_caller(lib, result, originals)

    return entry
