"""Keras-style training mixed into every ``nn.Module``: :class:`Trainer` (compile, fit,
evaluate, predict, summary), the losses it takes by name, its data handling."""
from .trainer import OPTIMIZERS, Trainer

__all__ = ["Trainer", "OPTIMIZERS"]
