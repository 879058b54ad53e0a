"""nn.GRU (torch.nn.GRU's names, shapes, gate order and init).

Like nn.LSTM, each layer and direction is ONE autograd node over the whole
sequence. On the CPU it runs the fused C++ GRU kernels
(:func:`loomgrad.kernels.gru_sequence` / ``gru_sequence_backward``: one
input-projection GEMM, the recurrence with hidden units split over threads
and a fused pointwise pass, whole-sequence weight-gradient GEMMs). On the GPU
the same algorithm runs as CuPy array expressions around our CUDA GEMM (no
fused CUDA GRU kernel yet); that array path is also the CPU kernels'
reference in the tests (``_GRUSequence.fused = False``).

Gates (r, z, n), as torch: r = σ(x W_irᵀ + b_ir + h W_hrᵀ + b_hr),
z = σ(... z ...), n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn)),
h' = (1 - z) ⊙ n + z ⊙ h.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _lstm_kernels as K
from .. import kernels
from ..autograd import Function, array_module
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter
from .rnn import _cat, _check_input, _side_output, _size, _stack, _zeros_state

__all__ = ["GRU"]


def _sigmoid(a):
    return 1.0 / (1.0 + array_module(a).exp(-a))


def _mm(a, b, trans_b=False, out=None, beta=0.0):
    """a @ op(b) on our GEMM (2-D, C-contiguous operands; CPU or GPU)."""
    return kernels.gemm(array_module(a).ascontiguousarray(a), b, False, trans_b, 1.0, beta,
                        out=out)


class _GRUSequence(Function):
    """One layer-direction: inputs (x, h0, w_ih, w_hh[, b_ih, b_hh]) -> y (T, N, H)."""

    fused = True  # CPU arrays on the C++ kernels; False: the array path everywhere (tests)

    def forward(self, x, h0, w_ih, w_hh, *biases, reverse=False, box=None):
        self.state_grads = {}
        if self.fused and isinstance(x, np.ndarray):
            b_ih, b_hh = biases if biases else (None, None)
            y, h_n, saved = K.gru_sequence(x, h0, w_ih, w_hh, b_ih, b_hh, reverse)
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
            r = _sigmoid(g[:, :H] + gh[:, :H])
            z = _sigmoid(g[:, H:2 * H] + gh[:, H:2 * H])
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
        if isinstance(self.saved[0], K.GRUSaved):  # the forward ran on the C++ kernels
            dx, dh, dwi, dwh, dbi, dbh = K.gru_sequence_backward(
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


class GRU(Module):
    """Multi-layer GRU (torch.nn.GRU): ``forward(input, h0=None) -> (output, h_n)``.

    Shapes as :class:`~loomgrad.nn.LSTM` without the cell state: input
    (T, N, I), (N, T, I) with ``batch_first`` or unbatched (T, I); h0 and h_n
    (num_layers * D, N, H); output (T, N, D * H). Parameters
    ``weight_ih_l{k}[_reverse]`` (3H, in), ``weight_hh_l{k}[_reverse]`` (3H, H),
    ``bias_ih_l{k}``, ``bias_hh_l{k}`` (3H,), gate order (r, z, n), U(-1/sqrt(H),
    1/sqrt(H)) init: a torch state_dict loads 1:1.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None):
        super().__init__()
        self.input_size = _size("GRU", "input_size", input_size)
        self.hidden_size = _size("GRU", "hidden_size", hidden_size, 1)
        self.num_layers = _size("GRU", "num_layers", num_layers, 1)
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) \
                or not 0 <= dropout <= 1:
            raise ValueError(f"GRU: dropout must be a number in [0, 1], got {dropout!r}")
        self.bias, self.batch_first = bool(bias), bool(batch_first)
        self.dropout, self.bidirectional = float(dropout), bool(bidirectional)
        dt = np.dtype(np.float32 if dtype is None else dtype)
        H, D = self.hidden_size, 2 if self.bidirectional else 1
        for layer in range(self.num_layers):
            in_size = self.input_size if layer == 0 else H * D
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                setattr(self, "weight_ih" + sfx, Parameter(np.empty((3 * H, in_size), dt)))
                setattr(self, "weight_hh" + sfx, Parameter(np.empty((3 * H, H), dt)))
                if self.bias:
                    setattr(self, "bias_ih" + sfx, Parameter(np.empty((3 * H,), dt)))
                    setattr(self, "bias_hh" + sfx, Parameter(np.empty((3 * H,), dt)))
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -k, k)

    def forward(self, input, hx=None):
        fn = "GRU"
        w0 = self.weight_ih_l0
        _check_input(fn, "input", input, w0)
        if input.ndim not in (2, 3) or input.shape[-1] != self.input_size:
            raise ValueError(f"{fn}: input must be (T, N, {self.input_size}), batch-first or "
                             f"unbatched (T, {self.input_size}), got shape {input.shape}")
        unbatched = input.ndim == 2
        x = input.unsqueeze(1) if unbatched else \
            (input.transpose(0, 1) if self.batch_first else input)
        T, N = x.shape[0], x.shape[1]
        if T == 0:
            raise ValueError(f"{fn}: expected a non-empty sequence, got input of shape "
                             f"{input.shape} (T = 0)")
        L, D, H = self.num_layers, 2 if self.bidirectional else 1, self.hidden_size
        if hx is not None:
            want = (L * D, H) if unbatched else (L * D, N, H)
            _check_input(fn, "hx", hx, w0)
            if tuple(hx.shape) != want:
                raise ValueError(f"{fn}: hx must have shape {want}, got {hx.shape}")
            if unbatched:
                hx = hx.unsqueeze(1)
        zero = _zeros_state((N, H), x)
        h_out = []
        for layer in range(L):
            ys = []
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                ws = [getattr(self, n + sfx) for n in ("weight_ih", "weight_hh")]
                if self.bias:
                    ws += [getattr(self, n + sfx) for n in ("bias_ih", "bias_hh")]
                box = {}
                y = _GRUSequence.apply(x, zero if hx is None else hx[layer * D + d], *ws,
                                       reverse=bool(d), box=box)
                ys.append(y)
                h_out.append(_side_output(y, "h", box["h"]))
            x = ys[0] if D == 1 else _cat(ys)
            if self.dropout and self.training and layer < L - 1:
                x = F.dropout(x, self.dropout, True)
        h_n = _stack(h_out)
        if unbatched:
            return x.squeeze(1), h_n.squeeze(1)
        return (x.transpose(0, 1) if self.batch_first else x), h_n

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for name, default in (("bias", True), ("batch_first", False), ("bidirectional", False)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        if self.dropout:
            s += f", dropout={self.dropout}"
        return s
