"""Ready-made models: ``lg.models.mlp(...)`` and ``lg.models.lenet(...)`` for the 8x8 digits."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from . import nn

__all__ = ["MLP", "mlp", "LeNet", "lenet"]

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def _positive_int(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"MLP: {name} must be an int, got {type(v).__name__}")
    if v < 1:
        raise ValueError(f"MLP: {name} must be >= 1, got {v}")
    return int(v)


class MLP(nn.Sequential):
    """A multi-layer perceptron: Flatten, then (Linear, activation[, Dropout])
    per hidden layer, then a Linear to the class logits.

    Shapes: input (N, in_features) or (N, *) that flattens to it (e.g.
    (N, 1, 8, 8) digits) -> logits (N, num_classes). Parameter names follow
    the Sequential numbering ("1.weight", "1.bias", "3.weight", ...: index 0
    is the Flatten), so the same torch ``nn.Sequential`` loads 1:1 when
    built with the same layers.
    """

    def __init__(self, in_features: int = 64, hidden: int | Sequence[int] = (128,),
                 num_classes: int = 10, activation: str = "relu", dropout: float = 0.0,
                 dtype=None):
        in_features = _positive_int("in_features", in_features)
        num_classes = _positive_int("num_classes", num_classes)
        hidden = (hidden,) if isinstance(hidden, (int, np.integer)) else tuple(hidden)
        hidden = tuple(_positive_int(f"hidden[{i}]", h) for i, h in enumerate(hidden))
        if activation not in _ACTIVATIONS:
            raise ValueError(f"MLP: activation must be one of {sorted(_ACTIVATIONS)}, got "
                             f"{activation!r}")
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h, dtype=dtype), _ACTIVATIONS[activation]()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, num_classes, dtype=dtype))
        super().__init__(*layers)
        self.in_features, self.hidden, self.num_classes = in_features, hidden, num_classes


def mlp(in_features: int = 64, hidden: int | Sequence[int] = (128,), num_classes: int = 10,
        activation: str = "relu", dropout: float = 0.0, dtype=None) -> MLP:
    """Build an :class:`MLP`; the defaults fit the 8x8 digits (64 -> 128 -> 10)."""
    return MLP(in_features, hidden, num_classes, activation, dropout, dtype)


class LeNet(nn.Sequential):
    """A LeNet-style CNN sized for small images (default: the 1x8x8 digits)::

        Conv2d(in, c1, 3, padding=1), ReLU, MaxPool2d(2),     # c1 x H/2 x W/2
        Conv2d(c1, c2, 3, padding=1), ReLU, MaxPool2d(2),     # c2 x H/4 x W/4
        Flatten, Linear(c2*H/4*W/4, hidden), ReLU, Dropout(dropout), Linear(hidden, classes)

    Shapes: input (N, in_channels, H, W) with H, W divisible by 4 -> logits
    (N, num_classes). 'same'-style 3x3 convolutions keep the tiny 8x8 images
    from shrinking before the pools. Parameter names follow the Sequential
    numbering ("0.weight", "3.weight", "7.weight", "10.weight"), so the same
    torch ``nn.Sequential`` loads 1:1.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size=(8, 8),
                 channels: Sequence[int] = (16, 32), hidden: int = 64, dropout: float = 0.5,
                 dtype=None):
        in_channels = _positive_int("in_channels", in_channels)
        num_classes = _positive_int("num_classes", num_classes)
        hidden = _positive_int("hidden", hidden)
        c1, c2 = (_positive_int(f"channels[{i}]", c) for i, c in enumerate(channels))
        h, w = (image_size, image_size) if isinstance(image_size, (int, np.integer)) \
            else tuple(image_size)
        if h % 4 or w % 4 or h < 4 or w < 4:
            raise ValueError(f"LeNet: image_size must be divisible by 4 (two 2x2 pools), got "
                             f"{image_size!r}")
        super().__init__(
            nn.Conv2d(in_channels, c1, 3, padding=1, dtype=dtype), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1, dtype=dtype), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(c2 * (h // 4) * (w // 4), hidden, dtype=dtype), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(hidden, num_classes, dtype=dtype))
        self.in_channels, self.num_classes, self.image_size = in_channels, num_classes, (h, w)
        self.channels, self.hidden = (c1, c2), hidden


def lenet(in_channels: int = 1, num_classes: int = 10, image_size=(8, 8),
          channels: Sequence[int] = (16, 32), hidden: int = 64, dropout: float = 0.5,
          dtype=None) -> LeNet:
    """Build a :class:`LeNet`; the defaults fit the 1x8x8 digits (16 and 32 channels)."""
    return LeNet(in_channels, num_classes, image_size, channels, hidden, dropout, dtype)


class CharLSTM(nn.Module):
    """A character-level language model: Embedding -> LSTM -> Linear.

    ``forward(idx, state=None) -> (logits, (h, c))``: idx (N, T) integer
    character ids -> logits (N, T, vocab_size); ``state`` is the LSTM's
    (h, c), each (num_layers, N, hidden_size), to carry across chunks of a
    long text (detach it between optimizer steps).
    """

    def __init__(self, vocab_size: int, hidden_size: int = 256, num_layers: int = 1,
                 embedding_dim: int = 64, dropout: float = 0.0, dtype=None):
        super().__init__()
        vocab_size = _positive_int("vocab_size", vocab_size)
        self.embedding = nn.Embedding(vocab_size, _positive_int("embedding_dim", embedding_dim),
                                      dtype=dtype)
        self.lstm = nn.LSTM(embedding_dim, _positive_int("hidden_size", hidden_size),
                            _positive_int("num_layers", num_layers), batch_first=True,
                            dropout=dropout, dtype=dtype)
        self.head = nn.Linear(hidden_size, vocab_size, dtype=dtype)
        self.vocab_size, self.hidden_size, self.num_layers = vocab_size, hidden_size, num_layers

    def forward(self, idx, state=None):
        out, state = self.lstm(self.embedding(idx), state)
        return self.head(out), state


def char_lstm(vocab_size: int, hidden_size: int = 256, num_layers: int = 1,
              embedding_dim: int = 64, dropout: float = 0.0, dtype=None) -> CharLSTM:
    """Build a :class:`CharLSTM` (embedding 64, one LSTM layer of 256 by default)."""
    return CharLSTM(vocab_size, hidden_size, num_layers, embedding_dim, dropout, dtype)


__all__ += ["CharLSTM", "char_lstm"]
