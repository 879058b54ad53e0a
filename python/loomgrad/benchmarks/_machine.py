"""Measured machine figures for the benches' "% peak" and "% of bandwidth":
the FMA peak of loomgrad's GEMM path (C++ loop, 12 independent accumulator
chains, every thread at once, wall-clock timed: the best of 3 tries of 0.5 s
after a warm-up, each the best of 5 windows, because a neighbour process can
only slow a try down -- on a shared 2-core VM about one try in three ran at
half speed, another process holding a core for the whole try) and
STREAM copy/triad bandwidth (three float64 arrays of 4x the clamped L3, at
least 128 MiB each).

Measuring takes a few seconds, so the figures are cached in a JSON file,
``$LOOMGRAD_CACHE_DIR`` or ``$XDG_CACHE_HOME/loomgrad`` or
``~/.cache/loomgrad`` / ``machine.json``, one entry per (CPU model, GEMM ISA
path, thread count, loomgrad version); ``python -m loomgrad info
--remeasure`` replaces an entry.
"""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

__all__ = ["cpu_model", "cache_path", "machine_key", "fma_peak_gflops", "stream_bandwidth",
           "figures"]

PEAK_SECONDS, PEAK_WARMUP, PEAK_TRIES = 0.5, 0.2, 3
STREAM_REPS = 5


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (else platform.processor())."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cache_path() -> Path:
    base = os.environ.get("LOOMGRAD_CACHE_DIR")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(xdg, "loomgrad")
    return Path(base) / "machine.json"


def machine_key(threads: int) -> str:
    import loomgrad as lg

    return (f"{cpu_model()} | {lg._cpu.build_info()['gemm_isa']} | {threads} threads | "
            f"loomgrad {lg.__version__}")


def _load() -> dict:
    try:
        with open(cache_path()) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _store(key: str, field: str, value) -> None:
    """Merge one figure into the cache (best effort: a read-only home only
    means measuring again next time)."""
    data = _load()
    entry = data.setdefault(key, {})
    entry[field] = value
    entry["measured_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        pass


def _cached(threads: int, field: str, measure, refresh: bool):
    key = machine_key(threads)
    if not refresh:
        value = _load().get(key, {}).get(field)
        if value is not None:
            return value, "cached"
    value = measure()
    _store(key, field, value)
    return value, "measured now"


def fma_peak_gflops(dtype: str = "float32", threads: int = 1, refresh: bool = False
                    ) -> tuple[float, str]:
    """(GFLOP/s, "cached" or "measured now"): `threads` threads running the
    GEMM path's FMA loop on `dtype` at once."""
    import numpy as np

    import loomgrad as lg

    name = np.dtype(dtype).name
    def measure():
        return max(float(lg._cpu.measure_fma_peak(name, int(threads), PEAK_SECONDS,
                                                  PEAK_WARMUP)) for _ in range(PEAK_TRIES))

    return _cached(threads, f"fma_peak_gflops_{name}", measure, refresh)


def stream_bandwidth(threads: int = 1, refresh: bool = False) -> tuple[dict, str]:
    """({"copy_gbs", "triad_gbs", "bytes_per_array"}, "cached" or "measured now")."""
    import loomgrad as lg

    l3 = min(max(lg._cpu.build_info()["caches"]["l3"], 1 << 20), 32 << 20)
    nbytes = max(4 * l3, 128 << 20)
    return _cached(threads, "stream",
                   lambda: dict(lg._cpu.measure_stream_bandwidth(int(threads), nbytes,
                                                                 STREAM_REPS)), refresh)


def figures(threads: int, refresh: bool = False) -> dict:
    """Every figure for `threads` threads (measuring what is not cached)."""
    f32, s32 = fma_peak_gflops("float32", threads, refresh)
    f64, s64 = fma_peak_gflops("float64", threads, refresh)
    bw, sbw = stream_bandwidth(threads, refresh)
    return {"key": machine_key(threads), "fma_peak_gflops": {"float32": f32, "float64": f64},
            "stream": bw, "source": {"float32": s32, "float64": s64, "stream": sbw},
            "cache": str(cache_path())}
