"""The recurrent layers' autograd nodes: LSTM (cell and sequence), GRU (sequence) and the
Elman RNN (sequence); the RNN and GRU cells as Tensor expressions.

Each layer and direction of an LSTM or GRU is ONE autograd node over the
whole sequence, running the fused kernels (:func:`loomgrad.kernels.lstm_sequence`,
``gru_sequence`` and their backwards), so the graph holds L*D nodes, not T*L*D
cells. On the GPU the GRU runs the same algorithm as array expressions around
our CUDA GEMM (no fused CUDA GRU kernel yet); on the CPU that array path is the
fused kernel's reference in the tests.

Several outputs from one node: loomgrad's ``Function`` returns one array, so
the node returns y and keeps h_n / c_n aside; ``_LSTMStateOut`` nodes (inputs:
y) hand those out. In backward a state node gives its gradient straight to
the sequence node (``state_grads``) and sends a 0-d zero along its edge, so
the sequence node still runs (after all its consumers, by the engine's
topological order) without a full-size zero array for dy.

The Elman RNN (tanh or relu) is one node per layer and direction too, as array expressions
around our GEMM (CPU and GPU; no fused kernel: its step is one GEMM and one activation):
h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh); backward is the usual BPTT with whole-sequence
weight GEMMs.

GRU gates (r, z, n), as torch: r = σ(x W_irᵀ + b_ir + h W_hrᵀ + b_hr),
z = σ(... z ...), n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn)),
h' = (1 - z) ⊙ n + z ⊙ h.
"""
from __future__ import annotations

import numpy as np

from ... import kernels, ops
from ...autograd import Function, array_module, check_same_device
from ...functions.activation import stable_sigmoid
from ...kernels._saved import GRUSaved
from ...tensor import Tensor
from .activation import dropout

__all__ = ["lstm_cell", "lstm_layers", "gru_layers", "rnn_layers", "rnn_cell", "gru_cell"]


class _LSTMSequence(Function):
    """One layer-direction: inputs (x, h0, c0, w_ih, w_hh[, b_ih, b_hh]) -> y (T, N, H)."""

    def forward(self, x, h0, c0, w_ih, w_hh, *biases, reverse=False, box=None):
        b_ih, b_hh = biases if biases else (None, None)
        y, h_n, c_n, saved = kernels.lstm_sequence(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
        self.saved = (saved,) if any(self.needs_input_grad) else ()
        self.state_grads = {}
        box.update(h=h_n, c=c_n)
        return y

    def backward(self, g):
        (s,) = self.saved
        need = self.needs_input_grad
        dy = None if g.ndim == 0 else g  # a 0-d zero: only the final states were used
        dx, dh0, dc0, dwi, dwh, dbi, dbh = kernels.lstm_sequence_backward(
            dy, self.state_grads.pop("h", None), self.state_grads.pop("c", None), s,
            need_input_grad=need[0], need_weight_grads=any(need[3:]))
        grads = (dx, dh0, dc0, dwi, dwh, dbi, dbh)[:len(need)]
        return tuple(gr if n else None for gr, n in zip(grads, need))


class _LSTMCellNode(Function):
    """One step: inputs (x, h, c, w_ih, w_hh[, b_ih, b_hh]) -> h' (N, H); c' aside."""

    def forward(self, x, h, c, w_ih, w_hh, *biases, box=None):
        b_ih, b_hh = biases if biases else (None, None)
        h1, c1, saved = kernels.lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh)
        self.saved = (saved,) if any(self.needs_input_grad) else ()
        self.state_grads = {}
        box.update(c=c1)
        return h1

    def backward(self, g):
        (s,) = self.saved
        need = self.needs_input_grad
        dh1 = None if g.ndim == 0 else g
        dx, dh, dc, dwi, dwh, dbi, dbh = kernels.lstm_cell_backward(
            dh1, self.state_grads.pop("c", None), s, need_input_grads=any(need[:3]),
            need_weight_grads=any(need[3:]))
        grads = (dx, dh, dc, dwi, dwh, dbi, dbh)[:len(need)]
        return tuple(gr if n else None for gr, n in zip(grads, need))


class _LSTMStateOut(Function):
    """Hands out a side output (h_n or c_n) of the node behind ``y``."""

    def forward(self, y, *, node, key, value):
        self.node, self.key = node, key
        return value

    def backward(self, g):
        prev = self.node.state_grads.get(self.key)
        self.node.state_grads[self.key] = g if prev is None else prev + g
        return (array_module(g).zeros((), g.dtype),)


def _side_output(main: Tensor, key: str, value) -> Tensor:
    if main.grad_fn is None:
        return Tensor._wrap(value)
    return _LSTMStateOut.apply(main, node=main.grad_fn, key=key, value=value)


def _check_input(fn: str, name: str, x, weight: Tensor) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: {name} must be a Tensor, got {type(x).__name__}")
    if x.dtype != weight.dtype:
        raise TypeError(f"{fn}: {name} has dtype {x.dtype} but the weights are {weight.dtype} "
                        f"(convert with .float() / .double() or the module with .to(dtype))")
    check_same_device((weight.array, x.array), fn)
    return x


def _zeros_state(shape, like: Tensor) -> Tensor:
    """Zeros of ``like``'s dtype on its device (a default h0/c0 or bias)."""
    return Tensor._wrap(array_module(like.array).zeros(shape, like.dtype))


def _on_gru_kernel(x) -> bool:
    """The fused C++ GRU takes CPU arrays; GPU arrays run the array path below."""
    return isinstance(x, np.ndarray)


def _mm(a, b, trans_b=False, out=None, beta=0.0):
    """a @ op(b) on our GEMM (2-D, C-contiguous operands; CPU or GPU)."""
    return kernels.gemm(array_module(a).ascontiguousarray(a), b, False, trans_b, 1.0, beta,
                        out=out)


class _GRUSequence(Function):
    """One layer-direction: inputs (x, h0, w_ih, w_hh[, b_ih, b_hh]) -> y (T, N, H)."""

    def forward(self, x, h0, w_ih, w_hh, *biases, reverse=False, box=None):
        self.state_grads = {}
        if _on_gru_kernel(x):
            b_ih, b_hh = biases if biases else (None, None)
            y, h_n, saved = kernels.gru_sequence(x, h0, w_ih, w_hh, b_ih, b_hh, reverse)
            self.saved = (saved,) if any(self.needs_input_grad) else ()
            box.update(h=h_n)
            return y
        xp = array_module(x)
        x = xp.ascontiguousarray(x)
        T, N, I = x.shape
        H = w_hh.shape[1]
        b_ih, b_hh = biases if biases else (None, None)
        gx = _mm(x.reshape(T * N, I), w_ih, trans_b=True).reshape(T, N, 3 * H)
        if b_ih is not None:
            gx += b_ih
        y = xp.empty((T, N, H), x.dtype)
        acts = xp.empty((T, N, 4 * H), x.dtype)  # r, z, n and h·W_hnᵀ + b_hn per step
        h = xp.ascontiguousarray(h0)
        gh = xp.empty((N, 3 * H), x.dtype)
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            _mm(h, w_hh, trans_b=True, out=gh)
            if b_hh is not None:
                gh += b_hh
            g = gx[t]
            r = stable_sigmoid(xp, g[:, :H] + gh[:, :H])
            z = stable_sigmoid(xp, g[:, H:2 * H] + gh[:, H:2 * H])
            n = xp.tanh(g[:, 2 * H:] + r * gh[:, 2 * H:])
            h = (1 - z) * n + z * h
            y[t] = h
            a = acts[t]
            a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:] = r, z, n, gh[:, 2 * H:]
        self.reverse = reverse
        if any(self.needs_input_grad):
            self.saved = (x, xp.ascontiguousarray(h0), w_ih, w_hh, y, acts)
        self.has_bias = bool(biases)
        box.update(h=xp.array(y[T - 1 if not reverse else 0]) if T else xp.array(h0))
        return y

    def backward(self, g):
        need = self.needs_input_grad
        if isinstance(self.saved[0], GRUSaved):  # the forward ran on the C++ kernels
            dx, dh, dwi, dwh, dbi, dbh = kernels.gru_sequence_backward(
                None if g.ndim == 0 else g, self.state_grads.pop("h", None), self.saved[0],
                need_input_grad=need[0], need_weight_grads=any(need[2:]))
            grads = (dx, dh, dwi, dwh, dbi, dbh)[:len(need)]
            return tuple(gr if nd else None for gr, nd in zip(grads, need))
        x, h0, w_ih, w_hh, y, acts = self.saved
        T, N, I = x.shape
        H = w_hh.shape[1]
        dy = None if g.ndim == 0 else g
        dh = self.state_grads.pop("h", None)
        xp = array_module(x)
        dh = xp.zeros((N, H), x.dtype) if dh is None else dh.astype(x.dtype, copy=True)
        dgx = xp.empty((T, N, 3 * H), x.dtype)
        dgh = xp.empty((T, N, 3 * H), x.dtype)
        steps = range(T) if self.reverse else range(T - 1, -1, -1)
        first = T - 1 if self.reverse else 0
        for t in steps:
            if dy is not None:
                dh = dh + dy[t]
            h_prev = h0 if t == first else y[t + 1 if self.reverse else t - 1]
            a = acts[t]
            r, z, n, hn = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            dn = dh * (1 - z) * (1 - n * n)
            dz = dh * (h_prev - n) * z * (1 - z)
            dr = dn * hn * r * (1 - r)
            dgx[t, :, :H], dgx[t, :, H:2 * H], dgx[t, :, 2 * H:] = dr, dz, dn
            dgh[t, :, :H], dgh[t, :, H:2 * H], dgh[t, :, 2 * H:] = dr, dz, dn * r
            dh = dh * z + _mm(dgh[t], w_hh)
        gx2, gh2 = dgx.reshape(T * N, 3 * H), dgh.reshape(T * N, 3 * H)
        dx = _mm(gx2, w_ih).reshape(T, N, I) if need[0] else None
        dw_ih = dw_hh = db_ih = db_hh = None
        if any(need[2:]):
            dw_ih = kernels.gemm(gx2, x.reshape(T * N, I), trans_a=True)
            # Σ_t dgh_tᵀ h_{t-1}: h0 for the first step, y shifted by one step after
            dw_hh = kernels.gemm(dgh[first], h0, trans_a=True)
            if T > 1:
                rest_g = dgh[:T - 1] if self.reverse else dgh[1:]
                rest_h = y[1:] if self.reverse else y[:T - 1]
                kernels.gemm(rest_g.reshape(-1, 3 * H), rest_h.reshape(-1, H), trans_a=True,
                             beta=1.0, out=dw_hh)
            if self.has_bias:
                db_ih, db_hh = gx2.sum(0), gh2.sum(0)
        grads = (dx, dh, dw_ih, dw_hh, db_ih, db_hh)[:len(need)]
        return tuple(gr if nd else None for gr, nd in zip(grads, need))


class _RNNSequence(Function):
    """One Elman layer-direction: inputs (x, h0, w_ih, w_hh[, b_ih, b_hh]) -> y (T, N, H)."""

    def forward(self, x, h0, w_ih, w_hh, *biases, reverse=False, nonlinearity="tanh",
                box=None):
        self.state_grads = {}
        xp = array_module(x)
        x = xp.ascontiguousarray(x)
        T, N, I = x.shape
        H = w_hh.shape[1]
        y = _mm(x.reshape(T * N, I), w_ih, trans_b=True).reshape(T, N, H)
        if biases:
            y += biases[0] + biases[1]
        h = xp.ascontiguousarray(h0)
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            a = _mm(h, w_hh, trans_b=True, out=None)
            a += y[t]
            h = xp.tanh(a) if nonlinearity == "tanh" else xp.maximum(a, 0)
            y[t] = h
        self.reverse, self.relu, self.has_bias = reverse, nonlinearity == "relu", bool(biases)
        if any(self.needs_input_grad):
            self.saved = (x, xp.ascontiguousarray(h0), w_ih, w_hh, y)
        box.update(h=xp.array(y[0 if reverse else T - 1]))
        return y

    def backward(self, g):
        need = self.needs_input_grad
        x, h0, w_ih, w_hh, y = self.saved
        T, N, I = x.shape
        H = w_hh.shape[1]
        xp = array_module(x)
        dy = None if g.ndim == 0 else g
        dh = self.state_grads.pop("h", None)
        dh = xp.zeros((N, H), x.dtype) if dh is None else dh.astype(x.dtype, copy=True)
        da = xp.empty((T, N, H), x.dtype)  # gradient of each step's pre-activation
        for t in (range(T) if self.reverse else range(T - 1, -1, -1)):
            if dy is not None:
                dh = dh + dy[t]
            da[t] = dh * (y[t] > 0) if self.relu else dh * (1 - y[t] * y[t])
            dh = _mm(da[t], w_hh)
        first = T - 1 if self.reverse else 0
        a2 = da.reshape(T * N, H)
        dx = _mm(a2, w_ih).reshape(T, N, I) if need[0] else None
        dw_ih = dw_hh = db = None
        if any(need[2:]):
            dw_ih = kernels.gemm(a2, x.reshape(T * N, I), trans_a=True)
            dw_hh = kernels.gemm(da[first], h0, trans_a=True)
            if T > 1:  # Σ_t da_tᵀ h_{t-1}: y shifted by one step after the first
                rest_a = da[:T - 1] if self.reverse else da[1:]
                rest_h = y[1:] if self.reverse else y[:T - 1]
                kernels.gemm(rest_a.reshape(-1, H), rest_h.reshape(-1, H), trans_a=True,
                             beta=1.0, out=dw_hh)
            if self.has_bias:
                db = a2.sum(0)
        grads = (dx, dh, dw_ih, dw_hh, db, None if db is None else db.copy())[:len(need)]
        return tuple(gr if nd else None for gr, nd in zip(grads, need))


def rnn_layers(x: Tensor, h0, weights, num_layers: int, num_directions: int,
               dropout_p: float = 0.0, nonlinearity: str = "tanh"):
    """The stacked Elman RNN on time-major x (T, N, I): one ``_RNNSequence`` node per layer
    and direction. ``weights[layer * D + d]`` = [w_ih, w_hh(, b_ih, b_hh)]; h0 (L*D, N, H)
    Tensor or None (zeros); ``dropout_p`` between layers. Returns (y (T, N, D*H), h_n)."""
    return _stacked(_RNNSequence, x, h0, weights, num_layers, num_directions, dropout_p,
                    nonlinearity=nonlinearity)


def _stacked(node, x: Tensor, h0, weights, num_layers: int, num_directions: int,
             dropout_p: float, **kw):
    """A stack of single-state sequence nodes (GRU, Elman RNN), one per layer and direction:
    returns (y (T, N, D*H), h_n (L*D, N, H))."""
    L, D = num_layers, num_directions
    N, H = x.shape[1], weights[0][1].shape[1]
    zero = _zeros_state((N, H), x)
    h_out = []
    for layer in range(L):
        ys = []
        for d in range(D):
            k = layer * D + d
            box = {}
            y = node.apply(x, zero if h0 is None else h0[k], *weights[k], reverse=bool(d),
                           box=box, **kw)
            ys.append(y)
            h_out.append(_side_output(y, "h", box["h"]))
        x = ys[0] if D == 1 else ops.cat(ys, 2)
        if dropout_p and layer < L - 1:
            x = dropout(x, dropout_p, True)
    return x, ops.stack(h_out, 0)


def _cell_args(fn: str, input: Tensor, hx, w_ih: Tensor, w_hh: Tensor, gates: int):
    """(x (N, I), h (N, H), unbatched) for a GRU/RNN cell, after the checks."""
    _check_input(fn, "input", input, w_ih)
    if w_hh.ndim != 2 or w_hh.shape[0] != gates * w_hh.shape[1]:
        raise ValueError(f"{fn}: w_hh must have shape ({gates}*hidden, hidden), got "
                         f"{w_hh.shape}")
    H = w_hh.shape[1]
    if input.ndim not in (1, 2):
        raise ValueError(f"{fn}: input must be 1-D (I,) or 2-D (N, I), got shape {input.shape}")
    if tuple(w_ih.shape) != (gates * H, input.shape[-1]):
        raise ValueError(f"{fn}: w_ih must have shape ({gates * H}, {input.shape[-1]}) for "
                         f"input {input.shape}, got {w_ih.shape}")
    unbatched = input.ndim == 1
    x = input.unsqueeze(0) if unbatched else input
    if hx is None:
        return x, _zeros_state((x.shape[0], H), x), unbatched
    _check_input(fn, "hx", hx, w_ih)
    want = (H,) if unbatched else (x.shape[0], H)
    if tuple(hx.shape) != want:
        raise ValueError(f"{fn}: hx must have shape {want} for input {input.shape}, got "
                         f"{hx.shape}")
    return x, (hx.unsqueeze(0) if unbatched else hx), unbatched


def _affine(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    y = x.matmul(w.transpose(0, 1))
    return y if b is None else y + b


def rnn_cell(input: Tensor, hx, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
             b_hh: Tensor | None = None, nonlinearity: str = "tanh") -> Tensor:
    """One Elman step, h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh) (Tensor ops). Shapes: input
    (N, I) or (I,); hx (N, H) / (H,) or None; w_ih (H, I), w_hh (H, H)."""
    x, h, unbatched = _cell_args("rnn_cell", input, hx, w_ih, w_hh, 1)
    a = _affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh)
    h1 = a.tanh() if nonlinearity == "tanh" else a.relu()
    return h1.squeeze(0) if unbatched else h1


def gru_cell(input: Tensor, hx, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
             b_hh: Tensor | None = None) -> Tensor:
    """One GRU step with torch's gates (r, z, n) as Tensor ops. Shapes: input (N, I) or (I,);
    hx (N, H) / (H,) or None; w_ih (3H, I), w_hh (3H, H), b_ih, b_hh (3H,) or None."""
    x, h, unbatched = _cell_args("gru_cell", input, hx, w_ih, w_hh, 3)
    H = w_hh.shape[1]
    gx, gh = _affine(x, w_ih, b_ih), _affine(h, w_hh, b_hh)
    r = (gx[:, :H] + gh[:, :H]).sigmoid()
    z = (gx[:, H:2 * H] + gh[:, H:2 * H]).sigmoid()
    n = (gx[:, 2 * H:] + r * gh[:, 2 * H:]).tanh()
    h1 = (1 - z) * n + z * h
    return h1.squeeze(0) if unbatched else h1


def lstm_cell(input: Tensor, hx, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
              b_hh: Tensor | None = None):
    """One LSTM step on the fused kernel: returns ``(h', c')``.

    Shapes: input (N, I) or unbatched (I,); hx = (h, c), each (N, H) / (H,),
    or None for zeros; w_ih (4H, I), w_hh (4H, H), b_ih / b_hh (4H,) or None.
    Gate order (i, f, g, o), as torch.
    """
    fn = "lstm_cell"
    _check_input(fn, "input", input, w_ih)
    if w_hh.ndim != 2 or w_hh.shape[0] != 4 * w_hh.shape[1]:
        raise ValueError(f"{fn}: w_hh must have shape (4*hidden, hidden), got {w_hh.shape}")
    H = w_hh.shape[1]
    if input.ndim not in (1, 2):
        raise ValueError(f"{fn}: input must be 1-D (I,) or 2-D (N, I), got shape {input.shape}")
    if tuple(w_ih.shape) != (4 * H, input.shape[-1]):
        raise ValueError(f"{fn}: w_ih must have shape ({4 * H}, {input.shape[-1]}) for input "
                         f"{input.shape}, got {w_ih.shape}")
    unbatched = input.ndim == 1
    x = input.unsqueeze(0) if unbatched else input
    N = x.shape[0]
    if hx is None:
        h = c = _zeros_state((N, H), x)
    else:
        h, c = hx
        for name, s in (("h", h), ("c", c)):
            _check_input(fn, name, s, w_ih)
            want = (H,) if unbatched else (N, H)
            if tuple(s.shape) != want:
                raise ValueError(f"{fn}: {name} must have shape {want} for input "
                                 f"{input.shape}, got {s.shape}")
        if unbatched:
            h, c = h.unsqueeze(0), c.unsqueeze(0)
    biases = [b for b in (b_ih, b_hh) if b is not None]
    if len(biases) == 1:  # the kernel takes both or neither; a zero stands in
        biases = [b_ih if b_ih is not None else _zeros_state((4 * H,), x),
                  b_hh if b_hh is not None else _zeros_state((4 * H,), x)]
    box = {}
    h1 = _LSTMCellNode.apply(x, h, c, w_ih, w_hh, *biases, box=box)
    c1 = _side_output(h1, "c", box["c"])
    if unbatched:
        return h1.squeeze(0), c1.squeeze(0)
    return h1, c1


def lstm_layers(x: Tensor, h0, c0, weights, num_layers: int, num_directions: int,
                dropout_p: float = 0.0):
    """The stacked LSTM on time-major x (T, N, I): one ``_LSTMSequence`` node per
    layer and direction. ``weights[layer * D + d]`` = [w_ih, w_hh(, b_ih, b_hh)];
    h0, c0 (L*D, N, H) Tensors or None (zeros); ``dropout_p`` between layers.
    Returns (y (T, N, D*H), h_n, c_n (L*D, N, H))."""
    L, D = num_layers, num_directions
    N, H = x.shape[1], weights[0][1].shape[1]
    zero = None
    h_out, c_out = [], []
    for layer in range(L):
        ys = []
        for d in range(D):
            k = layer * D + d
            if h0 is None:
                if zero is None:
                    zero = _zeros_state((N, H), x)
                hk = ck = zero
            else:
                hk, ck = h0[k], c0[k]
            box = {}
            y = _LSTMSequence.apply(x, hk, ck, *weights[k], reverse=bool(d), box=box)
            ys.append(y)
            h_out.append(_side_output(y, "h", box["h"]))
            c_out.append(_side_output(y, "c", box["c"]))
        x = ys[0] if D == 1 else ops.cat(ys, 2)
        if dropout_p and layer < L - 1:
            x = dropout(x, dropout_p, True)
    return x, ops.stack(h_out, 0), ops.stack(c_out, 0)


def gru_layers(x: Tensor, h0, weights, num_layers: int, num_directions: int,
               dropout_p: float = 0.0):
    """The stacked GRU on time-major x (T, N, I): one ``_GRUSequence`` node per
    layer and direction. ``weights[layer * D + d]`` = [w_ih, w_hh(, b_ih, b_hh)];
    h0 (L*D, N, H) Tensor or None (zeros); ``dropout_p`` between layers.
    Returns (y (T, N, D*H), h_n (L*D, N, H))."""
    return _stacked(_GRUSequence, x, h0, weights, num_layers, num_directions, dropout_p)
