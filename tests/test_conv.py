"""conv2d kernels (forward, backward-data, backward-weight, bias) against a
plain NumPy reference (one einsum per kernel tap) and against torch's CPU
conv2d + autograd: strides, paddings, dilations, groups, depthwise,
rectangular and 1x1 kernels, kernel = input, prime sizes, lowering tiles,
zero-size batches, float32/float64, and argument errors."""
import numpy as np
import pytest

from loomgrad import kernels as nk
from gpu_doubles import BindingDouble, binding_source, fake_gpu_module
from helpers import requires_cuda

# (N, C, H, W, K, R, S, stride, padding, dilation, groups)
CASES = [
    (2, 3, 7, 9, 4, 3, 3, 1, 1, 1, 1),
    (2, 3, 7, 9, 4, 3, 2, (1, 2), (1, 0), 1, 1),          # rectangular kernel, pair args
    (3, 4, 8, 8, 6, 3, 3, 2, 1, 2, 2),                    # stride + dilation + groups
    (2, 4, 5, 5, 4, 3, 3, 1, 1, 1, 4),                    # depthwise
    (2, 4, 6, 7, 8, 3, 3, 2, 1, 1, 4),                    # depthwise, multiplier 2
    (2, 8, 6, 6, 5, 1, 1, 1, 0, 1, 1),                    # 1x1 stride 1: no lowering
    (2, 8, 7, 6, 5, 1, 1, 2, 0, 1, 1),                    # 1x1 stride 2
    (2, 6, 5, 5, 4, 1, 1, 1, 1, 1, 2),                    # 1x1 padded, grouped
    (1, 2, 5, 5, 3, 5, 5, 1, 0, 1, 1),                    # kernel = input size
    (2, 3, 11, 13, 7, 5, 3, (3, 2), (2, 1), (1, 2), 1),   # primes everywhere
    (1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1),
    (2, 1, 3, 3, 2, 3, 3, 5, 2, 1, 1),                    # stride larger than the output
    (1, 2, 2, 3, 3, 3, 3, 1, 2, 2, 1),                    # more padding than input
    (2, 16, 33, 31, 5, 3, 3, 1, 1, 1, 1),                 # lowered in several tiles (f64)
    # stride 1 takes the direct kernel (csrc/cpu/conv_direct.cpp) on AVX2 CPUs:
    (3, 5, 14, 14, 13, 5, 5, 1, 2, 1, 1),                 # row-start tiles; 13 = 6+6+1 channels
    (2, 7, 9, 30, 9, 3, 3, 1, 1, (2, 3), 1),              # dilations that skip pixels
    (2, 6, 9, 8, 10, 3, 3, 1, 1, 1, 2),                   # groups of 3 -> 5 channels
    (2, 3, 1, 1, 4, 1, 1, 1, 1, 1, 1),                    # 1x1 image, padded: dx pad is -1
    (1, 130, 40, 7, 7, 3, 3, 1, 1, 1, 1),                 # several channel passes and bands
    (1, 3, 4, 5, 2, 4, 5, 1, 0, 1, 1),                    # kernel = image, not square
]
DTYPES = [np.float32, np.float64]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def ref_conv2d(x, w, b, stride, padding, dilation, groups):
    """Direct definition: out[n,k,i,j] = sum_{c,r,s} xpad[n, c, i*sh + r*dh, j*sw + s*dw] w[k,c,r,s]."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    N, C, H, W = x.shape
    K, Cg, R, S = w.shape
    OH = (H + 2 * ph - dh * (R - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (S - 1) - 1) // sw + 1
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((N, K, OH, OW))
    Kg = K // groups
    for g in range(groups):
        xg = xp[:, g * Cg:(g + 1) * Cg]
        wg = w[g * Kg:(g + 1) * Kg].astype(np.float64)
        for r in range(R):
            for s in range(S):
                patch = xg[:, :, r * dh: r * dh + sh * (OH - 1) + 1: sh,
                           s * dw: s * dw + sw * (OW - 1) + 1: sw]
                out[:, g * Kg:(g + 1) * Kg] += np.einsum("ncij,kc->nkij", patch, wg[:, :, r, s])
    if b is not None:
        out += b.astype(np.float64)[None, :, None, None]
    return out


def ref_conv2d_backward(dy, x, w, stride, padding, dilation, groups):
    """The adjoint of ref_conv2d, tap by tap."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    N, C, H, W = x.shape
    K, Cg, R, S = w.shape
    OH, OW = dy.shape[2:]
    dy = dy.astype(np.float64)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp = np.zeros_like(xp)
    dw_ = np.zeros(w.shape)
    Kg = K // groups
    for g in range(groups):
        cs, ks = slice(g * Cg, (g + 1) * Cg), slice(g * Kg, (g + 1) * Kg)
        for r in range(R):
            for s in range(S):
                rows = slice(r * dh, r * dh + sh * (OH - 1) + 1, sh)
                cols = slice(s * dw, s * dw + sw * (OW - 1) + 1, sw)
                dxp[:, cs, rows, cols] += np.einsum("nkij,kc->ncij", dy[:, ks],
                                                    w[ks, :, r, s].astype(np.float64))
                dw_[ks, :, r, s] = np.einsum("nkij,ncij->kc", dy[:, ks], xp[:, cs, rows, cols])
    dx = dxp[:, :, ph:ph + H, pw:pw + W]
    return dx, dw_, dy.sum(axis=(0, 2, 3))


def _tol(dtype, k):
    return dict(rtol=1e-4, atol=1e-4 * np.sqrt(k)) if dtype == np.float32 else \
        dict(rtol=1e-10, atol=1e-10 * np.sqrt(k))


def _make(case, dtype, seed=0):
    N, C, H, W, K, R, S, st, pd, dl, g = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C // g, R, S)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    return x, w, b, dict(stride=st, padding=pd, dilation=dl, groups=g)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_conv2d_against_numpy(case, dtype):
    x, w, b, kw = _make(case, dtype)
    k = w[0].size
    y = nk.conv2d(x, w, b, **kw)
    ref = ref_conv2d(x, w, b, **kw)
    assert y.dtype == dtype and y.shape == ref.shape
    np.testing.assert_allclose(y, ref, **_tol(dtype, k))
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    dx, dw, db = nk.conv2d_backward(dy, x, w, **kw)
    rdx, rdw, rdb = ref_conv2d_backward(dy, x, w, **kw)
    np.testing.assert_allclose(dx, rdx, **_tol(dtype, k))
    np.testing.assert_allclose(dw, rdw, **_tol(dtype, dy[:, 0].size))
    np.testing.assert_allclose(db, rdb, **_tol(dtype, dy[:, 0].size))
    assert dx.dtype == dw.dtype == db.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_conv2d_against_torch(case, dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, w, b, kw = _make(case, dtype, seed=2)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = F.conv2d(tx, tw, tb, **kw)
    dy = np.random.default_rng(3).standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.tensor(dy))
    y = nk.conv2d(x, w, b, **kw)
    dx, dw, db = nk.conv2d_backward(dy, x, w, **kw)
    tol = _tol(dtype, w[0].size * 4)
    np.testing.assert_allclose(y, ty.detach().numpy(), **tol)
    np.testing.assert_allclose(dx, tx.grad.numpy(), **tol)
    np.testing.assert_allclose(dw, tw.grad.numpy(), **_tol(dtype, dy[:, 0].size * 4))
    np.testing.assert_allclose(db, tb.grad.numpy(), **_tol(dtype, dy[:, 0].size * 4))


def test_conv2d_batch_split_matches_whole():
    # Per-image work and per-thread dw accumulators must add up to the same
    # result as one image at a time (also exercises the item-parallel path).
    x, w, b, kw = _make((8, 4, 10, 10, 6, 3, 3, 1, 1, 1, 1), np.float64)
    y = nk.conv2d(x, w, b, **kw)
    parts = np.concatenate([nk.conv2d(x[i:i + 1], w, b, **kw) for i in range(8)])
    np.testing.assert_allclose(y, parts, rtol=1e-13, atol=1e-13)
    dy = np.ones_like(y)
    _, dw, _ = nk.conv2d_backward(dy, x, w, **kw)
    dw_sum = sum(nk.conv2d_backward(dy[i:i + 1], x[i:i + 1], w, **kw)[1] for i in range(8))
    np.testing.assert_allclose(dw, dw_sum, rtol=1e-12, atol=1e-12)


def test_conv2d_options():
    x, w, b, kw = _make((2, 3, 6, 6, 4, 3, 3, 1, 1, 1, 1), np.float64)
    np.testing.assert_allclose(nk.conv2d(x, w, None, **kw), ref_conv2d(x, w, None, **kw),
                               rtol=1e-12, atol=1e-12)
    # unbatched (C, H, W) input, like torch
    np.testing.assert_allclose(nk.conv2d(x[0], w, b, **kw), nk.conv2d(x, w, b, **kw)[0])
    # non-contiguous inputs are copied, not misread
    xs = np.asfortranarray(x)
    np.testing.assert_allclose(nk.conv2d(xs, w, b, **kw), nk.conv2d(x, w, b, **kw))
    dy = np.ones((2, 4, 6, 6))
    dx, dw, db = nk.conv2d_backward(dy, x, w, need=(False, True, False), **kw)
    assert dx is None and db is None and dw.shape == w.shape


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_zero_size(dtype):
    x = np.zeros((0, 3, 5, 5), dtype)
    w = np.ones((4, 3, 3, 3), dtype)
    y = nk.conv2d(x, w, np.ones(4, dtype), padding=1)
    assert y.shape == (0, 4, 5, 5)
    dx, dw, db = nk.conv2d_backward(np.zeros((0, 4, 5, 5), dtype), x, w, padding=1)
    assert dx.shape == (0, 3, 5, 5)
    np.testing.assert_array_equal(dw, 0)
    np.testing.assert_array_equal(db, 0)
    # no output channels
    y = nk.conv2d(np.ones((2, 3, 5, 5), dtype), np.ones((0, 3, 3, 3), dtype))
    assert y.shape == (2, 0, 3, 3)


@pytest.mark.parametrize("kwargs, match", [
    (dict(w_shape=(4, 3, 7, 3)), "larger than the padded input"),
    (dict(stride=0), "stride"),
    (dict(padding=-1), "padding"),
    (dict(dilation=0), "dilation"),
    (dict(groups=2), "groups"),                       # 3 input channels
    (dict(w_shape=(4, 2, 3, 3)), "input channels"),
    (dict(w_shape=(4, 1, 3, 3), groups=3), "output channels"),
    (dict(bias_shape=(5,)), "bias"),
])
def test_conv2d_bad_arguments(kwargs, match):
    x = np.ones((2, 3, 5, 5))
    w = np.ones(kwargs.pop("w_shape", (4, 3, 3, 3)))
    bias = np.ones(kwargs.pop("bias_shape", (w.shape[0],)))
    with pytest.raises(ValueError, match=match):
        nk.conv2d(x, w, bias, **kwargs)


def test_conv2d_bad_types_and_shapes():
    x, w = np.ones((2, 3, 5, 5)), np.ones((4, 3, 3, 3))
    with pytest.raises(TypeError, match="weight"):
        nk.conv2d(x, w.astype(np.float32))
    with pytest.raises(TypeError, match="x"):
        nk.conv2d(x.astype(np.int64), w)
    with pytest.raises(ValueError, match="4-D"):
        nk.conv2d(np.ones((3, 5)), w)
    with pytest.raises(TypeError, match="stride"):
        nk.conv2d(x, w, stride=1.5)
    with pytest.raises(ValueError, match="stride"):
        nk.conv2d(x, w, stride=(1, 2, 3))
    with pytest.raises(ValueError, match="grad_out"):
        nk.conv2d_backward(np.ones((2, 4, 4, 4)), x, w)


def test_conv2d_thread_count_invariant():
    import loomgrad as lg
    x, w, b, kw = _make((6, 8, 12, 12, 8, 3, 3, 1, 1, 1, 1), np.float64)
    dy = np.random.default_rng(5).standard_normal((6, 8, 12, 12))
    old = lg._cpu.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            lg._cpu.set_num_threads(n)
            results.append((nk.conv2d(x, w, b, **kw),) + nk.conv2d_backward(dy, x, w, **kw))
    finally:
        lg._cpu.set_num_threads(old)
    for other in results[1:]:
        for a, c in zip(results[0], other):
            np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_direct_path_bitwise_thread_invariant(dtype):
    # The stride-1 direct kernel gives each output to one tile over the same
    # taps in the same order, whatever the thread count: bitwise equal.
    import loomgrad as lg
    x, w, b, kw = _make((5, 20, 15, 13, 11, 3, 3, 1, 1, 1, 1), dtype)
    dy = np.random.default_rng(6).standard_normal((5, 11, 15, 13)).astype(dtype)
    old = lg._cpu.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            lg._cpu.set_num_threads(n)
            y = nk.conv2d(x, w, b, **kw)
            dx = nk.conv2d_backward(dy, x, w, need=(True, False, False), **kw)[0]
            results.append((y, dx))
    finally:
        lg._cpu.set_num_threads(old)
    for other in results[1:]:
        for a, c in zip(results[0], other):
            np.testing.assert_array_equal(a, c)
    np.testing.assert_allclose(results[0][0], ref_conv2d(x, w, b, **kw), **_tol(dtype, 180))


def test_public_raw_api_exports_the_cnn_kernels():
    import loomgrad as lg
    for name in nk.__all__:
        assert getattr(lg.kernels, name) is getattr(nk, name)
        assert getattr(nk, name).__doc__


# ---------------------------------------------------------------- CUDA
# Each CUDA kernel against the CPU kernel (float32 vs float32) on the CPU
# tests' table plus shapes that reach every GEMM row tile (32/64/128 rows),
# split-K backward-weight (long N*OH*OW reductions) and the direct depthwise
# kernels. Skipped without a GPU.


CUDA_CASES = CASES + [
    (4, 64, 14, 14, 96, 3, 3, 1, 1, 1, 1),                # 128-row tiles, 2 row tiles
    (2, 48, 9, 11, 40, 3, 3, 2, 1, 1, 1),                 # 64-row tiles, stride 2
    (8, 16, 32, 32, 24, 3, 3, 1, 1, 1, 1),                # split-K dw (8192-long reduction)
    (3, 32, 12, 10, 64, 3, 5, (2, 1), (1, 2), (2, 1), 2),  # grouped, mixed parameters
    (2, 32, 20, 20, 32, 3, 3, 1, 1, 1, 32),               # depthwise, many channels
    (2, 130, 7, 7, 200, 1, 1, 1, 0, 1, 1),                # 1x1, ragged tiles
    (16, 3, 28, 28, 8, 5, 5, 1, 2, 1, 1),                 # LeNet-like, C=3 < tile
    (2, 12, 9, 8, 6, 1, 1, 2, 1, 1, 1),                   # strided 1x1: dx scattered on the grid
    (3, 16, 7, 10, 8, 1, 1, (3, 2), (0, 1), 1, 2),        # strided 1x1, grouped, padded
    (2, 70, 6, 6, 36, 1, 1, 2, 0, 1, 1),                  # strided 1x1, 128-row tiles
]


def _cuda_results(case, seed=0, to_gpu=None, stream=None):
    """(CPU results, GPU results) of forward and all three gradients."""
    import cupy

    to_gpu = to_gpu or cupy.asarray
    x, w, b, kw = _make(case, np.float32, seed)
    y = nk.conv2d(x, w, b, **kw)
    dy = np.random.default_rng(seed + 1).standard_normal(y.shape).astype(np.float32)
    cpu = (y,) + nk.conv2d_backward(dy, x, w, **kw)
    gx, gw, gb, gdy = (to_gpu(a) for a in (x, w, b, dy))
    with (stream or cupy.cuda.get_current_stream()):
        gpu = (nk.conv2d(gx, gw, gb, **kw),) + nk.conv2d_backward(gdy, gx, gw, **kw)
    if stream is not None:
        stream.synchronize()
    return cpu, tuple(cupy.asnumpy(cupy.asarray(a)) for a in gpu), (x, w, dy)


def _assert_cuda_close(cpu, gpu, x, w, dy):
    K, Cg, R, S = w.shape
    lengths = (Cg * R * S, K * R * S, dy[:, 0].size, dy[:, 0].size)  # y, dx, dw, db
    for name, c, g, k in zip(("y", "dx", "dw", "db"), cpu, gpu, lengths):
        assert g.shape == c.shape and g.dtype == np.float32, name
        np.testing.assert_allclose(g, c, rtol=1e-4, atol=1e-4 * np.sqrt(max(k, 1)),
                                   err_msg=name)


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("case", CUDA_CASES, ids=str)
def test_cuda_conv2d_matches_cpu(case):
    cpu, gpu, (x, w, dy) = _cuda_results(case)
    _assert_cuda_close(cpu, gpu, x, w, dy)


@pytest.mark.cuda
@requires_cuda
def test_cuda_conv2d_deterministic_and_need_flags():
    import cupy

    x, w, b, kw = _make((8, 16, 32, 32, 24, 3, 3, 1, 1, 1, 1), np.float32)
    gx, gw = cupy.asarray(x), cupy.asarray(w)
    gdy = cupy.asarray(np.random.default_rng(7).standard_normal((8, 24, 32, 32)), np.float32)
    first = nk.conv2d_backward(gdy, gx, gw, **kw)
    again = nk.conv2d_backward(gdy, gx, gw, **kw)
    for a, c in zip(first, again):  # split-K sums in a fixed order: bitwise equal
        np.testing.assert_array_equal(cupy.asnumpy(a), cupy.asnumpy(c))
    dx, dw, db = nk.conv2d_backward(gdy, gx, gw, need=(False, True, False), **kw)
    assert dx is None and db is None
    np.testing.assert_array_equal(cupy.asnumpy(dw), cupy.asnumpy(first[1]))
    # unbatched (C, H, W), like the CPU kernel
    y3 = nk.conv2d(gx[0], gw, cupy.asarray(b), **kw)
    assert y3.shape == (24, 32, 32)
    np.testing.assert_allclose(cupy.asnumpy(y3), nk.conv2d(x[0], w, b, **kw), rtol=1e-4,
                               atol=1e-3)


@pytest.mark.cuda
@requires_cuda
def test_cuda_conv2d_on_non_default_stream():
    import cupy

    stream = cupy.cuda.Stream(non_blocking=True)
    case = (4, 64, 14, 14, 96, 3, 3, 1, 1, 1, 1)
    cpu, gpu, rest = _cuda_results(case, seed=3, stream=stream)
    _assert_cuda_close(cpu, gpu, *rest)


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("case", [(2, 16, 9, 9, 32, 3, 3, 1, 1, 1, 1),
                                  (2, 8, 9, 9, 8, 3, 3, 2, 1, 1, 8)], ids=str)
def test_cuda_conv2d_on_torch_tensors(case):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch without CUDA")
    cpu, gpu, rest = _cuda_results(case, seed=4, to_gpu=lambda a: torch.from_numpy(a).cuda())
    _assert_cuda_close(cpu, gpu, *rest)


@pytest.mark.cuda
@requires_cuda
def test_cuda_conv2d_zero_size_and_errors():
    import cupy

    x = cupy.zeros((0, 3, 5, 5), np.float32)
    w = cupy.ones((4, 3, 3, 3), np.float32)
    y = nk.conv2d(x, w, cupy.ones(4, np.float32), padding=1)
    assert y.shape == (0, 4, 5, 5)
    dx, dw, db = nk.conv2d_backward(cupy.zeros((0, 4, 5, 5), np.float32), x, w, padding=1)
    assert dx.shape == (0, 3, 5, 5)
    np.testing.assert_array_equal(cupy.asnumpy(dw), 0)
    np.testing.assert_array_equal(cupy.asnumpy(db), 0)
    y = nk.conv2d(cupy.ones((2, 3, 5, 5), np.float32), cupy.ones((0, 3, 3, 3), np.float32))
    assert y.shape == (2, 0, 3, 3)
    # no input channels: the output is the bias
    y = nk.conv2d(cupy.ones((2, 0, 5, 5), np.float32), cupy.ones((4, 0, 3, 3), np.float32),
                  cupy.arange(4, dtype=np.float32))
    np.testing.assert_array_equal(cupy.asnumpy(y), np.arange(4.0)[None, :, None, None] +
                                  np.zeros((2, 4, 3, 3)))

    x, w = cupy.ones((2, 3, 5, 5), np.float32), cupy.ones((4, 3, 3, 3), np.float32)
    with pytest.raises(TypeError, match="float32"):
        nk.conv2d(x.astype(np.float64), w)
    with pytest.raises(TypeError, match="weight"):
        nk.conv2d(x, w.astype(np.float64))
    with pytest.raises(TypeError, match="NumPy"):
        nk.conv2d(x, cupy.asnumpy(w))
    with pytest.raises(ValueError, match="bias"):
        nk.conv2d(x, w, cupy.ones(5, np.float32))
    with pytest.raises(ValueError, match="groups"):
        nk.conv2d(x, w, groups=2)
    with pytest.raises(ValueError, match="larger than the padded input"):
        nk.conv2d(x, cupy.ones((4, 3, 7, 3), np.float32))
    with pytest.raises(ValueError, match="grad_out"):
        nk.conv2d_backward(cupy.ones((2, 4, 4, 4), np.float32), x, w)
    with pytest.raises(TypeError, match="stride"):
        nk.conv2d(x, w, stride=1.5)


# ---------------------------------------------------------------- GPU glue, CPU double
# _gpu_conv wired to a stand-in for loomgrad._cuda that takes the arguments in
# the order csrc/bindings/cuda_conv.cpp declares them and runs the CPU
# kernels: checks the glue (argument order, shapes, allocations, workspace,
# need flags, unbatched input, errors) where no GPU is at hand.
@pytest.fixture
def conv_glue_on_cpu(monkeypatch):
    from loomgrad import _cpu
    from loomgrad.kernels.gpu import conv as _gpu_conv

    class ConvDouble(BindingDouble):
        workspace = 7  # floats the fake backward-weight asks for

        def _geo(self, fn, args, x_name):
            a, arr = self._args(fn, args)
            assert tuple(a["w_shape"]) == arr("weight" if "weight" in a else "grad_weight").shape
            assert tuple(a["x_shape"]) == arr(x_name).shape
            return a, arr, (a["stride"], a["padding"], a["dilation"], a["groups"])

        def conv2d_forward(self, *args):
            a, arr, geo = self._geo("conv2d_forward", args, "x")
            _cpu.conv2d_forward(arr("x"), arr("weight"), arr("bias"), arr("out"), *geo)

        def conv2d_backward_data(self, *args):
            a, arr, geo = self._geo("conv2d_backward_data", args, "grad_input")
            _cpu.conv2d_backward_data(arr("grad_out"), arr("weight"), arr("grad_input"), *geo)

        def conv2d_backward_weight_workspace(self, *args):
            assert len(args) == len(self.order["conv2d_backward_weight_workspace"])
            return self.workspace

        def conv2d_backward_weight(self, *args):
            a, arr, geo = self._geo("conv2d_backward_weight", args, "x")
            assert arr("workspace").shape == (a["workspace_elems"],) == (self.workspace,)
            _cpu.conv2d_backward_weight(arr("grad_out"), arr("x"), arr("grad_weight"), *geo)

        def conv2d_backward_bias(self, *args):
            a, arr = self._args("conv2d_backward_bias", args)
            assert tuple(a["grad_out_shape"]) == arr("grad_out").shape
            _cpu.conv2d_backward_bias(arr("grad_out"), arr("grad_bias"))

    double = ConvDouble(binding_source("cuda_conv.cpp"))
    fake = fake_gpu_module(double)
    monkeypatch.setattr(_gpu_conv, "arrays", fake)
    return _gpu_conv


@pytest.mark.parametrize("case", CASES, ids=str)
def test_gpu_glue_matches_cpu_kernels(conv_glue_on_cpu, case):
    G = conv_glue_on_cpu
    x, w, b, kw = _make(case, np.float32)
    for bias in (b, None):
        np.testing.assert_array_equal(G.conv2d(x, w, bias, **kw), nk.conv2d(x, w, bias, **kw))
    np.testing.assert_array_equal(G.conv2d(x[0], w, b, **kw), nk.conv2d(x[0], w, b, **kw))
    dy = np.random.default_rng(1).standard_normal(nk.conv2d(x, w, **kw).shape).astype(np.float32)
    want = nk.conv2d_backward(dy, x, w, **kw)
    for need in ((True, True, True), (False, True, False), (True, False, True)):
        got = G.conv2d_backward(dy, x, w, need=need, **kw)
        for n, g, c in zip(need, got, want):
            assert (g is None) == (not n)
            if n:
                np.testing.assert_array_equal(g, c)
    dx, dw, db = G.conv2d_backward(dy[0], x[0], w, **kw)  # unbatched
    assert dx.shape == x[0].shape
    np.testing.assert_array_equal(dw, nk.conv2d_backward(dy[:1], x[:1], w, **kw)[1])


def test_gpu_glue_zero_size_and_errors(conv_glue_on_cpu):
    G = conv_glue_on_cpu
    f = np.float32
    x, w = np.zeros((0, 3, 5, 5), f), np.ones((4, 3, 3, 3), f)
    assert G.conv2d(x, w, np.ones(4, f), padding=1).shape == (0, 4, 5, 5)
    dx, dw, db = G.conv2d_backward(np.zeros((0, 4, 5, 5), f), x, w, padding=1)
    assert dx.shape == (0, 3, 5, 5)
    np.testing.assert_array_equal(dw, 0)
    np.testing.assert_array_equal(db, 0)
    x = np.ones((2, 3, 5, 5), f)
    with pytest.raises(TypeError, match="float32"):
        G.conv2d(x.astype(np.float64), w)
    with pytest.raises(ValueError, match="bias"):
        G.conv2d(x, w, np.ones(5, f))
    with pytest.raises(ValueError, match="groups"):
        G.conv2d(x, w, groups=2)
    with pytest.raises(ValueError, match="4-D"):
        G.conv2d(np.ones((3, 5), f), w)
    with pytest.raises(ValueError, match="grad_out"):
        G.conv2d_backward(np.ones((2, 4, 4, 4), f), x, w)
    with pytest.raises(ValueError, match="grad_out"):
        G.conv2d_backward(np.ones((2, 5, 3, 3), f), x, w, need=(False, False, True))
    with pytest.raises(TypeError, match="stride"):
        G.conv2d(x, w, stride=1.5)
