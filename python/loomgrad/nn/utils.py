"""loomgrad.nn.utils: gradient clipping (torch.nn.utils.clip_grad_norm_ / clip_grad_value_)."""
from __future__ import annotations

import math

import numpy as np

from ..autograd import array_module
from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """Scale all gradients in place so their joint ``norm_type`` norm is at most
    ``max_norm`` (coefficient max_norm / (norm + 1e-6), as torch, applied only
    when < 1). Returns the total norm before clipping as a 0-d Tensor.
    ``norm_type`` may be ``inf``; a non-finite total raises RuntimeError when
    ``error_if_nonfinite``."""
    grads = _grads(parameters)
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not grads:
        return Tensor(np.asarray(0.0, np.float32))
    dtype = grads[0].array.dtype
    xp = array_module(grads[0].array)  # NumPy or CuPy (the sum is a host float either way)
    if math.isinf(norm_type):
        total = max(float(xp.abs(g.array).max()) if g.array.size else 0.0 for g in grads)
    else:
        total = sum(float((xp.abs(g.array.astype(np.float64)) ** norm_type).sum())
                    for g in grads) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from "
                           f"`parameters` is non-finite, so it cannot be clipped. To disable "
                           f"this error and scale the gradients by the non-finite norm anyway, "
                           f"set `error_if_nonfinite=False`")
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in grads:
            g.array *= g.array.dtype.type(coef)
    return Tensor(xp.asarray(total, dtype))


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient in place to [-clip_value, clip_value]."""
    c = float(clip_value)
    for g in _grads(parameters):
        array_module(g.array).clip(g.array, -c, c, out=g.array)
