"""batch_norm as one fused autograd node (training) or plain Tensor maths (eval); layer_norm
and group_norm as one node each on the fused C++ kernels (lg.kernels.layer_norm / group_norm).

Training normalises with the batch statistics (the classic three-term
backward) and updates the running buffers in place as torch does, with the
unbiased batch variance for ``running_var``. The modules are nn/batchnorm.py.
"""
from __future__ import annotations

import numbers

import numpy as np

from ... import kernels
from ...autograd import Function, array_module, check_same_device
from ...tensor import Tensor

__all__ = ["batch_norm", "BatchNormFunction", "layer_norm", "LayerNormFunction", "group_norm",
           "GroupNormFunction"]


class BatchNormFunction(Function):
    """Training-mode batch norm over every axis but 1: inputs (x, weight, bias).

    float32/float64 NumPy arrays run on the fused kernel (``kernels.batch_norm``: two passes
    over x forward, two over (dy, x) backward, x-hat recomputed from the saved mean and rstd);
    other arrays (GPU, other float dtypes) on array maths that save x_hat = (x - mean) *
    invstd. Backward is dx = invstd * (dy*w - mean(dy*w) - x_hat * mean(dy*w * x_hat)) over
    the reduced axes, dw = sum(dy * x_hat), db = sum(dy).
    """

    def forward(self, x, weight, bias, *, eps):
        if _fused(x, weight, bias):
            out, mean, var, rstd = kernels.batch_norm(x, weight, bias, eps)
            self.batch_stats = (mean, var)
            self.saved = (x, mean, rstd, weight)
            return out
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
        nx, nw, nb = self.needs_input_grad
        if len(self.saved) == 4:
            x, mean, rstd, weight = self.saved
            return kernels.batch_norm_backward(g, x, mean, rstd, weight, need=(nx, nw, nb))
        xhat, invstd, weight = self.saved
        axes, shape = self.meta
        db = g.sum(axis=axes) if nb else None
        dw = (g * xhat).sum(axis=axes) if nw else None
        dx = None
        if nx:
            gw = g * weight.reshape(shape)
            dx = invstd.reshape(shape) * (gw - gw.mean(axis=axes, keepdims=True)
                                          - xhat * (gw * xhat).mean(axis=axes, keepdims=True))
            dx = dx.astype(g.dtype, copy=False)
        return dx, dw, db


def _fused(*arrays) -> bool:
    """True when the fused CPU kernel takes these arrays: NumPy, one of float32/float64."""
    dt = arrays[0].dtype
    return dt in (np.float32, np.float64) and all(
        isinstance(a, np.ndarray) and a.dtype == dt for a in arrays)


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


class _AffineNormFunction(Function):
    """A normalisation node with inputs (x, [weight], [bias]); ``has`` says which of weight
    and bias are present. Forward saves x, the mean, rstd and weight; backward asks the
    kernel for only the gradients the graph needs."""

    def _split(self, params, has):
        it = iter(params)
        w = next(it) if has[0] else None
        b = next(it) if has[1] else None
        return w, b

    def _need(self):
        need = self.needs_input_grad
        it = iter(need[1:])
        nw = next(it) if self.has[0] else False
        nb = next(it) if self.has[1] else False
        return need[0], nw, nb

    def _grads(self, dx, dw, db):
        out = [dx]
        if self.has[0]:
            out.append(dw)
        if self.has[1]:
            out.append(db)
        return tuple(out)


class LayerNormFunction(_AffineNormFunction):
    """layer_norm as one node: inputs (x, [weight], [bias])."""

    def forward(self, x, *params, normalized_shape, eps, has):
        self.has, self.shape = has, normalized_shape
        w, b = self._split(params, has)
        out, mean, rstd = kernels.layer_norm(x, normalized_shape, w, b, eps)
        self.saved = (x, mean, rstd, w)
        return out

    def backward(self, g):
        x, mean, rstd, w = self.saved
        dx, dw, db = kernels.layer_norm_backward(g, x, self.shape, mean, rstd, w,
                                                 need=self._need())
        return self._grads(dx, dw, db)


class GroupNormFunction(_AffineNormFunction):
    """group_norm as one node: inputs (x, [weight], [bias])."""

    def forward(self, x, *params, num_groups, eps, has):
        self.has, self.groups = has, num_groups
        w, b = self._split(params, has)
        out, mean, rstd = kernels.group_norm(x, num_groups, w, b, eps)
        self.saved = (x, mean, rstd, w)
        return out

    def backward(self, g):
        x, mean, rstd, w = self.saved
        dx, dw, db = kernels.group_norm_backward(g, x, self.groups, mean, rstd, w,
                                                 need=self._need())
        return self._grads(dx, dw, db)


def _check_eps(fn: str, eps) -> float:
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or eps < 0:
        raise ValueError(f"{fn}: eps must be a number >= 0, got {eps!r}")
    return float(eps)


def _check_affine(fn: str, name: str, t, shape: tuple, input: Tensor):
    if t is None:
        return None
    if not isinstance(t, Tensor):
        raise TypeError(f"{fn}: {name} must be a Tensor or None, got {type(t).__name__}")
    if tuple(t.shape) != shape:
        raise ValueError(f"{fn}: {name} must have shape {shape}, got {tuple(t.shape)}")
    if t.dtype != input.dtype:
        raise TypeError(f"{fn}: {name} must have the input's dtype {input.dtype}, got {t.dtype}")
    return t


def _float_tensor(fn: str, input) -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn}: input must be a Tensor, got {type(input).__name__}")
    if input.dtype.kind != "f":
        raise TypeError(f"{fn}: input must be floating point, got {input.dtype}")
    return input


def _apply_affine_norm(cls, input, weight, bias, **kw):
    params = [t for t in (weight, bias) if t is not None]
    return cls.apply(input, *params, has=(weight is not None, bias is not None), **kw)


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Layer normalisation over the last ``len(normalized_shape)`` dims, as
    torch.nn.functional.layer_norm: ``(x - mean) / sqrt(var + eps) * weight + bias`` with the
    biased variance of each normalised slice. weight, bias: ``normalized_shape`` or None.
    One fused node (csrc/cpu/norm.cpp; CPU only)."""
    fn = "layer_norm"
    _float_tensor(fn, input)
    shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else \
        tuple(normalized_shape)
    if not shape or input.ndim < len(shape) or tuple(input.shape[input.ndim - len(shape):]) \
            != shape:
        raise ValueError(f"{fn}: normalized_shape {shape} must be non-empty and match the last "
                         f"dims of input shape {tuple(input.shape)}")
    weight = _check_affine(fn, "weight", weight, shape, input)
    bias = _check_affine(fn, "bias", bias, shape, input)
    return _apply_affine_norm(LayerNormFunction, input, weight, bias, normalized_shape=shape,
                              eps=_check_eps(fn, eps))


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Group normalisation, as torch.nn.functional.group_norm: input (N, C, *) is split into
    ``num_groups`` groups of C / num_groups channels, each (n, group) normalised over its
    channels and spatial positions; weight, bias: (C,) or None. One fused node
    (csrc/cpu/norm.cpp; CPU only)."""
    fn = "group_norm"
    _float_tensor(fn, input)
    if input.ndim < 2:
        raise ValueError(f"{fn}: expected an input of at least 2 dims (N, C, *), got shape "
                         f"{tuple(input.shape)}")
    C = input.shape[1]
    if isinstance(num_groups, bool) or not isinstance(num_groups, numbers.Integral) or \
            num_groups < 1 or C % num_groups:
        raise ValueError(f"{fn}: num_groups ({num_groups!r}) must be an int >= 1 that divides "
                         f"the {C} channels of input shape {tuple(input.shape)}")
    weight = _check_affine(fn, "weight", weight, (C,), input)
    bias = _check_affine(fn, "bias", bias, (C,), input)
    return _apply_affine_norm(GroupNormFunction, input, weight, bias,
                              num_groups=int(num_groups), eps=_check_eps(fn, eps))
