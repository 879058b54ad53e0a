"""Raw LSTM kernels on NumPy arrays (re-exported by :mod:`loomgrad.kernels`).

PyTorch's conventions: gate order (i, f, g, o); ``w_ih`` (4H, I), ``w_hh``
(4H, H), biases (4H,); sequences are time-major (T, N, I). float32 or
float64, every array the same dtype. Inputs that are not C-contiguous are
copied; outputs are allocated here with ``numpy.empty``.

Forward functions return a ``saved`` object holding what backward needs
(references to the inputs, the gate activations and the cell states): pass it
to the matching ``*_backward`` unchanged, and do not modify the inputs in
between.
"""
from __future__ import annotations

import numpy as np

from . import _alloc, _gpu, _gpu_lstm
from . import _cpu as _module  # the compiled kernels (a test build may swap this)

__all__ = ["lstm_cell", "lstm_cell_backward", "lstm_sequence", "lstm_sequence_backward",
           "gru_sequence", "gru_sequence_backward"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _kernels():
    if not hasattr(_module, "lstm_sequence_forward"):
        raise RuntimeError("loomgrad._cpu was built without the LSTM kernels; rebuild the "
                           "package (pip install -e .)")
    return _module


def _arr(fn, name, a, dtype=None):
    """A C-contiguous float array (float32/float64), dtype-matched to ``dtype``."""
    if a is None:
        return None
    if not isinstance(a, np.ndarray):
        if hasattr(a, "__cuda_array_interface__"):
            raise TypeError(f"{fn}: {name}: the LSTM kernels run on the CPU only (got a GPU "
                            f"array)")
        a = np.asarray(a, dtype=dtype)
    if a.dtype not in _FLOATS:
        raise TypeError(f"{fn}: {name}: expected float32 or float64, got dtype {a.dtype} with "
                        f"shape {a.shape}")
    if dtype is not None and a.dtype != dtype:
        raise TypeError(f"{fn}: {name} has dtype {a.dtype} but x has {dtype} (shape {a.shape}); "
                        f"all arrays must share one dtype")
    return _alloc.contiguous(f"{fn}: {name}", a)


def _weights(fn, x, w_ih, w_hh, b_ih, b_hh, gates=4):
    w_ih = _arr(fn, "w_ih", w_ih, x.dtype)
    w_hh = _arr(fn, "w_hh", w_hh, x.dtype)
    if w_hh.ndim != 2 or w_hh.shape[0] != gates * w_hh.shape[1]:
        raise ValueError(f"{fn}: w_hh must have shape ({gates}*hidden, hidden), got "
                         f"{w_hh.shape}")
    return w_ih, w_hh, _arr(fn, "b_ih", b_ih, x.dtype), _arr(fn, "b_hh", b_hh, x.dtype)


def _state(fn, name, s, N, H, dtype):
    if s is None:
        return np.zeros((N, H), dtype)
    return _arr(fn, name, s, dtype)


class _Saved:
    """A forward's saved state: the fields a subclass lists in ``__slots__``."""

    __slots__ = ()

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)


class CellSaved(_Saved):
    """What :func:`lstm_cell_backward` needs from :func:`lstm_cell`."""

    __slots__ = ("x", "h", "c", "w_ih", "w_hh", "gates", "c_out", "has_bias")


class SequenceSaved(_Saved):
    """What :func:`lstm_sequence_backward` needs from :func:`lstm_sequence`:
    gate activations (T, N, 4H), cell states (T, N, H), the output y and
    references to the inputs."""

    __slots__ = ("x", "h0", "c0", "w_ih", "w_hh", "y", "gates", "cs", "reverse", "has_bias")


def lstm_cell(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step, fused: ``gates = x @ w_ihᵀ + b_ih + h @ w_hhᵀ + b_hh``;
    ``c' = f*c + i*g``; ``h' = o*tanh(c')``.

    Shapes: x (N, I), h and c (N, H) (None: zeros), w_ih (4H, I), w_hh (4H, H),
    b_ih and b_hh (4H,) or None. Returns ``(h', c', saved)``, h' and c' (N, H).
    """
    if _gpu.any_gpu(x, h, c, w_ih):
        return _gpu_lstm.lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh)
    fn = "lstm_cell"
    x = _arr(fn, "x", x)
    if x.ndim != 2:
        raise ValueError(f"{fn}: x must be 2-D (N, I), got shape {x.shape}")
    w_ih, w_hh, b_ih, b_hh = _weights(fn, x, w_ih, w_hh, b_ih, b_hh)
    N, H = x.shape[0], w_hh.shape[1]
    h = _state(fn, "h", h, N, H, x.dtype)
    c = _state(fn, "c", c, N, H, x.dtype)
    h1 = _alloc.empty(f"{fn}: h_out", (N, H), x.dtype)
    c1 = _alloc.empty(f"{fn}: c_out", (N, H), x.dtype)
    gates = _alloc.empty(f"{fn}: gates", (N, 4 * H), x.dtype)
    _kernels().lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih, b_hh, h1, c1, gates)
    saved = CellSaved(x=x, h=h, c=c, w_ih=w_ih, w_hh=w_hh, gates=gates, c_out=c1,
                      has_bias=b_ih is not None or b_hh is not None)
    return h1, c1, saved


def lstm_cell_backward(dh_out, dc_out, saved, need_input_grads=True, need_weight_grads=True):
    """Gradients of :func:`lstm_cell` from dh' and dc' (N, H) (either may be None: zero).

    Returns ``(dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh)``: dx (N, I), dh and dc
    (N, H), dw_ih (4H, I), dw_hh (4H, H), db_ih and db_hh (4H,) (equal; None
    when the cell had no bias). ``need_input_grads=False`` skips dx/dh/dc,
    ``need_weight_grads=False`` the weight and bias gradients (None returned).
    """
    if _gpu.any_gpu(getattr(saved, 'x', None)):
        return _gpu_lstm.lstm_cell_backward(dh_out, dc_out, saved, need_input_grads,
                                            need_weight_grads)
    fn = "lstm_cell_backward"
    s = saved
    dt = s.x.dtype
    N, I = s.x.shape
    H = s.w_hh.shape[1]
    dh_out = _arr(fn, "dh_out", dh_out, dt)
    dc_out = _arr(fn, "dc_out", dc_out, dt)
    e = lambda shape, dtype: _alloc.empty(f"{fn}: output", shape, dtype)  # noqa: E731
    dgates = e((N, 4 * H), dt)
    dx, dh, dc = (e((N, I), dt), e((N, H), dt), e((N, H), dt)) if need_input_grads else \
        (None, None, None)
    dw_ih, dw_hh = (e((4 * H, I), dt), e((4 * H, H), dt)) if need_weight_grads else (None, None)
    db = e((4 * H,), dt) if need_weight_grads and s.has_bias else None
    _kernels().lstm_cell_backward(dh_out, dc_out, s.x, s.h, s.c, s.w_ih, s.w_hh, s.gates,
                                  s.c_out, dgates, dx, dh, dc, dw_ih, dw_hh, db)
    return dx, dh, dc, dw_ih, dw_hh, db, (None if db is None else db.copy())


def lstm_sequence(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """One LSTM layer over a whole sequence, in one direction.

    Shapes: x (T, N, I), h0 and c0 (N, H) (None: zeros), w_ih (4H, I), w_hh
    (4H, H), b_ih and b_hh (4H,) or None. ``reverse=True`` runs t = T-1 .. 0
    (the backward half of a bidirectional layer); y stays in input time
    order. Returns ``(y (T, N, H), h_T (N, H), c_T (N, H), saved)``; with T = 0
    y is empty and the state passes through unchanged.

    The input projection of all T steps is one GEMM; each step is one GEMM
    (h @ w_hhᵀ) plus a fused pointwise pass.
    """
    if _gpu.any_gpu(x, h0, c0, w_ih):
        return _gpu_lstm.lstm_sequence(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
    fn = "lstm_sequence"
    x = _arr(fn, "x", x)
    if x.ndim != 3:
        raise ValueError(f"{fn}: x must be 3-D (T, N, I), got shape {x.shape}")
    w_ih, w_hh, b_ih, b_hh = _weights(fn, x, w_ih, w_hh, b_ih, b_hh)
    T, N, _ = x.shape
    H = w_hh.shape[1]
    h0 = _state(fn, "h0", h0, N, H, x.dtype)
    c0 = _state(fn, "c0", c0, N, H, x.dtype)
    e = lambda shape, dtype: _alloc.empty(f"{fn}: output", shape, dtype)  # noqa: E731
    y, h_n, c_n = e((T, N, H), x.dtype), e((N, H), x.dtype), e((N, H), x.dtype)
    gates, cs = e((T, N, 4 * H), x.dtype), e((T, N, H), x.dtype)
    _kernels().lstm_sequence_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, y, h_n, c_n, gates, cs,
                                     bool(reverse))
    saved = SequenceSaved(x=x, h0=h0, c0=c0, w_ih=w_ih, w_hh=w_hh, y=y, gates=gates, cs=cs,
                          reverse=bool(reverse), has_bias=b_ih is not None or b_hh is not None)
    return y, h_n, c_n, saved


def lstm_sequence_backward(dy, dh_n, dc_n, saved, need_input_grad=True, need_weight_grads=True):
    """Gradients of :func:`lstm_sequence` from dy (T, N, H), dh_T and dc_T (N, H)
    (each may be None: zero).

    Returns ``(dx (T, N, I), dh0 (N, H), dc0 (N, H), dw_ih (4H, I), dw_hh
    (4H, H), db_ih (4H,), db_hh (4H,))``; db_ih equals db_hh (None without
    bias). ``need_input_grad=False`` skips dx, ``need_weight_grads=False`` the
    weight and bias gradients (None returned). The weight gradients are a few
    large GEMMs over all T*N rows, not per-step sums.
    """
    if _gpu.any_gpu(getattr(saved, 'x', None)):
        return _gpu_lstm.lstm_sequence_backward(dy, dh_n, dc_n, saved, need_input_grad,
                                                 need_weight_grads)
    fn = "lstm_sequence_backward"
    s = saved
    dt = s.x.dtype
    T, N, I = s.x.shape
    H = s.w_hh.shape[1]
    dy = _arr(fn, "dy", dy, dt)
    dh_n = _arr(fn, "dh_n", dh_n, dt)
    dc_n = _arr(fn, "dc_n", dc_n, dt)
    e = lambda shape, dtype: _alloc.empty(f"{fn}: output", shape, dtype)  # noqa: E731
    dgates = e((T, N, 4 * H), dt)
    dx = e((T, N, I), dt) if need_input_grad else None
    dh0, dc0 = e((N, H), dt), e((N, H), dt)
    dw_ih, dw_hh = (e((4 * H, I), dt), e((4 * H, H), dt)) if need_weight_grads else (None, None)
    db = e((4 * H,), dt) if need_weight_grads and s.has_bias else None
    _kernels().lstm_sequence_backward(dy, dh_n, dc_n, s.x, s.h0, s.c0, s.w_ih, s.w_hh, s.y,
                                      s.gates, s.cs, dgates, dx, dh0, dc0, dw_ih, dw_hh, db,
                                      s.reverse)
    return dx, dh0, dc0, dw_ih, dw_hh, db, (None if db is None else db.copy())


class GRUSaved(_Saved):
    """What :func:`gru_sequence_backward` needs from :func:`gru_sequence`: acts
    (T, N, 4H) = r, z, n and hn = h W_hnᵀ + b_hn per step, the output y and
    references to the inputs."""

    __slots__ = ("x", "h0", "w_ih", "w_hh", "y", "acts", "reverse", "has_bias")


def gru_sequence(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
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
    if _gpu.any_gpu(x, h0, w_ih):
        raise TypeError(f"{fn}: runs on the CPU only for now (got a GPU array); nn.GRU on the "
                        f"GPU uses CuPy array maths")
    x = _arr(fn, "x", x)
    if x.ndim != 3:
        raise ValueError(f"{fn}: x must be 3-D (T, N, I), got shape {x.shape}")
    w_ih, w_hh, b_ih, b_hh = _weights(fn, x, w_ih, w_hh, b_ih, b_hh, gates=3)
    T, N, _ = x.shape
    H = w_hh.shape[1]
    h0 = _state(fn, "h0", h0, N, H, x.dtype)
    e = lambda shape, dtype: _alloc.empty(f"{fn}: output", shape, dtype)  # noqa: E731
    y, h_n, acts = e((T, N, H), x.dtype), e((N, H), x.dtype), e((T, N, 4 * H), x.dtype)
    _kernels().gru_sequence_forward(x, h0, w_ih, w_hh, b_ih, b_hh, y, h_n, acts, bool(reverse))
    saved = GRUSaved(x=x, h0=h0, w_ih=w_ih, w_hh=w_hh, y=y, acts=acts, reverse=bool(reverse),
                     has_bias=b_ih is not None or b_hh is not None)
    return y, h_n, saved


def gru_sequence_backward(dy, dh_n, saved, need_input_grad=True, need_weight_grads=True):
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
    dy = _arr(fn, "dy", dy, dt)
    dh_n = _arr(fn, "dh_n", dh_n, dt)
    e = lambda shape, dtype: _alloc.empty(f"{fn}: output", shape, dtype)  # noqa: E731
    dgx, dgh = e((T, N, 3 * H), dt), e((T, N, 3 * H), dt)
    dx = e((T, N, I), dt) if need_input_grad else None
    dh0 = e((N, H), dt)
    dw_ih, dw_hh = (e((3 * H, I), dt), e((3 * H, H), dt)) if need_weight_grads else (None, None)
    db_ih, db_hh = (e((3 * H,), dt), e((3 * H,), dt)) if need_weight_grads and s.has_bias \
        else (None, None)
    _kernels().gru_sequence_backward(dy, dh_n, s.x, s.h0, s.w_ih, s.w_hh, s.y, s.acts, dgx, dgh,
                                     dx, dh0, dw_ih, dw_hh, db_ih, db_hh, s.reverse)
    return dx, dh0, dw_ih, dw_hh, db_ih, db_hh
