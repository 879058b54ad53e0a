"""scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes, no download)."""
from __future__ import annotations

import functools
import gzip
import importlib.util
import os

import numpy as np

from ..tensor import Tensor

__all__ = ["digits", "load_digits_arrays"]

_SPLITS = ("train", "test", "all")


@functools.lru_cache(maxsize=1)
def _load_raw() -> tuple[np.ndarray, np.ndarray]:
    """(images (1797, 64) float64 in 0..16, labels (1797,) int64), read-only."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None:
        raise ImportError("lg.data.digits needs scikit-learn (pip install scikit-learn): the "
                          "digits ship inside it")
    # Read sklearn's own CSV without importing sklearn (~1 s of start-up); this is
    # exactly what sklearn.datasets.load_digits parses.
    path = os.path.join(os.path.dirname(spec.origin), "datasets", "data", "digits.csv.gz")
    try:
        with gzip.open(path, "rt") as f:
            raw = np.loadtxt(f, delimiter=",")
        images, labels = raw[:, :-1], raw[:, -1].astype(np.int64)
    except (OSError, ValueError, IndexError):
        from sklearn.datasets import load_digits
        d = load_digits()
        images, labels = np.asarray(d.data, np.float64), np.asarray(d.target, np.int64)
    if images.shape != (1797, 64):
        raise RuntimeError(f"unexpected digits data shape {images.shape} in {path}")
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _split_indices(labels: np.ndarray, test_fraction: float, seed: int):
    """Stratified split: ceil(test_fraction * n) test samples (scikit-learn's
    count), shared out over the classes in proportion to their sizes (largest
    remainders first); within each class a seeded permutation picks them.
    Returns sorted (train, test) index arrays."""
    rng = np.random.default_rng(seed)
    classes, sizes = np.unique(labels, return_counts=True)
    n_test = int(np.ceil(test_fraction * labels.size))
    exact = test_fraction * sizes * (n_test / (test_fraction * labels.size))
    per_class = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - per_class), kind="stable")
    per_class[order[:n_test - per_class.sum()]] += 1
    train, test = [], []
    for c, k in zip(classes, per_class):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(idx.size)]
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def load_digits_arrays(split: str = "train", test_fraction: float = 0.2, seed: int = 0,
                       flatten: bool = True, normalize: bool = True, dtype=np.float32):
    """Like :func:`digits` but returns NumPy arrays ``(X, y)``."""
    if split not in _SPLITS:
        raise ValueError(f"digits: split must be one of {_SPLITS}, got {split!r}")
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) \
            or not 0.0 < test_fraction < 1.0:
        raise ValueError(f"digits: test_fraction must be in (0, 1), got {test_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"digits: seed must be an int >= 0, got {seed!r}")
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"digits: dtype must be floating point, got {dt}")
    images, labels = _load_raw()
    if split == "all":
        idx = np.arange(labels.size)
    else:
        train, test = _split_indices(labels, float(test_fraction), int(seed))
        idx = train if split == "train" else test
    X = images[idx] / 16.0 if normalize else images[idx].copy()
    X = X.astype(dt, copy=False)
    if not flatten:
        X = X.reshape(-1, 1, 8, 8)
    return X, labels[idx].copy()


def digits(split: str = "train", test_fraction: float = 0.2, seed: int = 0,
           flatten: bool = True, normalize: bool = True, dtype=np.float32):
    """The 8x8 digits as Tensors ``(X, y)``.

    X: (n, 64) float32, or (n, 1, 8, 8) with ``flatten=False`` (NCHW);
    pixels scaled from 0..16 to [0, 1] when ``normalize``. y: (n,) int64
    class labels 0..9. ``split``: "train", "test" or "all"; the split is
    stratified by class and depends only on ``test_fraction`` and ``seed``
    (not on the global generator), so train and test never overlap and the
    same arguments give the same samples everywhere. With the defaults:
    1,437 train and 360 test samples.

    Wrap them for a loader with ``lg.data.TensorDataset(X, y)``.
    """
    X, y = load_digits_arrays(split, test_fraction, seed, flatten, normalize, dtype)
    return Tensor(X), Tensor(y)
