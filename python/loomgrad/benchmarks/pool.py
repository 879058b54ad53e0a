"""Pooling benchmark: loomgrad's CPU max/avg pooling beside PyTorch's CPU
pooling, forward and forward+backward, on a ResNet-sized activation.

    python -m loomgrad bench pool [--threads 2] [--dtype float32] [--quick]
    python bench/pool.py ...

Pooling is bandwidth-bound, so the table reports GB/s: the bytes a pass must
move at least (forward: read x, write out and, for max pooling, the int64
indices; backward: read grad_out (+ indices), write grad_input). torch's max
pooling is timed with ``return_indices=True`` (what its autograd computes),
its forward+backward with ``torch.autograd.grad``.
"""
from __future__ import annotations

import argparse
import io

# (label, kind, N, C, H, kernel, stride, padding)
SHAPES = [
    ("max 2x2/2", "max", 64, 64, 56, 2, 2, 0),
    ("max 3x3/2 p1", "max", 64, 64, 56, 3, 2, 1),
    ("avg 2x2/2", "avg", 64, 64, 56, 2, 2, 0),
]
QUICK = [
    ("max 2x2/2", "max", 8, 16, 56, 2, 2, 0),
    ("max 3x3/2 p1", "max", 8, 16, 56, 3, 2, 1),
    ("avg 2x2/2", "avg", 8, 16, 56, 2, 2, 0),
]


def print_bandwidth_table(rows, yardsticks, title):
    """harness.print_table with Row.flops holding bytes: the same table,
    labelled GB/s."""
    from . import harness

    buf = io.StringIO()
    means = harness.print_table(rows, ours="loomgrad", yardsticks=yardsticks, title=title,
                                file=buf)
    lines = buf.getvalue().splitlines()
    head = 1 if title else 0
    lines[head] = lines[head].replace("GF/s", "GB/s")
    print("\n".join(lines))
    return means


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loomgrad bench pool",
                                description="loomgrad CPU pooling vs PyTorch.")
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

    print(f"loomgrad {lg.__version__} pooling benchmark, {dtype.name}, {args.threads} threads")
    print(f"  machine: {harness.machine_summary()}")
    if torch is not None:
        print(f"  torch {torch.__version__}: {torch.get_num_threads()} threads")
    print(f"  timing: best of {reps} alternating rounds, >= {min_time * 1e3:.0f} ms per sample")
    print()

    rng = np.random.default_rng(0)
    fwd_rows, train_rows = [], []
    yardsticks = ["torch"] if torch is not None else []
    isz = dtype.itemsize
    for label, kind, N, C, H, k, s, p in (QUICK if args.quick else SHAPES):
        x = rng.standard_normal((N, C, H, H)).astype(dtype)
        if kind == "max":
            out, idx = nk.max_pool2d(x, k, s, p)
            gy = rng.standard_normal(out.shape).astype(dtype)
            fwd_bytes = x.size * isz + out.size * (isz + 8)
            bwd_bytes = out.size * (isz + 8) + x.size * isz

            def ours_fwd():
                return nk.max_pool2d(x, k, s, p)

            def ours_train():
                _, i = nk.max_pool2d(x, k, s, p)
                return nk.max_pool2d_backward(gy, i, x.shape, k, s, p)
        else:
            out = nk.avg_pool2d(x, k, s, p)
            gy = rng.standard_normal(out.shape).astype(dtype)
            fwd_bytes = (x.size + out.size) * isz
            bwd_bytes = fwd_bytes

            def ours_fwd():
                return nk.avg_pool2d(x, k, s, p)

            def ours_train():
                nk.avg_pool2d(x, k, s, p)
                return nk.avg_pool2d_backward(gy, x.shape, k, s, p)

        fwd = {"loomgrad": ours_fwd}
        train = {"loomgrad": ours_train}
        if torch is not None:
            F = torch.nn.functional
            tx, tgy = torch.from_numpy(x), torch.from_numpy(gy)
            txg = tx.clone().requires_grad_()
            if kind == "max":
                def torch_fwd():
                    with torch.no_grad():
                        return F.max_pool2d(tx, k, s, p, return_indices=True)

                def torch_train():
                    return torch.autograd.grad(F.max_pool2d(txg, k, s, p), txg, tgy)
                ref = torch_fwd()[0].numpy()
            else:
                def torch_fwd():
                    with torch.no_grad():
                        return F.avg_pool2d(tx, k, s, p)

                def torch_train():
                    return torch.autograd.grad(F.avg_pool2d(txg, k, s, p), txg, tgy)
                ref = torch_fwd().numpy()
            fwd["torch"] = torch_fwd
            train["torch"] = torch_train
            if not np.allclose(out, ref, rtol=1e-5, atol=1e-6):
                print(f"WARNING: {label}: loomgrad and torch disagree")
        shape = f"{label} [{N}x{C}x{H}x{H}]"
        fwd_rows.append(harness.Row(shape, fwd_bytes, harness.time_min(fwd, reps, min_time)))
        train_rows.append(harness.Row(shape, fwd_bytes + bwd_bytes,
                                      harness.time_min(train, reps, min_time)))
        print(f"  ... {label}", flush=True)
    print()
    print_bandwidth_table(fwd_rows, yardsticks, "forward")
    print()
    print_bandwidth_table(train_rows, yardsticks, "forward + backward")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
