"""Normalisation benchmark: loomgrad's fused LayerNorm / GroupNorm kernels (csrc/cpu/norm.cpp)
beside PyTorch's CPU ones, forward and forward+backward, one run, contenders alternated,
minima.

    python -m loomgrad bench norm [--threads 2] [--dtype float32] [--quick]

Both are bandwidth-bound, so the table reports GB/s of the bytes a pass must move at least:
forward reads x and writes y; backward reads grad_out and x and writes grad_input (the
weight/bias and the per-row statistics are negligible). torch's forward+backward is one
``torch.autograd.grad`` over input, weight and bias; ours is ``kernels.layer_norm`` +
``layer_norm_backward`` (likewise group_norm). Shapes: LayerNorm over (N*T, 512) as in a
Transformer's blocks, GroupNorm(32) on ResNet activations. CPU only (there is no CUDA
normalisation kernel yet). "% peak" would need a measured memory bandwidth, which this
harness does not have on the CPU: the column is left out.
"""
from __future__ import annotations

# (label, kind, shape, normalized_shape or num_groups)
SHAPES = [
    ("LayerNorm N*T=8192, 512", "layer", (64, 128, 512), (512,)),
    ("LayerNorm N*T=2048, 1024", "layer", (16, 128, 1024), (1024,)),
    ("GroupNorm(32) ResNet conv2", "group", (16, 64, 56, 56), 32),
    ("GroupNorm(32) ResNet conv4", "group", (16, 256, 14, 14), 32),
    ("GroupNorm(32) ResNet conv5", "group", (16, 512, 7, 7), 32),
]
QUICK = [
    ("LayerNorm N*T=1024, 512", "layer", (8, 128, 512), (512,)),
    ("GroupNorm(32) 64ch 28x28", "group", (4, 64, 28, 28), 32),
]


def build_parser():
    from .harness import bench_parser

    return bench_parser("norm", "loomgrad CPU LayerNorm/GroupNorm vs PyTorch.")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.device != "cpu":
        raise SystemExit("bench norm: CPU only (there is no CUDA normalisation kernel yet)")

    import numpy as np

    from loomgrad import kernels as nk
    from . import harness

    setup = harness.bench_setup(args)
    dtype, torch = setup.dtype, setup.torch
    harness.print_header("normalisation benchmark", setup, peak=False)

    rng = np.random.default_rng(0)
    fwd_rows, train_rows = [], []
    yardsticks = ["torch"] if torch is not None else []
    for label, kind, shape, arg in (QUICK if args.quick else SHAPES):
        x = rng.standard_normal(shape).astype(dtype)
        gy = rng.standard_normal(shape).astype(dtype)
        pshape = arg if kind == "layer" else (shape[1],)
        w = rng.standard_normal(pshape).astype(dtype)
        b = rng.standard_normal(pshape).astype(dtype)
        fwd_bytes = 2 * x.nbytes
        bwd_bytes = 3 * x.nbytes
        if kind == "layer":
            def ours_fwd():
                return nk.layer_norm(x, arg, w, b)

            def ours_train():
                _, m, r = nk.layer_norm(x, arg, w, b)
                return nk.layer_norm_backward(gy, x, arg, m, r, w)
        else:
            def ours_fwd():
                return nk.group_norm(x, arg, w, b)

            def ours_train():
                _, m, r = nk.group_norm(x, arg, w, b)
                return nk.group_norm_backward(gy, x, arg, m, r, w)
        fwd = {"loomgrad": ours_fwd}
        train = {"loomgrad": ours_train}
        if torch is not None:
            F = torch.nn.functional
            tx, tgy = torch.from_numpy(x), torch.from_numpy(gy)
            tw, tb = torch.from_numpy(w), torch.from_numpy(b)
            txg, twg, tbg = (t.clone().requires_grad_() for t in (tx, tw, tb))
            op = (lambda a, ww, bb: F.layer_norm(a, arg, ww, bb)) if kind == "layer" else \
                (lambda a, ww, bb: F.group_norm(a, arg, ww, bb))

            def torch_fwd():
                with torch.no_grad():
                    return op(tx, tw, tb)

            def torch_train():
                return torch.autograd.grad(op(txg, twg, tbg), (txg, twg, tbg), tgy)
            fwd["torch"] = torch_fwd
            train["torch"] = torch_train
            if not np.allclose(ours_fwd()[0], torch_fwd().numpy(), rtol=1e-4, atol=1e-4):
                print(f"WARNING: {label}: loomgrad and torch disagree")
        name = f"{label} [{'x'.join(map(str, shape))}]"
        fwd_rows.append(harness.Row(name, fwd_bytes, setup.time(fwd)))
        train_rows.append(harness.Row(name, fwd_bytes + bwd_bytes, setup.time(train)))
        print(f"  ... {label}", flush=True)
    print()
    harness.print_table(fwd_rows, "loomgrad", yardsticks, title="forward", unit="GB/s")
    print()
    harness.print_table(train_rows, "loomgrad", yardsticks, title="forward + backward",
                        unit="GB/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
