"""nn.LSTM and nn.LSTMCell (torch.nn's names, shapes, parameter names and init).

Each layer and direction of an LSTM is ONE autograd node (``_LSTMSequence``)
over the whole sequence, running the fused C++ kernels
(:func:`loomgrad.kernels.lstm_sequence` / ``lstm_sequence_backward``), so the
graph holds L*D nodes, not T*L*D cells.

Several outputs from one node: loomgrad's ``Function`` returns one array, so
the node returns y and keeps h_n / c_n aside; ``_LSTMStateOut`` nodes (inputs:
y) hand those out. In backward a state node gives its gradient straight to
the sequence node (``state_grads``) and sends a 0-d zero along its edge, so
the sequence node still runs (after all its consumers, by the engine's
topological order) without a full-size zero array for dy.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _lstm_kernels as K
from ..autograd import Function, array_module, check_same_device
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["LSTM", "LSTMCell"]


# ----------------------------------------------------------------------------- autograd nodes
class _LSTMSequence(Function):
    """One layer-direction: inputs (x, h0, c0, w_ih, w_hh[, b_ih, b_hh]) -> y (T, N, H)."""

    def forward(self, x, h0, c0, w_ih, w_hh, *biases, reverse=False, box=None):
        b_ih, b_hh = biases if biases else (None, None)
        y, h_n, c_n, saved = K.lstm_sequence(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
        self.saved = (saved,) if any(self.needs_input_grad) else ()
        self.state_grads = {}
        box.update(h=h_n, c=c_n)
        return y

    def backward(self, g):
        (s,) = self.saved
        need = self.needs_input_grad
        dy = None if g.ndim == 0 else g  # a 0-d zero: only the final states were used
        dx, dh0, dc0, dwi, dwh, dbi, dbh = K.lstm_sequence_backward(
            dy, self.state_grads.pop("h", None), self.state_grads.pop("c", None), s,
            need_input_grad=need[0], need_weight_grads=any(need[3:]))
        grads = (dx, dh0, dc0, dwi, dwh, dbi, dbh)[:len(need)]
        return tuple(gr if n else None for gr, n in zip(grads, need))


class _LSTMCellNode(Function):
    """One step: inputs (x, h, c, w_ih, w_hh[, b_ih, b_hh]) -> h' (N, H); c' aside."""

    def forward(self, x, h, c, w_ih, w_hh, *biases, box=None):
        b_ih, b_hh = biases if biases else (None, None)
        h1, c1, saved = K.lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh)
        self.saved = (saved,) if any(self.needs_input_grad) else ()
        self.state_grads = {}
        box.update(c=c1)
        return h1

    def backward(self, g):
        (s,) = self.saved
        need = self.needs_input_grad
        dh1 = None if g.ndim == 0 else g
        dx, dh, dc, dwi, dwh, dbi, dbh = K.lstm_cell_backward(
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


# ----------------------------------------------------------------------------- checks
def _size(cls: str, name: str, v, minimum: int = 0) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{cls}: {name} must be an int, got {type(v).__name__}")
    if v < minimum:
        raise ValueError(f"{cls}: {name} must be >= {minimum}, got {v}")
    return int(v)


def _check_input(fn: str, name: str, x, weight: Tensor) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: {name} must be a Tensor, got {type(x).__name__}")
    if x.dtype != weight.dtype:
        raise TypeError(f"{fn}: {name} has dtype {x.dtype} but the weights are {weight.dtype} "
                        f"(convert with .float() / .double() or the module with .to(dtype))")
    check_same_device((weight.data, x.data), fn)
    return x


def _zeros_state(shape, like: Tensor) -> Tensor:
    """Zeros of ``like``'s dtype on its device (a default h0/c0 or bias)."""
    return Tensor._wrap(array_module(like.data).zeros(shape, like.dtype))


# ----------------------------------------------------------------------------- functional
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
                dropout: float = 0.0):
    """The stacked LSTM on time-major x (T, N, I): one ``_LSTMSequence`` node per
    layer and direction. ``weights[layer * D + d]`` = [w_ih, w_hh(, b_ih, b_hh)];
    h0, c0 (L*D, N, H) Tensors or None (zeros); ``dropout`` between layers.
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
        x = ys[0] if D == 1 else _cat(ys)
        if dropout and layer < L - 1:
            x = F.dropout(x, dropout, True)
    return x, _stack(h_out), _stack(c_out)


# ----------------------------------------------------------------------------- modules
class LSTMCell(Module):
    """One LSTM step (torch.nn.LSTMCell): ``forward(input, (h, c)=None) -> (h', c')``.

    Shapes: input (N, input_size) or (input_size,); h, c (N, hidden_size).
    Parameters weight_ih (4H, I), weight_hh (4H, H), bias_ih, bias_hh (4H,),
    all U(-1/sqrt(H), 1/sqrt(H)) like torch.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        self.input_size = _size("LSTMCell", "input_size", input_size)
        self.hidden_size = _size("LSTMCell", "hidden_size", hidden_size, 1)
        self.bias = bool(bias)
        dt = np.dtype(np.float32 if dtype is None else dtype)
        H, I = self.hidden_size, self.input_size
        self.weight_ih = Parameter(np.empty((4 * H, I), dt))
        self.weight_hh = Parameter(np.empty((4 * H, H), dt))
        if bias:
            self.bias_ih = Parameter(np.empty((4 * H,), dt))
            self.bias_hh = Parameter(np.empty((4 * H,), dt))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -k, k)

    def forward(self, input, hx=None):
        return lstm_cell(input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class LSTM(Module):
    """Multi-layer LSTM (torch.nn.LSTM): ``forward(input, (h0, c0)=None) ->
    (output, (h_n, c_n))``.

    Shapes: input (T, N, input_size), (N, T, input_size) with
    ``batch_first``, or unbatched (T, input_size); h0, c0 and h_n, c_n
    (num_layers * D, N, hidden_size) (no N when unbatched), D = 2 when
    ``bidirectional``; output (T, N, D * hidden_size) (batch-first / unbatched
    like the input). Parameters ``weight_ih_l{k}[_reverse]`` (4H, in),
    ``weight_hh_l{k}[_reverse]`` (4H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}``
    (4H,): torch's names, shapes and order, U(-1/sqrt(H), 1/sqrt(H)) init, so
    a torch state_dict loads 1:1. ``dropout`` applies to the outputs of every
    layer but the last while training. An empty sequence (T = 0) is refused,
    like torch.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device=None, dtype=None):
        super().__init__()
        self.input_size = _size("LSTM", "input_size", input_size)
        self.hidden_size = _size("LSTM", "hidden_size", hidden_size, 1)
        self.num_layers = _size("LSTM", "num_layers", num_layers, 1)
        if proj_size:
            raise NotImplementedError("LSTM: proj_size is not supported")
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) \
                or not 0 <= dropout <= 1:
            raise ValueError(f"LSTM: dropout must be a number in [0, 1], got {dropout!r}")
        self.bias, self.batch_first = bool(bias), bool(batch_first)
        self.dropout, self.bidirectional = float(dropout), bool(bidirectional)
        self.proj_size = 0
        dt = np.dtype(np.float32 if dtype is None else dtype)
        if dt.kind != "f":
            raise TypeError(f"LSTM: dtype must be a floating-point dtype, got {dt}")
        H, D = self.hidden_size, self.num_directions
        for layer in range(self.num_layers):
            in_size = self.input_size if layer == 0 else H * D
            for d in range(D):
                sfx = self._suffix(layer, d)
                setattr(self, "weight_ih" + sfx, Parameter(np.empty((4 * H, in_size), dt)))
                setattr(self, "weight_hh" + sfx, Parameter(np.empty((4 * H, H), dt)))
                if self.bias:
                    setattr(self, "bias_ih" + sfx, Parameter(np.empty((4 * H,), dt)))
                    setattr(self, "bias_hh" + sfx, Parameter(np.empty((4 * H,), dt)))
        self.reset_parameters()
        if device is not None:
            self.to(device)

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @staticmethod
    def _suffix(layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction else "")

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -k, k)

    def _weights(self, layer: int, d: int):
        sfx = self._suffix(layer, d)
        w = [getattr(self, "weight_ih" + sfx), getattr(self, "weight_hh" + sfx)]
        if self.bias:
            w += [getattr(self, "bias_ih" + sfx), getattr(self, "bias_hh" + sfx)]
        return w

    def forward(self, input, hx=None):
        fn = "LSTM"
        w0 = self.weight_ih_l0
        _check_input(fn, "input", input, w0)
        if input.ndim not in (2, 3):
            raise ValueError(f"{fn}: input must be 3-D (T, N, I) / (N, T, I) or 2-D unbatched "
                             f"(T, I), got shape {input.shape}")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{fn}: input's last dim must be input_size={self.input_size}, got "
                             f"shape {input.shape}")
        unbatched = input.ndim == 2
        if unbatched:
            x = input.unsqueeze(1)
        else:
            x = input.transpose(0, 1) if self.batch_first else input
        T, N = x.shape[0], x.shape[1]
        if T == 0:
            raise ValueError(f"{fn}: expected a non-empty sequence, got input of shape "
                             f"{input.shape} (T = 0)")
        L, D, H = self.num_layers, self.num_directions, self.hidden_size
        state_shape = (L * D, N, H)
        if hx is None:
            h0 = c0 = None
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"{fn}: hx must be a tuple (h0, c0)")
            h0, c0 = hx
            want = (L * D, H) if unbatched else state_shape
            for name, s in (("h0", h0), ("c0", c0)):
                _check_input(fn, name, s, w0)
                if tuple(s.shape) != want:
                    raise ValueError(f"{fn}: {name} must have shape {want} for input "
                                     f"{input.shape}, got {s.shape}")
            if unbatched:
                h0, c0 = h0.unsqueeze(1), c0.unsqueeze(1)
        weights = [self._weights(layer, d) for layer in range(L) for d in range(D)]
        x, h_n, c_n = lstm_layers(x, h0, c0, weights, L, D,
                                  self.dropout if self.training else 0.0)
        if unbatched:
            return x.squeeze(1), (h_n.squeeze(1), c_n.squeeze(1))
        if self.batch_first:
            x = x.transpose(0, 1)
        return x, (h_n, c_n)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


def _cat(ts):
    from .. import ops
    return ops.cat(ts, 2)


def _stack(ts):
    from .. import ops
    return ops.stack(ts, 0)
