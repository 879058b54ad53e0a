"""nn.RNN, nn.LSTM, nn.GRU and the cells nn.RNNCell, nn.LSTMCell, nn.GRUCell (torch.nn's names,
shapes, parameter names and init).

The modules hold the parameters and check the arguments; the autograd nodes
(one per layer and direction, on the fused kernels) are in nn/functional/rnn.py.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from . import functional as F
from .functional.rnn import _check_input
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"]


def _size(cls: str, name: str, v, minimum: int = 0) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{cls}: {name} must be an int, got {type(v).__name__}")
    if v < minimum:
        raise ValueError(f"{cls}: {name} must be >= {minimum}, got {v}")
    return int(v)


class _RNNCellBase(Module):
    """What the cells share (torch's RNNCellBase): weight_ih (G*H, I), weight_hh (G*H, H),
    bias_ih, bias_hh (G*H,), all U(-1/sqrt(H), 1/sqrt(H)), G gates."""

    _GATES = 0  # set by each subclass

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        name = type(self).__name__
        self.input_size = _size(name, "input_size", input_size)
        self.hidden_size = _size(name, "hidden_size", hidden_size, 1)
        self.bias = bool(bias)
        dt = np.dtype(np.float32 if dtype is None else dtype)
        if dt.kind != "f":
            raise TypeError(f"{name}: dtype must be a floating-point dtype, got {dt}")
        G, H, I = self._GATES, self.hidden_size, self.input_size
        self.weight_ih = Parameter(np.empty((G * H, I), dt))
        self.weight_hh = Parameter(np.empty((G * H, H), dt))
        if bias:
            self.bias_ih = Parameter(np.empty((G * H,), dt))
            self.bias_hh = Parameter(np.empty((G * H,), dt))
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

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class LSTMCell(_RNNCellBase):
    """One LSTM step (torch.nn.LSTMCell): ``forward(input, (h, c)=None) -> (h', c')``.

    Shapes: input (N, input_size) or (input_size,); h, c (N, hidden_size).
    Parameters weight_ih (4H, I), weight_hh (4H, H), bias_ih, bias_hh (4H,),
    all U(-1/sqrt(H), 1/sqrt(H)) like torch.
    """

    _GATES = 4

    def forward(self, input, hx=None):
        return F.lstm_cell(input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class GRUCell(_RNNCellBase):
    """One GRU step (torch.nn.GRUCell): ``forward(input, hx=None) -> h'``. Shapes: input
    (N, input_size) or (input_size,); hx (N, hidden_size). Parameters weight_ih (3H, I),
    weight_hh (3H, H), bias_ih, bias_hh (3H,), gate order (r, z, n), torch's init."""

    _GATES = 3

    def forward(self, input, hx=None):
        return F.gru_cell(input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class RNNCell(_RNNCellBase):
    """One Elman step (torch.nn.RNNCell): ``h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)`` with
    ``nonlinearity`` 'tanh' or 'relu'. Parameters weight_ih (H, I), weight_hh (H, H),
    bias_ih, bias_hh (H,), torch's init."""

    _GATES = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r} (use 'tanh' or "
                             f"'relu')")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        return F.rnn_cell(input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
                          self.nonlinearity)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (f", nonlinearity={self.nonlinearity}" if self.nonlinearity != "tanh" else "")


class _RNNBase(Module):
    """What LSTM and GRU share (torch's RNNBase): the stacked, optionally
    bidirectional weights ``weight_ih_l{k}[_reverse]`` (G*H, in),
    ``weight_hh_l{k}[_reverse]`` (G*H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}``
    (G*H,) with G gates, U(-1/sqrt(H), 1/sqrt(H)) init, the argument checks and
    the input layout (batch_first, unbatched)."""

    _GATES = 0  # set by each subclass

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        self.input_size = _size(name, "input_size", input_size)
        self.hidden_size = _size(name, "hidden_size", hidden_size, 1)
        self.num_layers = _size(name, "num_layers", num_layers, 1)
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) \
                or not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout must be a number in [0, 1], got {dropout!r}")
        self.bias, self.batch_first = bool(bias), bool(batch_first)
        self.dropout, self.bidirectional = float(dropout), bool(bidirectional)
        dt = np.dtype(np.float32 if dtype is None else dtype)
        if dt.kind != "f":
            raise TypeError(f"{name}: dtype must be a floating-point dtype, got {dt}")
        G, H, D = self._GATES, self.hidden_size, self.num_directions
        for layer in range(self.num_layers):
            in_size = self.input_size if layer == 0 else H * D
            for d in range(D):
                sfx = self._suffix(layer, d)
                setattr(self, "weight_ih" + sfx, Parameter(np.empty((G * H, in_size), dt)))
                setattr(self, "weight_hh" + sfx, Parameter(np.empty((G * H, H), dt)))
                if self.bias:
                    setattr(self, "bias_ih" + sfx, Parameter(np.empty((G * H,), dt)))
                    setattr(self, "bias_hh" + sfx, Parameter(np.empty((G * H,), dt)))
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

    def flatten_parameters(self) -> None:
        """A no-op, as on torch's CPU (the kernels need no flat weight buffer)."""

    def _all_weights(self):
        """[w_ih, w_hh(, b_ih, b_hh)] for each layer and direction, layer-major."""
        out = []
        for layer in range(self.num_layers):
            for d in range(self.num_directions):
                sfx = self._suffix(layer, d)
                w = [getattr(self, "weight_ih" + sfx), getattr(self, "weight_hh" + sfx)]
                if self.bias:
                    w += [getattr(self, "bias_ih" + sfx), getattr(self, "bias_hh" + sfx)]
                out.append(w)
        return out

    def _time_major(self, input):
        """(x (T, N, I), unbatched) from the caller's layout, after the checks."""
        fn = type(self).__name__
        _check_input(fn, "input", input, self.weight_ih_l0)
        if input.ndim not in (2, 3):
            raise ValueError(f"{fn}: input must be 3-D (T, N, I) / (N, T, I) or 2-D unbatched "
                             f"(T, I), got shape {input.shape}")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{fn}: input's last dim must be input_size={self.input_size}, got "
                             f"shape {input.shape}")
        unbatched = input.ndim == 2
        x = input.unsqueeze(1) if unbatched else \
            (input.transpose(0, 1) if self.batch_first else input)
        if x.shape[0] == 0:
            raise ValueError(f"{fn}: expected a non-empty sequence, got input of shape "
                             f"{input.shape} (T = 0)")
        return x, unbatched

    def _state(self, name: str, s, input, unbatched: bool, N: int):
        """A given initial state, checked, as (L*D, N, H)."""
        L, D, H = self.num_layers, self.num_directions, self.hidden_size
        fn = type(self).__name__
        want = (L * D, H) if unbatched else (L * D, N, H)
        _check_input(fn, name, s, self.weight_ih_l0)
        if tuple(s.shape) != want:
            raise ValueError(f"{fn}: {name} must have shape {want} for input {input.shape}, "
                             f"got {s.shape}")
        return s.unsqueeze(1) if unbatched else s

    def _output(self, x, unbatched: bool):
        if unbatched:
            return x.squeeze(1)
        return x.transpose(0, 1) if self.batch_first else x

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


class LSTM(_RNNBase):
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

    _GATES = 4

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device=None, dtype=None):
        if proj_size:
            raise NotImplementedError("LSTM: proj_size is not supported")
        self.proj_size = 0
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype)

    def forward(self, input, hx=None):
        x, unbatched = self._time_major(input)
        h0 = c0 = None
        if hx is not None:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError("LSTM: hx must be a tuple (h0, c0)")
            N = x.shape[1]
            h0 = self._state("h0", hx[0], input, unbatched, N)
            c0 = self._state("c0", hx[1], input, unbatched, N)
        x, h_n, c_n = F.lstm_layers(x, h0, c0, self._all_weights(), self.num_layers,
                                    self.num_directions, self.dropout if self.training else 0.0)
        if unbatched:
            h_n, c_n = h_n.squeeze(1), c_n.squeeze(1)
        return self._output(x, unbatched), (h_n, c_n)


class GRU(_RNNBase):
    """Multi-layer GRU (torch.nn.GRU): ``forward(input, h0=None) -> (output, h_n)``.

    Shapes as :class:`~loomgrad.nn.LSTM` without the cell state: input
    (T, N, I), (N, T, I) with ``batch_first`` or unbatched (T, I); h0 and h_n
    (num_layers * D, N, H); output (T, N, D * H). Parameters
    ``weight_ih_l{k}[_reverse]`` (3H, in), ``weight_hh_l{k}[_reverse]`` (3H, H),
    ``bias_ih_l{k}``, ``bias_hh_l{k}`` (3H,), gate order (r, z, n), U(-1/sqrt(H),
    1/sqrt(H)) init: a torch state_dict loads 1:1.
    """

    _GATES = 3

    def forward(self, input, hx=None):
        x, unbatched = self._time_major(input)
        h0 = None if hx is None else self._state("hx", hx, input, unbatched, x.shape[1])
        x, h_n = F.gru_layers(x, h0, self._all_weights(), self.num_layers, self.num_directions,
                              self.dropout if self.training else 0.0)
        return self._output(x, unbatched), (h_n.squeeze(1) if unbatched else h_n)


class RNN(_RNNBase):
    """Multi-layer Elman RNN (torch.nn.RNN): ``forward(input, h0=None) -> (output, h_n)`` with
    h_t = act(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh), ``nonlinearity`` 'tanh' or 'relu'.

    Shapes as :class:`~loomgrad.nn.GRU`; parameters ``weight_ih_l{k}[_reverse]`` (H, in),
    ``weight_hh_l{k}[_reverse]`` (H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (H,): torch's
    names and init, so a torch state_dict loads 1:1. One autograd node per layer and direction
    (array expressions around our GEMM; CPU and GPU).
    """

    _GATES = 1

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r} (use 'tanh' or "
                             f"'relu')")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype)

    def forward(self, input, hx=None):
        x, unbatched = self._time_major(input)
        h0 = None if hx is None else self._state("hx", hx, input, unbatched, x.shape[1])
        x, h_n = F.rnn_layers(x, h0, self._all_weights(), self.num_layers, self.num_directions,
                              self.dropout if self.training else 0.0, self.nonlinearity)
        return self._output(x, unbatched), (h_n.squeeze(1) if unbatched else h_n)
