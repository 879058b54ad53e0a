"""RMSprop with torch.optim.RMSprop's update rule."""
from __future__ import annotations

from ..autograd import array_module
from .optimizer import Optimizer, _check_number, _params_with_grad

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop (Hinton), exactly torch.optim.RMSprop's update::

        g = grad (+ weight_decay * p)             # -grad when maximize
        v = alpha * v + (1 - alpha) * g * g       # square_avg
        m = alpha * m + (1 - alpha) * g           # grad_avg, centered only
        avg = sqrt(v - m * m) (centered) or sqrt(v), then avg += eps
        buf = momentum * buf + g / avg; p -= lr * buf    (momentum > 0)
        p -= lr * g / avg                                  (otherwise)

    State per parameter: ``step``, ``square_avg`` (and ``momentum_buffer``,
    ``grad_avg``), in p's dtype.
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize)
        self._validate_group(defaults)
        super().__init__(params, defaults)

    def _validate_group(self, g: dict) -> None:
        _check_number("RMSprop", "lr", g["lr"])
        _check_number("RMSprop", "alpha", g["alpha"])
        _check_number("RMSprop", "eps", g["eps"])
        _check_number("RMSprop", "weight_decay", g["weight_decay"])
        _check_number("RMSprop", "momentum", g["momentum"])

    def step(self, closure=None):
        """One update of every parameter that has a grad; returns closure()'s loss."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
            wd, mom, centered = group["weight_decay"], group["momentum"], group["centered"]
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
                    if mom > 0:
                        state["momentum_buffer"] = xp.zeros_like(data)
                    if centered:
                        state["grad_avg"] = xp.zeros_like(data)
                state["step"] += 1
                v = state["square_avg"]
                v *= alpha
                v += (1 - alpha) * g * g
                if centered:
                    m = state.setdefault("grad_avg", xp.zeros_like(data))
                    m += (1 - alpha) * (g - m)  # torch's lerp_
                    avg = xp.sqrt(v - m * m)
                else:
                    avg = xp.sqrt(v)
                avg += eps
                if mom > 0:
                    buf = state.setdefault("momentum_buffer", xp.zeros_like(data))
                    buf *= mom
                    buf += g / avg
                    data -= (lr * buf).astype(data.dtype, copy=False)
                else:
                    data -= (lr * (g / avg)).astype(data.dtype, copy=False)
        return loss
