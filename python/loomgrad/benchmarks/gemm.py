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

CPU runs compare each GEMM path of ours with OpenBLAS's matching kernels,
each pairing in its own subprocess (OpenBLAS reads its kernel choice when it
loads): our avx512 path against OpenBLAS with ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE`` unset (its native choice), our avx2 path against
``OPENBLAS_CORETYPE=Haswell`` (its AVX2 kernels); ``--isa`` picks one path.
Each table's title names the kernel set OpenBLAS reported (threadpoolctl's
``architecture``), and ``--json`` collects every path's table in one file.

Every contender gets the same thread count: ``lg.set_num_threads``,
``torch.set_num_threads`` and OpenBLAS's ``openblas_set_num_threads`` (called
on the library NumPy loaded; see harness.set_blas_threads). The DL shapes use
the transpose flags a framework would, with NumPy/torch given the same
transposed views (which their BLAS reads without a copy).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

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
    p.add_argument("--isa", choices=["all", "avx512", "avx2", "generic"], default="all",
                   help="CPU: which of our GEMM paths to run, each against OpenBLAS's matching "
                        "kernels in its own subprocess (default: every path this CPU has)")
    p.add_argument("--only", choices=["loomgrad", "numpy", "torch"], default=None,
                   help="CPU: time this contender alone (no other library runs in the process), "
                        "to check that the alternated ratios match each contender alone")
    return p


_CHILD = "_LOOMGRAD_BENCH_GEMM_CHILD"  # set in the per-path subprocesses


def _paths(isa: str) -> list[str]:
    """Our GEMM paths to run: the requested one, or every path the CPU has."""
    if isa != "all":
        return [isa]
    import loomgrad as lg

    f = lg._cpu.build_info()["cpu_features"]
    paths = [p for p, ok in (("avx512", f["avx512f"] and f["avx512dq"] and f["fma"]),
                             ("avx2", f["avx2"] and f["fma"])) if ok]
    return paths or ["generic"]


def _path_env(path: str, threads: int) -> dict:
    """Environment of one path's subprocess: our path, and OpenBLAS pinned to
    its matching kernel set (native for avx512 and generic, Haswell for avx2)."""
    env = dict(os.environ)
    env[_CHILD] = "1"
    env.setdefault("OPENBLAS_NUM_THREADS", str(max(threads, 1)))
    env["LOOMGRAD_GEMM_ISA"] = path
    env.pop("OPENBLAS_L2_SIZE", None)
    if path == "avx2":
        env["OPENBLAS_CORETYPE"] = "Haswell"
    else:
        env.pop("OPENBLAS_CORETYPE", None)
    return env


def _strip(argv: list[str], options: tuple[str, ...]) -> list[str]:
    """argv without the given value-taking options (``--opt V`` or ``--opt=V``)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in options:
            skip = True
        elif not any(a.startswith(o + "=") for o in options):
            out.append(a)
    return out


def _run_paths(args, argv: list[str]) -> int:
    """One subprocess per GEMM path (see the module docstring); their output
    is relayed line by line, their tables merged for --json/--plot."""
    from . import _results

    if args.plot:
        _results.require_matplotlib()
    base = _strip(list(argv), ("--json", "--plot", "--isa"))
    tables, machines, rc = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for path in _paths(args.isa):
            out = os.path.join(tmp, f"{path}.json")
            cmd = [sys.executable, "-m", "loomgrad.benchmarks.gemm", *base, "--isa", path,
                   "--json", out]
            proc = subprocess.Popen(cmd, env=_path_env(path, args.threads), stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            for line in proc.stdout:
                if not line.startswith("results written to"):
                    print(line, end="", flush=True)
            rc = proc.wait() or rc
            if os.path.exists(out):
                with open(out) as f:
                    doc = json.load(f)
                tables += doc["tables"]
                machines.append(doc["machine"])
            print()
    if args.json and machines:
        _results.write_json(args.json, "gemm", argv, dict(machines[0], paths=machines), tables)
        print(f"results written to {args.json}")
    if args.plot and tables:
        _results.write_plot(args.plot, f"loomgrad gemm bench, {args.dtype}, {args.threads} "
                                       f"threads", tables)
        print(f"plot written to {args.plot}")
    return rc


def _openblas_kernels() -> str:
    """Which kernel set NumPy's OpenBLAS runs, as threadpoolctl reports it."""
    try:
        from threadpoolctl import threadpool_info  # optional
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    archs = [d.get("architecture") for d in threadpool_info() if d.get("user_api") == "blas"]
    return ", ".join(str(a) for a in archs) or "unknown (no BLAS found)"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    if args.device == "cpu" and not os.environ.get(_CHILD):
        return _run_paths(args, argv)
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
    kernels = _openblas_kernels()
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    harness.print_header(f"GEMM benchmark, our {lg._cpu.build_info()['gemm_isa']} path", setup,
                         extra=[f"OpenBLAS kernels (threadpoolctl architecture): {kernels}; "
                                f"OPENBLAS_CORETYPE={coretype or 'unset (native choice)'}"])

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
        if args.only:
            if args.only not in contenders:
                print(f"bench gemm: --only {args.only}: that contender is not available here")
                return 2
            contenders = {args.only: contenders[args.only]}
        times = setup.time(contenders)
        tol = 1e-3 if dtype == np.float32 else 1e-9
        if not args.only and not np.allclose(out_lg, out_np, rtol=tol, atol=tol * np.sqrt(K)):
            print(f"WARNING: {label}: loomgrad and numpy disagree "
                  f"(max diff {np.max(np.abs(out_lg - out_np)):.3g})")
        rows.append(harness.Row(f"{label} [{M}x{N}x{K}]", 2.0 * M * N * K, times))
        print(f"  ... {label}", flush=True)
    print()
    if args.only:
        ours, yardsticks = args.only, []
    else:
        ours = "loomgrad"
    harness.print_table(rows, ours=ours, yardsticks=yardsticks, peak_gflops=peak,
                        title=f"{dtype.name}: our {lg._cpu.build_info()['gemm_isa']} path vs "
                              f"OpenBLAS {kernels} kernels", setup=setup)
    return harness.finish(setup)



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
                              "1024^3", setup=setup)
    rows = _gpu_rows(setup, TF32_QUICK if args.quick else TF32_SHAPES, tf32=True)
    print()
    harness.print_table(rows, ours="loomgrad", yardsticks=yardsticks, peak_gflops=setup.peak,
                        title="TF32 tensor cores: ours with lg.backends.cuda.matmul.allow_tf32 "
                              "= True vs cuBLAS TF32 (% peak is of the FP32 peak, so it can "
                              "exceed 100)", setup=setup)
    return harness.finish(setup)


if __name__ == "__main__":
    raise SystemExit(main())
