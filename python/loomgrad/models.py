"""Ready-made models: ``lg.models.mlp(...)`` for the 8x8 digits and the like."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from . import nn

__all__ = ["MLP", "mlp"]

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
