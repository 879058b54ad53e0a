"""GPU half of the raw LSTM kernels (kernels/lstm.py routes GPU arrays here): the same signatures, shapes, saved objects and errors as the
CPU functions, float32 only, on CuPy's current stream.

Arrays may be CuPy arrays or any GPU array (``__cuda_array_interface__``,
DLPack); results and workspaces are CuPy arrays from CuPy's pool. The saved
objects are the CPU module's ``CellSaved`` / ``SequenceSaved`` holding CuPy
arrays.

``lstm_sequence`` and ``lstm_sequence_backward`` run one of two paths
(csrc/cuda/lstm.cu): the GEMM driver (one GEMM for the input projection,
per step one GEMM and a fused pointwise kernel) or, for small batches, the
persistent kernels (one cooperative launch for all T steps, this block's
slice of w_hh held in shared memory). ``forced_path`` picks one for a block
of code; ``last_path`` / ``last_backward_path`` say which ran last.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .._saved import CellSaved, SequenceSaved
from .._types import GpuArray
from . import arrays

__all__ = ["lstm_cell", "lstm_cell_backward", "lstm_sequence", "lstm_sequence_backward",
           "forced_path", "last_path", "last_backward_path"]

# lstm_sequence_forward's mode argument and return value in the _cuda module.
_MODES = {"auto": 0, "gemm": -1, "persistent": 1}
_PATHS = {0: "gemm", 1: "persistent"}
_mode = 0
last_path = None  # "gemm" or "persistent": the path the latest lstm_sequence took
last_backward_path = None  # the same for the latest lstm_sequence_backward


@contextlib.contextmanager
def forced_path(path) -> Iterator[None]:
    """Inside the block, ``lstm_sequence`` and ``lstm_sequence_backward`` on
    GPU arrays run ``path``:
    "persistent" (a ValueError saying why when the persistent kernel cannot
    run for the shape), "gemm", or "auto"/None (the default choice). Not
    thread-safe: it sets a module-wide setting."""
    global _mode
    key = "auto" if path is None else path
    if key not in _MODES:
        raise ValueError(f"forced_path: path must be 'persistent', 'gemm', 'auto' or None, "
                         f"got {path!r}")
    old, _mode = _mode, _MODES[key]
    try:
        yield
    finally:
        _mode = old


def _arr(fn, name, a, shape, x) -> GpuArray | None:
    """``a`` as a C-contiguous float32 CuPy array of ``shape`` (None stays None)."""
    a = arrays.float_array(fn, name, a)
    if a is not None and tuple(a.shape) != tuple(shape):
        raise ValueError(f"{fn}: {name} must have shape {tuple(shape)} (from x "
                         f"{tuple(x.shape)}), got {tuple(a.shape)}")
    return a


def _input(fn, x, ndim) -> GpuArray:
    x = arrays.float_array(fn, "x", x)
    if x.ndim != ndim:
        want = "2-D (N, I)" if ndim == 2 else "3-D (T, N, I)"
        raise ValueError(f"{fn}: x must be {want}, got shape {tuple(x.shape)}")
    return x


def _weights(fn, x, w_ih, w_hh, b_ih,
             b_hh) -> tuple[GpuArray, GpuArray, GpuArray | None, GpuArray | None, int]:
    """(w_ih, w_hh, b_ih, b_hh, H) checked against x's last dimension."""
    w_hh = arrays.float_array(fn, "w_hh", w_hh)
    if w_hh.ndim != 2 or w_hh.shape[0] != 4 * w_hh.shape[1]:
        raise ValueError(f"{fn}: w_hh must have shape (4*hidden, hidden), got "
                         f"{tuple(w_hh.shape)}")
    H = w_hh.shape[1]
    w_ih = _arr(fn, "w_ih", w_ih, (4 * H, x.shape[-1]), x)
    return (w_ih, w_hh, _arr(fn, "b_ih", b_ih, (4 * H,), x), _arr(fn, "b_hh", b_hh, (4 * H,), x),
            H)


def _state(fn, name, s, shape, x) -> GpuArray:
    if s is None:
        _, cp = arrays.require()
        return cp.zeros(shape, cp.float32)
    return _arr(fn, name, s, shape, x)


def _outputs(shapes, flags=None) -> list[GpuArray | None]:
    """One new float32 array per shape; None where the matching flag is false."""
    flags = [True] * len(shapes) if flags is None else flags
    return [arrays.empty(s) if f else None for s, f in zip(shapes, flags)]


def _grads(dx, dh, dc, dw_ih, dw_hh, db) -> tuple[GpuArray | None, ...]:
    return dx, dh, dc, dw_ih, dw_hh, db, (None if db is None else db.copy())


def lstm_cell(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None) -> tuple[GpuArray, GpuArray, CellSaved]:
    """One LSTM step on GPU arrays (see ``loomgrad.kernels.lstm_cell``)."""
    fn = "lstm_cell"
    mod, _ = arrays.require()
    x = _input(fn, x, 2)
    N, I = x.shape
    w_ih, w_hh, b_ih, b_hh, H = _weights(fn, x, w_ih, w_hh, b_ih, b_hh)
    h = _state(fn, "h", h, (N, H), x)
    c = _state(fn, "c", c, (N, H), x)
    h1, c1, gates = _outputs([(N, H), (N, H), (N, 4 * H)])
    p = arrays.ptr
    mod.lstm_cell_forward(N, I, H, p(x), p(h), p(c), p(w_ih), p(w_hh), p(b_ih), p(b_hh), p(h1),
                          p(c1), p(gates), arrays.stream())
    saved = CellSaved(x=x, h=h, c=c, w_ih=w_ih, w_hh=w_hh, gates=gates, c_out=c1,
                      has_bias=b_ih is not None or b_hh is not None)
    return h1, c1, saved


def lstm_cell_backward(dh_out, dc_out, saved, need_input_grads=True,
                       need_weight_grads=True) -> tuple[GpuArray | None, ...]:
    """Gradients of :func:`lstm_cell` (see ``loomgrad.kernels.lstm_cell_backward``)."""
    fn = "lstm_cell_backward"
    mod, _ = arrays.require()
    s = saved
    N, I = s.x.shape
    H = s.w_hh.shape[1]
    dh_out = _arr(fn, "dh_out", dh_out, (N, H), s.x)
    dc_out = _arr(fn, "dc_out", dc_out, (N, H), s.x)
    wb = bool(need_weight_grads)
    dgates, dx, dh, dc, dw_ih, dw_hh, db = _outputs(
        [(N, 4 * H), (N, I), (N, H), (N, H), (4 * H, I), (4 * H, H), (4 * H,)],
        [True] + [bool(need_input_grads)] * 3 + [wb, wb, wb and s.has_bias])
    p = arrays.ptr
    mod.lstm_cell_backward(N, I, H, p(dh_out), p(dc_out), p(s.x), p(s.h), p(s.c), p(s.w_ih),
                           p(s.w_hh), p(s.gates), p(s.c_out), p(dgates), p(dx), p(dh), p(dc),
                           p(dw_ih), p(dw_hh), p(db), arrays.stream())
    return _grads(dx, dh, dc, dw_ih, dw_hh, db)


def lstm_sequence(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None,
                  reverse=False) -> tuple[GpuArray, GpuArray, GpuArray, SequenceSaved]:
    """One LSTM layer over a sequence on GPU arrays (see
    ``loomgrad.kernels.lstm_sequence``); sets ``last_path``."""
    global last_path
    fn = "lstm_sequence"
    mod, _ = arrays.require()
    x = _input(fn, x, 3)
    T, N, I = x.shape
    w_ih, w_hh, b_ih, b_hh, H = _weights(fn, x, w_ih, w_hh, b_ih, b_hh)
    h0 = _state(fn, "h0", h0, (N, H), x)
    c0 = _state(fn, "c0", c0, (N, H), x)
    y, h_n, c_n, gates, cs = _outputs([(T, N, H), (N, H), (N, H), (T, N, 4 * H), (T, N, H)])
    p = arrays.ptr
    path = mod.lstm_sequence_forward(T, N, I, H, bool(reverse), p(x), p(h0), p(c0), p(w_ih),
                                     p(w_hh), p(b_ih), p(b_hh), p(y), p(h_n), p(c_n), p(gates),
                                     p(cs), _mode, arrays.stream())
    last_path = _PATHS[path]
    saved = SequenceSaved(x=x, h0=h0, c0=c0, w_ih=w_ih, w_hh=w_hh, y=y, gates=gates, cs=cs,
                          reverse=bool(reverse), has_bias=b_ih is not None or b_hh is not None)
    return y, h_n, c_n, saved


def lstm_sequence_backward(dy, dh_n, dc_n, saved, need_input_grad=True,
                           need_weight_grads=True) -> tuple[GpuArray | None, ...]:
    """Gradients of :func:`lstm_sequence` (see
    ``loomgrad.kernels.lstm_sequence_backward``); sets ``last_backward_path``."""
    global last_backward_path
    fn = "lstm_sequence_backward"
    mod, _ = arrays.require()
    s = saved
    T, N, I = s.x.shape
    H = s.w_hh.shape[1]
    dy = _arr(fn, "dy", dy, (T, N, H), s.x)
    dh_n = _arr(fn, "dh_n", dh_n, (N, H), s.x)
    dc_n = _arr(fn, "dc_n", dc_n, (N, H), s.x)
    wb = bool(need_weight_grads)
    dgates, dx, dh0, dc0, dw_ih, dw_hh, db = _outputs(
        [(T, N, 4 * H), (T, N, I), (N, H), (N, H), (4 * H, I), (4 * H, H), (4 * H,)],
        [True, bool(need_input_grad), True, True, wb, wb, wb and s.has_bias])
    n_ws = mod.lstm_sequence_backward_workspace(T, N, I, H)
    ws = arrays.empty((n_ws,)) if n_ws > 0 else None  # split-K partial products
    p = arrays.ptr
    path = mod.lstm_sequence_backward(
        T, N, I, H, s.reverse, p(dy), p(dh_n), p(dc_n), p(s.x), p(s.h0), p(s.c0), p(s.w_ih),
        p(s.w_hh), p(s.y), p(s.gates), p(s.cs), p(dgates), p(dx), p(dh0), p(dc0), p(dw_ih),
        p(dw_hh), p(db), p(ws), n_ws, _mode, arrays.stream())
    last_backward_path = _PATHS[path]
    return _grads(dx, dh0, dc0, dw_ih, dw_hh, db)
