"""Property-based fuzzing of every raw kernel entry point (lg.kernels.*).

Random shapes (0, 1, primes), dtypes (float16, ints, bool, object, complex),
layouts (Fortran, negative strides, strided views), NaN/Inf values, sizes
whose products overflow 32/64 bits (zero-stride views of one element, so
nothing is allocated), parameters at and past their limits, and ``out=``
misuse. Each call must match the NumPy reference or raise ValueError/TypeError
naming an argument: no crash, no MemoryError, no silent wrong answer.
Examples are bounded and derandomized (``fuzz_helpers.FUZZ``).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

import loomgrad as lg
from loomgrad import kernels as K
from reference.conv_pool import NumpyConvPool as Ref
from fuzz_helpers import (BAD_DTYPES, FLOATS, FUZZ, FUZZ_FEW, LAYOUTS, POS_SIZES, SIZES,
                          assert_close_ieee, clean_call, huge_view, make_array)

BIG = 2**40
# Parameter values at and past every limit: negative, zero, huge, overflowing.
PARAMS = st.sampled_from([-1, 0, 1, 1, 2, 3, 5, BIG, 2**62, 2**63 - 1])
TOL = {np.float32: (2e-4, 2e-4), np.float64: (1e-9, 1e-9)}


def _tol(dtype):
    return TOL[np.dtype(dtype).type]


# ---------------------------------------------------------------------- gemm
@FUZZ
@given(M=SIZES, Kd=SIZES, N=SIZES, ta=st.booleans(), tb=st.booleans(),
       dt_a=st.sampled_from(FLOATS + FLOATS + BAD_DTYPES), same=st.booleans(),
       la=LAYOUTS, lb=LAYOUTS, batch=st.sampled_from([None, None, 1, 3]),
       special=st.sampled_from([0.0, 0.0, 0.2]), seed=st.integers(0, 2**16))
def test_gemm(M, Kd, N, ta, tb, dt_a, same, la, lb, batch, special, seed):
    rng = np.random.default_rng(seed)
    sa, sb = ((Kd, M) if ta else (M, Kd)), ((N, Kd) if tb else (Kd, N))
    if batch:
        sa, sb = (batch,) + sa, ((1,) + sb if seed % 2 else sb)
    dt_b = dt_a if same else np.float64
    a = make_array(rng, sa, dt_a, la, special)
    b = make_array(rng, sb, dt_b, lb, special)
    out = clean_call(K.gemm, a, b, trans_a=ta, trans_b=tb, names=("a", "b"))
    if np.dtype(dt_a).type not in FLOATS or np.dtype(dt_a) != np.dtype(dt_b):
        assert out is None, f"gemm accepted dtypes {a.dtype}, {b.dtype}"
        return
    opa = np.swapaxes(a, -1, -2) if ta else a
    opb = np.swapaxes(b, -1, -2) if tb else b
    with np.errstate(all="ignore"):
        ref = np.einsum("...ik,...kj->...ij", opa.astype(np.float64), opb.astype(np.float64))
    assert out is not None and out.dtype == a.dtype
    assert_close_ieee(out, ref, *_tol(a.dtype), what="gemm")


@pytest.mark.parametrize("case", ["dtype", "shape", "strided", "readonly", "alias", "list",
                                  "batch"])
def test_gemm_out_misuse(case):
    a, b = np.ones((3, 4), np.float32), np.ones((4, 5), np.float32)
    out = {"dtype": np.empty((3, 5), np.float64), "shape": np.empty((5, 3), np.float32),
           "strided": np.empty((3, 10), np.float32)[:, ::2], "list": [[0.0] * 5] * 3,
           "readonly": np.empty((3, 5), np.float32), "batch": np.empty((2, 3, 5), np.float32)}
    if case == "readonly":
        out[case].flags.writeable = False
    if case == "alias":
        buf = np.ones((3, 5), np.float32)
        with pytest.raises(ValueError, match="out"):  # rows 0-1 in, rows 1-2 out
            K.gemm(buf[0:2], np.ones((5, 5), np.float32), out=buf[1:3])
        return
    with pytest.raises((ValueError, TypeError), match="out"):
        K.gemm(a, b, out=out[case])


def test_gemm_huge_shapes_refused_before_allocating():
    # 2**40 x 4 float32 = 16 TiB if copied; the product would need 4 * 2**40 flops rows
    for a, b, name in [(huge_view((BIG, 4)), np.ones((4, 1), np.float32), "a"),
                       (np.ones((1, 3), np.float32), huge_view((3, BIG)), "b"),
                       (huge_view((3, BIG, 2)), np.ones((2, 2), np.float32), "a")]:
        with pytest.raises(ValueError, match=name):
            K.gemm(a, b)
    # the output alone is too big: (2**21 x 2**21) from tiny contiguous operands
    a = np.broadcast_to(np.ones((1, 1), np.float32), (2**21, 1))
    with pytest.raises(ValueError, match="out"):
        K.gemm(np.ascontiguousarray(a[:1]).repeat(1, 0), np.ones((1, 2**21), np.float32),
               out=np.empty((2, 2), np.float32))


# -------------------------------------------------------------------- conv2d
@FUZZ
@given(N=st.sampled_from([0, 1, 2, 3]), groups=st.sampled_from([1, 1, 2, 3, 0, -1]),
       Cg=st.sampled_from([0, 1, 2, 3]), Kg=st.sampled_from([0, 1, 2]),
       H=SIZES, W=SIZES, R=st.sampled_from([1, 2, 3, 5]), S=st.sampled_from([1, 2, 3]),
       stride=PARAMS, padding=PARAMS, dilation=PARAMS, bias=st.booleans(),
       dtype=st.sampled_from(FLOATS + FLOATS + (np.float16, np.int64)), layout=LAYOUTS,
       special=st.sampled_from([0.0, 0.0, 0.1]), seed=st.integers(0, 2**16))
def test_conv2d(N, groups, Cg, Kg, H, W, R, S, stride, padding, dilation, bias, dtype, layout,
                special, seed):
    rng = np.random.default_rng(seed)
    g = max(groups, 1)
    x = make_array(rng, (N, Cg * g, H, W), dtype, layout, special)
    w = make_array(rng, (Kg * g, Cg, R, S), dtype, layout)
    b = make_array(rng, (Kg * g,), dtype) if bias else None
    names = ("x", "weight", "bias", "stride", "padding", "dilation", "groups", "kernel")
    y = clean_call(K.conv2d, x, w, b, stride, padding, dilation, groups, names=names)
    valid = (np.dtype(dtype).type in FLOATS and groups >= 1 and stride >= 1 and padding >= 0
             and dilation >= 1 and H + 2 * padding >= dilation * (R - 1) + 1
             and W + 2 * padding >= dilation * (S - 1) + 1)
    if not valid:
        assert y is None, "conv2d accepted invalid arguments"
        return
    if y is None:  # refused: only legitimately when the output would be too large
        assert max(stride, padding, dilation) > 2**31 or padding >= BIG
        return
    args = ((stride,) * 2, (padding,) * 2, (dilation,) * 2, groups)
    oh = (H + 2 * padding - dilation * (R - 1) - 1) // stride + 1
    ow = (W + 2 * padding - dilation * (S - 1) - 1) // stride + 1
    assert y.shape == (N, Kg * g, oh, ow)
    if y.size == 0 or padding > 64:
        return
    with np.errstate(all="ignore"):
        ref = Ref.conv2d(x.astype(np.float64), w.astype(np.float64),
                         None if b is None else b.astype(np.float64), *args)
    assert_close_ieee(y, ref, *_tol(dtype), what="conv2d")
    if special or not y.size or padding > 8 or stride > 8 or dilation > 8:
        return
    gy = make_array(rng, y.shape, dtype)
    dx, dw, db = K.conv2d_backward(gy, x, w, *args)
    rdx, rdw, rdb = Ref.conv2d_backward(gy.astype(np.float64), x.astype(np.float64),
                                        w.astype(np.float64), *args)
    for got, want, what in ((dx, rdx, "dx"), (dw, rdw, "dw"), (db, rdb, "db")):
        assert_close_ieee(got, want, *_tol(dtype), what=what)


def test_conv2d_huge_shapes():
    w = np.ones((1, 1, 1, 1), np.float32)
    # 2**40 x 2**20 pixels: far more than any memory; zero-stride, so no allocation
    with pytest.raises(ValueError, match="x"):
        K.conv2d(huge_view((1, 1, BIG, 2**20)), w)
    # a zero-size batch with huge planes is fine and returns at once
    x = np.empty((0, 1, 2**20, 2**20), np.float32)
    assert K.conv2d(x, w).shape == (0, 1, 2**20, 2**20)
    dx, dw, db = K.conv2d_backward(np.empty((0, 1, 2**20, 2**20), np.float32), x, w)
    assert dx.shape == x.shape and not dw.any() and not db.any()
    # a weight whose C*R*S overflows 32 bits with zero output channels
    x = np.empty((0, 2**16, 4, 4), np.float32)
    w = np.empty((0, 2**16, 2**8, 2**8), np.float32)
    with pytest.raises(ValueError, match="kernel|padded input"):
        K.conv2d(x, w)


def test_conv2d_backward_zero_output_channels():
    x = np.ones((2, 3, 4, 4))
    w = np.empty((0, 3, 2, 2))
    dx, dw, db = K.conv2d_backward(np.empty((2, 0, 3, 3)), x, w)
    assert dx.shape == x.shape and not dx.any() and dw.shape == w.shape and db.shape == (0,)


# ------------------------------------------------------------------- pooling
@FUZZ
@given(N=st.sampled_from([0, 1, 2]), C=st.sampled_from([0, 1, 3]), H=SIZES, W=SIZES,
       k=st.sampled_from([-1, 0, 1, 2, 3, 5, BIG]), stride=st.sampled_from([None, 0, 1, 2, 3,
                                                                            BIG, -2]),
       padding=st.sampled_from([0, 0, 1, 2, -1, BIG]), dilation=st.sampled_from([1, 1, 2, 0,
                                                                                 BIG]),
       ceil_mode=st.booleans(), include_pad=st.booleans(), kind=st.sampled_from(["max", "avg"]),
       dtype=st.sampled_from(FLOATS + FLOATS + (np.float16, np.int32)), layout=LAYOUTS,
       special=st.sampled_from([0.0, 0.0, 0.2]), seed=st.integers(0, 2**16))
def test_pool2d(N, C, H, W, k, stride, padding, dilation, ceil_mode, include_pad, kind, dtype,
                layout, special, seed):
    rng = np.random.default_rng(seed)
    x = make_array(rng, (N, C, H, W), dtype, layout, special)
    names = ("x", "kernel_size", "stride", "padding", "dilation", "input", "output size")
    if kind == "max":
        res = clean_call(K.max_pool2d, x, k, stride, padding, dilation, ceil_mode, names=names)
    else:
        res = clean_call(K.avg_pool2d, x, k, stride, padding, ceil_mode, include_pad,
                         names=names)
    if res is None:
        return
    assert np.dtype(dtype).type in FLOATS and k >= 1 and padding >= 0 and 2 * padding <= k
    s = k if stride is None else stride
    win = (k, s, padding, dilation) if kind == "max" else (k, s, padding)
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        if kind == "max":
            y, idx = res
            ry, ridx = Ref.max_pool2d(x64, (k,) * 2, (s,) * 2, (padding,) * 2, (dilation,) * 2,
                                      ceil_mode)
            assert_close_ieee(y, ry, 0, 0, what="max_pool2d")
            if not special:
                np.testing.assert_array_equal(idx, ridx)
        else:
            y = res
            ry = Ref.avg_pool2d(x64, (k,) * 2, (s,) * 2, (padding,) * 2, ceil_mode, include_pad)
            assert_close_ieee(y, ry, *_tol(dtype), what="avg_pool2d")
    if special or not y.size:
        return
    gy = make_array(rng, y.shape, dtype)
    if kind == "max":
        dx = K.max_pool2d_backward(gy, idx, x.shape, k, s, padding, dilation, ceil_mode)
        rdx = Ref.max_pool2d_backward(gy.astype(np.float64), idx, x.shape, (k,) * 2, (s,) * 2,
                                      (padding,) * 2, (dilation,) * 2, ceil_mode)
    else:
        dx = K.avg_pool2d_backward(gy, x.shape, k, s, padding, ceil_mode, include_pad)
        rdx = Ref.avg_pool2d_backward(gy.astype(np.float64), x.shape, (k,) * 2, (s,) * 2,
                                      (padding,) * 2, ceil_mode, include_pad)
    assert_close_ieee(dx, rdx, *_tol(dtype), what=f"{kind}_pool2d_backward")
    del win


@FUZZ_FEW
@given(N=st.sampled_from([0, 1, 2]), C=st.sampled_from([1, 3]), H=POS_SIZES, W=POS_SIZES,
       oh=st.sampled_from([None, -1, 0, 1, 2, 3, 7, BIG]), ow=st.sampled_from([1, 4, 9]),
       dtype=st.sampled_from(FLOATS), seed=st.integers(0, 2**16))
def test_adaptive_avg_pool2d(N, C, H, W, oh, ow, dtype, seed):
    rng = np.random.default_rng(seed)
    x = make_array(rng, (N, C, H, W), dtype, "neg")
    y = clean_call(K.adaptive_avg_pool2d, x, (oh, ow), names=("output_size", "out"))
    if y is None:
        assert oh is not None and (oh < 1 or oh == BIG)
        return
    if y.size == 0:  # legitimately empty (N = 0), whatever the output size
        assert y.shape == (N, C, H if oh is None else oh, ow)
        return
    ref = Ref.adaptive_avg_pool2d(x.astype(np.float64), (H if oh is None else oh, ow))
    assert_close_ieee(y, ref, *_tol(dtype), what="adaptive_avg_pool2d")
    gy = make_array(rng, y.shape, dtype)
    dx = K.adaptive_avg_pool2d_backward(gy, x.shape)
    ref = Ref.adaptive_avg_pool2d_backward(gy.astype(np.float64), x.shape)
    assert_close_ieee(dx, ref, *_tol(dtype), what="adaptive_avg_pool2d_backward")


def test_pool_huge_window_is_refused_or_fast():
    # kernel 2**40 with padding 2**39 on a 1x1 input: once an O(padding) loop (a hang)
    x = np.ones((1, 1, 1, 1))
    for fn in (K.max_pool2d, K.avg_pool2d):
        with pytest.raises(ValueError, match="kernel_size"):
            fn(x, BIG, 1, BIG // 2)
    with pytest.raises(ValueError, match="kernel_size"):  # 2**62 window positions
        K.max_pool2d(x, 2**31, 1, 2**30)
    y, idx = K.max_pool2d(x, (2**31 - 1, 1), 1, (2**30 - 1, 0))  # at the limit: one clipped window
    assert y.shape == (1, 1, 1, 1) and y[0, 0, 0, 0] == 1 and idx[0, 0, 0, 0] == 0
    with pytest.raises(ValueError, match="dilation"):
        K.max_pool2d(x, 3, 1, 1, 2**62)


def test_conv2d_huge_groups_and_params():
    x, w = np.ones((1, 2, 3, 3)), np.ones((1, 1, 1, 1))
    with pytest.raises(ValueError, match="groups"):
        K.conv2d(x, w, groups=2**62)
    with pytest.raises(ValueError, match="kernel size"):
        K.conv2d(x, np.empty((0, 2, 2**40, 1)), dilation=2**30)
    with pytest.raises(ValueError, match="dilation"):
        K.conv2d(x, np.empty((0, 2, 3, 1)), dilation=2**62)


@pytest.mark.parametrize("shape", [(2**40, 2**40, 2**40, 2**40), (1, 1, -4, 4), (2**62, 1, 1)])
def test_pool_backward_input_shape_checked(shape):
    gy = np.ones((1, 1, 2, 2))
    with pytest.raises(ValueError, match="grad_input|input_shape"):
        K.avg_pool2d_backward(gy, shape, 2)
    with pytest.raises(ValueError, match="grad_input|input_shape"):
        K.adaptive_avg_pool2d_backward(gy, shape)


def test_pool_backward_bad_indices():
    x = np.random.default_rng(0).standard_normal((1, 1, 4, 4))
    y, idx = K.max_pool2d(x, 2)
    for bad in (idx + 100, idx - 100, idx[..., :1], idx.astype(np.float64)):
        with pytest.raises((ValueError, TypeError), match="indices"):
            K.max_pool2d_backward(np.ones_like(y), bad, x.shape, 2)


# ------------------------------------------------------------ softmax / xent
@FUZZ
@given(shape=st.lists(SIZES, min_size=1, max_size=4), log=st.booleans(),
       dtype=st.sampled_from(FLOATS + FLOATS + BAD_DTYPES), layout=LAYOUTS,
       special=st.sampled_from([0.0, 0.0, 0.2]), seed=st.integers(0, 2**16))
def test_softmax(shape, log, dtype, layout, special, seed):
    rng = np.random.default_rng(seed)
    x = make_array(rng, shape, dtype, layout, special) * (1 if special else 30)
    fwd = K.log_softmax if log else K.softmax
    y = clean_call(fwd, x, names=("x",))
    if np.dtype(dtype).type not in FLOATS:
        assert y is None
        return
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        m = np.max(x64, axis=-1, keepdims=True) if x64.size else x64
        lse = m + np.log(np.sum(np.exp(x64 - m), axis=-1, keepdims=True))
        ref = x64 - lse if log else np.exp(x64 - lse)
    assert_close_ieee(y, ref, *_tol(dtype), what="softmax")
    if special:
        return
    gy = make_array(rng, shape, dtype)
    dx = (K.log_softmax_backward if log else K.softmax_backward)(gy, y)
    y64, g64 = y.astype(np.float64), gy.astype(np.float64)
    ref = g64 - np.exp(y64) * g64.sum(-1, keepdims=True) if log else \
        y64 * (g64 - (g64 * y64).sum(-1, keepdims=True))
    assert_close_ieee(dx, ref, *_tol(dtype), what="softmax_backward")


def test_softmax_nan_row_float32():  # regression (UBSan): NaN reached an int32 shift in exp
    x = np.array([[np.nan, 0.0, -np.inf, 1.0], [0.0, 1.0, 2.0, 3.0]], np.float32)
    y = K.softmax(x)
    assert np.isnan(y[0]).all()
    np.testing.assert_allclose(y[1], np.exp(x[1]) / np.exp(x[1]).sum(), rtol=1e-6)
    assert np.isnan(K.log_softmax(x)[0]).all()


def _xent_ref(x, t, w, ii, reduction, ls):
    N, C = x.shape
    m = x.max(1, keepdims=True) if C else x
    logp = x - (m + np.log(np.exp(x - m).sum(1, keepdims=True)))
    w = np.ones(C) if w is None else w
    if t.dtype.kind == "f":
        q = t * (1 - ls) + ls / np.float64(C)
        per = -(q * w * logp).sum(1)
        return per.sum() / np.float64(N) if reduction == "mean" else (per.sum() if reduction == "sum"
                                                           else per)
    keep = t != ii
    tt = np.where(keep, t, 0)
    nll = -logp[np.arange(N), tt] * w[tt]
    smooth = -(logp * w).sum(1) / C
    per = np.where(keep, (1 - ls) * nll + ls * smooth, 0.0)
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    return per.sum() / np.where(keep, w[tt], 0).sum()


@FUZZ
@given(N=SIZES, C=SIZES, prob=st.booleans(), weighted=st.booleans(),
       reduction=st.sampled_from(["mean", "sum", "none", "avg"]),
       ls=st.sampled_from([0.0, 0.0, 0.1, 1.0, -0.1, 1.5, float("nan")]),
       ii=st.sampled_from([-100, 0, 2]), bad_target=st.sampled_from([None, None, -5, 1000, 2**63 - 1]),
       dtype=st.sampled_from(FLOATS + FLOATS + (np.float16, np.int32)), layout=LAYOUTS,
       seed=st.integers(0, 2**16))
def test_softmax_cross_entropy(N, C, prob, weighted, reduction, ls, ii, bad_target, dtype, layout,
                               seed):
    rng = np.random.default_rng(seed)
    x = make_array(rng, (N, C), dtype, layout)
    if prob:
        t = rng.dirichlet(np.ones(max(C, 1)), size=N)[:, :C].astype(np.float64)
    else:
        t = rng.integers(0, max(C, 1), size=N)
        if bad_target is not None and N:
            t[0] = bad_target
    w = rng.uniform(0.5, 2, C).astype(dtype) if weighted else None
    names = ("logits", "target", "weight", "reduction", "label_smoothing", "ignore_index")
    loss = clean_call(K.softmax_cross_entropy, x, t, w, ii, reduction, ls, names=names)
    targets_ok = prob or all((0 <= v < C) or v == ii for v in t)
    valid = (np.dtype(dtype).type in FLOATS and reduction != "avg" and 0 <= ls <= 1
             and targets_ok)
    if not valid:
        assert loss is None, "softmax_cross_entropy accepted invalid arguments"
        return
    assert loss is not None
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        ref = _xent_ref(x64, t, None if w is None else w.astype(np.float64), ii, reduction, ls)
    assert_close_ieee(loss, ref, *_tol(dtype), what="softmax_cross_entropy")
    g = np.ones(N) if reduction == "none" else 1.0
    dx = K.softmax_cross_entropy_backward(g, x, t, w, ii, reduction, ls)
    assert dx.shape == x.shape and dx.dtype == x.dtype
    if N and C and np.isfinite(ref).all() and np.dtype(dtype) == np.float64:
        # central differences of the summed loss
        eps, num = 1e-6, np.zeros_like(x64)
        for i in range(min(N, 3)):
            for j in range(min(C, 3)):
                xp, xm = x64.copy(), x64.copy()
                xp[i, j] += eps
                xm[i, j] -= eps
                num[i, j] = (np.sum(_xent_ref(xp, t, w, ii, reduction, ls))
                             - np.sum(_xent_ref(xm, t, w, ii, reduction, ls))) / (2 * eps)
        np.testing.assert_allclose(dx[:3, :3], num[:3, :3], atol=1e-5, rtol=1e-4)


# ---------------------------------------------------------------------- lstm
@FUZZ
@given(T=st.sampled_from([0, 1, 2, 5]), N=st.sampled_from([0, 1, 2, 3]),
       I=st.sampled_from([0, 1, 3, 5]), H=st.sampled_from([0, 1, 2, 5]), bias=st.booleans(),
       reverse=st.booleans(), dtype=st.sampled_from(FLOATS + FLOATS + (np.float16, np.int64)),
       layout=LAYOUTS, bad=st.sampled_from([None] * 6 + ["w_hh", "h0", "b_ih", "x_dtype"]),
       special=st.sampled_from([0.0, 0.0, 0.1]), seed=st.integers(0, 2**16))
def test_lstm(T, N, I, H, bias, reverse, dtype, layout, bad, special, seed):
    rng = np.random.default_rng(seed)
    x = make_array(rng, (T, N, I), dtype, layout, special)
    w_ih = make_array(rng, (4 * H, I), dtype, layout) * 0.5
    w_hh = make_array(rng, (4 * H + (bad == "w_hh"), H), dtype, layout) * 0.5
    b_ih = make_array(rng, (4 * H + (bad == "b_ih"),), dtype) if bias or bad == "b_ih" else None
    b_hh = make_array(rng, (4 * H,), dtype) if bias else None
    h0 = make_array(rng, (N, H + (bad == "h0")), dtype)
    c0 = make_array(rng, (N, H), dtype)
    if bad == "x_dtype":
        x = x.astype(np.float32 if np.dtype(dtype) == np.float64 else np.float64)
    names = ("x", "w_ih", "w_hh", "b_ih", "b_hh", "h0", "c0")
    res = clean_call(K.lstm_sequence, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, names=names)
    if np.dtype(dtype).type not in FLOATS or bad is not None:
        assert res is None, f"lstm_sequence accepted bad input ({bad}, {dtype})"
        return
    y, hn, cn, saved = res
    # reference: the plain recurrence in float64
    x64, h, c = x.astype(np.float64), h0.astype(np.float64), c0.astype(np.float64)
    b = (b_ih.astype(np.float64) + b_hh.astype(np.float64)) if bias else 0.0
    ys = np.zeros((T, N, H))
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    with np.errstate(all="ignore"):
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            gts = x64[t] @ w_ih.T.astype(np.float64) + h @ w_hh.T.astype(np.float64) + b
            i, f, g, o = np.split(gts, 4, axis=1) if H else (gts,) * 4
            c = sig(f) * c + sig(i) * np.tanh(g)
            h = sig(o) * np.tanh(c)
            ys[t] = h
    tol = (1e-4, 1e-4) if np.dtype(dtype) == np.float32 else (1e-9, 1e-9)
    assert_close_ieee(y, ys, *tol, what="lstm y")
    assert_close_ieee(hn, h, *tol, what="lstm h_n")
    assert_close_ieee(cn, c, *tol, what="lstm c_n")
    grads = K.lstm_sequence_backward(make_array(rng, y.shape, dtype), None, None, saved)
    assert grads[0].shape == x.shape and grads[3].shape == w_ih.shape
    if T and N and H and not special:
        # one step of the cell agrees with the first step of the sequence
        t0 = T - 1 if reverse else 0
        h1, c1, cs = K.lstm_cell(x[t0], h0, c0, w_ih, w_hh, b_ih, b_hh)
        assert_close_ieee(h1, y[t0], *tol, what="lstm_cell")
        out = K.lstm_cell_backward(np.ones_like(h1), None, cs)
        assert out[0].shape == (N, I) and out[4].shape == w_hh.shape


@FUZZ
@given(T=st.sampled_from([0, 1, 2, 5]), N=st.sampled_from([0, 1, 2, 3, 7]),
       I=st.sampled_from([0, 1, 3, 5]), H=st.sampled_from([0, 1, 2, 5, 17]), bias=st.booleans(),
       reverse=st.booleans(), dtype=st.sampled_from(FLOATS + FLOATS + (np.float16, np.int64)),
       layout=LAYOUTS, bad=st.sampled_from([None] * 6 + ["w_hh", "h0", "b_hh", "x_dtype"]),
       special=st.sampled_from([0.0, 0.0, 0.1]), seed=st.integers(0, 2**16))
def test_gru(T, N, I, H, bias, reverse, dtype, layout, bad, special, seed):
    rng = np.random.default_rng(seed)
    x = make_array(rng, (T, N, I), dtype, layout, special)
    w_ih = make_array(rng, (3 * H, I), dtype, layout) * 0.5
    w_hh = make_array(rng, (3 * H + (bad == "w_hh"), H), dtype, layout) * 0.5
    b_ih = make_array(rng, (3 * H,), dtype) if bias else None
    b_hh = make_array(rng, (3 * H + (bad == "b_hh"),), dtype) if bias or bad == "b_hh" else None
    h0 = make_array(rng, (N, H + (bad == "h0")), dtype)
    if bad == "x_dtype":
        x = x.astype(np.float32 if np.dtype(dtype) == np.float64 else np.float64)
    names = ("x", "w_ih", "w_hh", "b_ih", "b_hh", "h0")
    res = clean_call(K.gru_sequence, x, h0, w_ih, w_hh, b_ih, b_hh, reverse, names=names)
    if np.dtype(dtype).type not in FLOATS or bad is not None:
        assert res is None, f"gru_sequence accepted bad input ({bad}, {dtype})"
        return
    y, hn, saved = res
    # reference: torch's GRU recurrence in float64
    x64, h = x.astype(np.float64), h0.astype(np.float64)
    wi, wh = w_ih.astype(np.float64), w_hh.astype(np.float64)
    bi = b_ih.astype(np.float64) if b_ih is not None else np.zeros(3 * H)
    bh = b_hh.astype(np.float64) if b_hh is not None else np.zeros(3 * H)
    ys = np.zeros((T, N, H))
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    with np.errstate(all="ignore"):
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            gx, gh = x64[t] @ wi.T + bi, h @ wh.T + bh
            r = sig(gx[:, :H] + gh[:, :H])
            z = sig(gx[:, H:2 * H] + gh[:, H:2 * H])
            n = np.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
            h = (1 - z) * n + z * h
            ys[t] = h
    tol = (1e-4, 1e-4) if np.dtype(dtype) == np.float32 else (1e-9, 1e-9)
    assert_close_ieee(y, ys, *tol, what="gru y")
    assert_close_ieee(hn, h, *tol, what="gru h_n")
    grads = K.gru_sequence_backward(make_array(rng, y.shape, dtype), None, saved)
    assert grads[0].shape == x.shape and grads[1].shape == h0.shape
    assert grads[2].shape == w_ih.shape and grads[3].shape == w_hh.shape
    assert (grads[4] is None) == (not bias)


def test_lstm_nan_input_float32():  # regression (UBSan): NaN reached a signed shift in exp
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 4)).astype(np.float32)
    x[1, 0, 2] = np.nan
    w_ih = (rng.standard_normal((8, 4)) * 0.3).astype(np.float32)
    w_hh = (rng.standard_normal((8, 2)) * 0.3).astype(np.float32)
    y, hn, cn, _ = K.lstm_sequence(x, None, None, w_ih, w_hh)
    assert np.isnan(y[1:, 0]).all() and np.isfinite(y[:, 1]).all() and np.isfinite(y[0]).all()


def test_lstm_huge_and_misuse():
    w_hh = np.zeros((4, 1))
    with pytest.raises(ValueError, match="x"):
        K.lstm_sequence(huge_view((BIG, 1, 1), np.float64), None, None, np.zeros((4, 1)), w_hh)
    with pytest.raises(ValueError, match="w_hh"):
        K.lstm_cell(np.zeros((1, 1)), None, None, np.zeros((4, 1)), np.zeros((3, 1)))
    with pytest.raises(TypeError, match="w_ih"):
        K.lstm_cell(np.zeros((1, 1)), None, None, np.zeros((4, 1), np.float32), w_hh)
    with pytest.raises(ValueError, match="w_ih"):
        K.lstm_cell(np.zeros((2, 3)), None, None, np.zeros((4, 2)), w_hh)


# ------------------------------------------------------------ layer_norm / group_norm
@FUZZ
@given(lead=st.lists(SIZES, min_size=0, max_size=2), ns=st.lists(SIZES, min_size=1, max_size=2),
       affine=st.sampled_from(["both", "weight", "bias", "none"]),
       dtype=st.sampled_from(FLOATS + FLOATS + BAD_DTYPES), layout=LAYOUTS,
       special=st.sampled_from([0.0, 0.0, 0.2]), eps=st.sampled_from([1e-5, 0.0, 1.0, -1.0]),
       bad_w=st.sampled_from([False, False, False, True]), seed=st.integers(0, 2**16))
def test_layer_norm(lead, ns, affine, dtype, layout, special, eps, bad_w, seed):
    from reference import norm as ref_norm
    rng = np.random.default_rng(seed)
    shape, ns = tuple(lead) + tuple(ns), tuple(ns)
    x = make_array(rng, shape, dtype, layout, special)
    wshape = ns if not bad_w else ns + (2,)
    w = make_array(rng, wshape, dtype) if affine in ("both", "weight") else None
    b = make_array(rng, ns, dtype) if affine in ("both", "bias") else None
    got = clean_call(K.layer_norm, x, ns, w, b, eps, names=("x", "weight", "eps"))
    if np.dtype(dtype).type not in FLOATS or eps < 0 or (bad_w and w is not None):
        assert got is None
        return
    out, mean, rstd = got
    assert out.shape == x.shape and mean.shape == rstd.shape == tuple(lead)
    if special or eps == 0.0 or 0 in ns:  # NaN/Inf rows and 0/0: only shapes and no crash
        return
    r_out, _, r_rstd = ref_norm.layer_norm(x, ns, w, b, eps)
    tol = (1e-3, 1e-3) if np.dtype(dtype) == np.float32 else (1e-8, 1e-8)
    assert_close_ieee(out, r_out, *tol, what="layer_norm")
    assert_close_ieee(rstd, r_rstd, *tol, what="layer_norm rstd")
    g = make_array(rng, shape, dtype)
    grads = K.layer_norm_backward(g, x, ns, mean, rstd, w, need=(True, w is not None,
                                                                b is not None))
    with np.errstate(all="ignore"):
        exp = ref_norm.layer_norm_backward(g, x, ns, mean, rstd, w)
    for a, e, what in zip(grads, exp, ("dx", "dw", "db")):
        if a is not None:
            assert_close_ieee(a, e, 1e-2 if np.dtype(dtype) == np.float32 else 1e-7,
                              1e-2 if np.dtype(dtype) == np.float32 else 1e-7,
                              what=f"layer_norm {what}")


@FUZZ
@given(N=SIZES, Cg=POS_SIZES, G=POS_SIZES, spatial=st.lists(SIZES, min_size=0, max_size=2),
       affine=st.booleans(), dtype=st.sampled_from(FLOATS + FLOATS + BAD_DTYPES),
       layout=LAYOUTS, special=st.sampled_from([0.0, 0.0, 0.2]),
       groups_off=st.sampled_from([0, 0, 0, 1, -1]), seed=st.integers(0, 2**16))
def test_group_norm(N, Cg, G, spatial, affine, dtype, layout, special, groups_off, seed):
    from reference import norm as ref_norm
    rng = np.random.default_rng(seed)
    C = Cg * G
    shape = (N, C) + tuple(spatial)
    x = make_array(rng, shape, dtype, layout, special)
    w = make_array(rng, (C,), dtype) if affine else None
    b = make_array(rng, (C,), dtype) if affine else None
    groups = G + groups_off
    got = clean_call(K.group_norm, x, groups, w, b, names=("x", "num_groups"))
    if np.dtype(dtype).type not in FLOATS or groups < 1 or C % groups:
        assert got is None
        return
    out, mean, rstd = got
    assert out.shape == x.shape and mean.shape == (N, groups)
    g = make_array(rng, shape, dtype)
    grads = K.group_norm_backward(g, x, groups, mean, rstd, w)
    if special or 0 in spatial:
        return
    with np.errstate(all="ignore"):
        r_out, _, r_rstd = ref_norm.group_norm(x, groups, w, b)
        exp = ref_norm.group_norm_backward(g, x, groups, mean, rstd, w)
    tol = (1e-3, 1e-3) if np.dtype(dtype) == np.float32 else (1e-8, 1e-8)
    assert_close_ieee(out, r_out, *tol, what="group_norm")
    assert_close_ieee(rstd, r_rstd, *tol, what="group_norm rstd")
    for a, e, what in zip(grads, exp, ("dx", "dw", "db")):
        if a is not None:
            assert_close_ieee(a, e, *(10 * t for t in tol), what=f"group_norm {what}")


@FUZZ
@given(N=SIZES, C=SIZES, spatial=st.lists(SIZES, min_size=0, max_size=2),
       affine=st.sampled_from(["both", "weight", "none"]),
       dtype=st.sampled_from(FLOATS + FLOATS + BAD_DTYPES), layout=LAYOUTS,
       special=st.sampled_from([0.0, 0.0, 0.2]), eps=st.sampled_from([1e-5, 1.0, -1.0]),
       need=st.sampled_from([(True, True, True), (True, False, False), (False, True, True)]),
       seed=st.integers(0, 2**16))
def test_batch_norm(N, C, spatial, affine, dtype, layout, special, eps, need, seed):
    from reference import norm as ref_norm
    rng = np.random.default_rng(seed)
    shape = (N, C) + tuple(spatial)
    x = make_array(rng, shape, dtype, layout, special)
    w = make_array(rng, (C,), dtype) if affine != "none" else None
    b = make_array(rng, (C,), dtype) if affine == "both" else None
    got = clean_call(K.batch_norm, x, w, b, eps, names=("x", "eps"))
    if np.dtype(dtype).type not in FLOATS or eps < 0:
        assert got is None
        return
    out, mean, var, rstd = got
    assert out.shape == x.shape and mean.shape == var.shape == rstd.shape == (C,)
    g = make_array(rng, shape, dtype)
    grads = K.batch_norm_backward(g, x, mean, rstd, w, need=need)
    assert all((a is None) == (not n) for a, n in zip(grads, need))
    count = x.size // C if C else 0
    if special or count < 2:  # NaN/Inf and 0/0 statistics: only shapes and no crash
        return
    with np.errstate(all="ignore"):
        r_out, _, r_var, r_rstd = ref_norm.batch_norm(x, w, b, eps)
        exp = ref_norm.batch_norm_backward(g, x, mean, rstd, w, need=need)
    tol = (1e-3, 1e-3) if np.dtype(dtype) == np.float32 else (1e-8, 1e-8)
    assert_close_ieee(out, r_out, *tol, what="batch_norm")
    assert_close_ieee(var, r_var, *tol, what="batch_norm var")
    assert_close_ieee(rstd, r_rstd, *tol, what="batch_norm rstd")
    for a, e, what in zip(grads, exp, ("dx", "dw", "db")):
        if a is not None:
            assert_close_ieee(a, e, *(10 * t for t in tol), what=f"batch_norm {what}")


def test_norm_huge_and_misuse():
    with pytest.raises(ValueError, match="x"):
        K.layer_norm(huge_view((BIG, 4), np.float64), 4)
    with pytest.raises(TypeError, match="GPU|float32"):
        K.group_norm(np.zeros((2, 4), np.float16), 2)
    x = np.zeros((2, 4))
    out, mean, rstd = K.layer_norm(x, 4)
    with pytest.raises(ValueError, match="mean"):
        K.layer_norm_backward(x, x, 4, mean[:1], rstd)
    with pytest.raises(ValueError, match="weight"):
        K.group_norm(np.zeros((2, 4, 3)), 2, np.zeros(3))


# ------------------------------------------------------------ upsample (nearest / bilinear)
@FUZZ
@given(N=SIZES, C=POS_SIZES, H=SIZES, W=POS_SIZES, OH=SIZES, OW=POS_SIZES,
       mode=st.sampled_from(["nearest", "bilinear", "bilinear_ac"]),
       scale=st.sampled_from([None, None, 2.0, 0.5, 1.37, 0.0, -1.0, float("nan"), 1e300]),
       dtype=st.sampled_from(FLOATS + FLOATS + BAD_DTYPES), layout=LAYOUTS,
       special=st.sampled_from([0.0, 0.0, 0.2]), seed=st.integers(0, 2**16))
def test_upsample2d(N, C, H, W, OH, OW, mode, scale, dtype, layout, special, seed):
    from reference import upsample as ref_up
    rng = np.random.default_rng(seed)
    x = make_array(rng, (N, C, H, W), dtype, layout, special)
    ac = mode == "bilinear_ac"
    scales = None if scale is None else (scale, scale)
    if mode == "nearest":
        y = clean_call(K.upsample_nearest2d, x, (OH, OW), scales,
                       names=("x", "output_size", "scales", "sizes"))
    else:
        y = clean_call(K.upsample_bilinear2d, x, (OH, OW), ac, scales,
                       names=("x", "output_size", "scales", "sizes"))
    valid = np.dtype(dtype).type in FLOATS and min(H, W, OH, OW) >= 1 and (
        scale is None or (np.isfinite(scale) and scale > 0))
    if not valid:
        assert y is None
        return
    kind = "nearest" if mode == "nearest" else "bilinear"
    assert y.shape == (N, C, OH, OW)
    if special:  # NaN/Inf: 0 * Inf weights make NaN differently in a dense reference
        return
    tol = (1e-4, 1e-4) if np.dtype(dtype) == np.float32 else (1e-10, 1e-10)
    with np.errstate(all="ignore"):
        assert_close_ieee(y, ref_up.upsample2d(x, kind, (OH, OW), ac, scales), *tol,
                          what="upsample2d")
    g = make_array(rng, y.shape, dtype)
    dx = K.upsample_nearest2d_backward(g, x.shape, scales) if kind == "nearest" else \
        K.upsample_bilinear2d_backward(g, x.shape, ac, scales)
    assert_close_ieee(dx, ref_up.upsample2d_backward(g, kind, x.shape, ac, scales), *tol,
                      what="upsample2d_backward")


def test_upsample_huge_and_misuse():
    with pytest.raises(ValueError, match="x|out"):
        K.upsample_nearest2d(huge_view((BIG, 1, 1, 1), np.float64), (2, 2))
    with pytest.raises(ValueError, match="output_size|sizes"):
        K.upsample_bilinear2d(np.zeros((1, 1, 2, 2)), (2**31, 1))
    with pytest.raises(TypeError, match="GPU|float32"):
        K.upsample_nearest2d(np.zeros((1, 1, 2, 2), np.float16), (4, 4))
