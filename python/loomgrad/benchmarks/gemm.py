"""GEMM benchmark: loomgrad's CPU GEMM beside NumPy (OpenBLAS) and, when it is
installed, PyTorch's CPU matmul, on square and deep-learning shapes.

    python -m loomgrad bench gemm [--threads 2] [--dtype float32] [--quick]
    python bench/gemm.py ...

Every contender gets the same thread count: ``lg.set_num_threads``,
``torch.set_num_threads`` and OpenBLAS's ``openblas_set_num_threads`` (called
on the library NumPy loaded; see harness.set_blas_threads). The DL shapes use
the transpose flags a framework would, with NumPy/torch given the same
transposed views (which their BLAS reads without a copy).
"""
from __future__ import annotations

import os

# (label, M, N, K, trans_a, trans_b). Forward of a 3136 -> 1024 linear layer
# on a batch of 64 (Y = X Wᵀ would be the torch layout; here W is K x N),
# then its two backward GEMMs: dX = dY Wᵀ and dW = Xᵀ dY.
SHAPES = [
    ("square 256", 256, 256, 256, False, False),
    ("square 512", 512, 512, 512, False, False),
    ("square 1024", 1024, 1024, 1024, False, False),
    ("square 2048", 2048, 2048, 2048, False, False),
    ("square 1000", 1000, 1000, 1000, False, False),
    ("fwd  (64x3136)(3136x1024)", 64, 1024, 3136, False, False),
    ("dX   (64x1024)(3136x1024)T", 64, 3136, 1024, False, True),
    ("dW   (64x3136)T(64x1024)", 3136, 1024, 64, True, False),
    ("gemv (1x4096)(4096x4096)", 1, 4096, 4096, False, False),
]
QUICK = [
    ("square 256", 256, 256, 256, False, False),
    ("square 300", 300, 300, 300, False, False),
    ("fwd  (16x784)(784x256)", 16, 256, 784, False, False),
    ("dX   (16x256)(784x256)T", 16, 784, 256, False, True),
    ("dW   (16x784)T(16x256)", 784, 256, 16, True, False),
    ("gemv (1x1024)(1024x1024)", 1, 1024, 1024, False, False),
]


def build_parser():
    from .harness import bench_parser

    p = bench_parser("gemm", "loomgrad CPU GEMM vs NumPy (OpenBLAS) and PyTorch.")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    # Only effective when NumPy is not loaded yet (bench/gemm.py); otherwise
    # bench_setup changes the loaded OpenBLAS at run time.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(max(args.threads, 1)))

    import numpy as np

    import loomgrad as lg
    from . import harness

    setup = harness.bench_setup(args)
    dtype, torch = setup.dtype, setup.torch
    peak = setup.peak
    harness.print_header("GEMM benchmark", setup)

    rng = np.random.default_rng(0)
    rows = []
    yardsticks = ["numpy"] + (["torch"] if torch is not None else [])
    for label, M, N, K, ta, tb in (QUICK if args.quick else SHAPES):
        a = rng.standard_normal((K, M) if ta else (M, K)).astype(dtype)
        b = rng.standard_normal((N, K) if tb else (K, N)).astype(dtype)
        A, B = (a.T if ta else a), (b.T if tb else b)
        out_lg = np.empty((M, N), dtype)
        out_np = np.empty((M, N), dtype)
        contenders = {
            "loomgrad": lambda: lg.kernels.gemm(a, b, ta, tb, out=out_lg),
            "numpy": lambda: np.matmul(A, B, out=out_np),
        }
        if torch is not None:
            tA, tB = torch.from_numpy(A), torch.from_numpy(B)  # views, no copy
            out_t = torch.empty((M, N), dtype=tA.dtype)
            contenders["torch"] = lambda: torch.matmul(tA, tB, out=out_t)
        times = setup.time(contenders)
        tol = 1e-3 if dtype == np.float32 else 1e-9
        if not np.allclose(out_lg, out_np, rtol=tol, atol=tol * np.sqrt(K)):
            print(f"WARNING: {label}: loomgrad and numpy disagree "
                  f"(max diff {np.max(np.abs(out_lg - out_np)):.3g})")
        rows.append(harness.Row(f"{label} [{M}x{N}x{K}]", 2.0 * M * N * K, times))
        print(f"  ... {label}", flush=True)
    print()
    harness.print_table(rows, ours="loomgrad", yardsticks=yardsticks, peak_gflops=peak)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
