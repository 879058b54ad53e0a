"""The one bench harness: timing, BLAS thread control, peak FLOP/s and the
results table, shared by every ``loomgrad.benchmarks.*`` module.

Timing: contenders are run in alternation (so a noisy neighbour slows all of
them alike) and each keeps its fastest sample; compare the resulting ratios,
not absolute numbers, on a shared machine.

    times = time_min({"loomgrad": f1, "numpy": f2}, reps=7, min_time=0.02)
    rows.append(Row("512x512x512", flops=2 * 512**3, seconds=times))
    print_table(rows, ours="loomgrad", yardsticks=["numpy"], peak_gflops=peak)
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

__all__ = ["time_min", "Row", "print_table", "geomean", "cpu_peak_gflops", "cpu_mhz",
           "bench_parser", "bench_setup", "print_header", "Setup",
           "set_blas_threads", "blas_threads", "machine_summary", "time_cuda",
           "gpu_peak_gflops", "gpu_copy_bandwidth"]


def time_min(contenders: Mapping[str, Callable[[], object]], reps: int = 7,
             min_time: float = 0.02, warmup: int = 1, pause: float = 0.12) -> dict[str, float]:
    """Best seconds per call of each contender.

    Each contender is warmed up, then its call count per sample is doubled
    until one sample lasts ``min_time`` seconds; then ``reps`` rounds run the
    contenders one after another, and each keeps its minimum time per call.

    ``pause`` seconds of sleep separate one contender's sample from the next:
    thread pools keep spinning after a call (OpenBLAS's workers for about
    2**28 cycles, ~0.1 s), and on a small machine those spinning threads
    would otherwise steal cores from whichever contender runs next.
    """
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
                file=None, unit: str = "GF/s") -> dict[str, float]:
    """Print shape | ours GFLOP/s | each yardstick's GFLOP/s and ours/it ratio
    | % of peak, then the geometric-mean ratio per yardstick (returned).
    ``unit`` only labels the columns (e.g. "GB/s" for Rows that count bytes)."""
    file = file or sys.stdout
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
    return means


# ---------------------------------------------------------------- the machine
def cpu_mhz() -> tuple[float | None, str]:
    """(MHz, where it came from): lscpu's "CPU max MHz" (sysfs cpufreq) when
    the OS exposes it, else /proc/cpuinfo's "cpu MHz" (inside VMs usually the
    base clock: real turbo clocks can then exceed 100 % of "peak")."""
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") as f:
            return int(f.read()) / 1000.0, "cpufreq cpuinfo_max_freq"
    except (OSError, ValueError):
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("cpu mhz"):
                    return float(line.split(":")[1]), "/proc/cpuinfo 'cpu MHz' (no max-clock info)"
    except (OSError, ValueError, IndexError):
        pass
    return None, "unknown"


def _flops_per_cycle(isa: str, dtype_bytes: int) -> int:
    # Two FMA pipes per core on every x86 core we target (Haswell+, Zen 2/3/4,
    # Skylake-SP with 2 AVX-512 units); an FMA is two flops.
    lanes = {"avx512": 64, "avx2+fma": 32, "generic": 16}.get(isa, 16) // dtype_bytes
    return 2 * 2 * lanes


def cpu_peak_gflops(dtype="float32", threads: int = 1, isa: str | None = None
                    ) -> tuple[float | None, str]:
    """(peak GFLOP/s, derivation) for `threads` cores running the GEMM path
    `isa` (default: the one loomgrad uses) on `dtype`."""
    import numpy as np

    if isa is None:
        from .. import _cpu
        isa = _cpu.build_info()["gemm_isa"]
    mhz, src = cpu_mhz()
    fpc = _flops_per_cycle(isa, np.dtype(dtype).itemsize)
    if mhz is None:
        return None, "peak unknown (no CPU clock found)"
    peak = threads * mhz / 1000.0 * fpc
    return peak, (f"peak = {threads} cores x {mhz / 1000:.3f} GHz [{src}] x {fpc} "
                  f"{np.dtype(dtype).name} flop/cycle [{isa}: 2 FMA pipes x "
                  f"{fpc // 4} lanes x 2] = {peak:.1f} GFLOP/s")


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
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs, python {platform.python_version()}"


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
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="cpu: our C++ kernels vs NumPy/torch CPU; cuda: our CUDA kernels vs "
                        "CuPy (cuBLAS) and torch (cuBLAS/cuDNN), CUDA-event timing, median")
    p.set_defaults(default_reps=reps, default_min_time=min_time)
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
    copy_gbs: float | None = None  # measured device-to-device copy bandwidth (cuda)

    def time(self, contenders):
        if self.device == "cuda":
            return time_cuda(contenders, reps=max(self.reps, 5))
        return time_min(contenders, reps=self.reps, min_time=self.min_time, pause=self.pause)


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
    s = Setup(reps=args.reps or (2 if args.quick else args.default_reps),
              min_time=args.min_time or (0.005 if args.quick else args.default_min_time),
              pause=args.pause, dtype=np.dtype(args.dtype), threads=args.threads)
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
    return s


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

    extra = ([setup.peak_line] if peak else []) + list(extra)

    print(f"loomgrad {lg.__version__} {title}, {setup.dtype.name}, {setup.threads} threads")
    for line in list(setup.lines) + list(extra):
        print(f"  {line}")
    if setup.device == "cuda":
        print(f"  timing: CUDA events on the current stream, median of {max(setup.reps, 5)} "
              f"alternating rounds after warm-up")
    else:
        print(f"  timing: best of {setup.reps} alternating rounds, >= {setup.min_time * 1e3:.0f} "
              f"ms per sample")
    print()
