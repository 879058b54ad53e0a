"""lg.kernels.gemm against a float64 NumPy reference: edge and random shapes,
transposes, alpha/beta, out=, batching with broadcast, strided inputs, argument
errors, thread-count invariance, every microkernel path this CPU can run
(LOOMGRAD_GEMM_ISA, read once at import, so those run in subprocesses), and
torch.matmul when torch is installed. Performance lives in bench/, not here."""
import itertools
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import loomgrad as lg
from loomgrad.kernels import gemm

# Blocking on a typical machine: KC ~ 256, MC ~ 126, NC <= 4096; the shapes
# below cross each of them, and none is a multiple of any microkernel tile
# (4x8, 4x4, 6x16, 6x8, 12x32, 12x16) unless it says so.
EDGE_SHAPES = [
    (1, 1, 1), (1, 7, 13), (7, 1, 13), (7, 13, 1), (2, 3, 4),
    (6, 16, 8), (12, 32, 16),              # exactly one tile
    (13, 127, 7), (127, 13, 257), (257, 127, 13),
    (5, 600, 9), (600, 5, 9),              # wide / tall
    (130, 70, 600),                        # K > KC (twice), M > MC
    (300, 33, 300),                        # M > MC, uneven K blocks
    (7, 4100, 17),                         # N > NC (two column blocks)
    (10, 700, 530),                        # one row block (edge-row kernel), K > KC
    (1, 333, 517), (517, 1, 333),          # GEMV shapes
    (1, 90, 1500), (3, 70, 1100),          # GEMV / skinny, K split into fixed blocks
    (2, 333, 517), (3, 1000, 70), (4, 4, 300), (517, 2, 333), (700, 4, 65),  # skinny path
]
ZERO_SHAPES = [(0, 5, 7), (5, 0, 7), (5, 7, 0), (0, 0, 0), (1, 7, 0)]


def _op(x, t):
    return x.T if t else x


def reference(a, b, ta=False, tb=False, alpha=1.0, beta=0.0, c=None):
    """float64 result and an elementwise error bound for `a.dtype` arithmetic."""
    A, B = _op(a, ta).astype(np.float64), _op(b, tb).astype(np.float64)
    ref = alpha * (A @ B)
    mag = abs(alpha) * (np.abs(A) @ np.abs(B))
    if c is not None and beta != 0:
        ref = ref + beta * c.astype(np.float64)
        mag = mag + abs(beta) * np.abs(c.astype(np.float64))
    eps = np.finfo(a.dtype).eps
    k = A.shape[-1]
    return ref, 2 * (k + 2) * eps * mag + np.finfo(a.dtype).tiny


def check(got, a, b, ta=False, tb=False, alpha=1.0, beta=0.0, c=None):
    ref, bound = reference(a, b, ta, tb, alpha, beta, c)
    assert got.shape == ref.shape and got.dtype == a.dtype
    err = np.abs(got.astype(np.float64) - ref)
    assert np.all(err <= bound), f"max excess {np.max(err - bound)} at {np.argmax(err - bound)}"


def make(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def operands(rng, M, N, K, ta, tb, dtype):
    return (make(rng, (K, M) if ta else (M, K), dtype),
            make(rng, (N, K) if tb else (K, N), dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta,tb", list(itertools.product([False, True], repeat=2)))
@pytest.mark.parametrize("shape", EDGE_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_edge_shapes(shape, ta, tb, dtype):
    rng = np.random.default_rng(hash((shape, ta, tb)) % 2**32)
    M, N, K = shape
    a, b = operands(rng, M, N, K, ta, tb, dtype)
    c = make(rng, (M, N), dtype)
    check(gemm(a, b, ta, tb), a, b, ta, tb)
    got = gemm(a, b, ta, tb, alpha=-0.75, beta=0.5, out=c.copy())
    check(got, a, b, ta, tb, -0.75, 0.5, c)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta", [False, True])
def test_every_edge_row_count(ta, dtype):
    # M = 13..24 leaves every remainder mod 6 and mod 12 (the AVX2 and AVX-512
    # tile heights): each edge-row kernel, storing straight into C, with beta.
    rng = np.random.default_rng(11)
    for M in range(13, 25):
        a, b = operands(rng, M, 40, 33, ta, False, dtype)
        c = make(rng, (M, 40), dtype)
        check(gemm(a, b, ta, False, 1.5, -0.5, out=c.copy()), a, b, ta, False, 1.5, -0.5, c)
        check(gemm(a, b, ta, False), a, b, ta, False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", ZERO_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_zero_sizes(shape, dtype):
    M, N, K = shape
    a, b = np.ones((M, K), dtype), np.ones((K, N), dtype)
    np.testing.assert_array_equal(gemm(a, b), np.zeros((M, N), dtype))
    c = np.full((M, N), 3.0, dtype)
    got = gemm(a, b, beta=2.0, out=c)
    assert got is c
    np.testing.assert_array_equal(c, np.full((M, N), 6.0, dtype))  # K == 0: beta * C


def test_random_shapes():
    rng = np.random.default_rng(1)
    for _ in range(40):
        M, N, K = rng.integers(1, 200, size=3)
        ta, tb = bool(rng.integers(2)), bool(rng.integers(2))
        dtype = (np.float32, np.float64)[rng.integers(2)]
        alpha, beta = float(rng.standard_normal()), float(rng.choice([0.0, 1.0, -2.5]))
        a, b = operands(rng, M, N, K, ta, tb, dtype)
        c = make(rng, (M, N), dtype)
        check(gemm(a, b, ta, tb, alpha, beta, out=c.copy()), a, b, ta, tb, alpha, beta, c)


@pytest.mark.parametrize("shape", [(5, 7, 9), (70, 300, 260), (1, 50, 40), (50, 1, 40)])
def test_beta_zero_ignores_nan_in_out(shape):
    rng = np.random.default_rng(2)
    M, N, K = shape
    a, b = operands(rng, M, N, K, False, False, np.float32)
    out = np.full((M, N), np.nan, np.float32)
    got = gemm(a, b, alpha=2.0, beta=0.0, out=out)
    assert got is out and np.isfinite(out).all()
    check(out, a, b, alpha=2.0)


def test_alpha_zero_scales_out_only():
    a = np.full((4, 3), np.nan, np.float64)
    b = np.ones((3, 5))
    c = np.ones((4, 5))
    gemm(a, b, alpha=0.0, beta=3.0, out=c)
    np.testing.assert_array_equal(c, 3.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shapes", [
    ((4, 9, 11), (4, 11, 6)),       # both batched
    ((4, 9, 11), (11, 6)),          # b broadcast (2-D)
    ((1, 9, 11), (4, 11, 6)),       # a broadcast (batch 1)
    ((3, 130, 300), (300, 140)),    # large enough to thread inside each GEMM
    ((16, 1, 64), (16, 64, 40)),    # GEMV per batch entry
])
def test_batched_broadcast(shapes, dtype):
    rng = np.random.default_rng(3)
    a, b = make(rng, shapes[0], dtype), make(rng, shapes[1], dtype)
    got = gemm(a, b)
    want = np.matmul(a.astype(np.float64), b.astype(np.float64))
    assert got.shape == want.shape
    for i in range(got.shape[0]):
        check(got[i], a[i if a.shape[0] > 1 else 0] if a.ndim == 3 else a,
              b[i if b.shape[0] > 1 else 0] if b.ndim == 3 else b)
    # transposed operands and beta with out=
    at = np.ascontiguousarray(np.swapaxes(a, -1, -2))
    c = make(rng, got.shape, dtype)
    got = gemm(at, b, trans_a=True, alpha=0.5, beta=-1.0, out=c.copy())
    for i in range(got.shape[0]):
        ai = at[i if at.shape[0] > 1 else 0]
        bi = b[i if b.shape[0] > 1 else 0] if b.ndim == 3 else b
        check(got[i], ai, bi, True, False, 0.5, -1.0, c[i])


def test_non_contiguous_inputs():
    rng = np.random.default_rng(4)
    big_a = make(rng, (80, 90), np.float32)
    big_b = make(rng, (90, 70), np.float32)
    views = [
        (big_a[::2, 1:40], big_b[1:40, ::3]),         # sliced
        (big_a[:30, :40].T, big_b[:30, :50]),         # transposed view (Fortran order)
        (big_a[::-1, ::-1][:20, :33], big_b[::-1][:33, :10]),  # negative strides
        (np.asfortranarray(big_a[:17, :19]), np.asfortranarray(big_b[:19, :23])),
    ]
    for a, b in views:
        check(gemm(a, b), np.ascontiguousarray(a), np.ascontiguousarray(b))
        check(gemm(a.T, b.T, trans_a=True, trans_b=True),
              np.ascontiguousarray(a), np.ascontiguousarray(b))


def test_argument_errors_name_the_argument():
    f32 = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError, match="a: expected float32 or float64"):
        gemm(np.ones((3, 4), np.int32), f32.T)
    with pytest.raises(TypeError, match="b: expected float32 or float64"):
        gemm(f32, np.ones((4, 3), np.float16))
    with pytest.raises(TypeError, match="same dtype"):
        gemm(f32, np.ones((4, 3), np.float64))
    with pytest.raises(TypeError, match="a: expected a numpy"):
        gemm([[1.0]], f32)
    with pytest.raises(ValueError, match="a must be 2-D or 3-D"):
        gemm(np.ones(4, np.float32), f32)
    with pytest.raises(ValueError, match="b must be 2-D or 3-D"):
        gemm(f32, np.ones((1, 1, 4, 3), np.float32))
    with pytest.raises(ValueError, match="inner dimensions differ"):
        gemm(f32, f32)
    with pytest.raises(ValueError, match="batch sizes differ"):
        gemm(np.ones((2, 3, 4), np.float32), np.ones((3, 4, 5), np.float32))
    with pytest.raises(ValueError, match="out must have shape"):
        gemm(f32, f32.T.copy(), out=np.empty((3, 4), np.float32))
    with pytest.raises(TypeError, match="out must have dtype"):
        gemm(f32, f32.T.copy(), out=np.empty((3, 3), np.float64))
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        gemm(f32, f32.T.copy(), out=np.empty((3, 6), np.float32)[:, ::2])
    with pytest.raises(ValueError, match="out must not share memory"):
        sq = np.ones((3, 3), np.float32)
        gemm(sq, sq.copy(), out=sq)
    with pytest.raises(TypeError, match="out must be a numpy array"):
        gemm(f32, f32.T.copy(), out=[[0.0] * 3] * 3)


def test_binding_rejects_bad_arguments():
    f32 = np.ones((3, 4), np.float32)
    out = np.empty((3, 3), np.float32)
    with pytest.raises(ValueError, match="inner dimensions differ"):
        lg._cpu.gemm(f32, f32, out)
    with pytest.raises(ValueError, match="out must have shape"):
        lg._cpu.gemm(f32, f32.T.copy(), np.empty((3, 4), np.float32))
    with pytest.raises(ValueError, match="b: must be C-contiguous"):
        lg._cpu.gemm(f32, f32.T, out)
    with pytest.raises(TypeError):
        lg._cpu.gemm(f32, f32.T.copy(), np.empty((3, 3), np.float64))


@pytest.mark.parametrize("shape,ta,tb", [
    ((257, 300, 270), False, False), ((64, 700, 300), False, True),
    ((300, 64, 100), True, False), ((1, 3000, 200), False, False),
    ((1, 3000, 200), True, True), ((3000, 1, 200), True, False),
    ((3, 3000, 200), False, False), ((3000, 4, 200), False, True),
    # streaming skinny products with K over two fixed K blocks (partials summed in order)
    ((1, 700, 2100), False, False), ((3, 500, 1100), False, False), ((600, 2, 1300), True, False),
])
def test_threads_1_and_2_agree(shape, ta, tb):
    rng = np.random.default_rng(5)
    M, N, K = shape
    a, b = operands(rng, M, N, K, ta, tb, np.float32)
    before = lg._cpu.get_num_threads()  # the binding itself: this test is about the kernel
    try:
        lg._cpu.set_num_threads(1)
        one = gemm(a, b, ta, tb)
        lg._cpu.set_num_threads(2)
        two = gemm(a, b, ta, tb)
    finally:
        lg._cpu.set_num_threads(before)
    # The K summation order does not depend on the thread grid: bitwise equal.
    np.testing.assert_array_equal(one, two)
    check(two, a, b, ta, tb)


def test_concurrent_calls_from_python_threads():
    # The GIL is released around the kernel and scratch is per call: threads
    # calling at once must each get their own right answer.
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(8)
    flags = [(i % 2 == 1, i % 3 == 0) for i in range(8)] + [(False, i % 2 == 1) for i in range(4)]
    shapes = [(70 + i, 90 - i, 300 + 7 * i) for i in range(8)] + [(1, 2000, 300)] * 4
    jobs = [operands(rng, M, N, K, ta, tb, np.float32) + (ta, tb)
            for (M, N, K), (ta, tb) in zip(shapes, flags)]
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(gemm, *job) for job in jobs]
        for fut, job in zip(futures, jobs):
            check(fut.result(), *job)


def test_torch_imported_first_still_correct():
    # torch ships its own libgomp; whichever OpenMP runtime loads first, a
    # threaded GEMM must still be right.
    pytest.importorskip("torch")
    code = textwrap.dedent("""
        import torch, numpy as np, loomgrad as lg
        torch.set_num_threads(2)
        lg._cpu.set_num_threads(2)
        rng = np.random.default_rng(9)
        a = rng.standard_normal((300, 400)).astype(np.float32)
        b = rng.standard_normal((400, 500)).astype(np.float32)
        ref = a.astype(np.float64) @ b.astype(np.float64)
        got = lg.kernels.gemm(a, b)
        t = torch.matmul(torch.from_numpy(a), torch.from_numpy(b)).numpy()
        assert np.abs(got - ref).max() < 1e-3, np.abs(got - ref).max()
        assert np.abs(t - ref).max() < 1e-3
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]


_ISA_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import loomgrad as lg
    sys.path.insert(0, sys.argv[1])
    import test_gemm as t
    rng = np.random.default_rng(6)
    for dtype in (np.float32, np.float64):
        for M, N, K in t.EDGE_SHAPES + [(200, 300, 530)]:
            for ta, tb in ((False, False), (True, True), (False, True)):
                a, b = t.operands(rng, M, N, K, ta, tb, dtype)
                c = t.make(rng, (M, N), dtype)
                t.check(lg.kernels.gemm(a, b, ta, tb, 1.5, -0.5, out=c.copy()),
                        a, b, ta, tb, 1.5, -0.5, c)
        a3, b3 = t.make(rng, (5, 20, 30), dtype), t.make(rng, (5, 30, 10), dtype)
        g = lg.kernels.gemm(a3, b3)
        for i in range(5):
            t.check(g[i], a3[i], b3[i])
    print(json.dumps(lg._cpu.build_info()["gemm_isa"]))
""")

_ISA_NAMES = {"generic": "generic", "avx2": "avx2+fma", "avx512": "avx512"}


def _cpu_has(isa):
    f = lg._cpu.build_info()["cpu_features"]
    return {"generic": True, "avx2": f["avx2"] and f["fma"],
            "avx512": f["avx512f"] and f["avx512dq"] and f["fma"]}[isa]


@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512"])
def test_every_isa_path(isa):
    env = {**os.environ, "LOOMGRAD_GEMM_ISA": isa}
    r = subprocess.run([sys.executable, "-c", _ISA_SCRIPT, os.path.dirname(__file__)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    used = json.loads(r.stdout.strip().splitlines()[-1])
    if _cpu_has(isa):
        assert used == _ISA_NAMES[isa]
    else:  # never a path the CPU lacks; gemm_isa() says what really ran
        assert used != _ISA_NAMES[isa]
        assert used in ("generic", "avx2+fma")


def test_unknown_isa_request_is_ignored():
    code = "import loomgrad as lg; print(lg._cpu.build_info()['gemm_isa'])"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "LOOMGRAD_GEMM_ISA": "sse9000"})
    assert r.returncode == 0, r.stderr[-3000:]
    best = next(i for i in ("avx512", "avx2", "generic") if _cpu_has(i))
    assert r.stdout.strip().splitlines()[-1] == _ISA_NAMES[best]


def test_default_isa_is_the_best_the_cpu_has():
    if os.environ.get("LOOMGRAD_GEMM_ISA"):
        pytest.skip("LOOMGRAD_GEMM_ISA is set in this process")
    best = next(i for i in ("avx512", "avx2", "generic") if _cpu_has(i))
    assert lg._cpu.build_info()["gemm_isa"] == _ISA_NAMES[best]


def test_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    for M, N, K in [(64, 1024, 313), (129, 65, 257), (1, 512, 100)]:
        for dtype in (np.float32, np.float64):
            a, b = make(rng, (M, K), dtype), make(rng, (K, N), dtype)
            want = torch.matmul(torch.from_numpy(a), torch.from_numpy(b)).numpy()
            tol = 1e-4 if dtype == np.float32 else 1e-11
            np.testing.assert_allclose(gemm(a, b), want, rtol=tol, atol=tol * np.sqrt(K))
    a = make(rng, (3, 20, 30), np.float32)
    b = make(rng, (3, 40, 30), np.float32)
    want = torch.matmul(torch.from_numpy(a), torch.from_numpy(b).transpose(1, 2)).numpy()
    np.testing.assert_allclose(gemm(a, b, trans_b=True), want, rtol=1e-4, atol=1e-4)


def test_bench_gemm_smoke(capsys):
    # The benchmark runs end to end and prints its table (timings not checked).
    from loomgrad.benchmarks import gemm as bench_gemm
    from loomgrad.benchmarks import harness

    before, blas_before = lg._cpu.get_num_threads(), harness.blas_threads()
    try:
        assert bench_gemm.main(["--quick", "--no-torch", "--threads", "1", "--reps", "1",
                                "--min-time", "0.0005", "--pause", "0"]) == 0
    finally:
        lg._cpu.set_num_threads(before)
        if blas_before:
            harness.set_blas_threads(blas_before)
    out = capsys.readouterr().out
    assert "geometric-mean speed ratio loomgrad/numpy" in out
    assert "measured FMA peak" in out and "OpenBLAS kernels (threadpoolctl architecture)" in out
