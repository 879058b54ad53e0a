"""linear: y = x·Wᵀ + b as one autograd node on our GEMM."""
from __future__ import annotations

import numpy as np

from ... import kernels
from ...autograd import Function, array_module
from ...kernels import _alloc
from ...tensor import Tensor
from ._checks import _check_tensor

__all__ = ["linear"]


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``: (*, in) x (out, in) [+ (out,)] -> (*, out).

    One GEMM on our kernels (the transpose is a flag, not a copy). Inputs
    with more than two dims are flattened to 2-D around the GEMM.
    """
    _check_tensor("linear", "input", input)
    _check_tensor("linear", "weight", weight)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape "
                         f"{tuple(weight.shape)}")
    if input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input's last dim must equal in_features = {weight.shape[1]}, "
                         f"got input {tuple(input.shape)} and weight {tuple(weight.shape)}")
    if input.dtype != weight.dtype:
        raise TypeError(f"linear: input and weight must have the same dtype, got {input.dtype} "
                        f"{tuple(input.shape)} and {weight.dtype} {tuple(weight.shape)} "
                        f"(convert the input with .float() / .double() or the model with "
                        f".to(dtype))")
    if bias is not None:
        _check_tensor("linear", "bias", bias)
        if tuple(bias.shape) != (weight.shape[0],):
            raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got "
                             f"{tuple(bias.shape)}")
    # our GEMM: CPU float32/float64, GPU float32; other cases through the generic ops
    if not (input.dtype == np.float32 or
            (isinstance(input.array, np.ndarray) and input.dtype == np.float64)):
        out = input @ weight.T
        return out if bias is None else out + bias
    if bias is None:
        return _Linear.apply(input, weight)
    if bias.dtype != weight.dtype:
        raise TypeError(f"linear: bias must have weight's dtype {weight.dtype}, got {bias.dtype}")
    return _Linear.apply(input, weight, bias)


class _Linear(Function):
    """y = x·Wᵀ + b as one node on our GEMM (CPU float32/64, GPU float32). The leading
    dims of x fold into GEMM rows; backward uses the transpose flags, so
    dW = dyᵀ·x comes out C-ordered in W's own (out, in) layout (through
    ``x @ weight.T`` it would arrive as a transposed view, which makes every
    later elementwise update of W stride across memory)."""

    def forward(self, x, w, b=None):
        self.x_shape = x.shape
        xc = _alloc.contiguous("input", x) if isinstance(x, np.ndarray) else \
            array_module(x).ascontiguousarray(x)
        x2 = xc.reshape(_rows(x), w.shape[1])
        out = kernels.gemm(x2, w, trans_b=True)
        if b is not None:
            out += b
        nx, nw = self.needs_input_grad[0], self.needs_input_grad[1]
        self.saved = (x2 if nw else None, w if nx else None)
        return out.reshape(x.shape[:-1] + (w.shape[0],))

    def backward(self, g):
        x2, w = self.saved
        g2 = array_module(g).ascontiguousarray(g).reshape(_rows(g), g.shape[-1])
        dx = dw = db = None
        if self.needs_input_grad[0]:
            dx = kernels.gemm(g2, w).reshape(self.x_shape)
        if self.needs_input_grad[1]:
            dw = kernels.gemm(g2, x2, trans_a=True)
        if len(self.needs_input_grad) > 2 and self.needs_input_grad[2]:
            db = g2.sum(axis=0)
        return (dx, dw) if len(self.needs_input_grad) == 2 else (dx, dw, db)


def _rows(x) -> int:
    """Product of all but the last dim (explicit: reshape(-1, n) fails on size 0)."""
    n = 1
    for d in x.shape[:-1]:
        n *= d
    return n
