"""Pooling kernels (max with indices, average, adaptive average; forward and
backward) against plain NumPy references written from torch's rules and
against torch's CPU ops: kernel/stride/padding/dilation/ceil_mode tables,
count_include_pad, divisor_override, ties, NaN, -inf, zero-size batches,
float32/float64, and argument errors. The cuda-marked tests at the end run
the CUDA kernels against the CPU kernels on the same tables (skipped without
a GPU)."""
import itertools

import numpy as np
import pytest

from loomgrad import kernels as nk
from gpu_doubles import install_numpy_gpu
from helpers import requires_cuda, torch_cuda

DTYPES = [np.float32, np.float64]

# (H, W, kernel, stride, padding, dilation, ceil_mode)
MAX_CASES = [
    (8, 8, 2, 2, 0, 1, False),
    (9, 10, 3, 2, 1, 1, False),
    (9, 10, 3, 2, 1, 1, True),
    (7, 7, 3, 1, 1, 2, False),
    (11, 13, (2, 3), (1, 2), (1, 1), 1, True),
    (10, 11, (3, 2), (2, 3), (1, 0), (2, 1), True),
    (5, 6, 2, 3, 1, 1, True),      # ceil: the last window would start in the right padding
    (6, 6, 6, 1, 0, 1, False),     # kernel = input
    (1, 1, 1, 1, 0, 1, False),
    (13, 7, 4, 3, 2, 1, True),
    (8, 8, 3, 2, 0, 3, True),
]
# (H, W, kernel, stride, padding, ceil_mode)
AVG_CASES = [
    (8, 8, 2, 2, 0, False),
    (9, 10, 3, 2, 1, False),
    (9, 10, 3, 2, 1, True),
    (11, 13, (2, 3), (1, 2), (1, 1), True),
    (5, 6, 2, 3, 1, True),
    (7, 7, 7, 1, 3, False),
    (13, 7, 4, 3, 2, True),
]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _out_size(n, k, s, p, d, ceil):
    num = n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)
    o = num // s + 1
    if ceil and (o - 1) * s >= n + p:
        o -= 1
    return o


def ref_max_pool(x, k, s, p, d, ceil):
    """torch's scan: each window in row-major order, take v if v > max or v is NaN."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = map(_pair, (k, s, p, d))
    N, C, H, W = x.shape
    OH, OW = _out_size(H, kh, sh, ph, dh, ceil), _out_size(W, kw, sw, pw, dw, ceil)
    planes = x.reshape(N * C, H * W)
    out = np.full((N * C, OH, OW), -np.inf, x.dtype)
    idx = np.zeros((N * C, OH, OW), np.int64)
    for oh in range(OH):
        for ow in range(OW):
            first = True
            for i in range(kh):
                for j in range(kw):
                    ih, iw = oh * sh - ph + i * dh, ow * sw - pw + j * dw
                    if not (0 <= ih < H and 0 <= iw < W):
                        continue
                    v = planes[:, ih * W + iw]
                    if first:
                        idx[:, oh, ow] = ih * W + iw
                        first = False
                    take = (v > out[:, oh, ow]) | np.isnan(v)
                    out[:, oh, ow] = np.where(take, v, out[:, oh, ow])
                    idx[:, oh, ow] = np.where(take, ih * W + iw, idx[:, oh, ow])
    return out.reshape(N, C, OH, OW), idx.reshape(N, C, OH, OW)


def ref_max_pool_backward(dy, idx, shape):
    N, C, H, W = shape
    dx = np.zeros((N * C, H * W))
    for p, (g, i) in enumerate(zip(dy.reshape(N * C, -1), idx.reshape(N * C, -1))):
        np.add.at(dx[p], i, g)
    return dx.reshape(shape)


def ref_avg_pool(x, k, s, p, ceil, include_pad, divisor):
    (kh, kw), (sh, sw), (ph, pw) = map(_pair, (k, s, p))
    N, C, H, W = x.shape
    OH, OW = _out_size(H, kh, sh, ph, 1, ceil), _out_size(W, kw, sw, pw, 1, ceil)
    out = np.zeros((N, C, OH, OW))
    mats = []  # (oh, ow, h0, h1, w0, w1, div) for the backward reference
    for oh in range(OH):
        for ow in range(OW):
            h0, w0 = oh * sh - ph, ow * sw - pw
            h1, w1 = min(h0 + kh, H + ph), min(w0 + kw, W + pw)
            pool = (h1 - h0) * (w1 - w0)
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, H), min(w1, W)
            div = divisor or (pool if include_pad else (h1 - h0) * (w1 - w0))
            out[:, :, oh, ow] = x[:, :, h0:h1, w0:w1].astype(np.float64).sum(axis=(2, 3)) / div
            mats.append((oh, ow, h0, h1, w0, w1, div))
    return out, mats


def ref_avg_pool_backward(dy, shape, mats):
    dx = np.zeros(shape)
    for oh, ow, h0, h1, w0, w1, div in mats:
        dx[:, :, h0:h1, w0:w1] += dy[:, :, oh, ow][:, :, None, None] / div
    return dx


def ref_adaptive(x, OH, OW):
    N, C, H, W = x.shape
    out = np.zeros((N, C, OH, OW))
    for oh in range(OH):
        h0, h1 = (oh * H) // OH, -((-(oh + 1) * H) // OH)
        for ow in range(OW):
            w0, w1 = (ow * W) // OW, -((-(ow + 1) * W) // OW)
            out[:, :, oh, ow] = x[:, :, h0:h1, w0:w1].astype(np.float64).mean(axis=(2, 3))
    return out


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", MAX_CASES, ids=str)
def test_max_pool2d_against_numpy(case, dtype):
    H, W, k, s, p, d, ceil = case
    x = np.random.default_rng(0).standard_normal((2, 3, H, W)).astype(dtype)
    out, idx = nk.max_pool2d(x, k, s, p, d, ceil)
    rout, ridx = ref_max_pool(x, k, s, p, d, ceil)
    np.testing.assert_array_equal(out, rout)
    np.testing.assert_array_equal(idx, ridx)
    assert out.dtype == dtype and idx.dtype == np.int64
    dy = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    dx = nk.max_pool2d_backward(dy, idx, x.shape, k, s, p, d, ceil)
    np.testing.assert_allclose(dx, ref_max_pool_backward(dy, idx, x.shape), **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", MAX_CASES, ids=str)
def test_max_pool2d_against_torch(case, dtype):
    torch = pytest.importorskip("torch")
    H, W, k, s, p, d, ceil = case
    x = np.random.default_rng(2).standard_normal((2, 3, H, W)).astype(dtype)
    x[0, 0, :2, :2] = 0.5  # a tie
    tx = torch.tensor(x, requires_grad=True)
    tout, tidx = torch.nn.functional.max_pool2d(tx, k, s, p, d, ceil, return_indices=True)
    dy = np.random.default_rng(3).standard_normal(tuple(tout.shape)).astype(dtype)
    tout.backward(torch.tensor(dy))
    out, idx = nk.max_pool2d(x, k, s, p, d, ceil)
    np.testing.assert_array_equal(out, tout.detach().numpy())
    np.testing.assert_array_equal(idx, tidx.numpy())
    dx = nk.max_pool2d_backward(dy, idx, x.shape, k, s, p, d, ceil)
    np.testing.assert_allclose(dx, tx.grad.numpy(), **_tol(dtype))


def test_max_pool2d_ties_nan_inf():
    torch = pytest.importorskip("torch")
    x = np.zeros((1, 4, 6, 6), np.float32)
    x[0, 1] = -np.inf
    x[0, 2, 1, 1] = np.nan
    x[0, 2, 4, 4] = np.nan
    x[0, 2, 4, 5] = np.nan
    x[0, 3] = np.arange(36).reshape(6, 6) % 3
    for args in [(2, 2, 0), (3, 2, 1), (3, 1, 1)]:
        out, idx = nk.max_pool2d(x, *args)
        tout, tidx = torch.nn.functional.max_pool2d(torch.tensor(x), *args, return_indices=True)
        np.testing.assert_array_equal(out, tout.numpy())  # NaNs compare equal here
        np.testing.assert_array_equal(idx, tidx.numpy())
    out, idx = nk.max_pool2d(x, 2)
    assert idx[0, 0, 0, 0] == 0  # all equal: the first


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("include_pad", [True, False])
@pytest.mark.parametrize("case", AVG_CASES, ids=str)
def test_avg_pool2d_against_numpy_and_torch(case, include_pad, dtype):
    H, W, k, s, p, ceil = case
    x = np.random.default_rng(0).standard_normal((2, 3, H, W)).astype(dtype)
    for divisor in (None, 5):
        out = nk.avg_pool2d(x, k, s, p, ceil, include_pad, divisor)
        ref, mats = ref_avg_pool(x, k, s, p, ceil, include_pad, divisor)
        np.testing.assert_allclose(out, ref, **_tol(dtype))
        dy = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
        dx = nk.avg_pool2d_backward(dy, x.shape, k, s, p, ceil, include_pad, divisor)
        np.testing.assert_allclose(dx, ref_avg_pool_backward(dy, x.shape, mats), **_tol(dtype))
    torch = pytest.importorskip("torch")
    for divisor in (None, 5):
        tx = torch.tensor(x, requires_grad=True)
        tout = torch.nn.functional.avg_pool2d(tx, k, s, p, ceil, include_pad, divisor)
        dy = np.random.default_rng(4).standard_normal(tuple(tout.shape)).astype(dtype)
        tout.backward(torch.tensor(dy))
        np.testing.assert_allclose(nk.avg_pool2d(x, k, s, p, ceil, include_pad, divisor),
                                   tout.detach().numpy(), **_tol(dtype))
        np.testing.assert_allclose(
            nk.avg_pool2d_backward(dy, x.shape, k, s, p, ceil, include_pad, divisor),
            tx.grad.numpy(), **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hw, out_size", [((9, 10), (3, 4)), ((7, 7), 1), ((5, 6), (5, 6)),
                                          ((5, 7), (4, 7)), ((13, 11), (7, None)),
                                          ((3, 4), (6, 8))])
def test_adaptive_avg_pool2d(hw, out_size, dtype):
    x = np.random.default_rng(0).standard_normal((2, 3) + hw).astype(dtype)
    out = nk.adaptive_avg_pool2d(x, out_size)
    oh, ow = out.shape[2:]
    np.testing.assert_allclose(out, ref_adaptive(x, oh, ow), **_tol(dtype))
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x, requires_grad=True)
    tout = torch.nn.functional.adaptive_avg_pool2d(tx, out_size)
    dy = np.random.default_rng(1).standard_normal(tuple(tout.shape)).astype(dtype)
    tout.backward(torch.tensor(dy))
    np.testing.assert_allclose(out, tout.detach().numpy(), **_tol(dtype))
    np.testing.assert_allclose(nk.adaptive_avg_pool2d_backward(dy, x.shape), tx.grad.numpy(),
                               **_tol(dtype))


def test_pool_unbatched_and_zero_batch():
    x = np.random.default_rng(0).standard_normal((3, 8, 8))
    out, idx = nk.max_pool2d(x, 2)
    assert out.shape == idx.shape == (3, 4, 4)
    np.testing.assert_array_equal(out, nk.max_pool2d(x[None], 2)[0][0])
    assert nk.max_pool2d_backward(out, idx, x.shape, 2).shape == x.shape
    assert nk.avg_pool2d(x, 2).shape == (3, 4, 4)
    z = np.zeros((0, 3, 8, 8), np.float32)
    out, idx = nk.max_pool2d(z, 3, 2, 1)
    assert out.shape == (0, 3, 4, 4)
    assert nk.max_pool2d_backward(out, idx, z.shape, 3, 2, 1).shape == z.shape
    assert nk.avg_pool2d(z, 2).shape == (0, 3, 4, 4)
    assert nk.avg_pool2d_backward(np.zeros((0, 3, 4, 4), np.float32), z.shape, 2).shape == z.shape
    assert nk.adaptive_avg_pool2d(z, 3).shape == (0, 3, 3, 3)


@pytest.mark.parametrize("call, match", [
    (lambda x: nk.max_pool2d(x, 3, padding=2), "padding"),
    (lambda x: nk.max_pool2d(x, 2, stride=0), "stride"),
    (lambda x: nk.max_pool2d(x, 0), "kernel_size"),
    (lambda x: nk.max_pool2d(x, 2, dilation=0), "dilation"),
    (lambda x: nk.max_pool2d(x, 9), "too small"),
    (lambda x: nk.avg_pool2d(x, 3, padding=2), "padding"),
    (lambda x: nk.avg_pool2d(x, 2, divisor_override=0), "divisor_override"),
    (lambda x: nk.avg_pool2d(x, 9), "too small"),
    (lambda x: nk.adaptive_avg_pool2d(x, 0), "output_size"),
    (lambda x: nk.max_pool2d(x[0, 0], 2), "4-D"),
    (lambda x: nk.max_pool2d_backward(np.ones((1, 2, 4, 4)), np.full((1, 2, 4, 4), 99),
                                      x.shape, 2), "indices"),
    (lambda x: nk.max_pool2d_backward(np.ones((1, 2, 3, 3)), np.zeros((1, 2, 3, 3)),
                                      x.shape, 2), "grad_out"),
])
def test_pool_bad_arguments(call, match):
    x = np.ones((1, 2, 8, 8))
    with pytest.raises(ValueError, match=match):
        call(x)
    with pytest.raises(TypeError):
        nk.max_pool2d(x.astype(np.int32), 2)


# ------------------------------------------------- CUDA kernels vs the CPU kernels
# the (hw, out_size) table of test_adaptive_avg_pool2d
ADAPTIVE_CASES = [((9, 10), (3, 4)), ((7, 7), 1), ((5, 6), (5, 6)), ((5, 7), (4, 7)),
                  ((13, 11), (7, None)), ((3, 4), (6, 8))]
GPU_TOL = dict(rtol=1e-5, atol=1e-5)


def _on_gpu(*arrays):
    import cupy

    return [cupy.asarray(a) for a in arrays]


def _host(a):
    import cupy

    assert isinstance(a, cupy.ndarray), type(a)
    return cupy.asnumpy(a)


def _pool_input(H, W, seed=0):
    x = np.random.default_rng(seed).standard_normal((2, 3, H, W)).astype(np.float32)
    x[0, 0, :2, :2] = 0.5  # a tie
    x[1, 2, -1, -1] = np.nan
    return x


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("case", MAX_CASES, ids=str)
def test_cuda_max_pool2d_matches_cpu(case):
    H, W, k, s, p, d, ceil = case
    x = _pool_input(H, W)
    out, idx = nk.max_pool2d(x, k, s, p, d, ceil)
    (gx,) = _on_gpu(x)
    gout, gidx = nk.max_pool2d(gx, k, s, p, d, ceil)
    assert gidx.dtype == np.int64
    np.testing.assert_array_equal(_host(gout), out)  # NaNs compare equal here
    np.testing.assert_array_equal(_host(gidx), idx)
    dy = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    (gdy,) = _on_gpu(dy)
    dx = nk.max_pool2d_backward(gdy, gidx, x.shape, k, s, p, d, ceil)
    np.testing.assert_allclose(_host(dx), nk.max_pool2d_backward(dy, idx, x.shape, k, s, p, d,
                                                                 ceil), **GPU_TOL)
    # a gather, not atomics: bitwise repeatable
    again = nk.max_pool2d_backward(gdy, gidx, x.shape, k, s, p, d, ceil)
    np.testing.assert_array_equal(_host(again), _host(dx))


@pytest.mark.cuda
@requires_cuda
def test_cuda_max_pool2d_ties_nan_inf():
    x = np.zeros((1, 4, 6, 6), np.float32)
    x[0, 1] = -np.inf
    x[0, 2, 1, 1] = np.nan
    x[0, 2, 4, 4] = np.nan
    x[0, 2, 4, 5] = np.nan
    x[0, 3] = np.arange(36).reshape(6, 6) % 3
    (gx,) = _on_gpu(x)
    for args in [(2, 2, 0), (3, 2, 1), (3, 1, 1)]:
        out, idx = nk.max_pool2d(x, *args)
        gout, gidx = nk.max_pool2d(gx, *args)
        np.testing.assert_array_equal(_host(gout), out)
        np.testing.assert_array_equal(_host(gidx), idx)
    assert int(nk.max_pool2d(gx, 2)[1][0, 0, 0, 0]) == 0  # all equal: the first


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("include_pad", [True, False])
@pytest.mark.parametrize("case", AVG_CASES, ids=str)
def test_cuda_avg_pool2d_matches_cpu(case, include_pad):
    H, W, k, s, p, ceil = case
    x = np.random.default_rng(0).standard_normal((2, 3, H, W)).astype(np.float32)
    (gx,) = _on_gpu(x)
    for divisor in (None, 5):
        out = nk.avg_pool2d(x, k, s, p, ceil, include_pad, divisor)
        np.testing.assert_allclose(_host(nk.avg_pool2d(gx, k, s, p, ceil, include_pad, divisor)),
                                   out, **GPU_TOL)
        dy = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
        (gdy,) = _on_gpu(dy)
        np.testing.assert_allclose(
            _host(nk.avg_pool2d_backward(gdy, x.shape, k, s, p, ceil, include_pad, divisor)),
            nk.avg_pool2d_backward(dy, x.shape, k, s, p, ceil, include_pad, divisor), **GPU_TOL)


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("hw, out_size", ADAPTIVE_CASES)
def test_cuda_adaptive_avg_pool2d_matches_cpu(hw, out_size):
    x = np.random.default_rng(0).standard_normal((2, 3) + hw).astype(np.float32)
    out = nk.adaptive_avg_pool2d(x, out_size)
    (gx,) = _on_gpu(x)
    np.testing.assert_allclose(_host(nk.adaptive_avg_pool2d(gx, out_size)), out, **GPU_TOL)
    dy = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    (gdy,) = _on_gpu(dy)
    np.testing.assert_allclose(_host(nk.adaptive_avg_pool2d_backward(gdy, x.shape)),
                               nk.adaptive_avg_pool2d_backward(dy, x.shape), **GPU_TOL)


@pytest.mark.cuda
@requires_cuda
def test_cuda_pool_unbatched_zero_batch_and_errors():
    x = np.random.default_rng(0).standard_normal((3, 8, 8)).astype(np.float32)
    (gx,) = _on_gpu(x)
    out, idx = nk.max_pool2d(gx, 2)
    assert out.shape == idx.shape == (3, 4, 4)
    np.testing.assert_array_equal(_host(out), nk.max_pool2d(x, 2)[0])
    assert nk.max_pool2d_backward(out, idx, x.shape, 2).shape == x.shape
    np.testing.assert_allclose(_host(nk.avg_pool2d(gx, 2)), nk.avg_pool2d(x, 2), **GPU_TOL)
    (z,) = _on_gpu(np.zeros((0, 3, 8, 8), np.float32))
    out, idx = nk.max_pool2d(z, 3, 2, 1)
    assert out.shape == (0, 3, 4, 4)
    assert nk.max_pool2d_backward(out, idx, z.shape, 3, 2, 1).shape == z.shape
    assert nk.avg_pool2d_backward(nk.avg_pool2d(z, 2), z.shape, 2).shape == z.shape
    assert nk.adaptive_avg_pool2d(z, 3).shape == (0, 3, 3, 3)
    g1, bad = _on_gpu(np.ones((1, 2, 4, 4), np.float32), np.full((1, 2, 4, 4), 99))
    with pytest.raises(ValueError, match="indices"):  # outside the plane, as on the CPU
        nk.max_pool2d_backward(g1, bad, (1, 2, 8, 8), 2)
    with pytest.raises(ValueError, match="padding"):
        nk.max_pool2d(gx, 3, padding=2)
    with pytest.raises(ValueError, match="divisor_override"):
        nk.avg_pool2d(gx, 2, divisor_override=0)
    with pytest.raises(TypeError, match="float32"):
        nk.max_pool2d(gx.astype(np.float64), 2)


@pytest.mark.cuda
@requires_cuda
def test_cuda_pool_on_a_non_default_stream():
    import cupy

    x = _pool_input(13, 7)
    out, idx = nk.max_pool2d(x, 4, 3, 2, 1, True)
    dy = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    with cupy.cuda.Stream(non_blocking=True) as stream:
        gx, gdy = _on_gpu(x, dy)
        gout, gidx = nk.max_pool2d(gx, 4, 3, 2, 1, True)
        gdx = nk.max_pool2d_backward(gdy, gidx, x.shape, 4, 3, 2, 1, True)
        gavg = nk.avg_pool2d(gx, 3, 2, 1, True, False)
        stream.synchronize()
    np.testing.assert_array_equal(_host(gout), out)
    np.testing.assert_allclose(_host(gdx), nk.max_pool2d_backward(dy, idx, x.shape, 4, 3, 2, 1,
                                                                  True), **GPU_TOL)
    np.testing.assert_allclose(_host(gavg), nk.avg_pool2d(x, 3, 2, 1, True, False), **GPU_TOL)


@pytest.mark.cuda
@requires_cuda
def test_cuda_pool_on_torch_cuda_tensors():
    torch = torch_cuda()
    F = torch.nn.functional
    x = torch.tensor(_pool_input(9, 10)).cuda()
    tout, tidx = F.max_pool2d(x, 3, 2, 1, 1, True, return_indices=True)
    out, idx = nk.max_pool2d(x, 3, 2, 1, 1, True)  # DLPack / __cuda_array_interface__, no copy
    np.testing.assert_array_equal(_host(out), tout.cpu().numpy())
    np.testing.assert_array_equal(_host(idx), tidx.cpu().numpy())
    dy = torch.randn(tout.shape, device="cuda", generator=None)
    np.testing.assert_allclose(_host(nk.max_pool2d_backward(dy, tidx, tuple(x.shape), 3, 2, 1, 1,
                                                            True)),
                               nk.max_pool2d_backward(dy.cpu().numpy(), tidx.cpu().numpy(),
                                                      tuple(x.shape), 3, 2, 1, 1, True),
                               **GPU_TOL)
    np.testing.assert_allclose(_host(nk.avg_pool2d(x, 3, 2, 1, True, False, None)),
                               F.avg_pool2d(x, 3, 2, 1, True, False, None).cpu().numpy(),
                               **GPU_TOL)


# ------------------------------- the GPU glue and pool.cu's index maths, on the CPU
class NumpyPoolKernels:
    """A NumPy port of csrc/cuda/pool.cu standing in for ``loomgrad._cuda``:
    each loop iteration over (oh, ow) or (ih, iw) is one GPU thread with the
    kernel's index maths (vectorised over planes), pointers are the arrays
    themselves. It runs _gpu_pool's glue and the gather backwards here."""

    @staticmethod
    def _first(i, pad, span, stride):  # first_window
        return 0 if i + pad < span else (i + pad - span) // stride + 1

    @staticmethod
    def _end(i, pad, stride, n):  # last_window_end
        return min((i + pad) // stride + 1, n)

    def max_pool2d_forward(self, sizes, k, s, p, d, x, out, idx, stream):
        P, H, W, OH, OW = sizes
        xp, y, ix = x.reshape(P, H * W), out.reshape(P, OH, OW), idx.reshape(P, OH, OW)
        for oh, ow in np.ndindex(OH, OW):
            h0, w0 = oh * s[0] - p[0], ow * s[1] - p[1]
            h1, w1 = min(h0 + (k[0] - 1) * d[0] + 1, H), min(w0 + (k[1] - 1) * d[1] + 1, W)
            h0 += (-h0 + d[0] - 1) // d[0] * d[0] if h0 < 0 else 0
            w0 += (-w0 + d[1] - 1) // d[1] * d[1] if w0 < 0 else 0
            m, mi = np.full(P, -np.inf, x.dtype), np.full(P, h0 * W + w0)
            for ih, iw in itertools.product(range(h0, h1, d[0]), range(w0, w1, d[1])):
                v = xp[:, ih * W + iw]
                take = (v > m) | np.isnan(v)
                m, mi = np.where(take, v, m), np.where(take, ih * W + iw, mi)
            y[:, oh, ow], ix[:, oh, ow] = m, mi

    def max_pool2d_backward(self, sizes, k, s, p, d, dy, idx, dx, bad, stream):
        P, H, W, OH, OW = sizes
        span = ((k[0] - 1) * d[0] + 1, (k[1] - 1) * d[1] + 1)
        g, ix, out = dy.reshape(P, OH, OW), idx.reshape(P, OH, OW), dx.reshape(P, H * W)
        for ih, iw in np.ndindex(H, W):
            acc = np.zeros(P, np.float32)
            for oh, ow in itertools.product(
                    range(self._first(ih, p[0], span[0], s[0]), self._end(ih, p[0], s[0], OH)),
                    range(self._first(iw, p[1], span[1], s[1]), self._end(iw, p[1], s[1], OW))):
                kk = ix[:, oh, ow]
                acc += np.where(kk == ih * W + iw, g[:, oh, ow], np.float32(0))
                bad[0] |= bool(np.any((kk < 0) | (kk >= H * W)))
            out[:, ih * W + iw] = acc

    @staticmethod
    def _avg_window(H, W, k, s, p, include_pad, div_override, oh, ow):
        h0, w0 = oh * s[0] - p[0], ow * s[1] - p[1]
        h1, w1 = min(h0 + k[0], H + p[0]), min(w0 + k[1], W + p[1])
        pool = (h1 - h0) * (w1 - w0)
        h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, H), min(w1, W)
        div = div_override or (pool if include_pad else (h1 - h0) * (w1 - w0))
        return h0, h1, w0, w1, np.float32(div)

    def avg_pool2d_forward(self, sizes, k, s, p, include_pad, div, x, out, stream):
        P, H, W, OH, OW = sizes
        xp, y = x.reshape(P, H, W), out.reshape(P, OH, OW)
        for oh, ow in np.ndindex(OH, OW):
            h0, h1, w0, w1, dv = self._avg_window(H, W, k, s, p, include_pad, div, oh, ow)
            y[:, oh, ow] = xp[:, h0:h1, w0:w1].sum(axis=(1, 2)) / dv if h0 < h1 and w0 < w1 else 0

    def avg_pool2d_backward(self, sizes, k, s, p, include_pad, div, dy, dx, stream):
        P, H, W, OH, OW = sizes
        g, out = dy.reshape(P, OH, OW), dx.reshape(P, H, W)
        for ih, iw in np.ndindex(H, W):
            acc = np.zeros(P, np.float32)
            for oh, ow in itertools.product(
                    range(self._first(ih, p[0], k[0], s[0]), self._end(ih, p[0], s[0], OH)),
                    range(self._first(iw, p[1], k[1], s[1]), self._end(iw, p[1], s[1], OW))):
                h0, h1, w0, w1, dv = self._avg_window(H, W, k, s, p, include_pad, div, oh, ow)
                assert h0 <= ih < h1 and w0 <= iw < w1  # the range holds only covering windows
                acc += g[:, oh, ow] / dv
            out[:, ih, iw] = acc

    def adaptive_avg_pool2d(self, sizes, backward, inp, outp, stream):
        P, H, W, OH, OW = sizes

        def window(o, n_in, n_out):
            return o * n_in // n_out, ((o + 1) * n_in + n_out - 1) // n_out

        if not backward:
            x, y = inp.reshape(P, H, W), outp.reshape(P, OH, OW)
            for oh, ow in np.ndindex(OH, OW):
                (h0, h1), (w0, w1) = window(oh, H, OH), window(ow, W, OW)
                y[:, oh, ow] = x[:, h0:h1, w0:w1].sum(axis=(1, 2)) / np.float32(
                    (h1 - h0) * (w1 - w0))
            return
        g, dx = inp.reshape(P, OH, OW), outp.reshape(P, H, W)
        for ih, iw in np.ndindex(H, W):
            acc = np.zeros(P, np.float32)
            oh_range = range(ih * OH // H, min(((ih + 1) * OH + H - 1) // H, OH))
            ow_range = range(iw * OW // W, min(((iw + 1) * OW + W - 1) // W, OW))
            for oh, ow in np.ndindex(OH, OW):  # every window, to check the kernel's ranges
                (h0, h1), (w0, w1) = window(oh, H, OH), window(ow, W, OW)
                if h0 <= ih < h1 and w0 <= iw < w1:
                    assert oh in oh_range and ow in ow_range
                    acc += g[:, oh, ow] / np.float32((h1 - h0) * (w1 - w0))
            dx[:, ih, iw] = acc


@pytest.mark.parametrize("case", MAX_CASES, ids=str)
def test_gpu_max_pool2d_glue_and_gather_on_numpy(case, monkeypatch):
    from loomgrad.kernels.gpu import pool as gp

    install_numpy_gpu(monkeypatch, NumpyPoolKernels())
    H, W, k, s, p, d, ceil = case
    x = np.random.default_rng(0).standard_normal((2, 3, H, W)).astype(np.float32)
    x[0, 0, :2, :2] = 0.5
    x[1, 2, -1, -1] = np.nan
    out, idx = gp.max_pool2d(x, k, s, p, d, ceil)
    ref, ref_idx = nk.max_pool2d(x, k, s, p, d, ceil)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(idx, ref_idx)
    dy = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    np.testing.assert_allclose(gp.max_pool2d_backward(dy, idx, x.shape, k, s, p, d, ceil),
                               nk.max_pool2d_backward(dy, idx, x.shape, k, s, p, d, ceil),
                               rtol=1e-6, atol=1e-6)
    o3, i3 = gp.max_pool2d(x[1], k, s, p, d, ceil)  # unbatched
    np.testing.assert_array_equal(i3, ref_idx[1])
    assert gp.max_pool2d_backward(dy[1], i3, x[1].shape, k, s, p, d, ceil).shape == x[1].shape


@pytest.mark.parametrize("include_pad", [True, False])
@pytest.mark.parametrize("case", AVG_CASES, ids=str)
def test_gpu_avg_pool2d_glue_and_gather_on_numpy(case, include_pad, monkeypatch):
    from loomgrad.kernels.gpu import pool as gp

    install_numpy_gpu(monkeypatch, NumpyPoolKernels())
    H, W, k, s, p, ceil = case
    x = np.random.default_rng(0).standard_normal((2, 3, H, W)).astype(np.float32)
    for div in (None, 5):
        out = gp.avg_pool2d(x, k, s, p, ceil, include_pad, div)
        np.testing.assert_allclose(out, nk.avg_pool2d(x, k, s, p, ceil, include_pad, div),
                                   rtol=1e-5, atol=1e-6)
        dy = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
        np.testing.assert_allclose(
            gp.avg_pool2d_backward(dy, x.shape, k, s, p, ceil, include_pad, div),
            nk.avg_pool2d_backward(dy, x.shape, k, s, p, ceil, include_pad, div),
            rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("hw, out_size", ADAPTIVE_CASES + [((10, 7), (4, 3))])
def test_gpu_adaptive_avg_pool2d_glue_and_gather_on_numpy(hw, out_size, monkeypatch):
    from loomgrad.kernels.gpu import pool as gp

    install_numpy_gpu(monkeypatch, NumpyPoolKernels())
    x = np.random.default_rng(0).standard_normal((2, 3) + hw).astype(np.float32)
    out = gp.adaptive_avg_pool2d(x, out_size)
    np.testing.assert_allclose(out, nk.adaptive_avg_pool2d(x, out_size), rtol=1e-5, atol=1e-6)
    dy = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    np.testing.assert_allclose(gp.adaptive_avg_pool2d_backward(dy, x.shape),
                               nk.adaptive_avg_pool2d_backward(dy, x.shape), rtol=1e-5, atol=1e-6)


def test_gpu_pool_glue_errors_and_zero_batch_on_numpy(monkeypatch):
    from loomgrad.kernels.gpu import pool as gp

    install_numpy_gpu(monkeypatch, NumpyPoolKernels())
    x = np.ones((1, 2, 8, 8), np.float32)
    for call, match in [(lambda: gp.max_pool2d(x, 3, padding=2), "padding"),
                        (lambda: gp.max_pool2d(x, 9), "too small"),
                        (lambda: gp.avg_pool2d(x, 2, divisor_override=0), "divisor_override"),
                        (lambda: gp.adaptive_avg_pool2d(x, 0), "output_size"),
                        (lambda: gp.max_pool2d(x[0, 0], 2), "4-D"),
                        (lambda: gp.max_pool2d_backward(np.ones((1, 2, 4, 4), np.float32),
                                                        np.full((1, 2, 4, 4), 99), x.shape, 2),
                         "indices lie outside"),
                        (lambda: gp.max_pool2d_backward(np.ones((1, 2, 3, 3), np.float32),
                                                        np.zeros((1, 2, 3, 3)), x.shape, 2),
                         "grad_out")]:
        with pytest.raises(ValueError, match=match):
            call()
    with pytest.raises(TypeError, match="float32"):
        gp.max_pool2d(x.astype(np.float64), 2)
    z = np.zeros((0, 3, 8, 8), np.float32)
    out, idx = gp.max_pool2d(z, 3, 2, 1)
    assert out.shape == idx.shape == (0, 3, 4, 4)
    assert gp.max_pool2d_backward(out, idx, z.shape, 3, 2, 1).shape == z.shape
    assert gp.avg_pool2d_backward(gp.avg_pool2d(z, 2), z.shape, 2).shape == z.shape
    assert gp.adaptive_avg_pool2d(z, 3).shape == (0, 3, 3, 3)
