"""Adagrad with torch.optim.Adagrad's update rule."""
from __future__ import annotations

from ..autograd import array_module
from ..device import move as _move
from .optimizer import Optimizer, _check_number, _params_with_grad

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), exactly torch.optim.Adagrad's update::

        g = grad (+ weight_decay * p)             # -grad when maximize
        clr = lr / (1 + (step - 1) * lr_decay)
        sum += g * g
        p -= clr * g / (sqrt(sum) + eps)

    State per parameter: ``step`` and ``sum`` (created at construction, filled
    with ``initial_accumulator_value``, like torch), in p's dtype.
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, *, maximize: bool = False):
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps,
                        maximize=maximize)
        self._validate_group(defaults)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p, group) -> dict:
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["sum"] = array_module(p.array).full_like(p.array,
                                                          group["initial_accumulator_value"])
        elif type(state["sum"]) is not type(p.array):
            # made in __init__, then the model moved (model.to("cuda") after the optimizer)
            state["sum"] = _move(state["sum"], p.device)
        return state

    def _validate_group(self, g: dict) -> None:
        _check_number("Adagrad", "lr", g["lr"])
        _check_number("Adagrad", "lr_decay", g["lr_decay"])
        _check_number("Adagrad", "weight_decay", g["weight_decay"])
        _check_number("Adagrad", "initial_accumulator_value", g["initial_accumulator_value"])
        _check_number("Adagrad", "eps", g["eps"])

    def step(self, closure=None):
        """One update of every parameter that has a grad; returns closure()'s loss."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr, lr_decay, wd, eps = group["lr"], group["lr_decay"], group["weight_decay"], \
                group["eps"]
            for p, grad in _params_with_grad(group):
                data = p.array
                g = -grad if group["maximize"] else grad
                if wd != 0:
                    g = g + wd * data
                state = self._init_state(p, group)  # params added later have no state yet
                state["step"] += 1
                clr = lr / (1 + (state["step"] - 1) * lr_decay)
                acc = state["sum"]
                acc += g * g
                std = array_module(data).sqrt(acc) + eps
                data -= (clr * (g / std)).astype(data.dtype, copy=False)
        return loss
