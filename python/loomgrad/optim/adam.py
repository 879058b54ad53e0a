"""Adam (and AMSGrad) with torch.optim.Adam's update rule."""
from __future__ import annotations

import math

from ..autograd import array_module
from .optimizer import Optimizer, _check_number, _params_with_grad

__all__ = ["Adam"]


class Adam(Optimizer):
    """Adam (Kingma & Ba), exactly torch.optim.Adam's update::

        g = grad (+ weight_decay * p)           # L2, not AdamW's decoupled decay
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)                   # amsgrad: use v_max below
        p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    State per parameter: ``step`` (int), ``exp_avg``, ``exp_avg_sq``
    (and ``max_exp_avg_sq``), all in p's dtype.
    """

    # AdamW sets this: weight decay scales p directly instead of joining g.
    _decoupled_weight_decay = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize)
        self._validate_group(defaults)
        super().__init__(params, defaults)

    def _validate_group(self, g: dict) -> None:
        name = type(self).__name__
        _check_number(name, "lr", g["lr"])
        _check_number(name, "eps", g["eps"])
        betas = g["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        _check_number(name, "betas[0]", betas[0], high=1.0, high_open=True)
        _check_number(name, "betas[1]", betas[1], high=1.0, high_open=True)
        _check_number(name, "weight_decay", g["weight_decay"])

    def step(self, closure=None):
        """One update of every parameter that has a grad; returns closure()'s loss."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
            beta1, beta2 = group["betas"]
            for p, grad in _params_with_grad(group):
                data = p.array
                dt = data.dtype
                g = -grad if group["maximize"] else grad
                if wd != 0 and self._decoupled_weight_decay:
                    data *= 1 - lr * wd
                elif wd != 0:
                    g = g + wd * data
                state = self.state[p]
                if not state:
                    xp = array_module(data)
                    state["step"] = 0
                    state["exp_avg"] = xp.zeros_like(data)
                    state["exp_avg_sq"] = xp.zeros_like(data)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = xp.zeros_like(data)
                state["step"] += 1
                t = state["step"]
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m += (1 - beta1) * (g - m)  # torch's lerp_
                v *= beta2
                v += (1 - beta2) * g * g
                step_size = lr / (1 - beta1 ** t)
                bc2_sqrt = math.sqrt(1 - beta2 ** t)
                if group["amsgrad"]:
                    vmax = state.get("max_exp_avg_sq")
                    if vmax is None:  # amsgrad switched on after some steps
                        vmax = state["max_exp_avg_sq"] = v.copy()
                    array_module(data).maximum(vmax, v, out=vmax)
                    denom_src = vmax
                else:
                    denom_src = v
                denom = (denom_src ** 0.5) / bc2_sqrt + eps
                data -= (step_size * (m / denom)).astype(dt, copy=False)
        return loss
