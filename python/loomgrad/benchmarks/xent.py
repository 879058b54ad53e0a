"""Softmax cross-entropy benchmark: loomgrad's fused CPU kernel beside
PyTorch's ``cross_entropy`` (log_softmax + nll_loss), forward and
forward+backward, plus log_softmax alone.

    python -m loomgrad bench xent [--threads 2] [--dtype float32] [--quick]
    python bench/xent.py ...

Reported in GB/s of logits traffic: forward reads the (N, C) logits once,
forward+backward reads them twice and writes the gradient once; log_softmax
reads and writes once.
"""
from __future__ import annotations

import argparse

SHAPES = [("xent 4096x1000", 4096, 1000), ("xent 256x10", 256, 10), ("xent 512x32000", 512, 32000)]
QUICK = [("xent 512x1000", 512, 1000), ("xent 64x10", 64, 10)]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loomgrad bench xent",
                                description="loomgrad fused softmax cross-entropy vs PyTorch.")
    p.add_argument("--threads", type=int, default=2, help="threads for every contender (default 2)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--quick", action="store_true", help="small shapes, few repetitions (smoke run)")
    p.add_argument("--reps", type=int, default=None,
                   help="alternating rounds per shape (default 7, 2 with --quick)")
    p.add_argument("--min-time", type=float, default=None,
                   help="seconds per timing sample (default 0.05, 0.005 with --quick)")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads < 1:
        raise SystemExit("--threads must be >= 1")

    import numpy as np

    import loomgrad as lg
    from loomgrad import _nn_kernels as nk
    from . import harness
    from .pool import print_bandwidth_table

    reps = args.reps or (2 if args.quick else 7)
    min_time = args.min_time or (0.005 if args.quick else 0.05)
    dtype = np.dtype(args.dtype)
    lg._cpu.set_num_threads(args.threads)
    torch = None
    if not args.no_torch:
        try:
            import torch
            torch.set_num_threads(args.threads)
        except ImportError:
            torch = None

    print(f"loomgrad {lg.__version__} softmax cross-entropy benchmark, {dtype.name}, "
          f"{args.threads} threads")
    print(f"  machine: {harness.machine_summary()}")
    if torch is not None:
        print(f"  torch {torch.__version__}: {torch.get_num_threads()} threads")
    print(f"  timing: best of {reps} alternating rounds, >= {min_time * 1e3:.0f} ms per sample")
    print()

    rng = np.random.default_rng(0)
    rows = {"forward": [], "forward + backward": [], "log_softmax forward": []}
    yardsticks = ["torch"] if torch is not None else []
    for label, N, C in (QUICK if args.quick else SHAPES):
        x = (rng.standard_normal((N, C)) * 3).astype(dtype)
        t = rng.integers(0, C, N)
        nbytes = x.size * dtype.itemsize
        one = np.ones((), dtype)

        def ours_train():
            nk.softmax_cross_entropy(x, t)
            return nk.softmax_cross_entropy_backward(one, x, t)

        contenders = {
            "forward": {"loomgrad": lambda: nk.softmax_cross_entropy(x, t)},
            "forward + backward": {"loomgrad": ours_train},
            "log_softmax forward": {"loomgrad": lambda: nk.log_softmax(x)},
        }
        if torch is not None:
            F = torch.nn.functional
            tx, tt = torch.from_numpy(x), torch.from_numpy(t)
            txg = tx.clone().requires_grad_()

            def torch_fwd():
                with torch.no_grad():
                    return F.cross_entropy(tx, tt)

            def torch_train():
                return torch.autograd.grad(F.cross_entropy(txg, tt), txg)

            def torch_logsm():
                with torch.no_grad():
                    return F.log_softmax(tx, -1)

            contenders["forward"]["torch"] = torch_fwd
            contenders["forward + backward"]["torch"] = torch_train
            contenders["log_softmax forward"]["torch"] = torch_logsm
            tol = 1e-4 if dtype == np.float32 else 1e-10
            if not np.allclose(nk.softmax_cross_entropy(x, t), torch_fwd().numpy(), rtol=tol) or \
                    not np.allclose(ours_train(), torch_train()[0].numpy(), rtol=tol, atol=tol):
                print(f"WARNING: {label}: loomgrad and torch disagree")
        work = {"forward": nbytes, "forward + backward": 3 * nbytes,
                "log_softmax forward": 2 * nbytes}
        for name, cont in contenders.items():
            rows[name].append(harness.Row(label, work[name],
                                          harness.time_min(cont, reps, min_time)))
        print(f"  ... {label}", flush=True)
    for name, rs in rows.items():
        print()
        print_bandwidth_table(rs, yardsticks, name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
