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


def build_parser():
    from .harness import bench_parser

    return bench_parser("lstm", "loomgrad nn.LSTM vs torch.nn.LSTM on the CPU.", reps=5,
                        min_time=0.2)


def lstm_flops(T: int, N: int, I: int, H: int, layers: int, directions: int = 1) -> float:
    total, width = 0.0, I
    for _ in range(layers):
        total += directions * 2.0 * T * N * 4 * H * (width + H)
        width = H * directions
    return total


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    import numpy as np

    import loomgrad as lg
    from . import harness

    setup = harness.bench_setup(args)
    dtype, torch = setup.dtype, setup.torch
    peak = setup.peak
    harness.print_header("LSTM benchmark", setup)

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
        fwd_rows.append(harness.Row(label, flops, setup.time(fwd)))
        train_rows.append(harness.Row(label, 3 * flops, setup.time(train)))
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
