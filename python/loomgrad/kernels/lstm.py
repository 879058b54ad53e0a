"""The LSTM on arrays: one fused cell step and whole sequences, forward and backward.

PyTorch's conventions: gate order (i, f, g, o); ``w_ih`` (4H, I), ``w_hh``
(4H, H), biases (4H,); sequences are time-major (T, N, I). float32 or
float64, every array the same dtype. NumPy arrays run on csrc/cpu/lstm.cpp,
GPU arrays on csrc/cuda/lstm.cu (kernels/gpu/lstm.py, float32). Inputs that
are not C-contiguous are copied; outputs are new arrays.

Forward functions return a ``saved`` object (kernels/_saved.py) holding what
backward needs: pass it to the matching ``*_backward`` unchanged, and do not
modify the inputs in between.
"""
from __future__ import annotations

from .. import _cpu
from . import _alloc
from ._args import prefixed_float_array as arr, recurrent_state, recurrent_weights
from ._saved import CellSaved, SequenceSaved
from .gpu import lstm as gpu_lstm
from ._interop import any_array
from ._types import Array
from .gpu.arrays import any_gpu

__all__ = ["lstm_cell", "lstm_cell_backward", "lstm_sequence", "lstm_sequence_backward"]


@any_array
def lstm_cell(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None) -> tuple[Array, Array, CellSaved]:
    """One LSTM step, fused: ``gates = x @ w_ihᵀ + b_ih + h @ w_hhᵀ + b_hh``;
    ``c' = f*c + i*g``; ``h' = o*tanh(c')``.

    Shapes: x (N, I), h and c (N, H) (None: zeros), w_ih (4H, I), w_hh (4H, H),
    b_ih and b_hh (4H,) or None. Returns ``(h', c', saved)``, h' and c' (N, H).
    """
    if any_gpu(x, h, c, w_ih):
        return gpu_lstm.lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh)
    fn = "lstm_cell"
    x = arr(fn, "x", x)
    if x.ndim != 2:
        raise ValueError(f"{fn}: x must be 2-D (N, I), got shape {x.shape}")
    w_ih, w_hh, b_ih, b_hh = recurrent_weights(fn, x, w_ih, w_hh, b_ih, b_hh)
    N, H = x.shape[0], w_hh.shape[1]
    h = recurrent_state(fn, "h", h, N, H, x.dtype)
    c = recurrent_state(fn, "c", c, N, H, x.dtype)
    h1 = _alloc.empty(f"{fn}: h_out", (N, H), x.dtype)
    c1 = _alloc.empty(f"{fn}: c_out", (N, H), x.dtype)
    gates = _alloc.empty(f"{fn}: gates", (N, 4 * H), x.dtype)
    _cpu.lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih, b_hh, h1, c1, gates)
    saved = CellSaved(x=x, h=h, c=c, w_ih=w_ih, w_hh=w_hh, gates=gates, c_out=c1,
                      has_bias=b_ih is not None or b_hh is not None)
    return h1, c1, saved


@any_array
def lstm_cell_backward(dh_out, dc_out, saved, need_input_grads=True,
                       need_weight_grads=True) -> tuple[Array | None, ...]:
    """Gradients of :func:`lstm_cell` from dh' and dc' (N, H) (either may be None: zero).

    Returns ``(dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh)``: dx (N, I), dh and dc
    (N, H), dw_ih (4H, I), dw_hh (4H, H), db_ih and db_hh (4H,) (equal; None
    when the cell had no bias). ``need_input_grads=False`` skips dx/dh/dc,
    ``need_weight_grads=False`` the weight and bias gradients (None returned).
    """
    if any_gpu(getattr(saved, 'x', None)):
        return gpu_lstm.lstm_cell_backward(dh_out, dc_out, saved, need_input_grads,
                                            need_weight_grads)
    fn = "lstm_cell_backward"
    s = saved
    dt = s.x.dtype
    N, I = s.x.shape
    H = s.w_hh.shape[1]
    dh_out = arr(fn, "dh_out", dh_out, dt)
    dc_out = arr(fn, "dc_out", dc_out, dt)
    e = lambda shape, dtype: _alloc.empty(f"{fn}: output", shape, dtype)  # noqa: E731
    dgates = e((N, 4 * H), dt)
    dx, dh, dc = (e((N, I), dt), e((N, H), dt), e((N, H), dt)) if need_input_grads else \
        (None, None, None)
    dw_ih, dw_hh = (e((4 * H, I), dt), e((4 * H, H), dt)) if need_weight_grads else (None, None)
    db = e((4 * H,), dt) if need_weight_grads and s.has_bias else None
    _cpu.lstm_cell_backward(dh_out, dc_out, s.x, s.h, s.c, s.w_ih, s.w_hh, s.gates,
                                  s.c_out, dgates, dx, dh, dc, dw_ih, dw_hh, db)
    return dx, dh, dc, dw_ih, dw_hh, db, (None if db is None else db.copy())


@any_array
def lstm_sequence(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None,
                  reverse=False) -> tuple[Array, Array, Array, SequenceSaved]:
    """One LSTM layer over a whole sequence, in one direction.

    Shapes: x (T, N, I), h0 and c0 (N, H) (None: zeros), w_ih (4H, I), w_hh
    (4H, H), b_ih and b_hh (4H,) or None. ``reverse=True`` runs t = T-1 .. 0
    (the backward half of a bidirectional layer); y stays in input time
    order. Returns ``(y (T, N, H), h_T (N, H), c_T (N, H), saved)``; with T = 0
    y is empty and the state passes through unchanged.

    The input projection of all T steps is one GEMM; each step is one GEMM
    (h @ w_hhᵀ) plus a fused pointwise pass.
    """
    if any_gpu(x, h0, c0, w_ih):
        return gpu_lstm.lstm_sequence(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
    fn = "lstm_sequence"
    x = arr(fn, "x", x)
    if x.ndim != 3:
        raise ValueError(f"{fn}: x must be 3-D (T, N, I), got shape {x.shape}")
    w_ih, w_hh, b_ih, b_hh = recurrent_weights(fn, x, w_ih, w_hh, b_ih, b_hh)
    T, N, _ = x.shape
    H = w_hh.shape[1]
    h0 = recurrent_state(fn, "h0", h0, N, H, x.dtype)
    c0 = recurrent_state(fn, "c0", c0, N, H, x.dtype)
    e = lambda shape, dtype: _alloc.empty(f"{fn}: output", shape, dtype)  # noqa: E731
    y, h_n, c_n = e((T, N, H), x.dtype), e((N, H), x.dtype), e((N, H), x.dtype)
    gates, cs = e((T, N, 4 * H), x.dtype), e((T, N, H), x.dtype)
    _cpu.lstm_sequence_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, y, h_n, c_n, gates, cs,
                                     bool(reverse))
    saved = SequenceSaved(x=x, h0=h0, c0=c0, w_ih=w_ih, w_hh=w_hh, y=y, gates=gates, cs=cs,
                          reverse=bool(reverse), has_bias=b_ih is not None or b_hh is not None)
    return y, h_n, c_n, saved


@any_array
def lstm_sequence_backward(dy, dh_n, dc_n, saved, need_input_grad=True,
                           need_weight_grads=True) -> tuple[Array | None, ...]:
    """Gradients of :func:`lstm_sequence` from dy (T, N, H), dh_T and dc_T (N, H)
    (each may be None: zero).

    Returns ``(dx (T, N, I), dh0 (N, H), dc0 (N, H), dw_ih (4H, I), dw_hh
    (4H, H), db_ih (4H,), db_hh (4H,))``; db_ih equals db_hh (None without
    bias). ``need_input_grad=False`` skips dx, ``need_weight_grads=False`` the
    weight and bias gradients (None returned). The weight gradients are a few
    large GEMMs over all T*N rows, not per-step sums.
    """
    if any_gpu(getattr(saved, 'x', None)):
        return gpu_lstm.lstm_sequence_backward(dy, dh_n, dc_n, saved, need_input_grad,
                                                 need_weight_grads)
    fn = "lstm_sequence_backward"
    s = saved
    dt = s.x.dtype
    T, N, I = s.x.shape
    H = s.w_hh.shape[1]
    dy = arr(fn, "dy", dy, dt)
    dh_n = arr(fn, "dh_n", dh_n, dt)
    dc_n = arr(fn, "dc_n", dc_n, dt)
    e = lambda shape, dtype: _alloc.empty(f"{fn}: output", shape, dtype)  # noqa: E731
    dgates = e((T, N, 4 * H), dt)
    dx = e((T, N, I), dt) if need_input_grad else None
    dh0, dc0 = e((N, H), dt), e((N, H), dt)
    dw_ih, dw_hh = (e((4 * H, I), dt), e((4 * H, H), dt)) if need_weight_grads else (None, None)
    db = e((4 * H,), dt) if need_weight_grads and s.has_bias else None
    _cpu.lstm_sequence_backward(dy, dh_n, dc_n, s.x, s.h0, s.c0, s.w_ih, s.w_hh, s.y,
                                      s.gates, s.cs, dgates, dx, dh0, dc0, dw_ih, dw_hh, db,
                                      s.reverse)
    return dx, dh0, dc0, dw_ih, dw_hh, db, (None if db is None else db.copy())
