"""lg.metrics: classification and regression scores, with scikit-learn's argument order and results.

Two forms of each score:
- functions on arrays, ``accuracy_score(y_true, y_pred)``, returning what the
  scikit-learn function of the same name returns (tests compare them);
- streaming :class:`Metric` objects that ``Module.fit``/``evaluate`` update batch by batch
  (``update(y_true, y_pred)``, ``result()``, ``reset()``); they keep exact counts and sums, so
  an epoch's figure equals the array function over all of the epoch's samples, not a mean
  of batch means. ``get("accuracy")`` builds one from the names ``compile(metrics=...)`` takes.

Arrays may be NumPy arrays, lists, or Tensors (their ``.array`` is read; GPU data is copied
to the host). Where a classifier's ``y_pred`` is a 2-D array of per-class scores (logits or
probabilities) with 1-D ``y_true``, the predicted label is its argmax -- scikit-learn would
raise there; everything else follows scikit-learn.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

__all__ = ["accuracy_score", "top_k_accuracy_score", "confusion_matrix", "precision_score",
           "recall_score", "f1_score", "precision_recall_fscore_support", "mean_squared_error",
           "mean_absolute_error", "r2_score", "perplexity",
           "Metric", "Accuracy", "TopKAccuracy", "Precision", "Recall", "F1Score",
           "MeanSquaredError", "MeanAbsoluteError", "R2Score", "Perplexity", "get", "NAMES"]


def _host(a, name: str) -> np.ndarray:
    """A NumPy array from an array, list, Tensor, or GPU array (copied to the host)."""
    a = getattr(a, "array", a) if not isinstance(a, np.ndarray) else a
    if hasattr(a, "get") and hasattr(a, "__cuda_array_interface__"):  # CuPy
        a = a.get()
    try:
        return np.asarray(a)
    except Exception as e:  # noqa: BLE001 - name the argument whatever numpy says
        raise TypeError(f"{name} must be array-like, got {type(a).__name__}") from e


def _pair(fn: str, y_true, y_pred, scores_ok: bool = True):
    """Host arrays for (y_true, y_pred) of equal length; (N, C) scores become labels."""
    t, p = _host(y_true, "y_true"), _host(y_pred, "y_pred")
    if t.ndim == 0 or p.ndim == 0:
        raise ValueError(f"{fn}: y_true and y_pred must be arrays, got shapes {t.shape} and "
                         f"{p.shape}")
    if len(t) != len(p):
        raise ValueError(f"{fn}: y_true and y_pred have different lengths: {t.shape} vs "
                         f"{p.shape}")
    if scores_ok and p.ndim == t.ndim + 1 and t.ndim == 1:
        p = p.argmax(axis=1)
    return t, p


def _weights(fn: str, sample_weight, n: int):
    if sample_weight is None:
        return None
    w = _host(sample_weight, "sample_weight").astype(np.float64).reshape(-1)
    if len(w) != n:
        raise ValueError(f"{fn}: sample_weight has {len(w)} entries for {n} samples")
    return w


# ------------------------------------------------------------------ classification
def accuracy_score(y_true, y_pred, *, normalize: bool = True, sample_weight=None) -> float:
    """Fraction (or with ``normalize=False`` the number) of samples whose label is right.

    y_true: (N,) labels, or (N, L) label rows (a row counts only when all of it matches, as
    scikit-learn's subset accuracy); y_pred: the same, or (N, C) scores for 1-D y_true."""
    t, p = _pair("accuracy_score", y_true, y_pred)
    if t.shape != p.shape:
        raise ValueError(f"accuracy_score: y_true {t.shape} and y_pred {p.shape} differ in shape")
    hit = (t == p) if t.ndim == 1 else (t == p).reshape(len(t), -1).all(axis=1)
    w = _weights("accuracy_score", sample_weight, len(t))
    if w is None:
        return float(hit.mean()) if normalize else float(hit.sum())
    return float(np.average(hit, weights=w)) if normalize else float((hit * w).sum())


def _top_k_hits(fn: str, t: np.ndarray, s: np.ndarray, k: int, classes: np.ndarray) -> np.ndarray:
    """Per sample: is y_true among the k highest scores? Ties broken as scikit-learn does
    (a stable argsort of the scores, reversed)."""
    if s.ndim != 2 or t.ndim != 1:
        raise ValueError(f"{fn}: y_true must be (N,) and y_score (N, C), got {t.shape} and "
                         f"{s.shape}")
    if s.shape[1] != len(classes):
        raise ValueError(f"{fn}: y_score has {s.shape[1]} columns for {len(classes)} classes")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{fn}: k must be an int >= 1, got {k!r}")
    code = np.searchsorted(classes, t)
    bad = (code >= len(classes)) | (classes[np.minimum(code, len(classes) - 1)] != t)
    if bad.any():
        raise ValueError(f"{fn}: y_true has labels not in labels: {np.unique(t[bad])[:5]}")
    top = np.argsort(s, axis=1, kind="mergesort")[:, ::-1][:, :k]
    return (top == code[:, None]).any(axis=1)


def top_k_accuracy_score(y_true, y_score, *, k: int = 2, normalize: bool = True,
                         sample_weight=None, labels=None) -> float:
    """Fraction of samples whose true label is among the ``k`` highest of ``y_score`` (N, C);
    column c scores ``labels[c]`` (default: 0..C-1 when y_true is integer, else the sorted
    labels of y_true)."""
    t, s = _host(y_true, "y_true"), _host(y_score, "y_score")
    if s.ndim == 2:
        classes = (np.asarray(labels) if labels is not None else
                   np.arange(s.shape[1]) if t.dtype.kind in "iub" else np.unique(t))
    else:
        classes = np.unique(t)
    hits = _top_k_hits("top_k_accuracy_score", t, s, k, np.sort(classes))
    w = _weights("top_k_accuracy_score", sample_weight, len(t))
    if w is None:
        return float(hits.mean()) if normalize else float(hits.sum())
    return float(np.average(hits, weights=w)) if normalize else float((hits * w).sum())


def _labels(t: np.ndarray, p: np.ndarray, labels) -> np.ndarray:
    return np.asarray(labels) if labels is not None else np.union1d(t, p)


def _confusion(t: np.ndarray, p: np.ndarray, labels: np.ndarray, w=None) -> np.ndarray:
    """(L, L) counts, rows the true label, columns the predicted one; samples whose labels are
    not in ``labels`` are left out (scikit-learn's rule)."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    L = len(labels)

    def code(a):
        i = np.searchsorted(sorted_labels, a)
        i = np.minimum(i, L - 1)
        ok = sorted_labels[i] == a
        return order[i], ok

    ti, tok = code(t)
    pi, pok = code(p)
    keep = tok & pok
    w = np.ones(len(t), np.int64) if w is None else w
    cm = np.zeros((L, L), dtype=np.result_type(w.dtype, np.int64))
    np.add.at(cm, (ti[keep], pi[keep]), w[keep])
    return cm


def confusion_matrix(y_true, y_pred, *, labels=None, sample_weight=None,
                     normalize: str | None = None) -> np.ndarray:
    """(L, L) array: entry [i, j] counts samples of true label ``labels[i]`` predicted as
    ``labels[j]`` (labels: the sorted union of both by default). ``normalize``: None, "true"
    (rows sum to 1), "pred" (columns) or "all"."""
    t, p = _pair("confusion_matrix", y_true, y_pred)
    labels = _labels(t, p, labels)
    if labels.size == 0:
        raise ValueError("confusion_matrix: labels is empty")
    cm = _confusion(t.ravel(), p.ravel(), labels,
                    _weights("confusion_matrix", sample_weight, len(t)))
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(f"confusion_matrix: normalize must be None, 'true', 'pred' or 'all', "
                         f"got {normalize!r}")
    if normalize is None:
        return cm
    with np.errstate(all="ignore"):
        cm = cm.astype(np.float64)
        cm = (cm / cm.sum(axis=1, keepdims=True) if normalize == "true" else
              cm / cm.sum(axis=0, keepdims=True) if normalize == "pred" else cm / cm.sum())
    return np.nan_to_num(cm)


_AVERAGES = ("binary", "micro", "macro", "weighted", None)


def _divide(num, den, zero_division, fn: str, what: str):
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    out = np.empty_like(num)
    zero = den == 0
    with np.errstate(all="ignore"):
        out[~zero] = num[~zero] / den[~zero]
    if zero.any():
        if zero_division == "warn":
            warnings.warn(f"{fn}: {what} is ill-defined and being set to 0.0 in labels with no "
                          f"{'predicted' if what == 'Precision' else 'true'} samples",
                          RuntimeWarning, stacklevel=4)
            out[zero] = 0.0
        else:
            out[zero] = float(zero_division)
    return out


def _label_counts(cm: np.ndarray):
    """(true positives, predicted, true) per label of a confusion matrix."""
    return (np.diag(cm).astype(np.float64), cm.sum(axis=0).astype(np.float64),
            cm.sum(axis=1).astype(np.float64))


def _prf_from_counts(fn: str, counts, labels: np.ndarray, average, pos_label, beta: float,
                     zero_division):
    """Precision, recall, F-beta and support from (tp, predicted, true) counts per label."""
    if average not in _AVERAGES:
        raise ValueError(f"{fn}: average must be one of {_AVERAGES}, got {average!r}")
    if zero_division != "warn" and not (zero_division in (0, 1) or
                                        (isinstance(zero_division, float) and
                                         math.isnan(zero_division))):
        raise ValueError(f"{fn}: zero_division must be 'warn', 0, 1 or nan, got "
                         f"{zero_division!r}")
    tp, pred, true = counts
    if average == "binary":
        present = labels[(true + pred) > 0]
        if len(present) > 2:
            raise ValueError(f"{fn}: target is multiclass but average='binary'; choose "
                             f"average from 'micro', 'macro', 'weighted' or None")
        hit = np.nonzero(labels == pos_label)[0]
        if len(hit) == 0:
            if len(present) == 0:
                return 0.0, 0.0, 0.0, None
            raise ValueError(f"{fn}: pos_label={pos_label!r} is not a valid label: "
                             f"{labels.tolist()}")
        sel = hit[:1]
        tp, pred, true = tp[sel], pred[sel], true[sel]
    elif average == "micro":
        tp, pred, true = tp.sum(keepdims=True), pred.sum(keepdims=True), true.sum(keepdims=True)
    precision = _divide(tp, pred, zero_division, fn, "Precision")
    recall = _divide(tp, true, zero_division, fn, "Recall")
    b2 = beta * beta
    # scikit-learn: F is tp-based, (1 + b2) tp / ((1 + b2) tp + b2 fn + fp), and takes
    # zero_division only where that denominator is 0
    f = _divide((1 + b2) * tp, (1 + b2) * tp + b2 * (true - tp) + (pred - tp), zero_division,
                fn, "F-score")
    if average is None:
        return precision, recall, f, true.astype(np.int64)
    if average == "weighted":
        weights = true
        if weights.sum() == 0:
            zd = 0.0 if zero_division == "warn" else float(zero_division)
            return zd, zd, zd, None
    else:
        weights = None
    return (float(np.average(precision, weights=weights)),
            float(np.average(recall, weights=weights)),
            float(np.average(f, weights=weights)), None)


def precision_recall_fscore_support(y_true, y_pred, *, beta: float = 1.0, labels=None,
                                    pos_label=1, average=None, sample_weight=None,
                                    zero_division="warn"):
    """(precision, recall, F-beta, support) as scikit-learn computes them: per label with
    ``average=None`` (arrays, support = true samples per label), else averaged floats and
    support None ("binary": the ``pos_label`` class only; "micro": from the pooled counts;
    "macro": the unweighted mean over labels; "weighted": weighted by support)."""
    t, p = _pair("precision_recall_fscore_support", y_true, y_pred)
    present = np.union1d(t, p)
    labs = present if labels is None else np.asarray(labels)
    # counted over every label present, then the requested ones picked (scikit-learn: a
    # prediction of a label outside ``labels`` still counts against that label's recall)
    every = np.union1d(present, labs)
    cm = _confusion(t.ravel(), p.ravel(), every,
                    _weights("precision_recall_fscore_support", sample_weight, len(t)))
    pick = np.searchsorted(every, labs)
    counts = tuple(c[pick] for c in _label_counts(cm))
    return _prf_from_counts("precision_recall_fscore_support", counts, labs, average, pos_label,
                            beta, zero_division)


def precision_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary",
                    sample_weight=None, zero_division="warn"):
    """tp / (tp + fp): of the samples predicted as a label, the fraction that are it."""
    return precision_recall_fscore_support(y_true, y_pred, labels=labels, pos_label=pos_label,
                                           average=average, sample_weight=sample_weight,
                                           zero_division=zero_division)[0]


def recall_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary",
                 sample_weight=None, zero_division="warn"):
    """tp / (tp + fn): of the samples of a label, the fraction predicted as it."""
    return precision_recall_fscore_support(y_true, y_pred, labels=labels, pos_label=pos_label,
                                           average=average, sample_weight=sample_weight,
                                           zero_division=zero_division)[1]


def f1_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary", sample_weight=None,
             zero_division="warn"):
    """The harmonic mean of precision and recall, 2 tp / (2 tp + fp + fn)."""
    return precision_recall_fscore_support(y_true, y_pred, labels=labels, pos_label=pos_label,
                                           average=average, sample_weight=sample_weight,
                                           zero_division=zero_division)[2]


# ------------------------------------------------------------------ regression
_MULTIOUTPUT = ("raw_values", "uniform_average", "variance_weighted")


def _regression(fn: str, y_true, y_pred, sample_weight, multioutput):
    t, p = _host(y_true, "y_true"), _host(y_pred, "y_pred")
    if t.ndim == 1:
        t = t.reshape(-1, 1)
    if p.ndim == 1:
        p = p.reshape(-1, 1)
    if t.ndim != 2 or t.shape != p.shape:
        raise ValueError(f"{fn}: y_true and y_pred must be (N,) or (N, outputs) of one shape, "
                         f"got {_host(y_true, 'y_true').shape} and {_host(y_pred, 'y_pred').shape}")
    if isinstance(multioutput, str) and multioutput not in _MULTIOUTPUT:
        raise ValueError(f"{fn}: multioutput must be one of {_MULTIOUTPUT} or an array of "
                         f"weights, got {multioutput!r}")
    return (t.astype(np.float64), p.astype(np.float64),
            _weights(fn, sample_weight, len(t)))


def _combine(values: np.ndarray, multioutput):
    if isinstance(multioutput, str):
        if multioutput == "raw_values":
            return values
        return float(np.mean(values))
    return float(np.average(values, weights=np.asarray(multioutput, np.float64)))


def mean_squared_error(y_true, y_pred, *, sample_weight=None,
                       multioutput="uniform_average"):
    """Mean of (y_true - y_pred)^2 per output, then combined over outputs."""
    t, p, w = _regression("mean_squared_error", y_true, y_pred, sample_weight, multioutput)
    return _combine(np.average((t - p) ** 2, axis=0, weights=w), multioutput)


def mean_absolute_error(y_true, y_pred, *, sample_weight=None,
                        multioutput="uniform_average"):
    """Mean of |y_true - y_pred| per output, then combined over outputs."""
    t, p, w = _regression("mean_absolute_error", y_true, y_pred, sample_weight, multioutput)
    return _combine(np.average(np.abs(t - p), axis=0, weights=w), multioutput)


def _r2_from_sums(ss_res: np.ndarray, ss_tot: np.ndarray, multioutput, force_finite: bool = True):
    """1 - ss_res / ss_tot per output; a constant y_true gives 1.0 when predicted exactly,
    else 0.0 (scikit-learn's force_finite)."""
    with np.errstate(all="ignore"):
        r2 = 1.0 - ss_res / ss_tot
    if force_finite:
        r2 = np.where(ss_tot == 0, np.where(ss_res == 0, 1.0, 0.0), r2)
    if isinstance(multioutput, str) and multioutput == "variance_weighted":
        if ss_tot.sum() == 0:
            return float(np.mean(r2))
        return float(np.average(r2, weights=ss_tot))
    return _combine(r2, multioutput)


def r2_score(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average",
             force_finite: bool = True):
    """The coefficient of determination, 1 - sum((y - y_pred)^2) / sum((y - mean(y))^2)."""
    t, p, w = _regression("r2_score", y_true, y_pred, sample_weight, multioutput)
    if len(t) < 2:
        warnings.warn("r2_score: R^2 is not well-defined with less than two samples",
                      RuntimeWarning, stacklevel=2)
        return float("nan")
    w1 = np.ones(len(t)) if w is None else w
    ss_res = (w1[:, None] * (t - p) ** 2).sum(axis=0)
    ss_tot = (w1[:, None] * (t - np.average(t, axis=0, weights=w1)) ** 2).sum(axis=0)
    return _r2_from_sums(ss_res, ss_tot, multioutput, force_finite)


def _nll_sum(t: np.ndarray, p: np.ndarray, from_logits: bool, fn: str) -> tuple[float, int]:
    """Sum of -log p(true class) over all positions, and the number of positions."""
    if p.ndim != t.ndim + 1 or p.shape[:-1] != t.shape:
        raise ValueError(f"{fn}: y_pred must be y_true's shape plus a class axis, got y_true "
                         f"{t.shape} and y_pred {p.shape}")
    z = p.reshape(-1, p.shape[-1]).astype(np.float64)
    idx = t.reshape(-1).astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= z.shape[1]):
        raise ValueError(f"{fn}: y_true holds class indices outside [0, {z.shape[1]})")
    if from_logits:
        m = z.max(axis=1, keepdims=True)
        logp = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
    else:
        with np.errstate(divide="ignore"):
            logp = np.log(z)
    return float(-logp[np.arange(len(idx)), idx].sum()), int(idx.size)


def perplexity(y_true, y_pred, *, from_logits: bool = True) -> float:
    """exp(mean negative log-likelihood of the true classes): y_true integer classes of any
    shape, y_pred the same shape plus a class axis of logits (or probabilities with
    ``from_logits=False``). A language model's perplexity per token."""
    t, p = _host(y_true, "y_true"), _host(y_pred, "y_pred")
    total, count = _nll_sum(t, p, from_logits, "perplexity")
    if count == 0:
        raise ValueError("perplexity: no samples")
    return math.exp(total / count)


# ------------------------------------------------------------------ streaming metrics
class Metric:
    """A score accumulated over batches: ``update(y_true, y_pred)`` per batch, ``result()``
    the score over every sample seen since ``reset()``. ``name`` is its key in a History."""

    name = "metric"

    def __init__(self, name: str | None = None):
        if name is not None:
            self.name = name
        self.reset()

    def reset(self) -> None:
        raise NotImplementedError

    def update(self, y_true, y_pred) -> None:
        raise NotImplementedError

    def result(self) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class Accuracy(Metric):
    """accuracy_score over all samples seen. (N, C) scores count by argmax; with
    ``threshold`` set, y_pred of y_true's shape is a binary score, positive when > threshold
    (0.0 for logits, 0.5 for probabilities)."""

    name = "accuracy"

    def __init__(self, name: str | None = None, threshold: float | None = None):
        self.threshold = threshold
        super().__init__(name)

    def reset(self) -> None:
        self.correct, self.count = 0, 0

    def update(self, y_true, y_pred) -> None:
        t, p = _host(y_true, "y_true"), _host(y_pred, "y_pred")
        if p.ndim == t.ndim + 1:
            p = p.argmax(axis=-1)
        elif self.threshold is not None and p.shape == t.shape:
            p = (p > self.threshold).astype(t.dtype)
        if p.shape != t.shape:
            raise ValueError(f"Accuracy: y_true {t.shape} and y_pred {p.shape} don't match")
        self.correct += int((t == p).sum())
        self.count += int(t.size)

    def result(self) -> float:
        return self.correct / self.count if self.count else float("nan")


class TopKAccuracy(Metric):
    """top_k_accuracy_score over all samples seen; y_pred (N, C) scores of classes 0..C-1."""

    def __init__(self, k: int = 5, name: str | None = None):
        self.k = k
        super().__init__(name or f"top_{k}_accuracy")

    def reset(self) -> None:
        self.hits, self.count = 0, 0

    def update(self, y_true, y_pred) -> None:
        t, s = _host(y_true, "y_true"), _host(y_pred, "y_pred")
        self.hits += int(_top_k_hits("TopKAccuracy", t, s, self.k, np.arange(s.shape[-1])).sum())
        self.count += len(t)

    def result(self) -> float:
        return self.hits / self.count if self.count else float("nan")


class _ConfusionMetric(Metric):
    """Keeps a confusion matrix of integer labels 0..L-1, grown as larger labels arrive."""

    _which = 0

    def __init__(self, name: str | None = None, average: str | None = "macro",
                 zero_division=0.0, threshold: float | None = None):
        if average not in _AVERAGES:
            raise ValueError(f"{type(self).__name__}: average must be one of {_AVERAGES}, got "
                             f"{average!r}")
        self.average, self.zero_division, self.threshold = average, zero_division, threshold
        super().__init__(name)

    def reset(self) -> None:
        self.cm = np.zeros((0, 0), np.int64)

    def update(self, y_true, y_pred) -> None:
        t, p = _host(y_true, "y_true"), _host(y_pred, "y_pred")
        if p.ndim == t.ndim + 1:
            p = p.argmax(axis=-1)
        elif self.threshold is not None and p.shape == t.shape:
            p = (p > self.threshold)
        t, p = t.reshape(-1).astype(np.int64), p.reshape(-1).astype(np.int64)
        if t.size and min(t.min(), p.min()) < 0:
            raise ValueError(f"{type(self).__name__}: labels must be integers >= 0")
        L = max(len(self.cm), int(max(t.max(initial=-1), p.max(initial=-1))) + 1)
        if L > len(self.cm):
            grown = np.zeros((L, L), np.int64)
            grown[:len(self.cm), :len(self.cm)] = self.cm
            self.cm = grown
        np.add.at(self.cm, (t, p), 1)

    def result(self) -> float:
        if self.cm.size == 0:
            return float("nan")
        labels = np.arange(len(self.cm))
        # labels that never occurred (neither true nor predicted) are not scored, as in sklearn
        seen = (self.cm.sum(axis=0) + self.cm.sum(axis=1)) > 0
        cm = self.cm[np.ix_(seen, seen)]
        r = _prf_from_counts(type(self).__name__, _label_counts(cm), labels[seen], self.average,
                             1, 1.0, self.zero_division)
        return r[self._which]


class Precision(_ConfusionMetric):
    """precision_score over all samples seen (default average "macro")."""
    name, _which = "precision", 0


class Recall(_ConfusionMetric):
    """recall_score over all samples seen (default average "macro")."""
    name, _which = "recall", 1


class F1Score(_ConfusionMetric):
    """f1_score over all samples seen (default average "macro")."""
    name, _which = "f1", 2


class MeanSquaredError(Metric):
    """mean_squared_error over all samples seen (outputs averaged uniformly)."""

    name = "mse"

    def reset(self) -> None:
        self.sum, self.count = None, 0

    def _term(self, t, p):
        return (t - p) ** 2

    def update(self, y_true, y_pred) -> None:
        t, p, _ = _regression(type(self).__name__, y_true, y_pred, None, "uniform_average")
        s = self._term(t, p).sum(axis=0)
        self.sum = s if self.sum is None else self.sum + s
        self.count += len(t)

    def result(self) -> float:
        return float(np.mean(self.sum / self.count)) if self.count else float("nan")


class MeanAbsoluteError(MeanSquaredError):
    """mean_absolute_error over all samples seen (outputs averaged uniformly)."""

    name = "mae"

    def _term(self, t, p):
        return np.abs(t - p)


class R2Score(Metric):
    """r2_score over all samples seen, from running sums (sum y, sum y^2, sum residual^2)."""

    name = "r2"

    def reset(self) -> None:
        self.n, self.sy, self.syy, self.res = 0, 0.0, 0.0, 0.0

    def update(self, y_true, y_pred) -> None:
        t, p, _ = _regression("R2Score", y_true, y_pred, None, "uniform_average")
        self.n += len(t)
        self.sy = self.sy + t.sum(axis=0)
        self.syy = self.syy + (t * t).sum(axis=0)
        self.res = self.res + ((t - p) ** 2).sum(axis=0)

    def result(self) -> float:
        if self.n < 2:
            return float("nan")
        ss_tot = np.maximum(self.syy - self.sy * self.sy / self.n, 0.0)
        return _r2_from_sums(np.asarray(self.res), np.asarray(ss_tot), "uniform_average")


class Perplexity(Metric):
    """perplexity over all positions seen: exp(total NLL / positions)."""

    name = "perplexity"

    def __init__(self, name: str | None = None, from_logits: bool = True):
        self.from_logits = from_logits
        super().__init__(name)

    def reset(self) -> None:
        self.total, self.count = 0.0, 0

    def update(self, y_true, y_pred) -> None:
        t, p = _host(y_true, "y_true"), _host(y_pred, "y_pred")
        total, count = _nll_sum(t, p, self.from_logits, "Perplexity")
        self.total += total
        self.count += count

    def result(self) -> float:
        return math.exp(self.total / self.count) if self.count else float("nan")


# The names compile(metrics=[...]) takes; "top_k_accuracy" also as "top5_accuracy" etc.
NAMES = {"accuracy": Accuracy, "acc": Accuracy, "precision": Precision, "recall": Recall,
         "f1": F1Score, "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
         "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError, "r2": R2Score,
         "perplexity": Perplexity, "top_k_accuracy": TopKAccuracy}


def get(metric, **options) -> Metric:
    """A Metric from a name in :data:`NAMES` (or "topK_accuracy", e.g. "top3_accuracy"), a
    Metric instance (returned as is) or a function ``f(y_true, y_pred) -> float`` (averaged
    over batches, weighted by batch size, named after the function). ``options`` go to the
    named metric's constructor where it takes them (``threshold`` for binary accuracy)."""
    if isinstance(metric, Metric):
        return metric
    if isinstance(metric, str):
        key = metric.lower()
        if key.startswith("top") and key.endswith("_accuracy") and key[3:-9].isdigit():
            return TopKAccuracy(int(key[3:-9]), name=metric)
        if key not in NAMES:
            raise ValueError(f"unknown metric {metric!r}; choose from {sorted(NAMES)}, "
                             f"'topK_accuracy', a Metric or a function(y_true, y_pred)")
        cls = NAMES[key]
        kw = {k: v for k, v in options.items()
              if k == "threshold" and cls in (Accuracy, Precision, Recall, F1Score)}
        return cls(name=metric, **kw)
    if callable(metric):
        return _BatchMean(metric)
    raise TypeError(f"a metric must be a name, a Metric or a function, got "
                    f"{type(metric).__name__}")


class _BatchMean(Metric):
    """A user function's batch results, averaged with the batch sizes as weights."""

    def __init__(self, fn):
        self.fn = fn
        super().__init__(getattr(fn, "__name__", type(fn).__name__))

    def reset(self) -> None:
        self.total, self.count = 0.0, 0

    def update(self, y_true, y_pred) -> None:
        t, p = _host(y_true, "y_true"), _host(y_pred, "y_pred")
        self.total += float(self.fn(t, p)) * len(t)
        self.count += len(t)

    def result(self) -> float:
        return self.total / self.count if self.count else float("nan")
