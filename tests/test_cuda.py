"""The CUDA module: import never fails without a GPU, and, on a GPU, each
CUDA kernel matches the CPU kernel. GPU tests carry @pytest.mark.cuda and
skip cleanly here."""
import numpy as np
import pytest

import loomgrad as lg

requires_cuda = pytest.mark.skipif(not lg.cuda.is_available(),
                                   reason=f"no CUDA: {lg.cuda.unavailable_reason()}")


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
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (64, 64, 64), (127, 65, 33), (0, 5, 3),
                                   (5, 0, 3), (4, 5, 0), (300, 200, 517)])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_cuda_sgemm_matches_cpu(m, n, k, trans_a, trans_b):
    import cupy

    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    c0 = rng.standard_normal((m, n)).astype(np.float32)
    ref = lg.kernels.gemm(a, b, trans_a, trans_b, alpha=0.5, beta=2.0, out=c0.copy())
    out = cupy.asarray(c0)
    got = lg.kernels.gemm(cupy.asarray(a), cupy.asarray(b), trans_a, trans_b, alpha=0.5,
                          beta=2.0, out=out)
    np.testing.assert_allclose(cupy.asnumpy(got), ref, rtol=1e-4, atol=1e-4 * max(k, 1))


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
