"""Finite-difference gradient check (float64 central differences vs. autograd)."""
from __future__ import annotations

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor

__all__ = ["gradcheck"]


def _outputs(out):
    """The floating Tensors in fn's result (a Tensor or a tuple/namedtuple of them)."""
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in outs if isinstance(o, Tensor) and o.dtype.kind == "f"]


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, grad_output=None, seed=0) -> bool:
    """Check autograd's gradients of ``fn(*inputs)`` against central differences.

    ``inputs``: a Tensor or a sequence (non-Tensors are passed through); every
    floating Tensor with ``requires_grad`` is checked, on a float64 copy. The
    scalar differentiated is ``sum(out * w)`` over ``fn``'s floating outputs,
    ``w`` random (seeded by ``seed``) or ``grad_output`` (a Tensor/array or a
    list, one per output). Passes when ``|analytic - numeric| <= atol +
    rtol * |numeric|`` everywhere; returns True, or raises AssertionError
    naming the input index and the largest error.
    """
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    xs = []
    for x in inputs:
        if isinstance(x, Tensor) and x.dtype.kind == "f":
            x = Tensor(np.array(x.array, dtype=np.float64), requires_grad=x.requires_grad)
        xs.append(x)
    checked = [i for i, x in enumerate(xs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input Tensor has requires_grad=True")

    outs = _outputs(fn(*xs))
    if not outs:
        raise ValueError("gradcheck: fn returned no floating-point Tensor")
    if grad_output is None:
        rng = np.random.default_rng(seed)
        ws = [rng.standard_normal(o.shape) for o in outs]
    else:
        gos = grad_output if isinstance(grad_output, (list, tuple)) else [grad_output]
        ws = [np.asarray(g.array if isinstance(g, Tensor) else g, dtype=np.float64) for g in gos]
        for o, w in zip(outs, ws):
            if w.shape != o.shape:
                raise ValueError(f"gradcheck: grad_output shape {w.shape} != output shape "
                                 f"{o.shape}")

    def loss_value():
        with no_grad():
            res = _outputs(fn(*xs))
        return float(sum(np.sum(np.asarray(o.array, dtype=np.float64) * w)
                         for o, w in zip(res, ws)))

    loss = None
    for o, w in zip(outs, ws):
        if o.requires_grad:
            term = (o * Tensor(w.astype(o.dtype))).sum()
            loss = term if loss is None else loss + term
    for i in checked:
        xs[i].grad = None
    if loss is not None:
        loss.backward()

    for i in checked:
        x = xs[i]
        analytic = np.zeros(x.shape) if x.grad is None else np.asarray(x.grad.array, np.float64)
        numeric = np.zeros(x.shape)
        flat = x.array.reshape(-1)  # a view: x.array is a fresh contiguous float64 copy
        for j in range(flat.size):
            orig = flat[j]
            flat[j] = orig + eps
            plus = loss_value()
            flat[j] = orig - eps
            minus = loss_value()
            flat[j] = orig
            numeric.reshape(-1)[j] = (plus - minus) / (2 * eps)
        err = np.abs(analytic - numeric)
        bad = err > atol + rtol * np.abs(numeric)
        if bad.any():
            k = np.unravel_index(np.argmax(np.where(bad, err, -1)), x.shape)
            raise AssertionError(
                f"gradcheck: gradient of input {i} (shape {x.shape}) is wrong: max error "
                f"{err.max():.3g} at index {tuple(int(v) for v in k)} (analytic "
                f"{analytic[k]:.6g}, numeric {numeric[k]:.6g}; atol={atol}, rtol={rtol})")
    return True
