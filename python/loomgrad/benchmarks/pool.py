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

The interpolate rows (CPU only: there is no CUDA upsampling kernel yet) time
``kernels.upsample_nearest2d`` / ``upsample_bilinear2d`` (+ backward) against
``torch.nn.functional.interpolate`` with the same scale factor; bytes: read x,
write out (forward), read grad_out, write grad_input (backward).
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
# interpolate rows: (label, mode, align_corners, N, C, H, scale_factor)
UPSAMPLE = [
    ("nearest x2", "nearest", None, 32, 64, 56, 2.0),
    ("bilinear x2", "bilinear", False, 32, 64, 56, 2.0),
    ("bilinear x1.5 align", "bilinear", True, 32, 64, 56, 1.5),
]
UPSAMPLE_QUICK = [
    ("nearest x2", "nearest", None, 4, 16, 28, 2.0),
    ("bilinear x1.5", "bilinear", False, 4, 16, 28, 1.5),
]
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
    if not gpu:
        _upsample_rows(setup, UPSAMPLE_QUICK if args.quick else UPSAMPLE, fwd_rows, train_rows)
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


def _upsample_rows(setup, shapes, fwd_rows, train_rows) -> None:
    """interpolate rows (CPU): ours vs torch, bytes = x + out (forward), + grad_out +
    grad_input (backward)."""
    import numpy as np

    from loomgrad import kernels as nk
    from . import harness

    torch, dtype = setup.torch, setup.dtype
    rng = np.random.default_rng(1)
    for label, mode, ac, N, C, H, sf in shapes:
        x = rng.standard_normal((N, C, H, H)).astype(dtype)
        oh = int(H * sf)
        gy = rng.standard_normal((N, C, oh, oh)).astype(dtype)
        nbytes = (x.nbytes + gy.nbytes)
        scales = (sf, sf)
        if mode == "nearest":
            def ours_fwd():
                return nk.upsample_nearest2d(x, (oh, oh), scales)

            def ours_train():
                nk.upsample_nearest2d(x, (oh, oh), scales)
                return nk.upsample_nearest2d_backward(gy, x.shape, scales)
        else:
            def ours_fwd():
                return nk.upsample_bilinear2d(x, (oh, oh), bool(ac), scales)

            def ours_train():
                nk.upsample_bilinear2d(x, (oh, oh), bool(ac), scales)
                return nk.upsample_bilinear2d_backward(gy, x.shape, bool(ac), scales)
        fwd, train = {"loomgrad": ours_fwd}, {"loomgrad": ours_train}
        if torch is not None:
            F = torch.nn.functional
            tx, tgy = torch.from_numpy(x), torch.from_numpy(gy)
            txg = tx.clone().requires_grad_()

            def torch_fwd():
                with torch.no_grad():
                    return F.interpolate(tx, scale_factor=sf, mode=mode, align_corners=ac)

            def torch_train():
                return torch.autograd.grad(F.interpolate(txg, scale_factor=sf, mode=mode,
                                                         align_corners=ac), txg, tgy)
            fwd["torch"], train["torch"] = torch_fwd, torch_train
            if not np.allclose(ours_fwd(), torch_fwd().numpy(), rtol=1e-4, atol=1e-5):
                print(f"WARNING: {label}: loomgrad and torch disagree")
        name = f"interpolate {label} [{N}x{C}x{H}x{H}]"
        fwd_rows.append(harness.Row(name, nbytes, setup.time(fwd)))
        train_rows.append(harness.Row(name, 2 * nbytes, setup.time(train)))
        print(f"  ... interpolate {label}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
