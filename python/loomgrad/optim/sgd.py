"""SGD with momentum, dampening, Nesterov and weight decay (torch.optim.SGD's rules)."""
from __future__ import annotations

from ..autograd import array_module
from .optimizer import Optimizer, _blocks, _check_number, _params_with_grad

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent, exactly torch.optim.SGD's update::

        g = grad (+ weight_decay * p)            # -grad when maximize
        buf = g                 on the first step with momentum,
        buf = momentum * buf + (1 - dampening) * g   afterwards
        g = g + momentum * buf  (nesterov)  or  g = buf
        p -= lr * g

    ``momentum_buffer`` is kept in ``state[p]``; maths runs in p's dtype.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        self._validate_group(defaults)
        super().__init__(params, defaults)

    def _validate_group(self, g: dict) -> None:
        _check_number("SGD", "lr", g["lr"])
        _check_number("SGD", "momentum", g["momentum"])
        _check_number("SGD", "dampening", g["dampening"], low=None)
        _check_number("SGD", "weight_decay", g["weight_decay"])
        if g["nesterov"] and (g["momentum"] <= 0 or g["dampening"] != 0):
            raise ValueError("SGD: nesterov momentum requires momentum > 0 and dampening = 0, "
                             f"got momentum={g['momentum']}, dampening={g['dampening']}")

    def step(self, closure=None):
        """One update of every parameter that has a grad; returns closure()'s loss."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr, mom, damp = group["lr"], group["momentum"], group["dampening"]
            wd, nesterov = group["weight_decay"], group["nesterov"]
            for p, grad in _params_with_grad(group):
                buf = first = None
                if mom != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    first = buf is None
                    if first:
                        buf = state["momentum_buffer"] = array_module(p.array).empty_like(p.array)
                arrays = (p.array, grad) if buf is None else (p.array, grad, buf)
                for blk in _blocks(*arrays):
                    w, g = blk[0], blk[1]
                    d_p = -g if group["maximize"] else g
                    if wd != 0:
                        d_p = d_p + wd * w
                    if buf is not None:
                        b = blk[2]
                        if first:
                            b[...] = d_p
                        else:
                            b *= mom
                            b += (1 - damp) * d_p
                        d_p = d_p + mom * b if nesterov else b
                    w -= (lr * d_p).astype(w.dtype, copy=False)
        return loss
