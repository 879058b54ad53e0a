"""Loss modules: CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, HuberLoss, BCELoss,
BCEWithLogitsLoss (wrappers of nn.functional)."""
from __future__ import annotations

from . import functional as F
from .functional._checks import _check_reduction
from .module import Module

__all__ = ["CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss", "BCELoss",
           "BCEWithLogitsLoss"]


class _Loss(Module):
    """Shared constructor checks (like torch's ``_Loss``): the deprecated
    size_average/reduce are refused, ``reduction`` validated, and class-weight
    tensors (named in ``buffers``) registered as buffers, as in torch."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", **buffers):
        super().__init__()
        name = type(self).__name__
        if size_average is not None or reduce is not None:
            raise TypeError(f"{name}: size_average and reduce are deprecated; use reduction=")
        _check_reduction(name, reduction)
        self.reduction = reduction
        for key, value in buffers.items():
            if value is not None:
                self.register_buffer(key, value)
            else:
                setattr(self, key, None)


class CrossEntropyLoss(_Loss):
    """Module form of :func:`loomgrad.nn.functional.cross_entropy`:
    ``loss(logits (N, C), target (N,)) -> ()`` for reduction 'mean'."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(size_average, reduce, reduction, weight=weight)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_Loss):
    """Module form of :func:`loomgrad.nn.functional.nll_loss` (input: log-probabilities)."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction, weight=weight)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class MSELoss(_Loss):
    """Module form of :func:`loomgrad.nn.functional.mse_loss`."""

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Module form of :func:`loomgrad.nn.functional.l1_loss`: mean |input - target|."""

    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """Module form of :func:`loomgrad.nn.functional.huber_loss` (quadratic below
    ``delta``, linear above)."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input, target):
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class SmoothL1Loss(_Loss):
    """Module form of :func:`loomgrad.nn.functional.smooth_l1_loss`."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean",
                 beta: float = 1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class BCELoss(_Loss):
    """Module form of :func:`loomgrad.nn.functional.binary_cross_entropy`
    (input: probabilities in [0, 1]); ``weight`` is a buffer, as in torch."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction, weight=weight)

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, weight=self.weight,
                                      reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Module form of :func:`loomgrad.nn.functional.binary_cross_entropy_with_logits`;
    ``weight`` and ``pos_weight`` are buffers, as in torch."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean",
                 pos_weight=None):
        super().__init__(size_average, reduce, reduction, weight=weight, pos_weight=pos_weight)

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)
