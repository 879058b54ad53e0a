"""Pooling benchmark: loomgrad's max/avg pooling beside PyTorch's, forward and
forward+backward, on a ResNet-sized activation; on the CPU (C++/OpenMP vs
torch CPU) or, with ``--device cuda``, on the GPU (our CUDA kernels vs
torch.cuda/cuDNN on the same CuPy-allocated data, batch 256 instead of 64).

    python -m loomgrad bench pool [--threads 2] [--dtype float32] [--quick] [--device cuda]
    python bench/pool.py ...

Pooling is bandwidth-bound, so the table reports GB/s: the bytes a pass must
move at least (forward: read x, write out and, for max pooling, the int64
indices; backward: read grad_out (+ indices), write grad_input). torch's max
pooling is timed with ``return_indices=True`` (what its autograd computes),
its forward+backward with ``torch.autograd.grad``. On the GPU the "% peak"
column is the percentage of the measured device-to-device copy bandwidth
(the target is >= 70 %), and our max-pool backward includes its one
read-back of the bad-index flag (a synchronisation).
"""
from __future__ import annotations

# (label, kind, N, C, H, kernel, stride, padding)
SHAPES = [
    ("max 2x2/2", "max", 64, 64, 56, 2, 2, 0),
    ("max 3x3/2 p1", "max", 64, 64, 56, 3, 2, 1),
    ("avg 2x2/2", "avg", 64, 64, 56, 2, 2, 0),
]
# the GPU run: the same windows on a 4x larger batch (205 MB of input)
GPU_SHAPES = [(label, kind, 256, *rest) for label, kind, _, *rest in SHAPES]
QUICK = [
    ("max 2x2/2", "max", 8, 16, 56, 2, 2, 0),
    ("max 3x3/2 p1", "max", 8, 16, 56, 3, 2, 1),
    ("avg 2x2/2", "avg", 8, 16, 56, 2, 2, 0),
]


def build_parser():
    from .harness import bench_parser

    return bench_parser("pool", "loomgrad CPU pooling vs PyTorch.")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    import numpy as np

    from loomgrad import kernels as nk
    from . import harness

    setup = harness.bench_setup(args)
    dtype, torch = setup.dtype, setup.torch
    harness.print_header("pooling benchmark", setup, peak=False)

    rng = np.random.default_rng(0)
    fwd_rows, train_rows = [], []
    yardsticks = ["torch"] if torch is not None else []
    isz = dtype.itemsize
    gpu = setup.device == "cuda"
    if gpu:
        import cupy as cp
    dev = cp.asarray if gpu else np.asarray        # our operands
    host = cp.asnumpy if gpu else np.asarray
    shapes = QUICK if args.quick else (GPU_SHAPES if gpu else SHAPES)
    for label, kind, N, C, H, k, s, p in shapes:
        x = dev(rng.standard_normal((N, C, H, H)).astype(dtype))
        if kind == "max":
            out, idx = nk.max_pool2d(x, k, s, p)
            gy = dev(rng.standard_normal(out.shape).astype(dtype))
            fwd_bytes = x.size * isz + out.size * (isz + 8)
            bwd_bytes = out.size * (isz + 8) + x.size * isz

            def ours_fwd():
                return nk.max_pool2d(x, k, s, p)

            def ours_train():
                _, i = nk.max_pool2d(x, k, s, p)
                return nk.max_pool2d_backward(gy, i, x.shape, k, s, p)
        else:
            out = nk.avg_pool2d(x, k, s, p)
            gy = dev(rng.standard_normal(out.shape).astype(dtype))
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
            # zero-copy views of the same data (DLPack on the GPU)
            tx, tgy = (torch.from_dlpack(x), torch.from_dlpack(gy)) if gpu else \
                (torch.from_numpy(x), torch.from_numpy(gy))
            txg = tx.clone().requires_grad_()
            if kind == "max":
                def torch_fwd():
                    with torch.no_grad():
                        return F.max_pool2d(tx, k, s, p, return_indices=True)

                def torch_train():
                    return torch.autograd.grad(F.max_pool2d(txg, k, s, p), txg, tgy)
                ref = torch_fwd()[0].cpu().numpy()
            else:
                def torch_fwd():
                    with torch.no_grad():
                        return F.avg_pool2d(tx, k, s, p)

                def torch_train():
                    return torch.autograd.grad(F.avg_pool2d(txg, k, s, p), txg, tgy)
                ref = torch_fwd().cpu().numpy()
            fwd["torch"] = torch_fwd
            train["torch"] = torch_train
            if not np.allclose(host(out), ref, rtol=1e-5, atol=1e-6):
                print(f"WARNING: {label}: loomgrad and torch disagree")
        shape = f"{label} [{N}x{C}x{H}x{H}]"
        fwd_rows.append(harness.Row(shape, fwd_bytes, setup.time(fwd)))
        train_rows.append(harness.Row(shape, fwd_bytes + bwd_bytes,
                                      setup.time(train)))
        print(f"  ... {label}", flush=True)
    print()
    harness.print_table(fwd_rows, "loomgrad", yardsticks, title="forward", unit="GB/s",
                        peak_gflops=setup.copy_gbs, setup=setup)
    print()
    harness.print_table(train_rows, "loomgrad", yardsticks, title="forward + backward",
                        unit="GB/s", peak_gflops=setup.copy_gbs, setup=setup)
    if gpu:
        print(f"\n% peak: of the measured copy bandwidth, {setup.copy_gbs:.0f} GB/s "
              f"(target >= 70 %)")
    return harness.finish(setup)


if __name__ == "__main__":
    raise SystemExit(main())
