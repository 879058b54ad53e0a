"""batch_norm as one fused autograd node (training) or plain Tensor maths (eval).

Training normalises with the batch statistics (the classic three-term
backward) and updates the running buffers in place as torch does, with the
unbiased batch variance for ``running_var``. The modules are nn/batchnorm.py.
"""
from __future__ import annotations

import numbers

from ...autograd import Function, array_module, check_same_device
from ...tensor import Tensor

__all__ = ["batch_norm", "BatchNormFunction"]


class BatchNormFunction(Function):
    """Training-mode batch norm over every axis but 1: inputs (x, weight, bias).

    Forward saves x_hat = (x - mean) * invstd and invstd; backward is
    dx = invstd * (dy*w - mean(dy*w) - x_hat * mean(dy*w * x_hat)) over the
    reduced axes, dw = sum(dy * x_hat), db = sum(dy).
    """

    def forward(self, x, weight, bias, *, eps):
        xp = array_module(x)
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)  # biased, for normalising (torch)
        invstd = 1.0 / xp.sqrt(var + eps)
        xhat = (x - mean.reshape(shape)) * invstd.reshape(shape)
        self.batch_stats = (mean, var)
        self.meta = (axes, shape)
        self.saved = (xhat, invstd, weight)
        return (xhat * weight.reshape(shape) + bias.reshape(shape)).astype(x.dtype, copy=False)

    def backward(self, g):
        xhat, invstd, weight = self.saved
        axes, shape = self.meta
        nx, nw, nb = self.needs_input_grad
        db = g.sum(axis=axes) if nb else None
        dw = (g * xhat).sum(axis=axes) if nw else None
        dx = None
        if nx:
            gw = g * weight.reshape(shape)
            dx = invstd.reshape(shape) * (gw - gw.mean(axis=axes, keepdims=True)
                                          - xhat * (gw * xhat).mean(axis=axes, keepdims=True))
            dx = dx.astype(g.dtype, copy=False)
        return dx, dw, db


def _check_stat(name: str, t, C: int):
    if t is None:
        return None
    if not isinstance(t, Tensor):
        raise TypeError(f"batch_norm: {name} must be a Tensor or None, got {type(t).__name__}")
    if tuple(t.shape) != (C,):
        raise ValueError(f"batch_norm: {name} must have shape ({C},) (one per channel), got "
                         f"{tuple(t.shape)}")
    return t


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation, as torch.nn.functional.batch_norm.

    Shapes: input (N, C) or (N, C, *) (e.g. (N, C, L), (N, C, H, W));
    running_mean, running_var, weight, bias (C,). ``training``: normalise
    with the batch's mean and biased variance over every axis but 1, and
    update the running buffers in place (momentum-weighted, unbiased
    variance) when they are given; otherwise normalise with the running
    buffers. ``y = (x - mean) / sqrt(var + eps) * weight + bias``.
    """
    fn = "batch_norm"
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim < 2:
        raise ValueError(f"{fn}: input must be (N, C) or (N, C, *), got shape "
                         f"{tuple(input.shape)}")
    if input.dtype.kind != "f":
        raise TypeError(f"{fn}: input must be floating point, got {input.dtype}")
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or eps < 0:
        raise ValueError(f"{fn}: eps must be a number >= 0, got {eps!r}")
    C = input.shape[1]
    running_mean = _check_stat("running_mean", running_mean, C)
    running_var = _check_stat("running_var", running_var, C)
    weight = _check_stat("weight", weight, C)
    bias = _check_stat("bias", bias, C)
    check_same_device([t.array for t in (input, running_mean, running_var, weight, bias)
                       if t is not None], fn)
    dtype = input.dtype
    xp = array_module(input.array)
    shape = (1, C) + (1,) * (input.ndim - 2)
    w = weight if weight is not None else Tensor(xp.ones(C, dtype))
    b = bias if bias is not None else Tensor(xp.zeros(C, dtype))
    if training:
        count = input.numel() // C if C else 0
        if count == 1:
            raise ValueError(f"{fn}: expected more than 1 value per channel when training, got "
                             f"input shape {tuple(input.shape)}")
        if input.numel() == 0:
            # nothing to normalise and no statistics to learn from
            return input * w.reshape(*shape) + b.reshape(*shape) * 0
        out = BatchNormFunction.apply(input, w, b, eps=float(eps))
        node = out.grad_fn
        if node is not None:
            mean, var = node.batch_stats
        else:  # no graph recorded: recompute the statistics (cheap next to the op)
            axes = (0,) + tuple(range(2, input.ndim))
            mean, var = input.array.mean(axis=axes), input.array.var(axis=axes)
        if momentum is None:
            momentum = 0.0
        if running_mean is not None:
            running_mean.array *= 1 - momentum
            running_mean.array += (momentum * mean).astype(running_mean.dtype, copy=False)
        if running_var is not None:
            unbiased = var * (count / (count - 1))
            running_var.array *= 1 - momentum
            running_var.array += (momentum * unbiased).astype(running_var.dtype, copy=False)
        return out
    if running_mean is None or running_var is None:
        raise ValueError(f"{fn}: running_mean and running_var are needed when training=False")
    invstd = 1.0 / xp.sqrt(running_var.array.astype(dtype) + eps)
    scale = Tensor(invstd.reshape(shape))
    return (input - Tensor(running_mean.array.astype(dtype).reshape(shape))) * scale \
        * w.reshape(*shape) + b.reshape(*shape)
