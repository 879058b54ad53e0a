"""``python -m loomgrad {train,bench,info}``."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import platform
import sys

from . import __version__, train
from .benchmarks import _machine, _results


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
    fig = _machine.figures(lg.get_num_threads(), refresh=args.remeasure)
    peak, bw = fig["fma_peak_gflops"], fig["stream"]
    lines += [
        f"measured FMA peak ({lg.get_num_threads()} threads, {b['gemm_isa']} path): "
        f"{peak['float32']:.1f} GFLOP/s float32, {peak['float64']:.1f} GFLOP/s float64",
        f"measured STREAM bandwidth ({lg.get_num_threads()} threads, "
        f"{bw['bytes_per_array'] >> 20} MiB arrays): copy {bw['copy_gbs']:.1f} GB/s, "
        f"triad {bw['triad_gbs']:.1f} GB/s",
        f"  ({', '.join(sorted(set(fig['source'].values())))}; cache {fig['cache']}; "
        f"--remeasure to measure again)",
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
    try:
        train.run(args)
    except train.UsageError as e:  # a user mistake: one line, no traceback, exit 2
        print(f"python -m loomgrad train: error: {e}", file=sys.stderr)
        return 2
    return 0


def _bench(args) -> int:
    if args.name == "compare":
        return _results.compare_main(args.bench_args)
    mod = importlib.import_module(f"loomgrad.benchmarks.{args.name}")
    return mod.main(args.bench_args) or 0


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line ("python -m loomgrad train: error: ..."), exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m loomgrad",
                     description="loomgrad: train, benchmark, inspect the build.")
    parser.add_argument("--version", action="version", version=f"loomgrad {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p_train = sub.add_parser("train", help="train a model (mlp, lenet on the bundled digits; "
                                           "charlstm on text) with Module.fit")
    train.add_arguments(p_train)
    p_train.set_defaults(func=_train)

    p_bench = sub.add_parser("bench", help="benchmark a kernel family against its yardsticks",
                             description="Runs loomgrad.benchmarks.NAME; arguments after NAME "
                                         "go to that benchmark (try NAME --help). Every bench "
                                         "takes --json PATH and --plot PATH; `bench compare "
                                         "A.json B.json` prints the per-row change.")
    p_bench.add_argument("name", choices=_bench_names() + ["compare"])
    p_bench.add_argument("bench_args", nargs=argparse.REMAINDER)
    p_bench.set_defaults(func=_bench)

    p_info = sub.add_parser("info", help="version, build flags, threads, SIMD path, CUDA status")
    p_info.add_argument("--remeasure", action="store_true",
                        help="measure the FMA peak and bandwidth again instead of using the cache")
    p_info.set_defaults(func=_info)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
