"""Loss modules: CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, HuberLoss, BCELoss,
BCEWithLogitsLoss (wrappers of nn.functional)."""
from __future__ import annotations

from . import functional as F
from .module import Module

__all__ = ["CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "HuberLoss", "BCELoss",
           "BCEWithLogitsLoss"]


class CrossEntropyLoss(Module):
    """Module form of :func:`loomgrad.nn.functional.cross_entropy`:
    ``loss(logits (N, C), target (N,)) -> ()`` for reduction 'mean'."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__()
        if size_average is not None or reduce is not None:
            raise TypeError("CrossEntropyLoss: size_average and reduce are deprecated; "
                            "use reduction=")
        F._check_reduction("CrossEntropyLoss", reduction)
        if weight is not None:
            self.register_buffer("weight", weight)
        else:
            self.weight = None
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(Module):
    """Module form of :func:`loomgrad.nn.functional.nll_loss` (input: log-probabilities)."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean"):
        super().__init__()
        if size_average is not None or reduce is not None:
            raise TypeError("NLLLoss: size_average and reduce are deprecated; use reduction=")
        F._check_reduction("NLLLoss", reduction)
        if weight is not None:
            self.register_buffer("weight", weight)
        else:
            self.weight = None
        self.ignore_index = ignore_index
        self.reduction = reduction

    def forward(self, input, target):
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class MSELoss(Module):
    """Module form of :func:`loomgrad.nn.functional.mse_loss`."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        if size_average is not None or reduce is not None:
            raise TypeError("MSELoss: size_average and reduce are deprecated; use reduction=")
        F._check_reduction("MSELoss", reduction)
        self.reduction = reduction

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(Module):
    """Module form of :func:`loomgrad.nn.functional.l1_loss`: mean |input - target|."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        if size_average is not None or reduce is not None:
            raise TypeError("L1Loss: size_average and reduce are deprecated; use reduction=")
        F._check_reduction("L1Loss", reduction)
        self.reduction = reduction

    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class HuberLoss(Module):
    """Module form of :func:`loomgrad.nn.functional.huber_loss` (quadratic below
    ``delta``, linear above)."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__()
        F._check_reduction("HuberLoss", reduction)
        self.reduction = reduction
        self.delta = delta

    def forward(self, input, target):
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class BCELoss(Module):
    """Module form of :func:`loomgrad.nn.functional.binary_cross_entropy`
    (input: probabilities in [0, 1]); ``weight`` is a buffer, as in torch."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        if size_average is not None or reduce is not None:
            raise TypeError("BCELoss: size_average and reduce are deprecated; use reduction=")
        F._check_reduction("BCELoss", reduction)
        if weight is not None:
            self.register_buffer("weight", weight)
        else:
            self.weight = None
        self.reduction = reduction

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, weight=self.weight,
                                      reduction=self.reduction)


class BCEWithLogitsLoss(Module):
    """Module form of :func:`loomgrad.nn.functional.binary_cross_entropy_with_logits`;
    ``weight`` and ``pos_weight`` are buffers, as in torch."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean",
                 pos_weight=None):
        super().__init__()
        if size_average is not None or reduce is not None:
            raise TypeError("BCEWithLogitsLoss: size_average and reduce are deprecated; use "
                            "reduction=")
        F._check_reduction("BCEWithLogitsLoss", reduction)
        for name, value in (("weight", weight), ("pos_weight", pos_weight)):
            if value is not None:
                self.register_buffer(name, value)
            else:
                setattr(self, name, None)
        self.reduction = reduction

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)
