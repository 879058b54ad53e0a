"""The Optimizer base class: parameter groups, state, zero_grad, state_dict."""
from __future__ import annotations

import copy
import numbers
from typing import Any, Iterable

import numpy as np

from ..autograd import enable_grad
from ..device import move as _move
from ..tensor import Tensor

__all__ = ["Optimizer"]


class _ParamState:
    """Per-parameter state keyed by identity (``opt.state[p]``), since Tensor
    equality is elementwise and must not decide dict membership."""

    def __init__(self):
        self._d: dict[int, tuple[Tensor, dict]] = {}

    def __getitem__(self, p) -> dict:
        entry = self._d.get(id(p))
        if entry is None:
            entry = (p, {})
            self._d[id(p)] = entry
        return entry[1]

    def __contains__(self, p) -> bool:
        return id(p) in self._d

    def __len__(self) -> int:
        return len(self._d)

    def items(self):
        return [(p, s) for p, s in self._d.values()]

    def clear(self) -> None:
        self._d.clear()


def _check_number(cls: str, name: str, value, low: float | None = 0.0,
                  high: float | None = None, high_open: bool = False) -> float:
    """Validate a hyperparameter: a real number in [low, high] (or [low, high))."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{cls}: {name} must be a number, got {type(value).__name__}")
    v = float(value)
    if v != v:
        raise ValueError(f"{cls}: invalid {name}: nan")
    if low is not None and v < low:
        raise ValueError(f"{cls}: invalid {name}: {value} (must be >= {low})")
    if high is not None and (v >= high if high_open else v > high):
        raise ValueError(f"{cls}: invalid {name}: {value} (must be {'<' if high_open else '<='} "
                         f"{high})")
    return v


class Optimizer:
    """Base class (like ``torch.optim.Optimizer``).

    ``params`` is an iterable of Parameters, or of dicts each holding
    ``"params"`` and per-group options overriding ``defaults``. Subclasses
    implement ``step`` as in-place array maths on ``p.array`` with
    ``p.grad.array`` (no graph is recorded), skipping params with no grad.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state = _ParamState()
        self.param_groups: list[dict] = []
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Tensors or "
                            f"dicts, got a single Tensor (wrap it in a list)")
        try:
            groups = list(params)
        except TypeError:
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Tensors or "
                            f"dicts, got {type(params).__name__}") from None
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def _validate_group(self, group: dict) -> None:
        """Subclasses check hyperparameters here (raise ValueError naming them)."""

    def add_param_group(self, param_group: dict) -> None:
        """Add a group ``{"params": [...], option: value, ...}``; options not
        given take the optimizer's defaults."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: a param group must be a dict, got "
                            f"{type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}: a param group needs a 'params' entry")
        params = param_group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, but params[{i}] is a "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor (params[{i}], shape "
                                 f"{tuple(p.shape)})")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: a parameter appears twice in one group")
        unknown = set(param_group) - set(self.defaults) - {"params"}
        if unknown:
            raise ValueError(f"{name}: unknown option(s) in param group: {sorted(unknown)}")
        group = {**self.defaults, **param_group, "params": params}
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if existing & {id(p) for p in params}:
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        self._validate_group(group)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's grad (default) or fill it with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.array[...] = 0

    def step(self, closure=None):
        raise NotImplementedError

    def _closure_loss(self, closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # ---------------------------------------------------------------- checkpointing
    def state_dict(self) -> dict:
        """``{"state": {index: {name: value}}, "param_groups": [{..., "params":
        [index, ...]}]}``, parameters numbered in group order as in torch.
        Arrays are copies, so the dict is a snapshot."""
        index, groups = {}, []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {}
        for p, s in self.state.items():
            if id(p) in index and s:
                state[index[id(p)]] = {k: (v.copy() if _is_array(v) else v)
                                       for k, v in s.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore options and state from :meth:`state_dict` output; groups
        must match this optimizer's in number and sizes. Array state is
        copied and cast to its parameter's dtype."""
        name = type(self).__name__
        if not isinstance(state_dict, dict) or "state" not in state_dict \
                or "param_groups" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and "
                             f"'param_groups'")
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: state has {len(saved)} parameter "
                             f"group(s), this optimizer has {len(self.param_groups)}")
        for i, (g, sg) in enumerate(zip(self.param_groups, saved)):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError(f"{name}.load_state_dict: group {i} has {len(sg['params'])} "
                                 f"parameter(s) in the state, {len(g['params'])} here")
        id_map = {}
        for g, sg in zip(self.param_groups, saved):
            for p, idx in zip(g["params"], sg["params"]):
                id_map[idx] = p
        new_state = _ParamState()
        for idx, s in state_dict["state"].items():
            if idx not in id_map:
                continue
            p = id_map[idx]
            dst = new_state[p]
            for k, v in s.items():
                if isinstance(v, Tensor):
                    v = v.array
                if hasattr(v, "detach") and hasattr(v, "numpy"):  # a torch tensor
                    v = v.detach().cpu().numpy()
                if _is_array(v):
                    if tuple(v.shape) != tuple(p.shape) and k != "step":
                        raise ValueError(f"{name}.load_state_dict: state {k!r} of parameter "
                                         f"{idx} has shape {tuple(v.shape)}, the parameter "
                                         f"{tuple(p.shape)}")
                    # state lives on its parameter's device, whichever it was saved from
                    v = v.item() if k == "step" else \
                        _move(v, p.device).astype(p.array.dtype, copy=True)
                dst[k] = v
        for g, sg in zip(self.param_groups, saved):
            for k, v in sg.items():
                if k != "params":
                    g[k] = copy.deepcopy(v)
        self.state = new_state

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)


def _is_array(v) -> bool:
    """A NumPy or GPU (CuPy) array."""
    return isinstance(v, np.ndarray) or hasattr(v, "__cuda_array_interface__")


def _grad_array(p) -> Any:
    g = p.grad
    return None if g is None else g.array


def _params_with_grad(group) -> Iterable:
    for p in group["params"]:
        g = _grad_array(p)
        if g is not None:
            yield p, g


# Elements per block of an elementwise update. A whole-array temporary of a
# large parameter (e.g. 3136x1024) is a fresh mmap'd allocation whose page
# faults cost more than the arithmetic; 64K-element blocks keep every
# temporary small, heap-allocated and cache-resident.
_BLOCK = 1 << 16


def _blocks(*arrays):
    """Matching flat views, at most _BLOCK elements each, of equally shaped
    C-contiguous NumPy arrays (writes through them reach the arrays). Any other
    arrays (strided, CuPy) come back whole, as one block."""
    if all(isinstance(a, np.ndarray) and a.flags.c_contiguous for a in arrays):
        flats = [a.reshape(-1) for a in arrays]
        n = flats[0].size
        if n > _BLOCK:
            for i in range(0, n, _BLOCK):
                yield [f[i:i + _BLOCK] for f in flats]
            return
    yield list(arrays)
