"""AdamW (decoupled weight decay) with torch.optim.AdamW's update rule."""
from __future__ import annotations

import math

from ..autograd import array_module
from .adam import Adam
from .optimizer import _params_with_grad

__all__ = ["AdamW"]


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter), exactly torch.optim.AdamW's update::

        p *= 1 - lr * weight_decay              # decoupled: not added to the gradient
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)                   # amsgrad: use v_max below
        p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Same options and state as :class:`Adam`; ``weight_decay`` defaults to 1e-2.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)

    def step(self, closure=None):
        """One update of every parameter that has a grad; returns closure()'s loss."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
            beta1, beta2 = group["betas"]
            for p, grad in _params_with_grad(group):
                data = p.data
                xp = array_module(data)
                g = -grad if group["maximize"] else grad
                data *= 1 - lr * wd
                state = self.state[p]
                if not state:
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
                    if vmax is None:
                        vmax = state["max_exp_avg_sq"] = v.copy()
                    xp.maximum(vmax, v, out=vmax)
                    denom_src = vmax
                else:
                    denom_src = v
                denom = xp.sqrt(denom_src) / bc2_sqrt + eps
                data -= (step_size * (m / denom)).astype(data.dtype, copy=False)
        return loss
