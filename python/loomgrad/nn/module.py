"""nn.Module: the base class of layers and models, with torch.nn.Module's API."""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from typing import Any, Callable, Iterator

import numpy as np

from ..device import as_cupy as _as_cupy, move as _move, parse_device as _parse_device
from ..tensor import Tensor
from ..training.trainer import Trainer
from .parameter import Parameter

__all__ = ["Module", "StateDictError"]


class StateDictError(RuntimeError, ValueError):
    """``load_state_dict`` got missing/unexpected keys or mismatched shapes.

    A RuntimeError like torch's, and a ValueError like the rest of
    loomgrad's bad-input errors, so either ``except`` catches it.
    """


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def _as_array(value, key: str):
    """The array behind a state_dict value: a Tensor, a NumPy array, a torch
    tensor (via ``.detach().cpu().numpy()``) or a number."""
    if isinstance(value, Tensor):
        return value.array
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # torch.Tensor, without importing torch
        value = value.detach()
        return _as_cupy(value) if getattr(value, "is_cuda", False) else value.cpu().numpy()
    if hasattr(value, "__cuda_array_interface__"):  # CuPy and other GPU arrays
        return _as_cupy(value)
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return np.asarray(value)
    raise TypeError(f"load_state_dict: value for {key!r} must be a Tensor, NumPy array or torch "
                    f"tensor, got {type(value).__name__}")


def _dtype_mismatch(src: np.ndarray, dst_dtype) -> str:
    """Why ``src`` may not be cast into ``dst_dtype`` ("" when it may).

    Policy: casts within a kind and up the bool -> int -> float -> complex
    ladder are allowed (float64 -> float32 as in torch, int -> float); casts
    that drop a kind (float -> int, complex -> float) are refused, and an
    integer cast must keep every value, so nothing is silently corrupted.
    """
    dst_dtype = np.dtype(dst_dtype)
    if src.dtype == dst_dtype:
        return ""
    if not np.can_cast(src.dtype, dst_dtype, casting="same_kind"):
        return "that cast would drop the fractional/imaginary part or the sign"
    if dst_dtype.kind in "iu" and src.size:
        info = np.iinfo(dst_dtype)
        if src.min() < info.min or src.max() > info.max:
            return f"values outside the range of {dst_dtype}"
    return ""


def _addindent(s: str, n: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * n + line for line in lines[1:])


class _HookHandle:
    """What ``register_forward_hook`` returns: ``remove()`` takes the hook off."""

    def __init__(self, hooks: OrderedDict, key: int):
        self._hooks, self._key = hooks, key

    def remove(self) -> None:
        self._hooks.pop(self._key, None)


class Module(Trainer):
    """Base class for layers and models (like ``torch.nn.Module``).

    Subclasses call ``super().__init__()`` first, assign Parameters,
    sub-Modules and buffers (``register_buffer``) as attributes, and define
    ``forward``; calling the module calls ``forward``. Names are dotted like
    torch's (``"fc1.weight"``, ``"0.bias"``), so state dicts map 1:1.

    Every module also has Keras' ``compile``/``fit``/``evaluate``/``predict``/``summary``
    (from :class:`loomgrad.training.Trainer`).
    """

    training: bool

    def __new__(cls, *args, **kwargs):
        # the constructor's arguments, so lg.save can store a whole model and lg.load
        # rebuild it by calling the class again (no pickle); see serialization.py
        self = super().__new__(cls)
        object.__setattr__(self, "_init_args", (args, kwargs))
        return self

    def __init__(self) -> None:
        # object.__setattr__: our own __setattr__ needs these dicts to exist.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs) -> Any:
        out = self.forward(*args, **kwargs)
        hooks = self.__dict__.get("_forward_hooks")
        if hooks:
            for hook in list(hooks.values()):
                result = hook(self, args, out)
                if result is not None:
                    out = result
        return out

    def register_forward_hook(self, hook: Callable) -> _HookHandle:
        """Call ``hook(module, args, output)`` after every forward (as torch does); a
        non-None return replaces the output. Returns a handle whose ``remove()`` undoes it."""
        hooks = self.__dict__.setdefault("_forward_hooks", OrderedDict())
        key = max(hooks, default=-1) + 1
        hooks[key] = hook
        return _HookHandle(hooks, key)

    # ----------------------------------------------------------------- registration
    def _check_init(self, what: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {what} before Module.__init__() call "
                                 f"(call super().__init__() first in {type(self).__name__})")

    @staticmethod
    def _check_name(name, kind: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{kind} name must be a str, got {type(name).__name__}")
        if name == "" or "." in name:
            raise KeyError(f"{kind} name can't be empty or contain '.', got {name!r}")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or a ``None`` placeholder, as for ``bias=False``)."""
        self._check_init("parameters")
        self._check_name(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute {name!r} already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} as parameter {name!r} "
                            f"(nn.Parameter or None expected)")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a non-learnable tensor (e.g. running statistics); persistent
        buffers are saved in ``state_dict``."""
        self._check_init("buffers")
        self._check_name(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute {name!r} already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign {type(tensor).__name__} as buffer {name!r} "
                            f"(Tensor or None expected)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module under ``name``."""
        self._check_init("child modules")
        self._check_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute {name!r} already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            self._check_init("parameters")
            self._remove_from(name, d, skip="_parameters")
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter {name!r} "
                                f"(nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            self._check_init("child modules")
            self._remove_from(name, d, skip="_modules")
            self._modules[name] = value
        elif d.get("_modules") is not None and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module {name!r} "
                                f"(Module or None expected)")
            d["_modules"][name] = None
        elif d.get("_buffers") is not None and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} "
                                f"(Tensor or None expected)")
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    @staticmethod
    def _remove_from(name: str, d: dict, skip: str) -> None:
        d.pop(name, None)
        for key in ("_parameters", "_buffers", "_modules"):
            if key != skip and name in d.get(key, ()):
                del d[key][name]
        d.get("_non_persistent_buffers", set()).discard(name)

    def __getattr__(self, name: str):
        # Only called when normal lookup fails.
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if key in d and name in d[key]:
                return d[key][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for key in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__.get(key, ()):
                del self.__dict__[key][name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        extra = [*self._parameters, *self._buffers, *self._modules]
        return sorted(set(super().__dir__()) | set(extra))

    # ----------------------------------------------------------------- traversal
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module ("") and every descendant."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from child.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def _named_members(self, attr: str, prefix: str, recurse: bool, remove_duplicate: bool):
        seen = set()
        mods = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse
                else [(prefix, self)])
        for mod_prefix, mod in mods:
            for name, value in getattr(mod, attr).items():
                if value is None:
                    continue
                if remove_duplicate:
                    if id(value) in seen:
                        continue
                    seen.add(id(value))
                yield mod_prefix + ("." if mod_prefix else "") + name, value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter), e.g. ``("0.weight", p)``; a parameter
        shared by two modules is listed once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # ----------------------------------------------------------------- state
    def _state_items(self):
        """(name, tensor) for every entry of state_dict, shared tensors under each name."""
        for mod_prefix, mod in self.named_modules(remove_duplicate=False):
            dot = mod_prefix + ("." if mod_prefix else "")
            for name, p in mod._parameters.items():
                if p is not None:
                    yield dot + name, p
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent_buffers:
                    yield dot + name, b

    def state_dict(self, destination: dict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> "OrderedDict[str, Tensor]":
        """Parameters and persistent buffers by dotted name.

        Values are detached Tensors sharing memory with the module (as in
        torch): copy them (``{k: v.array.copy() ...}``) to keep a snapshot
        while training goes on. ``keep_vars=True`` returns the Parameters.
        """
        out = OrderedDict() if destination is None else destination
        for name, t in self._state_items():
            out[prefix + name] = t if keep_vars else Tensor(t.array)
        return out

    def load_state_dict(self, state_dict, strict: bool = True) -> _IncompatibleKeys:
        """Copy values into this module's parameters and buffers, in place.

        Values may be Tensors, NumPy or CuPy arrays or torch tensors (on any
        device: each is copied to its parameter's device); each is cast to
        the destination's dtype (which is kept) when the cast cannot corrupt
        it (same kind, or bool -> int -> float; integers must fit). Shape and
        dtype mismatches (float -> int, complex -> float) are always an error; missing and unexpected keys are an error when ``strict``.
        Errors (``StateDictError``, a RuntimeError and ValueError) name every
        offending key and shape. Returns ``(missing_keys, unexpected_keys)``.
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"load_state_dict: expected a dict, got {type(state_dict).__name__}")
        own = OrderedDict(self._state_items())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict.keys() if k not in own]
        errors, updates = [], []
        for key, dst in own.items():
            if key not in state_dict:
                continue
            src = _as_array(state_dict[key], key)
            if tuple(src.shape) != tuple(dst.array.shape):
                errors.append(f"size mismatch for {key}: copying a param with shape "
                              f"{tuple(src.shape)} from checkpoint, the shape in current model "
                              f"is {tuple(dst.array.shape)}.")
                continue
            why = _dtype_mismatch(src, dst.array.dtype)
            if why:
                errors.append(f"dtype mismatch for {key}: copying a param of dtype "
                              f"{src.dtype} from checkpoint into {dst.array.dtype}: "
                              f"{why}.")
                continue
            updates.append((dst, src))
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in missing) + ".")
        if errors:
            raise StateDictError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                                 + "\n\t".join(errors))
        # Check everything before writing anything, so a failed load leaves the module intact.
        for dst, src in updates:
            dst.array[...] = _move(src, dst.device).astype(dst.array.dtype, copy=False)
        return _IncompatibleKeys(missing, unexpected)

    # ----------------------------------------------------------------- modes and grads
    def train(self, mode: bool = True) -> Module:
        """Set training mode here and in all descendants (affects e.g. Dropout)."""
        if not isinstance(mode, bool):
            raise TypeError(f"train: mode must be a bool, got {type(mode).__name__}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        """``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def share_memory(self) -> Module:
        """Move every parameter and buffer into shared memory (``Tensor.share_memory_``),
        so processes forked afterwards train this one model (Hogwild)."""
        for t in [*self.parameters(), *self.buffers()]:
            t.share_memory_()
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset parameter gradients: drop them (default) or fill with zeros."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.array[...] = 0

    # ----------------------------------------------------------------- conversion
    def _apply_to_arrays(self, fn: Callable) -> Module:
        """Replace every parameter's and buffer's array (and grad) with ``fn(array)``."""
        for m in self.modules():
            for t in [*m._parameters.values(), *m._buffers.values()]:
                if t is None:
                    continue
                t.array = fn(t.array)
                if getattr(t, "grad", None) is not None:
                    t.grad.array = fn(t.grad.array)
        return self

    def to(self, *args, **kwargs) -> Module:
        """``to(dtype)``, ``to(device)`` or ``to(device, dtype)``, like torch.

        A dtype converts floating-point parameters and buffers (integer
        buffers are left alone); devices are "cpu", "cuda" and "cuda:N" ("cuda"
        needs ``lg.cuda.is_available()``). In place: the same Parameter objects
        get the moved arrays (and grads), so optimizers made before stay valid.
        """
        device = kwargs.pop("device", None)
        dtype = kwargs.pop("dtype", None)
        if kwargs:
            raise TypeError(f"to: unexpected keyword argument(s) {sorted(kwargs)}")
        for a in args:
            if isinstance(a, str) or getattr(a, "type", None) in ("cpu", "cuda"):
                device = a
            else:
                dtype = a
        if dtype is not None:
            try:
                dt = np.dtype(dtype)
            except TypeError:
                raise TypeError(f"to: {dtype!r} is not a dtype or device") from None
            if dt.kind != "f":
                raise TypeError(f"to: nn.Module.to only accepts floating point dtypes, got {dt}")
            self._apply_to_arrays(lambda a: a.astype(dt, copy=False) if a.dtype.kind == "f" else a)
        if device is not None:
            dev = _parse_device(device)  # ValueError / RuntimeError (no CUDA) before any move
            self._apply_to_arrays(lambda a: _move(a, dev))
        return self

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self, device=None) -> Module:
        return self.to("cuda" if device is None else
                       device if isinstance(device, str) else f"cuda:{device}")

    def double(self) -> Module:
        """Floating-point parameters and buffers to float64."""
        return self.to(np.float64)

    def float(self) -> Module:
        """Floating-point parameters and buffers to float32."""
        return self.to(np.float32)

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every descendant (children first) and then on self,
        e.g. for custom init."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ----------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """The text inside this module's parentheses in ``repr``."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines.extend(extra.split("\n"))
        for name, child in self._modules.items():
            lines.append(f"({name}): " + _addindent(repr(child), 2))
        main = self._get_name() + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                main += lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"


def _host(a):
    """``a`` as a NumPy array (GPU arrays are copied to the host)."""
    if isinstance(a, np.ndarray):
        return a
    return a.get() if hasattr(a, "get") else np.asarray(a)
