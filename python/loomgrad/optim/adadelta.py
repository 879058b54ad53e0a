"""Adadelta with torch.optim.Adadelta's update rule."""
from __future__ import annotations

from ..autograd import array_module
from .optimizer import Optimizer, _check_number, _params_with_grad

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """Adadelta (Zeiler), exactly torch.optim.Adadelta's update::

        g = grad (+ weight_decay * p)             # -grad when maximize
        v = rho * v + (1 - rho) * g * g           # square_avg
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta * delta   # acc_delta
        p -= lr * delta

    State per parameter: ``step``, ``square_avg``, ``acc_delta``, in p's dtype.
    """

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, *, maximize: bool = False):
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        self._validate_group(defaults)
        super().__init__(params, defaults)

    def _validate_group(self, g: dict) -> None:
        _check_number("Adadelta", "lr", g["lr"])
        _check_number("Adadelta", "rho", g["rho"], high=1.0)
        _check_number("Adadelta", "eps", g["eps"])
        _check_number("Adadelta", "weight_decay", g["weight_decay"])

    def step(self, closure=None):
        """One update of every parameter that has a grad; returns closure()'s loss."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr, rho, eps, wd = group["lr"], group["rho"], group["eps"], group["weight_decay"]
            for p, grad in _params_with_grad(group):
                data = p.array
                xp = array_module(data)
                g = -grad if group["maximize"] else grad
                if wd != 0:
                    g = g + wd * data
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["square_avg"] = xp.zeros_like(data)
                    state["acc_delta"] = xp.zeros_like(data)
                state["step"] += 1
                v, u = state["square_avg"], state["acc_delta"]
                v *= rho
                v += (1 - rho) * g * g
                delta = xp.sqrt(u + eps) / xp.sqrt(v + eps) * g
                u *= rho
                u += (1 - rho) * delta * delta
                data -= (lr * delta).astype(data.dtype, copy=False)
        return loss
