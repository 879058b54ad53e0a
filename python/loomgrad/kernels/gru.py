"""The GRU on arrays: whole sequences, forward and backward (CPU; csrc/cpu/gru.cpp).

torch.nn.GRU's conventions: gates (r, z, n), ``w_ih`` (3H, I), ``w_hh``
(3H, H), biases (3H,); time-major (T, N, I). float32 or float64. On the GPU
nn.GRU runs CuPy array maths around our GEMM instead (nn/functional/rnn.py).
"""
from __future__ import annotations

from .. import _cpu
from . import _alloc
from ._args import prefixed_float_array as arr, recurrent_state, recurrent_weights
from ._saved import GRUSaved
from ._interop import any_array
from ._types import Array
from .gpu.arrays import any_gpu

__all__ = ["gru_sequence", "gru_sequence_backward"]


@any_array
def gru_sequence(x, h0, w_ih, w_hh, b_ih=None, b_hh=None,
                 reverse=False) -> tuple[Array, Array, GRUSaved]:
    """One GRU layer over a whole sequence, in one direction (CPU arrays).

    torch.nn.GRU's gates (r, z, n): r = σ(x W_irᵀ + b_ir + h W_hrᵀ + b_hr),
    z likewise, n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn)),
    h' = (1 - z) ⊙ n + z ⊙ h. Shapes: x (T, N, I), h0 (N, H) (None: zeros),
    w_ih (3H, I), w_hh (3H, H), b_ih and b_hh (3H,) or None. ``reverse=True``
    runs t = T-1 .. 0; y stays in input time order. Returns
    ``(y (T, N, H), h_T (N, H), saved)``; with T = 0 y is empty and h0 passes
    through. The input projection of all T steps is one GEMM; the recurrence
    is the LSTM's (hidden units split over threads, one barrier per step).
    """
    fn = "gru_sequence"
    if any_gpu(x, h0, w_ih):
        raise TypeError(f"{fn}: runs on the CPU only for now (got a GPU array); nn.GRU on the "
                        f"GPU uses CuPy array maths")
    x = arr(fn, "x", x)
    if x.ndim != 3:
        raise ValueError(f"{fn}: x must be 3-D (T, N, I), got shape {x.shape}")
    w_ih, w_hh, b_ih, b_hh = recurrent_weights(fn, x, w_ih, w_hh, b_ih, b_hh, gates=3)
    T, N, _ = x.shape
    H = w_hh.shape[1]
    h0 = recurrent_state(fn, "h0", h0, N, H, x.dtype)
    e = lambda shape, dtype: _alloc.empty(f"{fn}: output", shape, dtype)  # noqa: E731
    y, h_n, acts = e((T, N, H), x.dtype), e((N, H), x.dtype), e((T, N, 4 * H), x.dtype)
    _cpu.gru_sequence_forward(x, h0, w_ih, w_hh, b_ih, b_hh, y, h_n, acts, bool(reverse))
    saved = GRUSaved(x=x, h0=h0, w_ih=w_ih, w_hh=w_hh, y=y, acts=acts, reverse=bool(reverse),
                     has_bias=b_ih is not None or b_hh is not None)
    return y, h_n, saved


@any_array
def gru_sequence_backward(dy, dh_n, saved, need_input_grad=True,
                          need_weight_grads=True) -> tuple[Array | None, ...]:
    """Gradients of :func:`gru_sequence` from dy (T, N, H) and dh_T (N, H)
    (either may be None: zero).

    Returns ``(dx (T, N, I), dh0 (N, H), dw_ih (3H, I), dw_hh (3H, H),
    db_ih (3H,), db_hh (3H,))`` (bias gradients None without bias).
    ``need_input_grad=False`` skips dx, ``need_weight_grads=False`` the weight
    and bias gradients (None returned).
    """
    fn = "gru_sequence_backward"
    s = saved
    if not isinstance(s, GRUSaved):
        raise TypeError(f"{fn}: saved must be what gru_sequence returned, got "
                        f"{type(s).__name__}")
    dt = s.x.dtype
    T, N, I = s.x.shape
    H = s.w_hh.shape[1]
    dy = arr(fn, "dy", dy, dt)
    dh_n = arr(fn, "dh_n", dh_n, dt)
    e = lambda shape, dtype: _alloc.empty(f"{fn}: output", shape, dtype)  # noqa: E731
    dgx, dgh = e((T, N, 3 * H), dt), e((T, N, 3 * H), dt)
    dx = e((T, N, I), dt) if need_input_grad else None
    dh0 = e((N, H), dt)
    dw_ih, dw_hh = (e((3 * H, I), dt), e((3 * H, H), dt)) if need_weight_grads else (None, None)
    db_ih, db_hh = (e((3 * H,), dt), e((3 * H,), dt)) if need_weight_grads and s.has_bias \
        else (None, None)
    _cpu.gru_sequence_backward(dy, dh_n, s.x, s.h0, s.w_ih, s.w_hh, s.y, s.acts, dgx, dgh,
                                     dx, dh0, dw_ih, dw_hh, db_ih, db_hh, s.reverse)
    return dx, dh0, dw_ih, dw_hh, db_ih, db_hh
