"""The losses ``Module.compile(loss=...)`` takes by name, and the adapter for user losses.

A loss is called as ``loss(output, target) -> scalar Tensor`` (the batch mean). Names map to
``lg.nn.functional``; regression-style losses (mse, l1, huber, the binary cross-entropies)
cast the target to the output's dtype and give it the output's shape when the sizes agree
(a (N,) target for a (N, 1) output), where broadcasting would silently compute an N x N loss.
"""
from __future__ import annotations

from ..nn import functional as F
from ..tensor import Tensor

__all__ = ["get", "NAMES"]


def _like_output(output: Tensor, target) -> Tensor:
    if not isinstance(target, Tensor):
        target = Tensor(target)
    if target.dtype != output.dtype:
        target = target.to(output.dtype)
    if tuple(target.shape) != tuple(output.shape) and target.numel() == output.numel():
        target = target.reshape(*output.shape)
    return target


class _TargetLikeOutput:
    """``nn.functional.<name>(output, target cast and shaped like output)``; a class, not a
    closure, so a compiled model pickles."""

    def __init__(self, name: str):
        self.__name__ = name

    def __call__(self, output: Tensor, target) -> Tensor:
        return getattr(F, self.__name__)(output, _like_output(output, target))


# name -> (the lg.nn.functional function, whether the target is cast/reshaped like the
# output). Looked up when compile() runs, so this module needs nothing of nn.functional at
# import time. Keras' names stand beside torch's, for lecture notes that use them.
NAMES = {
    "cross_entropy": ("cross_entropy", False),
    "sparse_categorical_crossentropy": ("cross_entropy", False),
    "nll": ("nll_loss", False),
    "mse": ("mse_loss", True),
    "mean_squared_error": ("mse_loss", True),
    "mae": ("l1_loss", True),
    "l1": ("l1_loss", True),
    "mean_absolute_error": ("l1_loss", True),
    "huber": ("huber_loss", True),
    "bce": ("binary_cross_entropy", True),
    "binary_crossentropy": ("binary_cross_entropy", True),
    "bce_with_logits": ("binary_cross_entropy_with_logits", True),
}


def get(loss):
    """The loss function for a name in :data:`NAMES`, or ``loss`` itself when it is callable
    (a function or a loss Module such as ``nn.CrossEntropyLoss()``)."""
    if isinstance(loss, str):
        if loss not in NAMES:
            raise ValueError(f"compile: unknown loss {loss!r}; choose from {sorted(NAMES)}, or "
                             f"pass a function(output, target) or a loss Module")
        name, like_output = NAMES[loss]
        return _TargetLikeOutput(name) if like_output else getattr(F, name)
    if callable(loss):
        return loss
    raise TypeError(f"compile: loss must be a name, a function or a Module, got "
                    f"{type(loss).__name__}")


def from_logits_threshold(loss) -> float | None:
    """The score above which a binary output means class 1, for "accuracy" on it: 0.0 for
    logits (bce_with_logits), 0.5 for probabilities (bce); None for other losses."""
    name = loss if isinstance(loss, str) else None
    if name == "bce_with_logits":
        return 0.0
    if name in ("bce", "binary_crossentropy"):
        return 0.5
    return None
