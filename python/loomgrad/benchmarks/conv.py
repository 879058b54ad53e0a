"""conv2d benchmark: loomgrad's CPU conv2d (im2col tiles + our GEMM) beside
PyTorch's CPU conv2d, forward and forward+backward, on LeNet and ResNet layers.

    python -m loomgrad bench conv [--threads 2] [--dtype float32] [--quick]
    python bench/conv.py ...

Forward+backward is one forward and the three gradients (input, weight,
bias) -- for torch ``torch.autograd.grad`` of the conv output, for loomgrad
``conv2d`` then ``conv2d_backward``. GFLOP/s counts 2*N*K*(C/groups)*R*S*OH*OW
per pass (three passes for forward+backward); the bias is not counted.
"""
from __future__ import annotations

# (label, N, C, H, K, R, stride, padding)
SHAPES = [
    ("LeNet conv1 1->32 28x28 5x5 p2", 64, 1, 28, 32, 5, 1, 2),
    ("LeNet conv2 32->64 14x14 5x5 p2", 64, 32, 14, 64, 5, 1, 2),
    ("ResNet 64->64 56x56 3x3 p1", 32, 64, 56, 64, 3, 1, 1),
    ("ResNet 128->128 28x28 3x3 p1", 32, 128, 28, 128, 3, 1, 1),
    ("ResNet down 64->128 56x56 1x1 s2", 32, 64, 56, 128, 1, 2, 0),
]
QUICK = [
    ("LeNet conv1 1->32 28x28 5x5 p2", 8, 1, 28, 32, 5, 1, 2),
    ("LeNet conv2 32->64 14x14 5x5 p2", 8, 32, 14, 64, 5, 1, 2),
    ("3x3 32->32 28x28 p1", 4, 32, 28, 32, 3, 1, 1),
    ("1x1 32->64 28x28 s2", 4, 32, 28, 64, 1, 2, 0),
]


def build_parser():
    from .harness import bench_parser

    return bench_parser("conv", "loomgrad CPU conv2d vs PyTorch.", reps=5, min_time=0.1)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    import numpy as np

    from loomgrad import _nn_kernels as nk
    from . import harness

    setup = harness.bench_setup(args)
    dtype, torch = setup.dtype, setup.torch
    peak = setup.peak
    harness.print_header("conv2d benchmark", setup)

    rng = np.random.default_rng(0)
    fwd_rows, train_rows = [], []
    yardsticks = ["torch"] if torch is not None else []
    for label, N, C, H, K, R, stride, pad in (QUICK if args.quick else SHAPES):
        x = rng.standard_normal((N, C, H, H)).astype(dtype)
        w = (rng.standard_normal((K, C, R, R)) / np.sqrt(C * R * R)).astype(dtype)
        b = rng.standard_normal(K).astype(dtype)
        y = nk.conv2d(x, w, b, stride, pad)
        gy = rng.standard_normal(y.shape).astype(dtype)
        flops = 2.0 * N * K * C * R * R * y.shape[2] * y.shape[3]

        def ours_train():
            nk.conv2d(x, w, b, stride, pad)
            nk.conv2d_backward(gy, x, w, stride, pad)

        fwd = {"loomgrad": lambda: nk.conv2d(x, w, b, stride, pad)}
        train = {"loomgrad": ours_train}
        if torch is not None:
            F = torch.nn.functional
            tx, tw, tb, tgy = (torch.from_numpy(a) for a in (x, w, b, gy))
            txg, twg, tbg = (t.clone().requires_grad_() for t in (tx, tw, tb))

            def torch_fwd():
                with torch.no_grad():
                    return F.conv2d(tx, tw, tb, stride, pad)

            def torch_train():
                out = F.conv2d(txg, twg, tbg, stride, pad)
                return torch.autograd.grad(out, (txg, twg, tbg), tgy)

            fwd["torch"] = torch_fwd
            train["torch"] = torch_train
            tol = 1e-3 if dtype == np.float32 else 1e-9
            ref = torch_fwd().numpy()
            if not np.allclose(y, ref, rtol=tol, atol=tol):
                print(f"WARNING: {label}: loomgrad and torch disagree "
                      f"(max diff {np.max(np.abs(y - ref)):.3g})")
        shape = f"{label} [N={N}]"
        fwd_rows.append(harness.Row(shape, flops, setup.time(fwd)))
        train_rows.append(harness.Row(shape, 3 * flops, setup.time(train)))
        print(f"  ... {label}", flush=True)
    print()
    harness.print_table(fwd_rows, ours="loomgrad", yardsticks=yardsticks, peak_gflops=peak,
                        title="forward")
    print()
    harness.print_table(train_rows, ours="loomgrad", yardsticks=yardsticks, peak_gflops=peak,
                        title="forward + backward (dx, dw, db)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
