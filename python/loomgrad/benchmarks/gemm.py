"""GEMM benchmark: loomgrad's CPU GEMM beside NumPy (OpenBLAS) and, when it is
installed, PyTorch's CPU matmul, on square and deep-learning shapes; with
``--device cuda``, our CUDA SGEMM beside cuBLAS through CuPy (``cupy.matmul``)
and torch (``torch.mm``) on the same GPU memory.

    python -m loomgrad bench gemm [--threads 2] [--dtype float32] [--quick] [--device cuda]
    python bench/gemm.py ...

GPU runs: an FP32 table (no tensor cores anywhere: torch's
``torch.backends.cuda.matmul.allow_tf32 = False``, CuPy's float32 compute type
set to FP32 for the run -- the ``CUPY_TF32`` environment variable is only read
when CuPy is imported, so it is overridden here rather than relied on), then a
TF32 table, labelled as such: ours with ``lg.backends.cuda.matmul.allow_tf32``
vs cuBLAS TF32 (CuPy compute type TF32, torch ``allow_tf32 = True``). Torch's
tensors are views of the CuPy arrays (``torch.as_tensor``), and transposed
operands are passed as transposed views to every contender.

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


# GPU shapes: squares, a rank-64 update, the DL forward above, a GEMV, and
# every transpose at 4096^3.
GPU_SHAPES = [
    ("square 1024", 1024, 1024, 1024, False, False),
    ("square 2048", 2048, 2048, 2048, False, False),
    ("square 4096", 4096, 4096, 4096, False, False),
    ("square 8192", 8192, 8192, 8192, False, False),
    ("rank-64 (4096x64)(64x4096)", 4096, 4096, 64, False, False),
    ("fwd  (64x3136)(3136x1024)", 64, 1024, 3136, False, False),
    ("gemv (1x4096)(4096x4096)", 1, 4096, 4096, False, False),
    ("4096 a bT", 4096, 4096, 4096, False, True),
    ("4096 aT b", 4096, 4096, 4096, True, False),
    ("4096 aT bT", 4096, 4096, 4096, True, True),
]
GPU_QUICK = [
    ("square 1024", 1024, 1024, 1024, False, False),
    ("rank-64 (2048x64)(64x2048)", 2048, 2048, 64, False, False),
    ("gemv (1x2048)(2048x2048)", 1, 2048, 2048, False, False),
    ("1024 aT bT", 1024, 1024, 1024, True, True),
]
TF32_SHAPES = [
    ("square 1024", 1024, 1024, 1024, False, False),
    ("square 4096", 4096, 4096, 4096, False, False),
    ("square 8192", 8192, 8192, 8192, False, False),
    ("4096 aT bT", 4096, 4096, 4096, True, True),
]
TF32_QUICK = [("square 1024", 1024, 1024, 1024, False, False)]


def build_parser():
    from .harness import bench_parser

    p = bench_parser("gemm", "loomgrad GEMM vs NumPy (OpenBLAS) and PyTorch on the CPU, or vs "
                             "cuBLAS (CuPy, torch) on the GPU with --device cuda.")
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
    if setup.device == "cuda":
        return _main_cuda(args, setup)
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



def _gpu_row(setup, rng, label, M, N, K, ta, tb, tol):
    """One shape: ours vs cupy.matmul vs torch.mm on the same CuPy arrays."""
    import cupy as cp

    import loomgrad as lg
    from . import harness

    torch = setup.torch
    a = rng.standard_normal((K, M) if ta else (M, K), dtype=cp.float32)
    b = rng.standard_normal((N, K) if tb else (K, N), dtype=cp.float32)
    A, B = (a.T if ta else a), (b.T if tb else b)
    out_lg, out_cp = cp.empty((M, N), cp.float32), cp.empty((M, N), cp.float32)
    contenders = {
        "loomgrad": lambda: lg.kernels.gemm(a, b, ta, tb, out=out_lg),
        "cupy": lambda: cp.matmul(A, B, out=out_cp),
    }
    if torch is not None:
        tA, tB = torch.as_tensor(A, device="cuda"), torch.as_tensor(B, device="cuda")
        out_t = torch.empty((M, N), device="cuda")
        contenders["torch"] = lambda: torch.mm(tA, tB, out=out_t)
    times = setup.time(contenders)
    diff = float(cp.abs(out_lg - out_cp).max())
    if not diff <= tol:
        print(f"WARNING: {label}: loomgrad and cuBLAS disagree (max diff {diff:.3g}, "
              f"tolerance {tol:.3g})")
    return harness.Row(f"{label} [{M}x{N}x{K}]", 2.0 * M * N * K, times)


def _gpu_rows(setup, shapes, tf32: bool):
    """Every shape with TF32 off or on for all contenders; each library's
    setting is restored afterwards."""
    import math

    import cupy as cp
    import numpy as np
    from cupy._core import _routines_linalg as cupy_linalg  # no public switch after import

    import loomgrad as lg

    torch, f32 = setup.torch, np.dtype(np.float32)
    saved = (lg.backends.cuda.matmul.allow_tf32, cupy_linalg.get_compute_type(f32),
             torch.backends.cuda.matmul.allow_tf32 if torch is not None else None)
    lg.backends.cuda.matmul.allow_tf32 = tf32
    cupy_linalg.set_compute_type(f32, cupy_linalg.COMPUTE_TYPE_TF32 if tf32
                                 else cupy_linalg.COMPUTE_TYPE_FP32)
    if torch is not None:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    rows = []
    try:
        rng = cp.random.default_rng(0)
        for label, M, N, K, ta, tb in shapes:
            # Entries are sums of K products of N(0,1) numbers: size ~ sqrt(K).
            tol = (1e-2 if tf32 else 1e-4) * math.sqrt(K)
            rows.append(_gpu_row(setup, rng, label, M, N, K, ta, tb, tol))
            print(f"  ... {label}", flush=True)
            cp.get_default_memory_pool().free_all_blocks()
    finally:
        lg.backends.cuda.matmul.allow_tf32 = saved[0]
        cupy_linalg.set_compute_type(f32, saved[1])
        if torch is not None:
            torch.backends.cuda.matmul.allow_tf32 = saved[2]
    return rows


def _main_cuda(args, setup) -> int:
    from . import harness

    harness.print_header("GEMM benchmark (CUDA)", setup, extra=[
        "contenders: loomgrad (our SGEMM) | cupy: cupy.matmul -> cuBLAS | torch: torch.mm -> "
        "cuBLAS, on the same CuPy arrays",
        "FP32 table: no TF32 anywhere (CuPy compute type FP32 whatever CUPY_TF32 says, torch "
        "allow_tf32 = False)"])
    yardsticks = ["cupy"] + (["torch"] if setup.torch is not None else [])
    rows = _gpu_rows(setup, GPU_QUICK if args.quick else GPU_SHAPES, tf32=False)
    print()
    harness.print_table(rows, ours="loomgrad", yardsticks=yardsticks, peak_gflops=setup.peak,
                        title="FP32 (CUDA cores): targets >= 0.8x cuBLAS at 4096^3, >= 0.7x at "
                              "1024^3")
    rows = _gpu_rows(setup, TF32_QUICK if args.quick else TF32_SHAPES, tf32=True)
    print()
    harness.print_table(rows, ours="loomgrad", yardsticks=yardsticks, peak_gflops=setup.peak,
                        title="TF32 tensor cores: ours with lg.backends.cuda.matmul.allow_tf32 "
                              "= True vs cuBLAS TF32 (% peak is of the FP32 peak, so it can "
                              "exceed 100)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
