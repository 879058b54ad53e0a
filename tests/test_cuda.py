"""The CUDA module: import never fails without a GPU, and, on a GPU, each
CUDA kernel matches the CPU kernel. GPU tests carry @pytest.mark.cuda and
skip cleanly here."""
import numpy as np
import pytest

import loomgrad as lg
from helpers import requires_cuda, torch_cuda



def test_cuda_probe_never_raises():
    assert isinstance(lg.cuda.is_available(), bool)
    if not lg.cuda.is_available():
        assert lg.cuda.unavailable_reason()
        assert lg.cuda.device_count() == 0 or "CuPy" in lg.cuda.unavailable_reason()


def test_cuda_module_build_info():
    info = lg.cuda.build_info()
    if info is None:
        pytest.skip("loomgrad was built without the CUDA module")
    archs = info["architectures"].split(",")
    assert any(a.startswith("90") for a in archs), archs
    assert info["runtime"] not in ("", "unknown")


def test_gpu_array_without_cuda_is_a_clear_error():
    if lg.cuda.is_available():
        pytest.skip("CUDA is available")

    class FakeGpuArray:  # anything with __cuda_array_interface__ routes to CUDA
        dtype = np.dtype(np.float32)
        shape = (2, 2)
        ndim = 2
        __cuda_array_interface__ = {}

    with pytest.raises(RuntimeError, match="CUDA is not available"):
        lg.kernels.gemm(FakeGpuArray(), FakeGpuArray())


@pytest.mark.cuda
@requires_cuda
def test_cuda_sgemm_on_non_default_stream():
    import cupy

    rng = np.random.default_rng(1)
    a = rng.standard_normal((200, 100)).astype(np.float32)
    b = rng.standard_normal((100, 150)).astype(np.float32)
    s = cupy.cuda.Stream(non_blocking=True)
    with s:
        got = lg.kernels.gemm(cupy.asarray(a), cupy.asarray(b))
    s.synchronize()
    np.testing.assert_allclose(cupy.asnumpy(got), a.astype(np.float64) @ b, rtol=1e-4, atol=1e-3)


# ---------------------------------------------------------------- SGEMM on the GPU
# The same shape tables as the CPU GEMM tests, plus shapes that reach the
# GPU kernels' own edges: one 64x64/128x128 tile and one more, the 128x128
# kernel (>= 132 tiles) with ragged edges, GEMV rows/columns, tall-skinny,
# K not a multiple of the k tile (8/16) or of 4 (no float4 loads).
from test_gemm import EDGE_SHAPES, ZERO_SHAPES, reference  # noqa: E402

GPU_SHAPES = EDGE_SHAPES + [
    (64, 64, 16), (65, 63, 17), (128, 128, 8), (129, 127, 9), (1, 4096, 96), (4096, 1, 96),
    (3000, 7, 70), (1700, 1500, 37), (64, 1024, 313), (64, 64, 64), (300, 200, 517),
    (64, 1024, 3136), (33, 65, 5000), (7, 9, 100003),  # split-K
]
TRANSPOSES = [(False, False), (False, True), (True, False), (True, True)]
ALPHA_BETA = [(1.0, 0.0), (-0.75, 0.5), (2.0, 1.0)]


def _gpu_operands(rng, M, N, K, ta, tb):
    a = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
    b = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
    return a, b


def assert_matches_cpu(got, a, b, ta=False, tb=False, alpha=1.0, beta=0.0, c=None, slack=2.0):
    """GPU result vs the CPU kernel on the same float32 data: both lie within the
    float32 error bound of the exact product, so they differ by at most twice it."""
    import cupy

    got = cupy.asnumpy(got)
    want = lg.kernels.gemm(a, b, ta, tb, alpha=alpha, beta=beta,
                           out=None if c is None else c.copy())
    _, bound = reference(a, b, ta, tb, alpha, beta, c)
    assert got.shape == want.shape and got.dtype == np.float32
    err = np.abs(got.astype(np.float64) - want)
    assert np.all(err <= slack * bound), f"max excess {np.max(err - slack * bound)}"


@pytest.fixture
def tf32_flag():
    """lg.backends.cuda.matmul.allow_tf32, restored after the test."""
    from loomgrad import backends

    saved = backends.cuda.matmul.allow_tf32
    yield backends.cuda.matmul
    backends.cuda.matmul.allow_tf32 = saved


def test_backends_allow_tf32_flag(tf32_flag):
    from loomgrad import backends

    assert lg.backends is backends
    assert backends.cuda.matmul.allow_tf32 is False  # the default, as in torch
    backends.cuda.matmul.allow_tf32 = True
    assert lg.backends.cuda.matmul.allow_tf32 is True
    with pytest.raises(AttributeError):
        backends.cuda.matmul.allow_tf23 = True  # a typo is not silently ignored
    assert "allow_tf32=True" in repr(backends.cuda)


class _FakeGpuArray:
    """Routes to the CUDA path (it has __cuda_array_interface__), nothing more."""
    dtype = np.dtype(np.float32)
    shape = (2, 2)
    ndim = 2
    __cuda_array_interface__ = {}


class _FakeDlpackGpuArray:
    """Only DLPack, on a CUDA device (device type 2), like some JAX arrays."""
    def __dlpack_device__(self):
        return (2, 0)


@pytest.mark.parametrize("flag", [False, True])
def test_gemm_passes_tf32_flag_per_call(monkeypatch, tf32_flag, flag):
    calls = []
    from loomgrad.kernels.gpu import gemm as gpu_gemm
    monkeypatch.setattr(gpu_gemm, "gemm", lambda *args, **kw: calls.append((args, kw)) or "ok")
    tf32_flag.allow_tf32 = flag
    x = _FakeGpuArray()
    assert lg.kernels.gemm(x, x, True, False, 0.5, 2.0) == "ok"
    (args, kw), = calls
    assert args == (x, x, True, False, 0.5, 2.0, None) and kw == {"allow_tf32": flag}


def test_gemm_routes_any_gpu_array_to_cuda():
    if lg.cuda.is_available():
        pytest.skip("CUDA is available")
    host = np.ones((2, 2), np.float32)
    for a, b in [(_FakeDlpackGpuArray(), _FakeDlpackGpuArray()), (_FakeGpuArray(), _FakeGpuArray())]:
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            lg.kernels.gemm(a, b)
    # a host array beside a GPU array is a mix of kinds (issue 15): a TypeError naming both
    for a, b in [(host, _FakeGpuArray()), (_FakeGpuArray(), host)]:
        with pytest.raises(TypeError, match="numpy array"):
            lg.kernels.gemm(a, b)


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("alpha,beta", ALPHA_BETA)
@pytest.mark.parametrize("ta,tb", TRANSPOSES)
@pytest.mark.parametrize("shape", GPU_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_cuda_gemm_edge_shapes_match_cpu(shape, ta, tb, alpha, beta):
    import cupy

    rng = np.random.default_rng(hash((shape, ta, tb)) % 2**32)
    M, N, K = shape
    a, b = _gpu_operands(rng, M, N, K, ta, tb)
    c = rng.standard_normal((M, N)).astype(np.float32)
    out = cupy.asarray(c)
    got = lg.kernels.gemm(cupy.asarray(a), cupy.asarray(b), ta, tb, alpha, beta, out=out)
    assert got is out
    assert_matches_cpu(got, a, b, ta, tb, alpha, beta, c)
    assert_matches_cpu(lg.kernels.gemm(cupy.asarray(a), cupy.asarray(b), ta, tb), a, b, ta, tb)


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("shape", ZERO_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_cuda_gemm_zero_sizes(shape):
    import cupy

    M, N, K = shape
    a, b = cupy.ones((M, K), cupy.float32), cupy.ones((K, N), cupy.float32)
    got = lg.kernels.gemm(a, b)
    assert got.shape == (M, N)
    np.testing.assert_array_equal(cupy.asnumpy(got), 0.0)
    c = cupy.full((M, N), 3.0, cupy.float32)
    assert lg.kernels.gemm(a, b, beta=2.0, out=c) is c
    np.testing.assert_array_equal(cupy.asnumpy(c), 6.0)  # K == 0: beta * C


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("ta,tb", TRANSPOSES)
@pytest.mark.parametrize("shape", [(5, 7, 9), (70, 300, 260), (1, 50, 40), (50, 1, 40),
                                   (1700, 1500, 37), (3, 40, 2000)])
def test_cuda_gemm_beta_zero_ignores_nan_in_out(shape, ta, tb):
    import cupy

    rng = np.random.default_rng(2)
    M, N, K = shape
    a, b = _gpu_operands(rng, M, N, K, ta, tb)
    out = cupy.full((M, N), np.nan, cupy.float32)
    lg.kernels.gemm(cupy.asarray(a), cupy.asarray(b), ta, tb, alpha=2.0, beta=0.0, out=out)
    assert bool(cupy.isfinite(out).all())
    assert_matches_cpu(out, a, b, ta, tb, alpha=2.0)


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("tf32", [False, True])
def test_cuda_gemm_split_k_is_used_and_deterministic(tf32, tf32_flag):
    """Small outputs with a long K are split over k ranges (partials summed
    in a fixed order): same bits on every run, CPU-accurate."""
    import cupy

    mod = lg.cuda._probe()[0]
    assert mod.sgemm_split_k_count(4096, 4096, 4096) == 1
    assert mod.sgemm_split_k_count(64, 1024, 64) == 1
    if cupy.cuda.Device().attributes["MultiProcessorCount"] >= 32:
        assert mod.sgemm_split_k_count(64, 1024, 3136) > 1
    tf32_flag.allow_tf32 = tf32
    rng = np.random.default_rng(10)
    a, b = _gpu_operands(rng, 64, 1024, 3136, True, False)
    ga, gb = cupy.asarray(a), cupy.asarray(b)
    first = lg.kernels.gemm(ga, gb, True, False)
    for _ in range(3):
        assert cupy.array_equal(lg.kernels.gemm(ga, gb, True, False), first)
    if not tf32:
        assert_matches_cpu(first, a, b, True, False)


@pytest.mark.cuda
@requires_cuda
def test_cuda_gemm_alpha_zero_does_not_read_a_or_b():
    import cupy

    a = cupy.full((4, 3), np.nan, cupy.float32)
    c = cupy.ones((4, 5), cupy.float32)
    lg.kernels.gemm(a, cupy.ones((3, 5), cupy.float32), alpha=0.0, beta=3.0, out=c)
    np.testing.assert_array_equal(cupy.asnumpy(c), 3.0)


def _misaligned(cupy, x):
    """x copied to a C-contiguous GPU array 4 bytes past a 16-byte boundary."""
    buf = cupy.empty(x.size + 1, cupy.float32)
    view = buf[1:].reshape(x.shape)
    view[...] = cupy.asarray(x)
    assert view.flags.c_contiguous and view.data.ptr % 16 == 4
    return view


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("ta,tb", TRANSPOSES)
@pytest.mark.parametrize("shape", [(37, 41, 43), (128, 128, 64), (300, 200, 129), (1700, 1500, 40)])
def test_cuda_gemm_misaligned_views_use_scalar_loads(shape, ta, tb):
    import cupy

    rng = np.random.default_rng(5)
    M, N, K = shape
    a, b = _gpu_operands(rng, M, N, K, ta, tb)
    c = rng.standard_normal((M, N)).astype(np.float32)
    for which in ("a", "b", "out"):
        ga = _misaligned(cupy, a) if which == "a" else cupy.asarray(a)
        gb = _misaligned(cupy, b) if which == "b" else cupy.asarray(b)
        out = _misaligned(cupy, c) if which == "out" else cupy.asarray(c)
        lg.kernels.gemm(ga, gb, ta, tb, alpha=0.5, beta=-1.0, out=out)
        assert_matches_cpu(out, a, b, ta, tb, 0.5, -1.0, c)


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("shapes", [
    ((4, 9, 11), (4, 11, 6)),       # both batched
    ((4, 9, 11), (11, 6)),          # b broadcast (2-D)
    ((1, 9, 11), (4, 11, 6)),       # a broadcast (batch 1)
    ((3, 130, 300), (300, 140)),
    ((16, 1, 64), (16, 64, 40)),    # GEMV per batch entry
    ((2, 700, 64), (1, 64, 1300)),  # enough tiles for the 128x128 kernel
])
@pytest.mark.parametrize("tf32", [False, True])
def test_cuda_gemm_batched_broadcast(shapes, tf32, tf32_flag):
    import cupy

    tf32_flag.allow_tf32 = tf32
    rng = np.random.default_rng(3)
    a = rng.standard_normal(shapes[0]).astype(np.float32)
    b = rng.standard_normal(shapes[1]).astype(np.float32)
    got = cupy.asnumpy(lg.kernels.gemm(cupy.asarray(a), cupy.asarray(b)))
    want = lg.kernels.gemm(a, b)
    assert got.shape == want.shape
    K = a.shape[-1]
    mag = np.matmul(np.abs(a).astype(np.float64), np.abs(b))
    tol = (5e-3 if tf32 else 4 * (K + 2) * np.finfo(np.float32).eps) * mag + 1e-30
    assert np.all(np.abs(got - want) <= tol)
    # transposed a, out= with beta
    at = np.ascontiguousarray(np.swapaxes(a, -1, -2))
    c = rng.standard_normal(want.shape).astype(np.float32)
    out = cupy.asarray(c)
    lg.kernels.gemm(cupy.asarray(at), cupy.asarray(b), True, False, 0.5, -1.0, out=out)
    want = lg.kernels.gemm(at, b, True, False, 0.5, -1.0, out=c.copy())
    assert np.all(np.abs(cupy.asnumpy(out) - want) <= 0.5 * tol + 1e-6 * np.abs(c))


@pytest.mark.cuda
@requires_cuda
def test_cuda_gemm_grid_limits_are_split():
    """More than 65535 batch entries (grid z) and more than 65535 row tiles
    (grid y) are launched in pieces."""
    import cupy

    rng = np.random.default_rng(6)
    a = rng.standard_normal((70000, 3, 5)).astype(np.float32)
    b = rng.standard_normal((70000, 5, 2)).astype(np.float32)
    got = cupy.asnumpy(lg.kernels.gemm(cupy.asarray(a), cupy.asarray(b)))
    np.testing.assert_allclose(got, lg.kernels.gemm(a, b), rtol=1e-5, atol=1e-5)
    M = 65535 * 128 + 5
    a = rng.standard_normal((M, 2)).astype(np.float32)
    b = rng.standard_normal((2, 1)).astype(np.float32)
    got = cupy.asnumpy(lg.kernels.gemm(cupy.asarray(a), cupy.asarray(b)))
    np.testing.assert_allclose(got, lg.kernels.gemm(a, b), rtol=1e-5, atol=1e-5)


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("ta,tb", TRANSPOSES)
@pytest.mark.parametrize("shape", [(1, 1, 1), (127, 65, 33), (300, 200, 517), (1700, 1500, 64),
                                   (1024, 1024, 1024)])
def test_cuda_gemm_tf32(shape, ta, tb, tf32_flag):
    import cupy

    rng = np.random.default_rng(7)
    M, N, K = shape
    a, b = _gpu_operands(rng, M, N, K, ta, tb)
    ga, gb = cupy.asarray(a), cupy.asarray(b)
    tf32_flag.allow_tf32 = False
    fp32 = lg.kernels.gemm(ga, gb, ta, tb)
    assert_matches_cpu(fp32, a, b, ta, tb)
    tf32_flag.allow_tf32 = True
    c = rng.standard_normal((M, N)).astype(np.float32)
    out = cupy.asarray(c)
    lg.kernels.gemm(ga, gb, ta, tb, alpha=0.5, beta=2.0, out=out)
    ref, _ = reference(a, b, ta, tb, 0.5, 2.0, c)
    mag = 0.5 * (np.abs(a.T if ta else a).astype(np.float64) @ np.abs(b.T if tb else b))
    # TF32 keeps 10 mantissa bits: each product is off by <= ~2^-10 relative.
    assert np.all(np.abs(cupy.asnumpy(out) - ref) <= 3e-3 * mag + 1e-5 * np.abs(ref) + 1e-6)
    major = cupy.cuda.Device().compute_capability[0]
    if int(major) >= 8 and K >= 8:  # the flag reached the tensor-core kernel
        assert not cupy.array_equal(lg.kernels.gemm(ga, gb, ta, tb), fp32)


@pytest.mark.cuda
@requires_cuda
def test_cuda_gemm_fortran_and_strided_operands():
    import cupy

    rng = np.random.default_rng(4)
    big_a = rng.standard_normal((80, 90)).astype(np.float32)
    big_b = rng.standard_normal((90, 70)).astype(np.float32)
    views = [
        (lambda x: x[::2, 1:40], lambda x: x[1:40, ::3]),
        (lambda x: x[:30, :40].T, lambda x: x[:30, :50]),
        (lambda x: x[::-1, ::-1][:20, :33], lambda x: x[::-1][:33, :10]),
        (lambda x: x[:17, :19].T.copy().T, lambda x: x[:19, :23].T.copy().T),  # F-ordered
    ]
    for va, vb in views:
        a, b = va(big_a), vb(big_b)
        ga, gb = va(cupy.asarray(big_a)), vb(cupy.asarray(big_b))
        ac, bc = np.ascontiguousarray(a), np.ascontiguousarray(b)
        assert_matches_cpu(lg.kernels.gemm(ga, gb), ac, bc)
        assert_matches_cpu(lg.kernels.gemm(ga.T, gb.T, True, True), ac, bc)


@pytest.mark.cuda
@requires_cuda
def test_cuda_gemm_batched_on_non_default_stream():
    import cupy

    rng = np.random.default_rng(8)
    a = rng.standard_normal((3, 200, 100)).astype(np.float32)
    b = rng.standard_normal((100, 150)).astype(np.float32)
    s = cupy.cuda.Stream(non_blocking=True)
    with s:
        ga, gb = cupy.asarray(a), cupy.asarray(b)
        out = cupy.full((3, 200, 150), np.nan, cupy.float32)
        got = lg.kernels.gemm(ga, gb, out=out)
        host = cupy.asnumpy(got, stream=s)
    s.synchronize()
    np.testing.assert_allclose(host, lg.kernels.gemm(a, b), rtol=1e-4, atol=1e-4)


@pytest.mark.cuda
@requires_cuda
def test_cuda_gemm_on_torch_cuda_tensors():
    import cupy

    torch = torch_cuda()
    rng = np.random.default_rng(9)
    a = rng.standard_normal((129, 77)).astype(np.float32)
    b = rng.standard_normal((77, 65)).astype(np.float32)
    ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
    torch.cuda.synchronize()  # torch's stream vs CuPy's: make the copies visible
    got = lg.kernels.gemm(ta, tb)  # __cuda_array_interface__
    assert isinstance(got, cupy.ndarray)
    assert_matches_cpu(got, a, b)
    got = lg.kernels.gemm(ta.t(), tb.t(), True, True)  # F-ordered views: no copy, flipped
    assert_matches_cpu(got, a, b)

    class DlpackOnly:  # a provider without __cuda_array_interface__ (e.g. JAX)
        def __init__(self, t):
            self.t = t

        def __dlpack__(self, **kw):
            return self.t.__dlpack__(**kw)

        def __dlpack_device__(self):
            return self.t.__dlpack_device__()

    got = lg.kernels.gemm(DlpackOnly(ta), DlpackOnly(tb))
    assert_matches_cpu(got, a, b)
    out = cupy.empty((129, 65), cupy.float32)
    lg.kernels.gemm(ta, tb, out=out)
    assert_matches_cpu(out, a, b)


@pytest.mark.cuda
@requires_cuda
def test_cuda_gemm_argument_errors():
    import cupy

    f32 = cupy.ones((3, 4), cupy.float32)
    with pytest.raises(TypeError, match="float32"):
        lg.kernels.gemm(cupy.ones((3, 4)), cupy.ones((4, 2)))  # float64 on the GPU
    with pytest.raises(TypeError, match="float32"):
        lg.kernels.gemm(f32, cupy.ones((4, 2), cupy.float64))
    with pytest.raises(TypeError, match="NumPy"):
        lg.kernels.gemm(f32, np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match="inner dimensions differ"):
        lg.kernels.gemm(f32, f32)
    with pytest.raises(ValueError, match="2-D or 3-D"):
        lg.kernels.gemm(cupy.ones(4, cupy.float32), f32)
    with pytest.raises(ValueError, match="batch sizes differ"):
        lg.kernels.gemm(cupy.ones((2, 3, 4), cupy.float32), cupy.ones((3, 4, 2), cupy.float32))
    sq = cupy.ones((4, 4), cupy.float32)
    with pytest.raises(ValueError, match="share memory"):
        lg.kernels.gemm(sq, cupy.ones((4, 4), cupy.float32), out=sq)
    big = cupy.ones((8, 4), cupy.float32)
    lg.kernels.gemm(big[:4], sq, out=big[4:])  # neighbours, no overlap: fine
    with pytest.raises(ValueError, match="share memory"):
        lg.kernels.gemm(big[2:6], sq, out=big[4:])
    with pytest.raises(ValueError, match="shape"):
        lg.kernels.gemm(f32, cupy.ones((4, 2), cupy.float32), out=cupy.empty((3, 3), cupy.float32))
    with pytest.raises(TypeError, match="dtype"):
        lg.kernels.gemm(f32, cupy.ones((4, 2), cupy.float32), out=cupy.empty((3, 2)))
    with pytest.raises(TypeError, match="CuPy"):
        lg.kernels.gemm(f32, cupy.ones((4, 2), cupy.float32), out=np.empty((3, 2), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        lg.kernels.gemm(f32, cupy.ones((4, 2), cupy.float32),
                        out=cupy.empty((2, 3), cupy.float32).T)
