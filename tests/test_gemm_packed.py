"""lg.kernels.pack_gemm_b + gemm(a, packed): the pre-packed B entry point,
against the float64 reference of test_gemm (edge shapes crossing every
blocking boundary, both transposes, float32/float64, alpha/beta), reused
across calls, shared by several Python threads, batched a, argument errors,
every microkernel path (subprocesses, as in test_gemm) and torch."""
import concurrent.futures
import itertools
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import loomgrad as lg
from loomgrad.kernels import gemm, pack_gemm_b
from test_gemm import EDGE_SHAPES, _cpu_has, _ISA_NAMES, check, make, operands


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta,tb", list(itertools.product([False, True], repeat=2)))
@pytest.mark.parametrize("shape", EDGE_SHAPES + [(200, 300, 530)],
                         ids=lambda s: "x".join(map(str, s)))
def test_edge_shapes(shape, ta, tb, dtype):
    rng = np.random.default_rng(hash((shape, ta, tb, "packed")) % 2**32)
    M, N, K = shape
    a, b = operands(rng, M, N, K, ta, tb, dtype)
    packed = pack_gemm_b(b, trans_b=tb)
    assert packed.shape == (K, N) and packed.dtype == dtype and packed.trans_b == tb
    check(gemm(a, packed, trans_a=ta), a, b, ta, tb)
    c = make(rng, (M, N), dtype)
    check(gemm(a, packed, ta, alpha=1.5, beta=-0.5, out=c.copy()), a, b, ta, tb, 1.5, -0.5, c)


@pytest.mark.parametrize("shape", [(0, 5, 7), (5, 0, 7), (5, 7, 0)])
def test_zero_sizes(shape):
    M, N, K = shape
    packed = pack_gemm_b(np.ones((K, N), np.float32))
    out = gemm(np.ones((M, K), np.float32), packed)
    assert out.shape == (M, N) and np.all(out == 0)


def test_reuse_across_calls_and_pack_is_a_copy():
    rng = np.random.default_rng(1)
    w = make(rng, (96, 333), np.float32)          # torch layout (out, in)
    packed = pack_gemm_b(w, trans_b=True)
    w_saved = w.copy()
    w[:] = np.nan                                 # the pack does not see later writes
    for M in (1, 3, 64, 130, 7, 64):              # skinny, tile, MC-crossing, again
        x = make(rng, (M, 333), np.float32)
        check(gemm(x, packed), x, w_saved, False, True)


def test_concurrent_use_from_python_threads():
    rng = np.random.default_rng(2)
    b = make(rng, (300, 257), np.float64)
    packed = pack_gemm_b(b)
    xs = [make(rng, (m, 300), np.float64) for m in (5, 50, 130, 300, 17, 64, 200, 1)]

    def run(x):
        return gemm(x, packed)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(run, xs * 3))
    for x, out in zip(xs * 3, outs):
        check(out, x, b)


@pytest.mark.parametrize("ta", [False, True])
def test_batched_a(ta):
    rng = np.random.default_rng(3)
    b = make(rng, (40, 30), np.float32)
    a = make(rng, (4, 40, 21) if ta else (4, 21, 40), np.float32)
    out = gemm(a, pack_gemm_b(b), trans_a=ta)
    assert out.shape == (4, 21, 30)
    for i in range(4):
        check(out[i], a[i], b, ta)


def test_fortran_ordered_b_and_a():
    rng = np.random.default_rng(4)
    b = np.asfortranarray(make(rng, (50, 70), np.float32))
    a = np.asfortranarray(make(rng, (33, 50), np.float32))
    check(gemm(a, pack_gemm_b(b)), a, b)


def test_argument_errors_name_the_argument():
    p32 = pack_gemm_b(np.ones((8, 6), np.float32))
    with pytest.raises(ValueError, match="inner dimensions differ.*8x6"):
        gemm(np.ones((3, 7), np.float32), p32)
    with pytest.raises(TypeError, match="packed b's dtype float32"):
        gemm(np.ones((3, 8), np.float64), p32)
    with pytest.raises(ValueError, match="trans_b must be False"):
        gemm(np.ones((3, 8), np.float32), p32, trans_b=True)
    with pytest.raises(ValueError, match=r"out must have shape \(3, 6\)"):
        gemm(np.ones((3, 8), np.float32), p32, out=np.empty((3, 5), np.float32))
    with pytest.raises(ValueError, match="b must be 2-D"):
        pack_gemm_b(np.ones((2, 8, 6), np.float32))
    with pytest.raises(TypeError, match="float32 or float64"):
        pack_gemm_b(np.ones((8, 6), np.int32))
    with pytest.raises(TypeError, match="b.*numpy"):
        pack_gemm_b([[1.0, 2.0]])
    with pytest.raises(TypeError, match="PackedGemmB"):
        lg._cpu.gemm_packed_b(np.ones((3, 8), np.float32), "not a pack",
                              np.empty((3, 6), np.float32))


def test_matches_torch_linear_layout():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    w = make(rng, (256, 784), np.float32)
    x = make(rng, (64, 784), np.float32)
    want = torch.nn.functional.linear(torch.from_numpy(x), torch.from_numpy(w)).numpy()
    np.testing.assert_allclose(gemm(x, pack_gemm_b(w, trans_b=True)), want,
                               rtol=1e-4, atol=1e-4)


_ISA_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import loomgrad as lg
    sys.path.insert(0, sys.argv[1])
    import test_gemm as t
    rng = np.random.default_rng(6)
    for dtype in (np.float32, np.float64):
        for M, N, K in t.EDGE_SHAPES + [(200, 300, 530)]:
            for ta, tb in ((False, False), (True, True)):
                a, b = t.operands(rng, M, N, K, ta, tb, dtype)
                c = t.make(rng, (M, N), dtype)
                p = lg.kernels.pack_gemm_b(b, trans_b=tb)
                t.check(lg.kernels.gemm(a, p, ta, alpha=1.5, beta=-0.5, out=c.copy()),
                        a, b, ta, tb, 1.5, -0.5, c)
    print(json.dumps(lg._cpu.build_info()["gemm_isa"]))
""")


@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512"])
def test_every_isa_path(isa):
    if not _cpu_has(isa):
        pytest.skip(f"this CPU cannot run the {isa} path")
    env = {**os.environ, "LOOMGRAD_GEMM_ISA": isa}
    r = subprocess.run([sys.executable, "-c", _ISA_SCRIPT, os.path.dirname(__file__)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == _ISA_NAMES[isa]
