"""The one bench harness: timing, BLAS thread control, peak FLOP/s and the
results table, shared by every ``loomgrad.benchmarks.*`` module.

Timing: contenders are run in alternation (so a noisy neighbour slows all of
them alike) and each keeps its fastest sample; compare the resulting ratios,
not absolute numbers, on a shared machine.

    times = time_min({"loomgrad": f1, "numpy": f2}, reps=7, min_time=0.02)
    rows.append(Row("512x512x512", flops=2 * 512**3, seconds=times))
    print_table(rows, ours="loomgrad", yardsticks=["numpy"], peak_gflops=peak, setup=setup)
    return finish(setup)    # --json / --plot, for every bench alike

"% peak" is of the measured FMA peak and "% of bandwidth" of the measured
STREAM copy bandwidth (see _machine.py); print_table says which under each
table.
"""
from __future__ import annotations

import ctypes
import math
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from . import _machine, _results

__all__ = ["time_min", "Row", "print_table", "geomean", "cpu_peak_gflops", "cpu_bandwidth",
           "bench_parser", "bench_setup", "print_header", "Setup", "finish",
           "set_blas_threads", "blas_threads", "machine_summary", "time_cuda",
           "gpu_peak_gflops", "gpu_copy_bandwidth"]


def time_min(contenders: Mapping[str, Callable[[], object]], reps: int = 7,
             min_time: float = 0.02, warmup: int = 1, pause: float = 0.12,
             settle: float = 0.0) -> dict[str, float]:
    """Best seconds per call of each contender.

    Each contender is warmed up, then its call count per sample is doubled
    until one sample lasts ``min_time`` seconds; then ``reps`` rounds run the
    contenders one after another, and each keeps its minimum time per call.

    ``pause`` seconds of sleep separate one contender's sample from the next:
    thread pools keep spinning after a call (OpenBLAS's workers for about
    2**28 cycles, ~0.1 s), and on a small machine those spinning threads
    would otherwise steal cores from whichever contender runs next.
    ``settle`` seconds of untimed calls of the next contender follow each
    switch (the issue-17 rule: >= 0.15 s), so its own threads are awake and
    the previous library's have gone idle before the clock starts.
    """

    def settle_in(fn):
        t_end = time.perf_counter() + settle
        while time.perf_counter() < t_end:
            fn()

    calls = {}
    for name, fn in contenders.items():
        if pause > 0:
            time.sleep(pause)
        for _ in range(warmup):
            fn()
        n = 1
        while True:
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            if time.perf_counter() - t0 >= min_time or n >= 1 << 20:
                break
            n *= 2
        calls[name] = n
    best = {name: math.inf for name in contenders}
    for _ in range(reps):
        for name, fn in contenders.items():
            n = calls[name]
            if pause > 0:
                time.sleep(pause)
            if settle > 0 and len(contenders) > 1:
                settle_in(fn)
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            best[name] = min(best[name], (time.perf_counter() - t0) / n)
    return best


def time_cuda(contenders: Mapping[str, Callable[[], object]], reps: int = 15,
              warmup: int = 3, min_time: float = 1e-3) -> dict[str, float]:
    """Median seconds per call of each contender on the GPU, timed with CUDA
    events recorded on CuPy's current stream (never a host clock around an
    unsynchronised launch). Contenders alternate round by round; each sample
    repeats the call until it lasts ``min_time`` seconds of GPU time.
    Contenders that launch on another stream (torch) must use the legacy
    default stream, which CuPy's default stream also is."""
    import statistics

    import cupy as cp

    stream = cp.cuda.get_current_stream()

    def sample(fn, n):
        start, end = cp.cuda.Event(), cp.cuda.Event()
        start.record(stream)
        for _ in range(n):
            fn()
        end.record(stream)
        end.synchronize()
        return cp.cuda.get_elapsed_time(start, end) / 1e3

    calls = {}
    for name, fn in contenders.items():
        for _ in range(warmup):
            fn()
        n = 1
        while sample(fn, n) < min_time and n < 1 << 16:
            n *= 2
        calls[name] = n
    times = {name: [] for name in contenders}
    for _ in range(reps):
        for name, fn in contenders.items():
            times[name].append(sample(fn, calls[name]) / calls[name])
    return {name: statistics.median(v) for name, v in times.items()}


def gpu_peak_gflops() -> tuple[float | None, str]:
    """(FP32 FMA peak GFLOP/s of the current GPU, derivation): SMs x boost
    clock x 128 FP32 lanes per SM (Ampere/Hopper) x 2."""
    import cupy as cp

    dev = cp.cuda.Device()
    try:
        sms = cp.cuda.runtime.deviceGetAttribute(cp.cuda.runtime.cudaDevAttrMultiProcessorCount,
                                                 dev.id)
        khz = cp.cuda.runtime.deviceGetAttribute(cp.cuda.runtime.cudaDevAttrClockRate, dev.id)
    except Exception as e:  # attribute missing from this CuPy/CUDA
        return None, f"peak unknown ({e})"
    peak = sms * khz / 1e6 * 128 * 2
    return peak, (f"peak = {sms} SMs x {khz / 1e6:.3f} GHz x 128 fp32 lanes x 2 = "
                  f"{peak:.0f} GFLOP/s (TF32 tensor cores excluded)")


def gpu_copy_bandwidth(nbytes: int = 1 << 28) -> float:
    """Measured device-to-device copy bandwidth in GB/s (bytes read + written),
    the yardstick for bandwidth-bound kernels."""
    import cupy as cp

    a = cp.ones(nbytes // 4, cp.float32)
    b = cp.empty_like(a)
    t = time_cuda({"copy": lambda: cp.copyto(b, a)}, reps=9)["copy"]
    return 2 * nbytes / t / 1e9


@dataclass
class Row:
    """One benchmark case: a label, its useful work (FLOPs; or bytes moved,
    for a bandwidth-bound kernel printed with ``unit="GB/s"``), and the best
    seconds per call for each contender that ran it."""
    label: str
    flops: float
    seconds: dict[str, float] = field(default_factory=dict)

    def gflops(self, name: str) -> float | None:
        """Work per second in units of 1e9 (GFLOP/s, or GB/s)."""
        t = self.seconds.get(name)
        return None if t is None or t <= 0 else self.flops / t / 1e9

    def ratio(self, ours: str, other: str) -> float | None:
        """How many times faster `ours` is than `other` (> 1: ours wins)."""
        a, b = self.seconds.get(ours), self.seconds.get(other)
        return None if a is None or b is None or a <= 0 else b / a


def geomean(values: Sequence[float]) -> float:
    values = [v for v in values if v is not None and v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def print_table(rows: Sequence[Row], ours: str, yardsticks: Sequence[str],
                peak_gflops: float | None = None, title: str | None = None,
                file=None, unit: str = "GF/s", setup: "Setup | None" = None,
                peak_label: str | None = None) -> dict[str, float]:
    """Print shape | ours GFLOP/s | each yardstick's GFLOP/s and ours/it ratio
    | % of peak, then the geometric-mean ratio per yardstick (returned).
    ``unit`` only labels the columns (e.g. "GB/s" for Rows that count bytes).
    With ``setup`` the table is also recorded for --json/--plot, and the
    line saying what "% peak" is a percentage of comes from it (the measured
    FMA peak for GF/s, the measured copy bandwidth for GB/s) unless
    ``peak_label`` says otherwise."""
    file = file or sys.stdout
    if peak_label is None and setup is not None and peak_gflops:
        peak_label = setup.peak_label(unit, peak_gflops)
    width = max([len("shape")] + [len(r.label) for r in rows])
    head = [f"{'shape':<{width}}", f"{ours + ' ' + unit:>14}"]
    for y in yardsticks:
        head += [f"{y + ' ' + unit:>12}", f"{'x ' + y:>9}"]
    if peak_gflops:
        head.append(f"{'% peak':>7}")
    if title:
        print(title, file=file)
    line = "  ".join(head)
    print(line, file=file)
    print("-" * len(line), file=file)

    def num(v, w, fmt):
        return f"{'-':>{w}}" if v is None else f"{v:>{w}{fmt}}"

    for r in rows:
        cells = [f"{r.label:<{width}}", num(r.gflops(ours), 14, ".1f")]
        for y in yardsticks:
            cells += [num(r.gflops(y), 12, ".1f"), num(r.ratio(ours, y), 9, ".2f")]
        if peak_gflops:
            g = r.gflops(ours)
            cells.append(num(None if g is None else 100 * g / peak_gflops, 7, ".0f"))
        print("  ".join(cells), file=file)
    means = {}
    for y in yardsticks:
        ratios = [r.ratio(ours, y) for r in rows]
        ratios = [v for v in ratios if v is not None]
        if ratios:
            means[y] = geomean(ratios)
            print(f"geometric-mean speed ratio {ours}/{y}: {means[y]:.3f} "
                  f"over {len(ratios)} shapes (> 1: {ours} faster)", file=file)
    if peak_gflops and peak_label:
        print(f"% peak: {peak_label}", file=file)
        best = max([g for g in (r.gflops(ours) for r in rows) if g is not None] or [0.0])
        if best > 1.02 * peak_gflops and setup is not None and setup.device == "cpu":
            print(f"  note: {ours} ran at {100 * best / peak_gflops:.0f} % of it, so the cached "
                  f"figure was measured while something else held a core; run `python -m "
                  f"loomgrad info --remeasure` on a quiet machine", file=file)
    if setup is not None:
        setup.tables.append(_results.table_record(rows, ours, yardsticks, unit, peak_gflops,
                                                  peak_label, title, means))
    return means


# ---------------------------------------------------------------- the machine
def cpu_peak_gflops(dtype="float32", threads: int = 1) -> tuple[float | None, str]:
    """(peak GFLOP/s, how it was found) for `threads` threads on loomgrad's
    GEMM path and `dtype`: measured (an FMA loop on every thread at once,
    cached per machine; see _machine.py), never derived from a clock."""
    import loomgrad as lg
    import numpy as np

    name = np.dtype(dtype).name
    peak, source = _machine.fma_peak_gflops(name, threads)
    isa = lg._cpu.build_info()["gemm_isa"]
    return peak, (f"peak = {peak:.1f} GFLOP/s: measured FMA peak, {threads} threads, {name}, "
                  f"{isa} path ({source}; python -m loomgrad info)")


def cpu_bandwidth(threads: int = 1) -> tuple[float, str]:
    """(STREAM copy GB/s, how it was found) for `threads` threads, measured
    and cached like the peak."""
    bw, source = _machine.stream_bandwidth(threads)
    return bw["copy_gbs"], (f"bandwidth = {bw['copy_gbs']:.1f} GB/s: measured STREAM copy "
                            f"(triad {bw['triad_gbs']:.1f} GB/s), {threads} threads "
                            f"({source}; python -m loomgrad info)")


# ---------------------------------------------------------------- BLAS threads
def _loaded_openblas() -> list[str]:
    paths = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1] if line.strip() else ""
                if "openblas" in os.path.basename(p).lower() and p not in paths:
                    paths.append(p)
    except OSError:
        pass
    return paths


_SET = ("openblas_set_num_threads", "scipy_openblas_set_num_threads64_",
        "scipy_openblas_set_num_threads", "openblas_set_num_threads64_")
_GET = ("openblas_get_num_threads", "scipy_openblas_get_num_threads64_",
        "scipy_openblas_get_num_threads", "openblas_get_num_threads64_")


def _symbol(lib, names):
    for n in names:
        fn = getattr(lib, n, None)
        if fn is not None:
            return fn
    return None


def blas_threads() -> int | None:
    """Threads NumPy's OpenBLAS will use, or None when it cannot be asked."""
    import numpy  # noqa: F401  (loads the BLAS)

    for path in _loaded_openblas():
        fn = _symbol(ctypes.CDLL(path), _GET)
        if fn is not None:
            fn.restype = ctypes.c_int
            return int(fn())
    return None


def set_blas_threads(n: int) -> str:
    """Set NumPy's OpenBLAS thread count at run time (what threadpoolctl does:
    find the loaded library, call its openblas_set_num_threads). Returns a
    line saying what happened; when it cannot, set OPENBLAS_NUM_THREADS in the
    environment before Python starts."""
    import numpy  # noqa: F401

    for path in _loaded_openblas():
        fn = _symbol(ctypes.CDLL(path), _SET)
        if fn is not None:
            fn.argtypes = [ctypes.c_int]
            fn(int(n))
            return f"numpy BLAS: {os.path.basename(path)}, threads set to {blas_threads()}"
    env = os.environ.get("OPENBLAS_NUM_THREADS")
    return ("numpy BLAS: no OpenBLAS found to control; "
            f"OPENBLAS_NUM_THREADS={env!r} (set it before starting Python)")


def machine_summary() -> str:
    """CPU model, logical CPU count and Python version, for the table header."""
    return (f"{_machine.cpu_model()}, {os.cpu_count()} logical CPUs, "
            f"python {platform.python_version()}")


# ---------------------------------------------------------------- one CLI shape
def bench_parser(name: str, description: str, reps: int = 7, min_time: float = 0.05):
    """The options every benchmark shares: --threads --dtype --quick --reps
    --min-time --pause --no-torch. A benchmark adds its own on the result."""
    import argparse

    p = argparse.ArgumentParser(prog=f"python -m loomgrad bench {name}", description=description)
    p.add_argument("--threads", type=int, default=2,
                   help="threads for every contender (default 2)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--quick", action="store_true", help="small shapes, few repetitions (smoke run)")
    p.add_argument("--reps", type=int, default=None,
                   help=f"alternating rounds per shape (default {reps}, 2 with --quick)")
    p.add_argument("--min-time", type=float, default=None,
                   help=f"seconds per timing sample (default {min_time}, 0.005 with --quick)")
    p.add_argument("--pause", type=float, default=0.12,
                   help="seconds of idle between contenders, so other libraries' spinning "
                        "worker threads settle (default 0.12)")
    p.add_argument("--settle", type=float, default=None,
                   help="seconds of untimed calls of each contender after every switch, "
                        "before its sample is timed (default 0.15, 0.02 with --quick)")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    p.add_argument("--json", metavar="PATH", default=None,
                   help="also write every table, the machine and the versions to PATH "
                        "(compare two with: python -m loomgrad bench compare A.json B.json)")
    p.add_argument("--plot", metavar="PATH", default=None,
                   help="also draw each contender's rate per row against the measured peak "
                        "or bandwidth to PATH (PNG/SVG/PDF; needs the plot extra, matplotlib)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="cpu: our C++ kernels vs NumPy/torch CPU; cuda: our CUDA kernels vs "
                        "CuPy (cuBLAS) and torch (cuBLAS/cuDNN), CUDA-event timing, median")
    p.set_defaults(default_reps=reps, default_min_time=min_time, bench_name=name)
    return p


@dataclass
class Setup:
    """What a benchmark run uses: repetitions, sample length, dtype, the
    torch module (None when absent or --no-torch) and the header lines."""
    reps: int
    min_time: float
    pause: float
    dtype: object
    threads: int
    torch: object = None
    lines: list = field(default_factory=list)
    peak: float | None = None    # GFLOP/s of `threads` cores on the GEMM path in use
    peak_line: str = ""          # how `peak` was derived
    device: str = "cpu"          # "cuda": contenders run on the GPU (CuPy arrays)
    copy_gbs: float | None = None  # measured copy bandwidth (STREAM on the CPU, D2D on a GPU)
    bandwidth_line: str = ""       # how `copy_gbs` was measured
    settle: float = 0.0            # untimed seconds per contender switch (time_min)
    bench: str = ""
    argv: list = field(default_factory=list)
    json_path: str | None = None
    plot_path: str | None = None
    machine: dict = field(default_factory=dict)  # for --json
    tables: list = field(default_factory=list)   # what print_table recorded

    def time(self, contenders):
        if self.device == "cuda":
            return time_cuda(contenders, reps=max(self.reps, 5))
        return time_min(contenders, reps=self.reps, min_time=self.min_time, pause=self.pause,
                        settle=self.settle)

    def peak_label(self, unit: str, value: float) -> str:
        if unit == "GB/s":
            what = ("measured STREAM copy bandwidth" if self.device == "cpu"
                    else "measured device-to-device copy bandwidth")
            return f"of the {what}, {value:.1f} GB/s"
        what = "measured FMA peak" if self.device == "cpu" else "FP32 FMA peak (SMs x clock)"
        return f"of the {what}, {value:.1f} GFLOP/s"


def bench_setup(args) -> Setup:
    """Apply the shared options: the same thread count for loomgrad, NumPy's
    OpenBLAS and torch; import torch unless --no-torch."""
    if args.threads < 1:
        raise SystemExit("--threads must be >= 1")
    if args.reps is not None and args.reps < 1:
        raise SystemExit("--reps must be >= 1")
    import numpy as np

    import loomgrad as lg

    lg.set_num_threads(args.threads)
    if getattr(args, "plot", None):
        _results.require_matplotlib()
    settle = getattr(args, "settle", None)
    s = Setup(reps=args.reps or (2 if args.quick else args.default_reps),
              min_time=args.min_time or (0.005 if args.quick else args.default_min_time),
              pause=args.pause, dtype=np.dtype(args.dtype), threads=args.threads,
              settle=(0.02 if args.quick else 0.15) if settle is None else settle,
              bench=getattr(args, "bench_name", ""), argv=list(sys.argv[1:]),
              json_path=getattr(args, "json", None), plot_path=getattr(args, "plot", None))
    info = lg._cpu.build_info()
    s.lines.append(f"machine: {machine_summary()}")
    s.lines.append(f"loomgrad: GEMM path {info['gemm_isa']}, {lg.get_num_threads()} threads, "
                   f"{info['compiler']}, OpenMP {info['openmp']}")
    s.lines.append(set_blas_threads(args.threads))
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            torch = None
        if torch is not None:
            torch.set_num_threads(args.threads)
            s.torch = torch
            s.lines.append(f"torch {torch.__version__}: {torch.get_num_threads()} threads, "
                           f"mkldnn {torch.backends.mkldnn.is_available()}")
    if getattr(args, "device", "cpu") == "cuda":
        _cuda_setup(s, args)
    else:
        s.peak, s.peak_line = cpu_peak_gflops(s.dtype, args.threads)
        s.copy_gbs, s.bandwidth_line = cpu_bandwidth(args.threads)
    s.machine = _machine_record(s, info)
    return s


def _machine_record(s: Setup, info: dict) -> dict:
    """The machine and versions, for --json."""
    import numpy as np

    import loomgrad as lg

    rec = {"cpu": _machine.cpu_model(), "logical_cpus": os.cpu_count(),
           "gemm_isa": info["gemm_isa"], "threads": s.threads, "dtype": s.dtype.name,
           "device": s.device, "peak_gflops": s.peak, "peak_line": s.peak_line,
           "copy_gbs": s.copy_gbs, "bandwidth_line": s.bandwidth_line,
           "versions": {"loomgrad": lg.__version__, "numpy": np.__version__,
                        "python": platform.python_version(), "compiler": info["compiler"],
                        "torch": getattr(s.torch, "__version__", None)},
           "header": list(s.lines)}
    try:
        from threadpoolctl import threadpool_info  # optional: which OpenBLAS kernels
        rec["blas"] = [{k: d.get(k) for k in ("internal_api", "version", "architecture",
                                               "num_threads", "filepath")}
                       for d in threadpool_info() if d.get("user_api") == "blas"]
    except ImportError:
        pass
    return rec


def finish(setup: Setup) -> int:
    """Write --json and --plot for what print_table recorded; returns 0 so a
    bench can end with ``return harness.finish(setup)``."""
    title = f"loomgrad {setup.bench} bench, {setup.dtype.name}, {setup.threads} threads"
    if setup.json_path:
        _results.write_json(setup.json_path, setup.bench, setup.argv, setup.machine,
                            setup.tables)
        print(f"results written to {setup.json_path}")
    if setup.plot_path:
        _results.write_plot(setup.plot_path, title, setup.tables)
        print(f"plot written to {setup.plot_path}")
    return 0


def _cuda_setup(s: Setup, args) -> None:
    """--device cuda: our CUDA kernels vs CuPy and torch.cuda on the current GPU."""
    import numpy as np

    import loomgrad as lg

    if not lg.cuda.is_available():
        raise SystemExit(f"--device cuda: {lg.cuda.unavailable_reason()}")
    if s.dtype != np.float32:
        raise SystemExit("--device cuda: the CUDA kernels are float32 only")
    import cupy as cp

    s.device = "cuda"
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    info = lg.cuda.build_info()
    s.lines.append(f"GPU: {name}, {props['totalGlobalMem'] / 2**30:.0f} GiB, CuPy "
                   f"{cp.__version__}, loomgrad CUDA module {info['architectures']} "
                   f"(runtime {info['runtime']}, driver {info['driver']})")
    if s.torch is not None and not s.torch.cuda.is_available():
        s.lines.append("torch: no CUDA in this build; torch left out")
        s.torch = None
    s.peak, s.peak_line = gpu_peak_gflops()
    s.copy_gbs = gpu_copy_bandwidth()
    s.lines.append(f"device-to-device copy (cupy.copyto, 256 MiB): {s.copy_gbs:.0f} GB/s")


def print_header(title: str, setup: Setup, extra=(), peak: bool = True) -> None:
    """Title, the setup's lines, the peak derivation (for FLOP-counting
    benchmarks; ``peak=False`` for bandwidth ones) and the timing rule."""
    import loomgrad as lg

    extra = ([setup.peak_line] if peak else [setup.bandwidth_line]) + list(extra)
    extra = [e for e in extra if e]

    print(f"loomgrad {lg.__version__} {title}, {setup.dtype.name}, {setup.threads} threads")
    for line in list(setup.lines) + list(extra):
        print(f"  {line}")
    if setup.device == "cuda":
        print(f"  timing: CUDA events on the current stream, median of {max(setup.reps, 5)} "
              f"alternating rounds after warm-up")
    else:
        print(f"  timing: best of {setup.reps} alternating rounds, >= {setup.min_time * 1e3:.0f} "
              f"ms per sample, {setup.settle:.2f} s untimed warm-up after each contender switch")
    print()
