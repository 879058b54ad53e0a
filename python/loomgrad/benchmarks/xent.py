"""Softmax cross-entropy benchmark: loomgrad's fused kernel beside PyTorch's
``cross_entropy`` (log_softmax + nll_loss), forward and forward+backward,
plus log_softmax alone; on the CPU or, with ``--device cuda``, on the GPU
(our CUDA kernels vs torch.cuda on the same CuPy-allocated data, with the
larger GPU_SHAPES: 16384x1000 and 4096x32000).

    python -m loomgrad bench xent [--threads 2] [--dtype float32] [--quick] [--device cuda]
    python bench/xent.py ...

Reported in GB/s of logits traffic: forward reads the (N, C) logits once,
forward+backward reads them twice and writes the gradient once; log_softmax
reads and writes once. On the GPU the "% peak" column is the percentage of
the measured device-to-device copy bandwidth (the target is >= 70 %); our
cross-entropy calls include the class-index check before launch (one
reduction and a read-back, a synchronisation), torch's do not check.
"""
from __future__ import annotations

SHAPES = [("xent 4096x1000", 4096, 1000), ("xent 256x10", 256, 10), ("xent 512x32000", 512, 32000)]
GPU_SHAPES = [("xent 16384x1000", 16384, 1000), ("xent 4096x32000", 4096, 32000),
              ("xent 16384x128", 16384, 128)]
QUICK = [("xent 512x1000", 512, 1000), ("xent 64x10", 64, 10)]


def build_parser():
    from .harness import bench_parser

    return bench_parser("xent", "loomgrad fused softmax cross-entropy vs PyTorch.")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    import numpy as np

    from loomgrad import kernels as nk
    from . import harness

    setup = harness.bench_setup(args)
    dtype, torch = setup.dtype, setup.torch
    harness.print_header("softmax cross-entropy benchmark", setup, peak=False)

    rng = np.random.default_rng(0)
    rows = {"forward": [], "forward + backward": [], "log_softmax forward": []}
    yardsticks = ["torch"] if torch is not None else []
    gpu = setup.device == "cuda"
    if gpu:
        import cupy as cp
    dev = cp.asarray if gpu else np.asarray        # our operands
    host = cp.asnumpy if gpu else np.asarray
    for label, N, C in (QUICK if args.quick else (GPU_SHAPES if gpu else SHAPES)):
        x = dev((rng.standard_normal((N, C)) * 3).astype(dtype))
        t = dev(rng.integers(0, C, N))
        nbytes = x.size * dtype.itemsize
        one = dev(np.ones((), dtype))

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
            # zero-copy views of the same data (DLPack on the GPU)
            tx, tt = (torch.from_dlpack(x), torch.from_dlpack(t)) if gpu else \
                (torch.from_numpy(x), torch.from_numpy(t))
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
            if not np.allclose(host(nk.softmax_cross_entropy(x, t)), torch_fwd().cpu().numpy(),
                               rtol=tol) or \
                    not np.allclose(host(ours_train()), torch_train()[0].cpu().numpy(), rtol=tol,
                                    atol=tol):
                print(f"WARNING: {label}: loomgrad and torch disagree")
        work = {"forward": nbytes, "forward + backward": 3 * nbytes,
                "log_softmax forward": 2 * nbytes}
        for name, cont in contenders.items():
            rows[name].append(harness.Row(label, work[name],
                                          setup.time(cont)))
        print(f"  ... {label}", flush=True)
    for name, rs in rows.items():
        print()
        harness.print_table(rs, "loomgrad", yardsticks, title=name, unit="GB/s",
                            peak_gflops=setup.copy_gbs, setup=setup)
    if gpu:
        print(f"\n% peak: of the measured copy bandwidth, {setup.copy_gbs:.0f} GB/s "
              f"(target >= 70 %)")
    return harness.finish(setup)


if __name__ == "__main__":
    raise SystemExit(main())
