"""``python -m loomgrad {train,bench,info}``."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import platform
import sys



def _bench_names() -> list[str]:
    """Every loomgrad.benchmarks module but the shared harness."""
    from . import benchmarks

    return sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)
                  if m.name != "harness" and not m.name.startswith("_"))


def _info(args) -> int:
    import numpy as np

    import loomgrad as lg

    b = lg._cpu.build_info()
    feats = ", ".join(k for k, v in b["cpu_features"].items() if v) or "none"
    caches = b["caches"]
    lines = [
        f"loomgrad {lg.__version__}  (python {platform.python_version()}, numpy {np.__version__})",
        f"CPU module: {b['compiler']}, OpenMP "
        + (f"yes (spec {b['openmp_version']})" if b["openmp"] else "no: kernels run single-threaded"),
        f"CPU threads: {lg.get_num_threads()} (lg.set_num_threads / OMP_NUM_THREADS)",
        f"CPU features: {feats}",
        f"GEMM microkernel path: {b['gemm_isa']}",
        f"caches (as the OS reports them): L1d {caches['l1d'] // 1024} KiB, "
        f"L2 {caches['l2'] // 1024} KiB, L3 {caches['l3'] // 1024} KiB",
    ]
    cinfo = lg.cuda.build_info()
    if cinfo is None:
        lines.append("CUDA module: not built")
    else:
        lines.append(f"CUDA module: built with {cinfo['compiler']} for {cinfo['architectures']}, "
                     f"runtime {cinfo['runtime']} (static), driver {cinfo['driver']}")
    if lg.cuda.is_available():
        lines.append(f"CUDA available: yes, {lg.cuda.device_count()} device(s)")
    else:
        lines.append(f"CUDA available: no ({lg.cuda.unavailable_reason()})")
    print("\n".join(lines))
    return 0


def _train(args) -> int:
    from . import train

    train.run(args)
    return 0


def _bench(args) -> int:
    mod = importlib.import_module(f"loomgrad.benchmarks.{args.name}")
    return mod.main(args.bench_args) or 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loomgrad",
                                     description="loomgrad: train, benchmark, inspect the build.")
    sub = parser.add_subparsers(dest="command", required=True)

    p_train = sub.add_parser("train", help="train a model on the bundled digits data set")
    from . import train

    train.add_arguments(p_train)
    p_train.set_defaults(func=_train)

    p_bench = sub.add_parser("bench", help="benchmark a kernel family against its yardsticks",
                             description="Runs loomgrad.benchmarks.NAME; arguments after NAME "
                                         "go to that benchmark (try NAME --help).")
    p_bench.add_argument("name", choices=_bench_names())
    p_bench.add_argument("bench_args", nargs=argparse.REMAINDER)
    p_bench.set_defaults(func=_bench)

    p_info = sub.add_parser("info", help="version, build flags, threads, SIMD path, CUDA status")
    p_info.set_defaults(func=_info)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
