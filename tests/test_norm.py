"""LayerNorm / GroupNorm (issue 18) and training-mode BatchNorm's kernel (issue 13): the fused kernels (csrc/cpu/norm.cpp) against the NumPy
reference (tests/reference/norm.py) and torch, every gradient, float64 gradcheck, edge shapes
(N = 0, one element per group, large offsets), the modules' init, reprs and loaded state_dicts."""
import warnings

import numpy as np
import pytest

import loomgrad as lg
import loomgrad.nn.functional as F
from loomgrad import kernels as K
from helpers import HAVE_TORCH, helper_gradcheck, helper_test_op, requires_torch
from layer_helpers import assert_module_matches_torch
from reference import norm as ref

if HAVE_TORCH:
    import torch
    import torch.nn.functional as TF

TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-11, atol=1e-11)}

LN_CASES = [((4, 7), (7,)), ((2, 3, 16), (16,)), ((2, 3, 4, 5), (4, 5)), ((0, 8), (8,)),
            ((3, 1), (1,)), ((5, 513), (513,)), ((2, 6), (2, 6))]
GN_CASES = [((2, 6, 5, 4), 3), ((2, 6, 5, 4), 1), ((2, 6, 5, 4), 6), ((3, 4), 2),
            ((0, 4, 3, 3), 2), ((2, 8, 7), 4), ((1, 2, 1, 1), 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
@pytest.mark.parametrize("shape,ns", LN_CASES, ids=str)
def test_layer_norm_kernel_vs_reference(shape, ns, affine, dtype):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 3 + 5).astype(dtype)
    w = rng.standard_normal(ns).astype(dtype) if affine != "none" else None
    b = rng.standard_normal(ns).astype(dtype) if affine == "both" else None
    out, mean, rstd = K.layer_norm(x, ns, w, b, 1e-5)
    r_out, r_mean, r_rstd = ref.layer_norm(x, ns, w, b, 1e-5)
    assert out.dtype == dtype and mean.shape == r_mean.shape
    for a, e in ((out, r_out), (mean, r_mean), (rstd, r_rstd)):
        np.testing.assert_allclose(a, e, **TOL[dtype])
    g = rng.standard_normal(shape).astype(dtype)
    need = (True, w is not None, b is not None)
    got = K.layer_norm_backward(g, x, ns, mean, rstd, w, need=need)
    exp = ref.layer_norm_backward(g, x, ns, mean, rstd, w, need=need)
    for a, e in zip(got, exp):
        assert (a is None) == (e is None)
        if a is not None:
            np.testing.assert_allclose(a, e, **{k: v * 10 for k, v in TOL[dtype].items()})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape,groups", GN_CASES, ids=str)
def test_group_norm_kernel_vs_reference(shape, groups, affine, dtype):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(shape) * 2 - 3).astype(dtype)
    C = shape[1]
    w = rng.standard_normal(C).astype(dtype) if affine else None
    b = rng.standard_normal(C).astype(dtype) if affine else None
    out, mean, rstd = K.group_norm(x, groups, w, b, 1e-5)
    r_out, r_mean, r_rstd = ref.group_norm(x, groups, w, b, 1e-5)
    for a, e in ((out, r_out), (mean, r_mean), (rstd, r_rstd)):
        np.testing.assert_allclose(a, e, **TOL[dtype])
    g = rng.standard_normal(shape).astype(dtype)
    got = K.group_norm_backward(g, x, groups, mean, rstd, w)
    exp = ref.group_norm_backward(g, x, groups, mean, rstd, w)
    for a, e in zip(got, exp):
        np.testing.assert_allclose(a, e, **{k: v * 10 for k, v in TOL[dtype].items()})


BN_CASES = [(2, 3, 5, 4), (4, 6), (2, 3, 1, 1), (3, 5, 7), (2, 64, 9, 9), (0, 3, 2, 2),
            (3, 2, 0, 4), (5, 1, 2), (2, 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
@pytest.mark.parametrize("shape", BN_CASES, ids=str)
def test_batch_norm_kernel_vs_reference(shape, affine, dtype):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal(shape) * 3 + 5).astype(dtype)
    C = shape[1]
    w = rng.standard_normal(C).astype(dtype) if affine != "none" else None
    b = rng.standard_normal(C).astype(dtype) if affine == "both" else None
    got = K.batch_norm(x, w, b, 1e-5)
    with warnings.catch_warnings(), np.errstate(all="ignore"):  # N*HW == 0: empty means
        warnings.simplefilter("ignore", RuntimeWarning)
        exp = ref.batch_norm(x, w, b, 1e-5)
    assert got[0].shape == x.shape and all(a.shape == (C,) for a in got[1:])
    for a, e in zip(got, exp):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, e, **TOL[dtype])  # N*HW == 0: NaN statistics in both
    if x.size == 0:
        return
    g = rng.standard_normal(shape).astype(dtype)
    for need in ((True, w is not None, True), (False, True, False), (True, False, False)):
        res = K.batch_norm_backward(g, x, got[1], got[3], w, need=need)
        want = ref.batch_norm_backward(g, x, got[1], got[3], w, need=need)
        for a, e in zip(res, want):
            assert (a is None) == (e is None)
            if a is not None:
                np.testing.assert_allclose(a, e, **{k: v * 10 for k, v in TOL[dtype].items()})


def test_batch_norm_kernel_threads_and_offset():
    """Results do not depend on the thread count; a large mean does not cancel the variance."""
    rng = np.random.default_rng(3)
    x = (1e4 + rng.standard_normal((8, 5, 33, 31))).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    w = rng.standard_normal(5).astype(np.float32)
    old = lg.get_num_threads()
    try:
        runs = []
        for nt in (1, 2, 3):
            lg.set_num_threads(nt)
            out, mean, var, rstd = K.batch_norm(x, w, None)
            runs.append((out, mean, var, rstd) + K.batch_norm_backward(g, x, mean, rstd, w))
    finally:
        lg.set_num_threads(old)
    for r in runs[1:]:
        for a, e in zip(r, runs[0]):
            np.testing.assert_array_equal(a, e)
    np.testing.assert_allclose(runs[0][3], ref.batch_norm(x)[3], rtol=1e-4)


@requires_torch
@pytest.mark.parametrize("shape", [s for s in BN_CASES if 0 not in s], ids=str)
def test_batch_norm_matches_torch(shape):
    C = (shape[1],)
    helper_test_op([shape, C, C], lambda x, w, b: TF.batch_norm(x, None, None, w, b, True),
                   lambda x, w, b: F.batch_norm(x, None, None, w, b, True), atol=1e-10,
                   rtol=1e-9)
    helper_test_op([shape], lambda x: TF.batch_norm(x, None, None, training=True),
                   lambda x: F.batch_norm(x, None, None, training=True), atol=1e-10, rtol=1e-9)


def test_batch_norm_kernel_bad_arguments():
    with pytest.raises(ValueError, match="at least 2 dims"):
        K.batch_norm(np.zeros(4))
    with pytest.raises(ValueError, match="weight"):
        K.batch_norm(np.zeros((2, 3, 4)), np.ones(4))
    with pytest.raises(TypeError, match="dtype"):
        K.batch_norm(np.zeros((2, 3), np.float32), np.ones(3))
    with pytest.raises(ValueError, match="grad_out"):
        K.batch_norm_backward(np.zeros((2, 4)), np.zeros((2, 3)), np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="eps"):
        K.batch_norm(np.zeros((2, 3)), eps=-1.0)


def test_large_offset_is_stable():
    """|mean| >> std: the shifted sums keep the variance (E[x^2] - E[x]^2 would lose it)."""
    x = (1e4 + np.random.default_rng(0).standard_normal((3, 1000))).astype(np.float32)
    _, _, rstd = K.layer_norm(x, 1000)
    _, _, r_rstd = ref.layer_norm(x, 1000)
    np.testing.assert_allclose(rstd, r_rstd, rtol=1e-4)


@requires_torch
@pytest.mark.parametrize("shape,ns", LN_CASES, ids=str)
def test_layer_norm_matches_torch(shape, ns):
    helper_test_op([shape, ns, ns], lambda x, w, b: TF.layer_norm(x, ns, w, b, 1e-5),
                   lambda x, w, b: F.layer_norm(x, ns, w, b, 1e-5), atol=1e-10, rtol=1e-9)
    helper_test_op([shape], lambda x: TF.layer_norm(x, ns), lambda x: F.layer_norm(x, ns),
                   atol=1e-10, rtol=1e-9)


@requires_torch
@pytest.mark.parametrize("shape,groups", GN_CASES, ids=str)
def test_group_norm_matches_torch(shape, groups):
    C = (shape[1],)
    helper_test_op([shape, C, C], lambda x, w, b: TF.group_norm(x, groups, w, b, 1e-5),
                   lambda x, w, b: F.group_norm(x, groups, w, b, 1e-5), atol=1e-10, rtol=1e-9)


def test_gradcheck():
    helper_gradcheck(lambda x, w, b: F.layer_norm(x, (3, 4), w, b), [(2, 3, 4), (3, 4), (3, 4)])
    helper_gradcheck(lambda x, w: F.layer_norm(x, 5, w, None), [(3, 5), (5,)])
    helper_gradcheck(lambda x, w, b: F.group_norm(x, 2, w, b), [(2, 4, 3, 2), (4,), (4,)])
    helper_gradcheck(lambda x: F.group_norm(x, 3), [(2, 6, 5)])


def test_only_needed_gradients():
    x = lg.randn(3, 4, requires_grad=True)
    w = lg.ones(4)  # no grad wanted
    F.layer_norm(x, (4,), w).sum().backward()
    assert x.grad is not None and w.grad is None


def test_bad_arguments():
    x = lg.zeros(2, 4, 3)
    with pytest.raises(ValueError, match="normalized_shape"):
        F.layer_norm(x, (4,))
    with pytest.raises(ValueError, match="weight must have shape \\(3,\\)"):
        F.layer_norm(x, 3, lg.zeros(4))
    with pytest.raises(TypeError, match="dtype"):
        F.layer_norm(x, 3, lg.zeros(3, dtype=lg.float64))
    with pytest.raises(ValueError, match="num_groups"):
        F.group_norm(x, 3)
    with pytest.raises(ValueError, match="eps"):
        F.group_norm(x, 2, eps=-1.0)
    with pytest.raises(ValueError, match="num_channels"):
        lg.nn.GroupNorm(3, 4)
    with pytest.raises(ValueError, match="expected 4 channels"):
        lg.nn.GroupNorm(2, 4)(lg.zeros(2, 6, 3))
    with pytest.raises(ValueError, match="grad_out"):
        K.layer_norm_backward(np.zeros((2, 3)), np.zeros((2, 4)), 4, np.zeros(2), np.ones(2))
    with pytest.raises(TypeError, match="float32 or float64"):
        K.layer_norm(np.zeros((2, 4), np.int64), 4)
    with pytest.raises(TypeError, match="mean"):
        K.group_norm_backward(np.zeros((2, 4, 3)), np.zeros((2, 4, 3)), 2,
                              np.zeros((2, 2), np.float32), np.ones((2, 2)))


@requires_torch
@pytest.mark.parametrize("name,args,kw", [
    ("LayerNorm", ((5,),), {}), ("LayerNorm", ((3, 5),), dict(eps=1e-3)),
    ("LayerNorm", (5,), dict(elementwise_affine=False)), ("LayerNorm", (5,), dict(bias=False)),
    ("GroupNorm", (2, 6), {}), ("GroupNorm", (3, 6), dict(affine=False, eps=1e-4)),
    ("GroupNorm", (3, 6), dict(bias=False))],
    ids=str)
def test_modules_match_torch(name, args, kw):
    ours, theirs = getattr(lg.nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    for k, v in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[k].numpy(), v.numpy())  # init
    shape = (2, 6, 3, 5) if name == "GroupNorm" else (2, 4, 3, 5)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    assert_module_matches_torch(ours, theirs, x, rtol=1e-4, atol=1e-4)
