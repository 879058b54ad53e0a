"""conv2d benchmark: loomgrad's CPU conv2d (im2col tiles + our GEMM) beside
PyTorch's CPU conv2d, forward and forward+backward, on LeNet and ResNet layers.

    python -m loomgrad bench conv [--threads 2] [--dtype float32] [--quick]
    python -m loomgrad bench conv --device cuda [--quick]
    python bench/conv.py ...

With ``--device cuda`` our CUDA kernels (implicit GEMM, csrc/cuda/conv.cu) on
CuPy arrays run against torch.cuda's conv2d on cuDNN with
``cudnn.benchmark = True`` and TF32 off (FP32 on both sides), on the same
layers with GPU-sized batches (the N in each label).

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
# The same layers with batches that fill a GPU.
GPU_SHAPES = [(s[0], n) + s[2:] for s, n in zip(SHAPES, (256, 256, 64, 128, 128))]
GPU_QUICK = [(s[0], n) + s[2:] for s, n in zip(SHAPES[1:3], (64, 16))]
QUICK = [
    ("LeNet conv1 1->32 28x28 5x5 p2", 8, 1, 28, 32, 5, 1, 2),
    ("LeNet conv2 32->64 14x14 5x5 p2", 8, 32, 14, 64, 5, 1, 2),
    ("3x3 32->32 28x28 p1", 4, 32, 28, 32, 3, 1, 1),
    ("1x1 32->64 28x28 s2", 4, 32, 28, 64, 1, 2, 0),
]


def build_parser():
    from .harness import bench_parser

    return bench_parser("conv", "loomgrad conv2d vs PyTorch (CPU, or cuDNN with --device cuda).",
                        reps=5, min_time=0.1)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    import numpy as np

    from loomgrad import kernels as nk
    from . import harness

    setup = harness.bench_setup(args)
    dtype, torch = setup.dtype, setup.torch
    peak = setup.peak
    cuda = setup.device == "cuda"
    extra = []
    if cuda:
        import cupy as cp

        to_dev, to_host, tdev = cp.asarray, cp.asnumpy, "cuda"
        shapes = GPU_QUICK if args.quick else GPU_SHAPES
        if torch is not None:
            torch.backends.cudnn.benchmark = True
            torch.backends.cudnn.allow_tf32 = False  # FP32 against FP32
            extra.append(f"torch.cuda conv2d on cuDNN {torch.backends.cudnn.version()}, "
                         "benchmark mode, TF32 off")
    else:
        to_dev = to_host = np.asarray
        tdev = "cpu"
        shapes = QUICK if args.quick else SHAPES
    harness.print_header("conv2d benchmark" + (" (CUDA)" if cuda else ""), setup, extra)

    rng = np.random.default_rng(0)
    fwd_rows, train_rows = [], []
    yardsticks = ["torch"] if torch is not None else []
    for label, N, C, H, K, R, stride, pad in shapes:
        x = to_dev(rng.standard_normal((N, C, H, H)).astype(dtype))
        w = to_dev((rng.standard_normal((K, C, R, R)) / np.sqrt(C * R * R)).astype(dtype))
        b = to_dev(rng.standard_normal(K).astype(dtype))
        y = nk.conv2d(x, w, b, stride, pad)
        gy = to_dev(rng.standard_normal(y.shape).astype(dtype))
        flops = 2.0 * N * K * C * R * R * y.shape[2] * y.shape[3]

        def ours_train():
            nk.conv2d(x, w, b, stride, pad)
            nk.conv2d_backward(gy, x, w, stride, pad)

        fwd = {"loomgrad": lambda: nk.conv2d(x, w, b, stride, pad)}
        train = {"loomgrad": ours_train}
        if torch is not None:
            F = torch.nn.functional
            tx, tw, tb, tgy = (torch.from_numpy(to_host(a)).to(tdev) for a in (x, w, b, gy))
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
            ref, got = torch_fwd().cpu().numpy(), to_host(y)
            if not np.allclose(got, ref, rtol=tol, atol=tol):
                print(f"WARNING: {label}: loomgrad and torch disagree "
                      f"(max diff {np.max(np.abs(got - ref)):.3g})")
        shape = f"{label} [N={N}]"
        fwd_rows.append(harness.Row(shape, flops, setup.time(fwd)))
        train_rows.append(harness.Row(shape, 3 * flops, setup.time(train)))
        print(f"  ... {label}", flush=True)
    print()
    harness.print_table(fwd_rows, ours="loomgrad", yardsticks=yardsticks, peak_gflops=peak,
                        title="forward", setup=setup)
    print()
    harness.print_table(train_rows, ours="loomgrad", yardsticks=yardsticks, peak_gflops=peak,
                        title="forward + backward (dx, dw, db)", setup=setup)
    if not cuda:  # the conv_transpose2d tables (conv_transpose_tables, below)
        print()
        conv_transpose_tables(setup, args.quick)
    return harness.finish(setup)


# ------------------------------------------ conv_transpose2d rows (issue 18, the layers helper)
# (label, N, C_in, H, C_out, R, stride, padding, output_padding)
TRANSPOSE_SHAPES = [
    ("AE decoder 32->16 14x14 k3 s2 p1 op1", 64, 32, 14, 16, 3, 2, 1, 1),
    ("DCGAN generator 128->64 16x16 k4 s2 p1", 32, 128, 16, 64, 4, 2, 1, 0),
]
TRANSPOSE_QUICK = [(s[0], 4) + s[2:] for s in TRANSPOSE_SHAPES]


def conv_transpose_tables(setup, quick: bool) -> None:
    """F.conv_transpose2d (forward = conv2d backward-data on our kernels; dx = conv2d forward,
    dw = conv2d backward-weight) beside torch's F.conv_transpose2d: forward, and forward +
    backward (dx, dw, db), on Tensors (so the autograd node is inside the timing). CPU only.
    GFLOP/s counts 2*N*C_in*C_out*R*S*H_in*W_in per pass (the adjoint conv's work), three
    passes for forward+backward; the bias is not counted."""
    import numpy as np

    import loomgrad as lg
    from . import harness

    dtype, torch = setup.dtype, setup.torch
    ct = lg.nn.functional.conv_transpose2d
    rng = np.random.default_rng(0)
    yardsticks = ["torch"] if torch is not None else []
    fwd_rows, train_rows = [], []
    for label, N, C, H, K, R, stride, pad, opad in TRANSPOSE_QUICK if quick else \
            TRANSPOSE_SHAPES:
        x = rng.standard_normal((N, C, H, H)).astype(dtype)
        w = (rng.standard_normal((C, K, R, R)) / np.sqrt(C * R * R)).astype(dtype)
        b = rng.standard_normal(K).astype(dtype)
        args = (stride, pad, opad)
        lx, lw, lb = (lg.tensor(a) for a in (x, w, b))
        leaves = [lg.tensor(a, requires_grad=True) for a in (x, w, b)]
        with lg.no_grad():
            y = ct(lx, lw, lb, *args).numpy()
        gy_np = rng.standard_normal(y.shape).astype(dtype)
        gy = lg.tensor(gy_np)

        def ours_fwd():
            with lg.no_grad():
                return ct(lx, lw, lb, *args)

        def ours_train():
            for t in leaves:
                t.grad = None
            ct(*leaves, *args).backward(gy)

        fwd, train = {"loomgrad": ours_fwd}, {"loomgrad": ours_train}
        if torch is not None:
            TF = torch.nn.functional
            tx, tw, tb, tgy = (torch.from_numpy(a) for a in (x, w, b, gy_np))
            tleaves = [t.clone().requires_grad_() for t in (tx, tw, tb)]

            def torch_fwd():
                with torch.no_grad():
                    return TF.conv_transpose2d(tx, tw, tb, *args)

            def torch_train():
                out = TF.conv_transpose2d(*tleaves, *args)
                return torch.autograd.grad(out, tleaves, tgy)

            fwd["torch"], train["torch"] = torch_fwd, torch_train
            tol = 1e-3 if dtype == np.float32 else 1e-9
            ref = torch_fwd().numpy()
            if ref.shape != y.shape or not np.allclose(y, ref, rtol=tol, atol=tol):
                print(f"WARNING: {label}: loomgrad and torch disagree")
        flops = 2.0 * N * C * K * R * R * H * H
        shape = f"{label} [N={N}]"
        fwd_rows.append(harness.Row(shape, flops, setup.time(fwd)))
        train_rows.append(harness.Row(shape, 3 * flops, setup.time(train)))
        print(f"  ... {label}", flush=True)
    print()
    harness.print_table(fwd_rows, ours="loomgrad", yardsticks=yardsticks, peak_gflops=setup.peak,
                        title="conv_transpose2d forward", setup=setup)
    print()
    harness.print_table(train_rows, ours="loomgrad", yardsticks=yardsticks,
                        peak_gflops=setup.peak, setup=setup,
                        title="conv_transpose2d forward + backward (dx, dw, db)")


if __name__ == "__main__":
    raise SystemExit(main())
