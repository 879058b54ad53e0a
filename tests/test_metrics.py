"""lg.metrics against scikit-learn: same arguments, same results; streaming = whole-array."""
import numpy as np
import pytest
import sklearn.metrics as skm

import loomgrad as lg
from loomgrad import metrics as M

rng = np.random.default_rng(0)
Y3 = rng.integers(0, 4, 300)
P3 = np.where(rng.random(300) < 0.6, Y3, rng.integers(0, 4, 300))
P3[:5] = 5                                  # a label only predicted
YB = rng.integers(0, 2, 200)
PB = np.where(rng.random(200) < 0.7, YB, 1 - YB)
W = rng.random(300)


@pytest.mark.parametrize("fn", ["precision_score", "recall_score", "f1_score"])
@pytest.mark.parametrize("average", ["micro", "macro", "weighted", None])
def test_prf_multiclass(fn, average):
    ours = getattr(M, fn)(Y3, P3, average=average, zero_division=0)
    theirs = getattr(skm, fn)(Y3, P3, average=average, zero_division=0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    ours = getattr(M, fn)(Y3, P3, average=average, zero_division=0, sample_weight=W)
    theirs = getattr(skm, fn)(Y3, P3, average=average, zero_division=0, sample_weight=W)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_binary_defaults_and_labels():
    for fn in ("precision_score", "recall_score", "f1_score"):
        assert getattr(M, fn)(YB, PB) == pytest.approx(getattr(skm, fn)(YB, PB), rel=1e-12)
        assert getattr(M, fn)(YB, PB, pos_label=0) == \
            pytest.approx(getattr(skm, fn)(YB, PB, pos_label=0), rel=1e-12)
        np.testing.assert_allclose(getattr(M, fn)(Y3, P3, labels=[1, 3], average="macro"),
                                   getattr(skm, fn)(Y3, P3, labels=[1, 3], average="macro"))
    with pytest.raises(ValueError, match="multiclass"):
        M.f1_score(Y3, P3)
    s = M.precision_recall_fscore_support(Y3, P3, beta=0.5, zero_division=0)
    t = skm.precision_recall_fscore_support(Y3, P3, beta=0.5, zero_division=0)
    for a, b in zip(s, t):
        np.testing.assert_allclose(a, b)


def test_accuracy_topk_confusion():
    assert M.accuracy_score(Y3, P3) == skm.accuracy_score(Y3, P3)
    assert M.accuracy_score(Y3, P3, normalize=False) == skm.accuracy_score(Y3, P3, normalize=False)
    assert M.accuracy_score(Y3, P3, sample_weight=W) == \
        pytest.approx(skm.accuracy_score(Y3, P3, sample_weight=W))
    scores = rng.normal(size=(300, 4))
    scores[:10, 1] = scores[:10, 2]          # ties
    for k in (1, 2, 3):
        assert M.top_k_accuracy_score(Y3, scores, k=k) == \
            skm.top_k_accuracy_score(Y3, scores, k=k)
    assert M.accuracy_score(Y3, scores) == skm.accuracy_score(Y3, scores.argmax(1))
    for normalize in (None, "true", "pred", "all"):
        np.testing.assert_allclose(M.confusion_matrix(Y3, P3, normalize=normalize),
                                   skm.confusion_matrix(Y3, P3, normalize=normalize))
    np.testing.assert_array_equal(M.confusion_matrix(Y3, P3, labels=[3, 0, 9]),
                                  skm.confusion_matrix(Y3, P3, labels=[3, 0, 9]))
    strings = np.array(["cat", "dog", "cat", "emu"])
    np.testing.assert_array_equal(M.confusion_matrix(strings, strings[::-1]),
                                  skm.confusion_matrix(strings, strings[::-1]))
    with pytest.raises(ValueError, match="different lengths"):
        M.accuracy_score(Y3, P3[:-1])


def test_regression_scores():
    y = rng.normal(size=(100, 3))
    p = y + rng.normal(scale=0.3, size=(100, 3))
    w = rng.random(100)
    for fn in ("mean_squared_error", "mean_absolute_error", "r2_score"):
        for mo in ("raw_values", "uniform_average", [0.2, 0.3, 0.5]):
            np.testing.assert_allclose(getattr(M, fn)(y, p, multioutput=mo),
                                       getattr(skm, fn)(y, p, multioutput=mo), rtol=1e-12)
        np.testing.assert_allclose(getattr(M, fn)(y[:, 0], p[:, 0], sample_weight=w),
                                   getattr(skm, fn)(y[:, 0], p[:, 0], sample_weight=w),
                                   rtol=1e-12)
    assert M.r2_score(y, p, multioutput="variance_weighted") == \
        pytest.approx(skm.r2_score(y, p, multioutput="variance_weighted"))
    assert M.r2_score([1.0, 1.0], [1.0, 1.0]) == skm.r2_score([1.0, 1.0], [1.0, 1.0])
    assert M.r2_score([1.0, 1.0], [1.0, 2.0]) == skm.r2_score([1.0, 1.0], [1.0, 2.0])


def test_perplexity_is_exp_of_mean_cross_entropy():
    logits = rng.normal(size=(4, 7, 11))
    t = rng.integers(0, 11, (4, 7))
    xent = lg.nn.functional.cross_entropy(lg.tensor(logits.reshape(-1, 11)),
                                          lg.tensor(t.reshape(-1))).item()
    assert M.perplexity(t, logits) == pytest.approx(np.exp(xent), rel=1e-12)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    assert M.perplexity(t, probs, from_logits=False) == pytest.approx(np.exp(xent), rel=1e-9)


@pytest.mark.parametrize("name,fn,kw", [
    ("accuracy", skm.accuracy_score, {}), ("f1", skm.f1_score, {"average": "macro"}),
    ("precision", skm.precision_score, {"average": "macro"}),
    ("recall", skm.recall_score, {"average": "macro"})])
def test_streaming_metrics_equal_the_whole_array(name, fn, kw):
    scores = rng.normal(size=(300, 4))
    labels = scores.argmax(1)
    m = M.get(name)
    for i in range(0, 300, 64):
        m.update(Y3[i:i + 64], scores[i:i + 64])
    assert m.result() == pytest.approx(fn(Y3, labels, **kw), rel=1e-12)


def test_streaming_regression_and_topk():
    y = rng.normal(size=(90, 2))
    p = y + rng.normal(scale=0.5, size=(90, 2))
    for name, fn in (("mse", skm.mean_squared_error), ("mae", skm.mean_absolute_error),
                     ("r2", skm.r2_score)):
        m = M.get(name)
        for i in range(0, 90, 20):
            m.update(y[i:i + 20], p[i:i + 20])
        assert m.result() == pytest.approx(fn(y, p), rel=1e-9)
    scores = rng.normal(size=(300, 4))
    m = M.get("top2_accuracy")
    for i in range(0, 300, 50):
        m.update(Y3[i:i + 50], scores[i:i + 50])
    assert m.name == "top2_accuracy"
    assert m.result() == skm.top_k_accuracy_score(Y3, scores, k=2)
