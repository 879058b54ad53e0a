"""GPU half of the raw xent kernels (being written this session)."""
from __future__ import annotations

from . import _gpu  # noqa: F401


def softmax(x):
    raise NotImplementedError("softmax on GPU arrays: not written yet")


def log_softmax(x):
    raise NotImplementedError("log_softmax on GPU arrays: not written yet")


def softmax_backward(grad_out, out):
    raise NotImplementedError("softmax_backward on GPU arrays: not written yet")


def log_softmax_backward(grad_out, out):
    raise NotImplementedError("log_softmax_backward on GPU arrays: not written yet")


def softmax_cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean",
                          label_smoothing=0.0):
    raise NotImplementedError("softmax_cross_entropy on GPU arrays: not written yet")


def softmax_cross_entropy_backward(grad_loss, logits, target, weight=None, ignore_index=-100,
                                   reduction="mean", label_smoothing=0.0):
    raise NotImplementedError("softmax_cross_entropy_backward on GPU arrays: not written yet")
