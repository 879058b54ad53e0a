"""LSTM benchmark: ``lg.nn.LSTM`` (fused C++ cell, one GEMM for the input
projection, whole-sequence weight-gradient GEMMs) beside ``torch.nn.LSTM`` on
the CPU, forward and forward+backward, on the usual language-model shapes.

    python -m loomgrad bench lstm [--threads 2] [--dtype float32] [--quick]
    python bench/lstm.py ...

Both sides run the module with autograd, same weights (torch's state_dict
loaded into ours): forward under no_grad, forward+backward = forward then
``output.backward(g)`` with every parameter's and the input's gradient
(parameter grads reset to None each call on both sides). GFLOP/s counts the
GEMM work, 2*T*N*4H*(I+H) per layer and direction for the forward and three
times that for forward+backward.
"""
from __future__ import annotations

import argparse

# (label, T, N, I, H, layers)
SHAPES = [
    ("T=50 N=64 I=H=256", 50, 64, 256, 256, 1),
    ("T=100 N=32 I=H=512", 100, 32, 512, 512, 1),
    ("T=100 N=1 H=256 2 layers", 100, 1, 256, 256, 2),
    ("T=35 N=20 H=200 2 layers", 35, 20, 200, 200, 2),
]
QUICK = [
    ("T=20 N=16 I=H=64", 20, 16, 64, 64, 1),
    ("T=30 N=1 H=64 2 layers", 30, 1, 64, 64, 2),
]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loomgrad bench lstm",
                                description="loomgrad nn.LSTM vs torch.nn.LSTM on the CPU.")
    p.add_argument("--threads", type=int, default=2, help="threads for every contender (default 2)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--quick", action="store_true", help="small shapes, few repetitions (smoke run)")
    p.add_argument("--reps", type=int, default=None,
                   help="alternating rounds per shape (default 5, 2 with --quick)")
    p.add_argument("--min-time", type=float, default=None,
                   help="seconds per timing sample (default 0.2, 0.005 with --quick)")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    return p


def lstm_flops(T: int, N: int, I: int, H: int, layers: int, directions: int = 1) -> float:
    total, width = 0.0, I
    for _ in range(layers):
        total += directions * 2.0 * T * N * 4 * H * (width + H)
        width = H * directions
    return total


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads < 1:
        raise SystemExit("--threads must be >= 1")

    import numpy as np

    import loomgrad as lg
    from . import harness

    reps = args.reps or (2 if args.quick else 5)
    min_time = args.min_time or (0.005 if args.quick else 0.2)
    dtype = np.dtype(args.dtype)
    lg.set_num_threads(args.threads)
    torch = None
    if not args.no_torch:
        try:
            import torch
            torch.set_num_threads(args.threads)
        except ImportError:
            torch = None

    info = lg._cpu.build_info()
    peak, derivation = harness.cpu_peak_gflops(dtype, args.threads)
    print(f"loomgrad {lg.__version__} LSTM benchmark, {dtype.name}, {args.threads} threads")
    print(f"  machine: {harness.machine_summary()}")
    print(f"  loomgrad: GEMM path {info['gemm_isa']}, {lg.get_num_threads()} threads, "
          f"{info['compiler']}, OpenMP {info['openmp']}")
    if torch is not None:
        print(f"  torch {torch.__version__}: {torch.get_num_threads()} threads, "
              f"mkldnn {torch.backends.mkldnn.is_available()}")
    print(f"  {derivation}")
    print(f"  timing: best of {reps} alternating rounds, >= {min_time * 1e3:.0f} ms per sample")
    print()

    rng = np.random.default_rng(0)
    fwd_rows, train_rows = [], []
    yardsticks = ["torch"] if torch is not None else []
    for label, T, N, I, H, L in (QUICK if args.quick else SHAPES):
        lg.manual_seed(0)
        ours = lg.nn.LSTM(I, H, L, dtype=dtype)
        x = rng.standard_normal((T, N, I)).astype(dtype)
        gy = rng.standard_normal((T, N, H)).astype(dtype)
        lx = lg.tensor(x, requires_grad=True)
        lgy = lg.tensor(gy)
        params = list(ours.parameters())

        def ours_fwd():
            with lg.no_grad():
                return ours(lg.tensor(x))[0]

        def ours_train():
            for p in params:
                p.grad = None
            lx.grad = None
            ours(lx)[0].backward(lgy)

        fwd = {"loomgrad": ours_fwd}
        train = {"loomgrad": ours_train}
        if torch is not None:
            tm = torch.nn.LSTM(I, H, L).to(getattr(torch, dtype.name))
            ours.load_state_dict(tm.state_dict())
            tx = torch.from_numpy(x)
            txg = tx.clone().requires_grad_()
            tgy = torch.from_numpy(gy)

            def torch_fwd():
                with torch.no_grad():
                    return tm(tx)[0]

            def torch_train():
                tm.zero_grad(set_to_none=True)
                txg.grad = None
                tm(txg)[0].backward(tgy)

            fwd["torch"] = torch_fwd
            train["torch"] = torch_train
            tol = 1e-4 if dtype == np.float32 else 1e-10
            ref, got = torch_fwd().numpy(), ours_fwd().numpy()
            if not np.allclose(got, ref, rtol=tol, atol=tol):
                print(f"WARNING: {label}: loomgrad and torch disagree "
                      f"(max diff {np.max(np.abs(got - ref)):.3g})")
        flops = lstm_flops(T, N, I, H, L)
        fwd_rows.append(harness.Row(label, flops, harness.time_min(fwd, reps, min_time)))
        train_rows.append(harness.Row(label, 3 * flops, harness.time_min(train, reps, min_time)))
        print(f"  ... {label}", flush=True)
    print()
    harness.print_table(fwd_rows, ours="loomgrad", yardsticks=yardsticks, peak_gflops=peak,
                        title="forward (no_grad)")
    print()
    harness.print_table(train_rows, ours="loomgrad", yardsticks=yardsticks, peak_gflops=peak,
                        title="forward + backward (input and all parameter gradients)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
