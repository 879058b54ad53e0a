"""Softmax, log-softmax and fused softmax cross-entropy against plain NumPy
references and torch's CPU ops: every cross-entropy option (class-index and
probability targets, ignore_index, class weights, label smoothing, each
reduction), extreme logits (+-1e4, -inf entries, all -inf rows), zero-size
batches, float32/float64, and argument errors. The cuda-marked tests at the
end run the CUDA kernels against the CPU kernels on the same tables (skipped
without a GPU)."""
import itertools

import numpy as np
import pytest

import loomgrad as lg
from loomgrad import kernels as nk
from gpu_doubles import install_numpy_gpu
from helpers import requires_cuda, torch_cuda

DTYPES = [np.float32, np.float64]


def ref_log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def ref_xent(x, target, weight, ignore_index, reduction, ls):
    """torch's definition, written out: per-row loss, then the reduction."""
    logp = ref_log_softmax(x)
    N, C = x.shape
    w = np.ones(C) if weight is None else weight.astype(np.float64)
    if target.dtype.kind == "f":
        t = target.astype(np.float64) * (1 - ls) + ls / C
        rows = -(logp * t * w).sum(axis=1)
        return {"none": rows, "sum": rows.sum(), "mean": rows.sum() / N}[reduction]
    keep = target != ignore_index
    y = np.where(keep, target, 0)
    nll = -w[y] * logp[np.arange(N), y] * keep
    smooth = -(logp * w).sum(axis=1) * keep
    rows = (1 - ls) * nll + ls / C * smooth
    if reduction == "none":
        return rows
    if reduction == "sum":
        return rows.sum()
    return rows.sum() / (w[y] * keep).sum()


def _tol(dtype):
    return dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-12)


def _inputs(dtype, N=23, C=7, seed=0, scale=3.0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((N, C)) * scale).astype(dtype)
    t = rng.integers(0, C, N)
    t[::5] = -100
    p = rng.random((N, C))
    p = (p / p.sum(axis=1, keepdims=True)).astype(dtype)
    w = rng.uniform(0.2, 2.0, C).astype(dtype)
    return x, t, p, w


OPTIONS = list(itertools.product(["mean", "sum", "none"], [False, True], [0.0, 0.1, 1.0]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("target_kind", ["index", "prob"])
@pytest.mark.parametrize("reduction, weighted, ls", OPTIONS)
def test_xent_against_numpy_and_torch(reduction, weighted, ls, target_kind, dtype):
    x, t, p, w = _inputs(dtype)
    target = t if target_kind == "index" else p
    weight = w if weighted else None
    loss = nk.softmax_cross_entropy(x, target, weight, reduction=reduction, label_smoothing=ls)
    ref = ref_xent(x, target, weight, -100, reduction, ls)
    assert loss.dtype == dtype and loss.shape == np.shape(ref)
    np.testing.assert_allclose(loss, ref, **_tol(dtype))
    g = np.random.default_rng(1).uniform(0.5, 1.5, np.shape(ref)).astype(dtype)
    dx = nk.softmax_cross_entropy_backward(g, x, target, weight, reduction=reduction,
                                           label_smoothing=ls)
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(
        tx, torch.tensor(target), None if weight is None else torch.tensor(weight),
        reduction=reduction, label_smoothing=ls)
    tl.backward(torch.tensor(g))
    np.testing.assert_allclose(loss, tl.detach().numpy(), **_tol(dtype))
    np.testing.assert_allclose(dx, tx.grad.numpy(), **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_xent_ignore_index_and_extremes_match_torch(dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, t, p, w = _inputs(dtype, N=9, C=6)
    x[0] = [1e4, -1e4, 0, 1e4, 3, -3]
    x[1, 2] = -np.inf
    x[2] = [-np.inf, 5, -np.inf, -np.inf, -np.inf, -np.inf]
    t = np.array([0, 1, 1, 3, 7, 2, 7, 5, 4])
    cases = [dict(ignore_index=7), dict(ignore_index=7, label_smoothing=0.3),
             dict(ignore_index=7, weight=w), dict(ignore_index=7, weight=w, label_smoothing=0.2)]
    for kw in cases:
        for reduction in ("mean", "sum", "none"):
            tw = None if kw.get("weight") is None else torch.tensor(kw["weight"])
            tkw = dict(kw, weight=tw, reduction=reduction)
            tx = torch.tensor(x, requires_grad=True)
            tl = F.cross_entropy(tx, torch.tensor(t), **tkw)
            tl.backward(torch.ones_like(tl))
            loss = nk.softmax_cross_entropy(x, t, reduction=reduction, **kw)
            dx = nk.softmax_cross_entropy_backward(np.ones(np.shape(loss), dtype), x, t,
                                                   reduction=reduction, **kw)
            # -inf logits give inf only through the smoothing term (as in torch)
            assert np.all(np.isfinite(loss)) or kw.get("label_smoothing")
            np.testing.assert_allclose(loss, tl.detach().numpy(), **_tol(dtype))
            np.testing.assert_allclose(dx, tx.grad.numpy(), **_tol(dtype))


def test_xent_all_minus_inf_row_and_all_ignored_like_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.zeros((3, 4))
    x[1] = -np.inf
    t = np.array([0, 2, 3])
    ours = nk.softmax_cross_entropy(x, t, reduction="none")
    ref = F.cross_entropy(torch.tensor(x), torch.tensor(t), reduction="none").numpy()
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    np.testing.assert_allclose(ours[[0, 2]], ref[[0, 2]])
    all_ignored = np.full(3, -100)
    ours = nk.softmax_cross_entropy(np.zeros((3, 4)), all_ignored)
    ref = F.cross_entropy(torch.zeros(3, 4), torch.tensor(all_ignored))
    assert np.isnan(ours) and np.isnan(ref.item())
    np.testing.assert_array_equal(
        nk.softmax_cross_entropy_backward(1.0, np.zeros((3, 4)), all_ignored), 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_xent_zero_size_and_unbatched(dtype):
    x = np.zeros((0, 5), dtype)
    t = np.zeros(0, np.int64)
    assert np.isnan(nk.softmax_cross_entropy(x, t))
    assert nk.softmax_cross_entropy(x, t, reduction="sum") == 0
    assert nk.softmax_cross_entropy(x, t, reduction="none").shape == (0,)
    assert nk.softmax_cross_entropy_backward(1.0, x, t).shape == (0, 5)
    x1 = np.array([1.0, 2.0, 0.5], dtype)
    np.testing.assert_allclose(nk.softmax_cross_entropy(x1, 1),
                               ref_xent(x1[None], np.array([1]), None, -100, "mean", 0.0),
                               **_tol(dtype))
    assert nk.softmax_cross_entropy_backward(1.0, x1, 1).shape == (3,)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 7), (1, 1), (3, 1000), (2, 3, 4), (0, 3)])
def test_softmax_and_log_softmax(shape, dtype):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    ref_l = ref_log_softmax(x) if x.size else x
    ls, sm = nk.log_softmax(x), nk.softmax(x)
    np.testing.assert_allclose(ls, ref_l, **_tol(dtype))
    np.testing.assert_allclose(sm, np.exp(ref_l), **_tol(dtype))
    ref_dsm = sm * (dy - (dy * sm).sum(-1, keepdims=True))
    ref_dls = dy - np.exp(ls) * dy.sum(-1, keepdims=True)
    np.testing.assert_allclose(nk.softmax_backward(dy, sm), ref_dsm, **_tol(dtype))
    np.testing.assert_allclose(nk.log_softmax_backward(dy, ls), ref_dls, **_tol(dtype))
    torch = pytest.importorskip("torch")
    for ours, fn, back in ((sm, torch.softmax, nk.softmax_backward),
                           (ls, torch.log_softmax, nk.log_softmax_backward)):
        tx = torch.tensor(x, requires_grad=True)
        ty = fn(tx, -1)
        ty.backward(torch.tensor(dy))
        np.testing.assert_allclose(ours, ty.detach().numpy(), **_tol(dtype))
        np.testing.assert_allclose(back(dy, ours), tx.grad.numpy(), **_tol(dtype))


def test_softmax_extremes_like_torch():
    torch = pytest.importorskip("torch")
    x = np.array([[1e4, -1e4, 0.0], [-np.inf, 1.0, -np.inf], [-np.inf] * 3], np.float32)
    for ours, theirs in ((nk.softmax(x), torch.softmax(torch.tensor(x), -1)),
                         (nk.log_softmax(x), torch.log_softmax(torch.tensor(x), -1))):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-6, atol=1e-6)
    assert np.isnan(nk.softmax(x)[2]).all()


@pytest.mark.parametrize("call, exc, match", [
    (lambda x, t: nk.softmax_cross_entropy(x, np.array([0, 5, 1])), ValueError, "target"),
    (lambda x, t: nk.softmax_cross_entropy(x, np.array([0, -1, 1])), ValueError, "target"),
    (lambda x, t: nk.softmax_cross_entropy(x, t[:2]), ValueError, "target"),
    (lambda x, t: nk.softmax_cross_entropy(x, t, reduction="avg"), ValueError, "reduction"),
    (lambda x, t: nk.softmax_cross_entropy(x, t, label_smoothing=1.5), ValueError,
     "label_smoothing"),
    (lambda x, t: nk.softmax_cross_entropy(x, t, weight=np.ones(4)), ValueError, "weight"),
    (lambda x, t: nk.softmax_cross_entropy(x, t, weight=np.ones(5, np.float32)), TypeError,
     "weight"),
    (lambda x, t: nk.softmax_cross_entropy(x, np.ones((3, 4))), ValueError, "target"),
    (lambda x, t: nk.softmax_cross_entropy(x, t.astype(bool)), TypeError, "target"),
    (lambda x, t: nk.softmax_cross_entropy(x[None], t), ValueError, "logits"),
    (lambda x, t: nk.softmax_cross_entropy_backward(np.ones(2), x, t), ValueError, "grad_loss"),
    (lambda x, t: nk.softmax_backward(np.ones((3, 4)), x), ValueError, "grad_out"),
])
def test_xent_bad_arguments(call, exc, match):
    x = np.zeros((3, 5))
    t = np.array([0, 1, 2])
    with pytest.raises(exc, match=match):
        call(x, t)


# ------------------------------------------------- CUDA kernels vs the CPU kernels
GPU_TOL = dict(rtol=1e-5, atol=1e-5)


def _on_gpu(*arrays):
    import cupy

    return [None if a is None else cupy.asarray(a) for a in arrays]


def _host(a):
    import cupy

    assert isinstance(a, cupy.ndarray), type(a)
    return cupy.asnumpy(a)


def _xent_both(x, target, weight=None, reduction="mean", g=None, **kw):
    """(CPU loss, GPU loss, CPU dlogits, GPU dlogits) for one configuration."""
    loss = nk.softmax_cross_entropy(x, target, weight, reduction=reduction, **kw)
    g = np.ones(np.shape(loss), np.float32) if g is None else g
    dx = nk.softmax_cross_entropy_backward(g, x, target, weight, reduction=reduction, **kw)
    gx, gt, gw, gg = _on_gpu(x, target, weight, g)
    gloss = nk.softmax_cross_entropy(gx, gt, gw, reduction=reduction, **kw)
    gdx = nk.softmax_cross_entropy_backward(gg, gx, gt, gw, reduction=reduction, **kw)
    return loss, _host(gloss), dx, _host(gdx)


def _assert_xent_match(*args, **kw):
    loss, gloss, dx, gdx = _xent_both(*args, **kw)
    assert gloss.shape == loss.shape and gdx.shape == dx.shape
    np.testing.assert_allclose(gloss, loss, **GPU_TOL)  # inf/NaN must match too
    np.testing.assert_allclose(gdx, dx, **GPU_TOL)


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("target_kind", ["index", "prob"])
@pytest.mark.parametrize("reduction, weighted, ls", OPTIONS)
def test_cuda_xent_matches_cpu(reduction, weighted, ls, target_kind):
    x, t, p, w = _inputs(np.float32)
    target = t if target_kind == "index" else p
    g = np.random.default_rng(1).uniform(0.5, 1.5, (23,) if reduction == "none" else ())
    _assert_xent_match(x, target, w if weighted else None, reduction, g.astype(np.float32),
                       label_smoothing=ls)


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("C", [1000, 1025, 4096, 5000, 32000])  # each row-group size
@pytest.mark.parametrize("target_kind", ["index", "prob"])
def test_cuda_xent_large_c_matches_cpu(C, target_kind):
    x, t, p, w = _inputs(np.float32, N=37, C=C, seed=C)
    target = t if target_kind == "index" else p
    for reduction, weight, ls in [("mean", None, 0.0), ("sum", w, 0.1), ("none", w, 0.0)]:
        loss, gloss, dx, gdx = _xent_both(x, target, weight, reduction, label_smoothing=ls)
        # sums over C terms: relative tolerance, absolute only at the array's own scale
        np.testing.assert_allclose(gloss, loss, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(gdx, dx, rtol=1e-4, atol=1e-4 * np.abs(dx).max())


@pytest.mark.cuda
@requires_cuda
def test_cuda_xent_ignore_index_and_extremes_match_cpu():
    x, t, p, w = _inputs(np.float32, N=9, C=6)
    x[0] = [1e4, -1e4, 0, 1e4, 3, -3]
    x[1, 2] = -np.inf
    x[2] = [-np.inf, 5, -np.inf, -np.inf, -np.inf, -np.inf]
    t = np.array([0, 1, 1, 3, 7, 2, 7, 5, 4])
    cases = [dict(ignore_index=7), dict(ignore_index=7, label_smoothing=0.3),
             dict(ignore_index=7, weight=w), dict(ignore_index=7, weight=w, label_smoothing=0.2)]
    for kw in cases:
        for reduction in ("mean", "sum", "none"):
            _assert_xent_match(x, t, reduction=reduction, **kw)


@pytest.mark.cuda
@requires_cuda
def test_cuda_xent_minus_inf_rows_all_ignored_zero_size_unbatched():
    x = np.zeros((3, 4), np.float32)
    x[1] = -np.inf
    t = np.array([0, 2, 3])
    loss, gloss, _, _ = _xent_both(x, t, reduction="none")
    np.testing.assert_array_equal(np.isnan(gloss), np.isnan(loss))
    assert np.isnan(gloss[1]) and np.isfinite(gloss[[0, 2]]).all()
    loss, gloss, dx, gdx = _xent_both(np.zeros((3, 4), np.float32), np.full(3, -100))
    assert np.isnan(gloss) and np.isnan(loss)
    np.testing.assert_array_equal(gdx, 0)
    gx, gt = _on_gpu(np.zeros((0, 5), np.float32), np.zeros(0, np.int64))
    assert np.isnan(_host(nk.softmax_cross_entropy(gx, gt)))
    assert _host(nk.softmax_cross_entropy(gx, gt, reduction="sum")) == 0
    assert nk.softmax_cross_entropy(gx, gt, reduction="none").shape == (0,)
    assert nk.softmax_cross_entropy_backward(1.0, gx, gt).shape == (0, 5)
    x1 = np.array([1.0, 2.0, 0.5], np.float32)
    (g1,) = _on_gpu(x1)
    np.testing.assert_allclose(_host(nk.softmax_cross_entropy(g1, 1)),
                               nk.softmax_cross_entropy(x1, 1), **GPU_TOL)
    np.testing.assert_allclose(_host(nk.softmax_cross_entropy_backward(1.0, g1, 1)),
                               nk.softmax_cross_entropy_backward(1.0, x1, 1), **GPU_TOL)


@pytest.mark.cuda
@requires_cuda
def test_cuda_xent_bad_targets_raise_like_cpu():
    gx, gt = _on_gpu(np.zeros((3, 5), np.float32), np.array([0, 1, 2]))
    for bad in ([0, 5, 1], [0, -1, 1]):
        (gbad,) = _on_gpu(np.array(bad))
        with pytest.raises(ValueError, match="target"):
            nk.softmax_cross_entropy(gx, gbad)
        with pytest.raises(ValueError, match="target"):
            nk.softmax_cross_entropy_backward(1.0, gx, gbad)
    (g2,) = _on_gpu(np.ones(2, np.float32))
    with pytest.raises(ValueError, match="grad_loss"):
        nk.softmax_cross_entropy_backward(g2, gx, gt)
    with pytest.raises(ValueError, match="weight"):
        nk.softmax_cross_entropy(gx, gt, weight=_on_gpu(np.ones(4, np.float32))[0])
    with pytest.raises(TypeError, match="target"):
        nk.softmax_cross_entropy(gx, gt.astype(bool))
    with pytest.raises(ValueError, match="reduction"):
        nk.softmax_cross_entropy(gx, gt, reduction="avg")


@pytest.mark.cuda
@requires_cuda
def test_cuda_xent_mean_is_deterministic():
    x, t, p, w = _inputs(np.float32, N=5000, C=129, seed=3)
    gx, gt, gw = _on_gpu(x, t, w)
    first = _host(nk.softmax_cross_entropy(gx, gt, gw, label_smoothing=0.1))
    for _ in range(3):
        np.testing.assert_array_equal(
            _host(nk.softmax_cross_entropy(gx, gt, gw, label_smoothing=0.1)), first)


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("shape", [(5, 7), (1, 1), (3, 1000), (2, 3, 4), (0, 3), (4, 2000),
                                   (3, 32000)])
def test_cuda_softmax_and_log_softmax_match_cpu(shape):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    gx, gdy = _on_gpu(x, dy)
    def close(got, ref, rtol):  # absolute slack only at the array's own scale (p ~ 1/C)
        scale = np.abs(ref).max() if ref.size else 0.0
        np.testing.assert_allclose(_host(got), ref, rtol=rtol, atol=rtol * 0.1 * scale)

    for fwd, bwd in ((nk.softmax, nk.softmax_backward), (nk.log_softmax, nk.log_softmax_backward)):
        y, gy = fwd(x), fwd(gx)
        close(gy, y, 1e-5)
        close(bwd(gdy, gy), bwd(dy, y), 1e-4)


@pytest.mark.cuda
@requires_cuda
def test_cuda_softmax_extremes_match_cpu():
    x = np.array([[1e4, -1e4, 0.0], [-np.inf, 1.0, -np.inf], [-np.inf] * 3, [np.inf, 0, 1],
                  [np.nan, 0, 1]], np.float32)
    (gx,) = _on_gpu(x)
    for fn in (nk.softmax, nk.log_softmax):
        np.testing.assert_allclose(_host(fn(gx)), fn(x), rtol=1e-6, atol=1e-6)
    assert np.isnan(_host(nk.softmax(gx))[2]).all()


@pytest.mark.cuda
@requires_cuda
def test_cuda_xent_on_a_non_default_stream():
    import cupy

    x, t, p, w = _inputs(np.float32, N=300, C=2000, seed=5)
    loss = nk.softmax_cross_entropy(x, t, w, label_smoothing=0.1)
    dx = nk.softmax_cross_entropy_backward(1.0, x, t, w, label_smoothing=0.1)
    with cupy.cuda.Stream(non_blocking=True) as stream:
        gx, gt, gw = _on_gpu(x, t, w)
        gloss = nk.softmax_cross_entropy(gx, gt, gw, label_smoothing=0.1)
        gdx = nk.softmax_cross_entropy_backward(1.0, gx, gt, gw, label_smoothing=0.1)
        gsm = nk.log_softmax(gx)
        stream.synchronize()
    np.testing.assert_allclose(_host(gloss), loss, **GPU_TOL)
    np.testing.assert_allclose(_host(gdx), dx, **GPU_TOL)
    np.testing.assert_allclose(_host(gsm), nk.log_softmax(x), **GPU_TOL)


@pytest.mark.cuda
@requires_cuda
def test_cuda_xent_on_torch_cuda_tensors():
    torch = torch_cuda()
    F = torch.nn.functional
    x, t, p, w = _inputs(np.float32)
    tx = torch.tensor(x, device="cuda", requires_grad=True)
    tt, tw = torch.tensor(t, device="cuda"), torch.tensor(w, device="cuda")
    tl = F.cross_entropy(tx, tt, tw, label_smoothing=0.1)
    tl.backward()
    xd = tx.detach()  # DLPack / __cuda_array_interface__, no copy
    np.testing.assert_allclose(_host(nk.softmax_cross_entropy(xd, tt, tw, label_smoothing=0.1)),
                               tl.item(), **GPU_TOL)
    np.testing.assert_allclose(
        _host(nk.softmax_cross_entropy_backward(1.0, xd, tt, tw, label_smoothing=0.1)),
        tx.grad.cpu().numpy(), **GPU_TOL)
    np.testing.assert_allclose(_host(nk.log_softmax(xd)), F.log_softmax(xd, -1).cpu().numpy(),
                               **GPU_TOL)
    with pytest.raises(ValueError, match="target"):
        nk.softmax_cross_entropy(xd, torch.full_like(tt, 99))


# ------------------------------------------------- the GPU glue, on the CPU
class CpuXentKernels:
    """Stands in for ``loomgrad._cuda``'s softmax/xent functions on NumPy
    arrays (pointers are the arrays): the CPU kernels, with the CUDA
    kernels' bad-index flag (a bad index is flagged and not used). It runs
    _gpu_xent's glue -- argument checks, shapes, workspaces, the flag's
    ValueError -- here."""

    def softmax_forward(self, rows, C, x, out, log, stream):
        fn = lg._cpu.log_softmax_forward if log else lg._cpu.softmax_forward
        fn(x.reshape(rows, C), out.reshape(rows, C))

    def softmax_backward(self, rows, C, y, dy, dx, log, stream):
        fn = lg._cpu.log_softmax_backward if log else lg._cpu.softmax_backward
        fn(y.reshape(rows, C), dy.reshape(rows, C), dx.reshape(rows, C))

    @staticmethod
    def _target(target, prob, C, ignore_index, bad):
        if isinstance(target, int):  # 0: probability targets
            return prob
        out_of_range = (target != ignore_index) & ((target < 0) | (target >= C))
        bad[0] = int(out_of_range.any())
        return np.where(out_of_range, ignore_index, target)

    def softmax_xent_forward(self, N, C, logits, target, prob, weight, ignore_index, reduction,
                             ls, loss, row_loss, row_weight, bad, stream):
        assert (reduction == "none") == (isinstance(row_loss, int) and row_loss == 0)
        lg._cpu.softmax_xent_forward(logits, self._target(target, prob, C, ignore_index, bad),
                                     None if isinstance(weight, int) else weight, loss,
                                     ignore_index, reduction, ls)

    def softmax_xent_backward(self, N, C, g, logits, target, prob, weight, ignore_index,
                              reduction, ls, dx, scalars, bad, stream):
        lg._cpu.softmax_xent_backward(g, logits, self._target(target, prob, C, ignore_index, bad),
                                      None if isinstance(weight, int) else weight, dx,
                                      ignore_index, reduction, ls)


@pytest.mark.parametrize("target_kind", ["index", "prob"])
@pytest.mark.parametrize("reduction, weighted, ls", OPTIONS)
def test_gpu_xent_glue_on_numpy(reduction, weighted, ls, target_kind, monkeypatch):
    from loomgrad.kernels.gpu import xent as gx

    install_numpy_gpu(monkeypatch, CpuXentKernels())
    x, t, p, w = _inputs(np.float32)
    target, weight = (t if target_kind == "index" else p), (w if weighted else None)
    loss = gx.softmax_cross_entropy(x, target, weight, reduction=reduction, label_smoothing=ls)
    ref = nk.softmax_cross_entropy(x, target, weight, reduction=reduction, label_smoothing=ls)
    assert loss.shape == ref.shape and loss.dtype == np.float32
    np.testing.assert_array_equal(loss, ref)
    g = np.ones(ref.shape, np.float32)
    np.testing.assert_array_equal(
        gx.softmax_cross_entropy_backward(g, x, target, weight, reduction=reduction,
                                          label_smoothing=ls),
        nk.softmax_cross_entropy_backward(g, x, target, weight, reduction=reduction,
                                          label_smoothing=ls))


def test_gpu_xent_and_softmax_glue_edges_on_numpy(monkeypatch):
    from loomgrad.kernels.gpu import xent as gx

    install_numpy_gpu(monkeypatch, CpuXentKernels())
    x, t = np.zeros((0, 5), np.float32), np.zeros(0, np.int64)
    assert np.isnan(gx.softmax_cross_entropy(x, t))
    assert gx.softmax_cross_entropy(x, t, reduction="sum") == 0
    assert gx.softmax_cross_entropy(x, t, reduction="none").shape == (0,)
    assert gx.softmax_cross_entropy_backward(1.0, x, t).shape == (0, 5)
    x1 = np.array([1.0, 2.0, 0.5], np.float32)
    np.testing.assert_array_equal(gx.softmax_cross_entropy(x1, 1), nk.softmax_cross_entropy(x1, 1))
    assert gx.softmax_cross_entropy(x1, 1, reduction="none").shape == ()
    assert gx.softmax_cross_entropy_backward(1.0, x1, 1).shape == (3,)
    x, t = np.zeros((3, 5), np.float32), np.array([0, 1, 2])
    for call, exc, match in [
        (lambda: gx.softmax_cross_entropy(x, np.array([0, 5, 1])), ValueError, r"target\[1\] = 5"),
        (lambda: gx.softmax_cross_entropy_backward(1.0, x, np.array([0, -1, 1])), ValueError,
         r"target\[1\] = -1"),
        (lambda: gx.softmax_cross_entropy(np.zeros((3, 0), np.float32), t), ValueError,
         "out of range for 0 classes"),
        (lambda: gx.softmax_cross_entropy(x, t[:2]), ValueError, "target"),
        (lambda: gx.softmax_cross_entropy(x, t, reduction="avg"), ValueError, "reduction"),
        (lambda: gx.softmax_cross_entropy(x, t, label_smoothing=1.5), ValueError,
         "label_smoothing"),
        (lambda: gx.softmax_cross_entropy(x, t, weight=np.ones(4, np.float32)), ValueError,
         "weight"),
        (lambda: gx.softmax_cross_entropy(x, t, weight=np.ones(5)), TypeError, "weight"),
        (lambda: gx.softmax_cross_entropy(x, np.ones((3, 4), np.float32)), ValueError, "target"),
        (lambda: gx.softmax_cross_entropy(x, t.astype(bool)), TypeError, "target"),
        (lambda: gx.softmax_cross_entropy(x[None], t), ValueError, "logits"),
        (lambda: gx.softmax_cross_entropy_backward(np.ones(2, np.float32), x, t), ValueError,
         "grad_loss"),
        (lambda: gx.softmax_backward(np.ones((3, 4), np.float32), x), ValueError, "grad_out"),
    ]:
        with pytest.raises(exc, match=match):
            call()
    for shape in [(5, 7), (2, 3, 4), (0, 3)]:
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        for fwd, bwd, name in ((gx.softmax, gx.softmax_backward, "softmax"),
                               (gx.log_softmax, gx.log_softmax_backward, "log_softmax")):
            y = fwd(x)
            np.testing.assert_array_equal(y, getattr(nk, name)(x))
            np.testing.assert_array_equal(bwd(x, y), getattr(nk, name + "_backward")(x, y))
