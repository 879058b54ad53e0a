"""lg.plot: training curves and confusion matrices with matplotlib (the ``plot`` extra).

matplotlib is imported on first use; without a display (no DISPLAY/WAYLAND_DISPLAY on Linux,
MPLBACKEND unset) the non-interactive Agg backend is chosen, so saving to a file works on
servers and in CI. Every function returns the matplotlib Figure and saves it when ``path``
is given.
"""
from __future__ import annotations

import os
import sys

import numpy as np

from . import metrics as _metrics

__all__ = ["history", "confusion_matrix"]


def _pyplot():
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError("plotting needs matplotlib: pip install 'loomgrad[plot]' (or pip "
                          "install matplotlib)") from e
    headless = sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or
                                                         os.environ.get("WAYLAND_DISPLAY"))
    if headless and "MPLBACKEND" not in os.environ and "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish(plt, fig, path):
    fig.tight_layout()
    if path is not None:
        fig.savefig(os.fspath(path), dpi=100)
        plt.close(fig)
    return fig


def history(history: dict, path=None, title: str | None = None, epochs=None):
    """One panel per quantity of a Keras-style history dict (``loss`` first, then each
    metric; ``learning_rate`` too when logged), with the training curve and, where
    ``val_<name>`` exists, the validation curve against the epoch (1-based).

    ``history``: ``{"loss": [...], "val_loss": [...], "accuracy": [...], ...}`` (a
    :class:`lg.callbacks.History`'s ``.history``)."""
    history = getattr(history, "history", history)
    if not isinstance(history, dict) or not history:
        raise ValueError("plot.history: history must be a non-empty dict of per-epoch lists")
    names = [k for k in history if not k.startswith("val_")]
    names += [k[4:] for k in history if k.startswith("val_") and k[4:] not in history]
    names.sort(key=lambda k: (k != "loss", k == "learning_rate", k))
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names):
        for key, label in ((name, "train"), ("val_" + name, "validation")):
            if key in history:
                values = np.asarray(history[key], dtype=np.float64)
                x = (np.asarray(epochs[-len(values):]) + 1 if epochs is not None and
                     len(epochs) >= len(values) else np.arange(1, len(values) + 1))
                ax.plot(x, values, marker="o" if len(values) < 30 else None, markersize=3,
                        label=label)
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _finish(plt, fig, path)


def confusion_matrix(y_true, y_pred, labels=None, display_labels=None, normalize=None,
                     path=None, title: str | None = None, cmap: str = "Blues"):
    """A confusion-matrix heat map with the count (or fraction, with ``normalize``) in each
    cell: rows the true label, columns the predicted one, as
    :func:`lg.metrics.confusion_matrix` computes it (and scikit-learn's
    ConfusionMatrixDisplay draws it). ``y_pred`` may be labels or (N, C) scores."""
    t, p = _metrics._pair("plot.confusion_matrix", y_true, y_pred)
    labels = _metrics._labels(t, p, labels)
    cm = _metrics.confusion_matrix(t, p, labels=labels, normalize=normalize)
    names = [str(x) for x in (labels if display_labels is None else display_labels)]
    if len(names) != len(cm):
        raise ValueError(f"plot.confusion_matrix: {len(names)} display_labels for {len(cm)} "
                         f"labels")
    plt = _pyplot()
    size = max(3.5, 0.5 * len(cm) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(cm, cmap=cmap)
    fig.colorbar(im, ax=ax)
    threshold = (cm.max() + cm.min()) / 2
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            text = f"{cm[i, j]:.2f}" if normalize else f"{cm[i, j]:d}"
            ax.text(j, i, text, ha="center", va="center",
                    color="white" if cm[i, j] > threshold else "black")
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    if title:
        ax.set_title(title)
    return _finish(plt, fig, path)
