"""LSTM benchmark: ``lg.nn.LSTM`` (fused C++ cell, one GEMM for the input
projection, whole-sequence weight-gradient GEMMs) beside ``torch.nn.LSTM`` on
the CPU, forward and forward+backward, on the usual language-model shapes;
then ``lg.nn.GRU`` beside ``torch.nn.GRU``, forward+backward, same shapes.

    python -m loomgrad bench lstm [--threads 2] [--dtype float32] [--quick]
    python -m loomgrad bench lstm --device cuda [--quick]
    python bench/lstm.py ...

With ``--device cuda`` our side is the raw CUDA kernels layer by layer
(``lg.kernels.lstm_sequence`` / ``lstm_sequence_backward`` on CuPy arrays,
what nn.LSTM runs on the GPU, without the Tensor layer) against
``torch.nn.LSTM`` on cuDNN with TF32 off (FP32 on both sides), same weights;
the table header says which path (persistent kernels or GEMM driver) the
forward and the backward of each shape took.

Both sides run the module with autograd, same weights (torch's state_dict
loaded into ours): forward under no_grad, forward+backward = forward then
``output.backward(g)`` with every parameter's and the input's gradient
(parameter grads reset to None each call on both sides). GFLOP/s counts the
GEMM work, 2*T*N*4H*(I+H) per layer and direction for the forward and three
times that for forward+backward (the GRU: 3H instead of 4H).
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


def _torch_contenders(torch, tm, x, gy, device):
    """torch.nn.LSTM `tm`: (forward under no_grad, forward + backward with the
    input's and every parameter's gradient, reset each call) on x, gy."""
    tx = torch.from_numpy(x).to(device)
    txg = tx.clone().requires_grad_()
    tgy = torch.from_numpy(gy).to(device)

    def torch_fwd():
        with torch.no_grad():
            return tm(tx)[0]

    def torch_train():
        tm.zero_grad(set_to_none=True)
        txg.grad = None
        tm(txg)[0].backward(tgy)

    return torch_fwd, torch_train


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    import numpy as np

    import loomgrad as lg
    from . import harness

    setup = harness.bench_setup(args)
    if setup.device == "cuda":
        return _main_cuda(args, setup)
    dtype, torch = setup.dtype, setup.torch
    peak = setup.peak
    harness.print_header("LSTM benchmark", setup)

    rng = np.random.default_rng(0)
    fwd_rows, train_rows, gru_rows = [], [], []
    yardsticks = ["torch"] if torch is not None else []
    for label, T, N, I, H, L in (QUICK if args.quick else SHAPES):
        lg.manual_seed(0)
        ours = lg.nn.LSTM(I, H, L, dtype=dtype)
        x = rng.standard_normal((T, N, I)).astype(dtype)
        gy = rng.standard_normal((T, N, H)).astype(dtype)

        def ours_fwd():
            with lg.no_grad():
                return ours(lg.tensor(x))[0]

        fwd = {"loomgrad": ours_fwd}
        train = {"loomgrad": _ours_train(lg, ours, x, gy)}
        if torch is not None:
            tm = torch.nn.LSTM(I, H, L).to(getattr(torch, dtype.name))
            ours.load_state_dict(tm.state_dict())
            torch_fwd, torch_train = _torch_contenders(torch, tm, x, gy, "cpu")
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
        gru_rows.append(harness.Row(label, 3 * flops * 3 / 4,
                                    setup.time(_gru_contenders(lg, torch, dtype, x, gy, I, H, L))))
        print(f"  ... {label}", flush=True)
    print()
    harness.print_table(fwd_rows, ours="loomgrad", yardsticks=yardsticks, peak_gflops=peak,
                        title="forward (no_grad)", setup=setup)
    print()
    harness.print_table(train_rows, ours="loomgrad", yardsticks=yardsticks, peak_gflops=peak,
                        title="forward + backward (input and all parameter gradients)", setup=setup)
    print()
    harness.print_table(gru_rows, ours="loomgrad", yardsticks=yardsticks, peak_gflops=peak,
                        title="GRU (nn.GRU vs torch.nn.GRU), forward + backward", setup=setup)
    return harness.finish(setup)


def _ours_train(lg, module, x, gy):
    """Forward + backward of our recurrent ``module`` with the input's and every
    parameter's gradient (reset to None each call)."""
    lx, lgy = lg.tensor(x, requires_grad=True), lg.tensor(gy)
    params = list(module.parameters())

    def ours_train():
        for p in params:
            p.grad = None
        lx.grad = None
        module(lx)[0].backward(lgy)

    return ours_train


def _gru_contenders(lg, torch, dtype, x, gy, I, H, L):
    """nn.GRU forward + backward, ours and torch's on the same weights (3/4 of
    the LSTM's GEMM work: three gates)."""
    lg.manual_seed(0)
    ours = lg.nn.GRU(I, H, L, dtype=dtype)
    contenders = {"loomgrad": _ours_train(lg, ours, x, gy)}
    if torch is not None:
        tm = torch.nn.GRU(I, H, L).to(getattr(torch, dtype.name))
        ours.load_state_dict(tm.state_dict())
        contenders["torch"] = _torch_contenders(torch, tm, x, gy, "cpu")[1]
    return contenders


def _main_cuda(args, setup) -> int:
    """Our CUDA kernels (layer by layer) vs torch.nn.LSTM on cuDNN, FP32."""
    import cupy as cp
    import numpy as np

    from .. import kernels
    from ..kernels.gpu import lstm as _gpu_lstm
    from . import harness

    torch = setup.torch
    extra = []
    if torch is not None:
        # FP32 against FP32: cuDNN's RNNs may otherwise use TF32 tensor cores.
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        extra.append(f"torch.nn.LSTM on cuDNN {torch.backends.cudnn.version()}, TF32 off")
    rng = np.random.default_rng(0)
    rows = {"fwd": [], "train": []}
    paths = []
    for label, T, N, I, H, L in (QUICK if args.quick else SHAPES):
        x = rng.standard_normal((T, N, I)).astype(np.float32)
        gy = rng.standard_normal((T, N, H)).astype(np.float32)
        tm = None
        if torch is not None:
            tm = torch.nn.LSTM(I, H, L).cuda()
            weights = [[cp.array(cp.from_dlpack(getattr(tm, f"{n}_l{k}").detach()))
                        for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                       for k in range(L)]
        else:
            bound = 1 / np.sqrt(H)
            weights = [[cp.asarray(rng.uniform(-bound, bound, s).astype(np.float32))
                        for s in ((4 * H, I if k == 0 else H), (4 * H, H), (4 * H,), (4 * H,))]
                       for k in range(L)]
        gx, ggy = cp.asarray(x), cp.asarray(gy)

        def ours_fwd():
            out = gx
            for w in weights:
                out = kernels.lstm_sequence(out, None, None, *w)[0]
            return out

        def ours_train():
            out, saved = gx, []
            for w in weights:
                out, _, _, s = kernels.lstm_sequence(out, None, None, *w)
                saved.append(s)
            g = ggy
            for s in reversed(saved):
                g = kernels.lstm_sequence_backward(g, None, None, s)[0]

        ours_train()
        paths.append(f"{label}: forward on the {_gpu_lstm.last_path} path, backward on the "
                     f"{_gpu_lstm.last_backward_path} path")
        fwd, train = {"loomgrad": ours_fwd}, {"loomgrad": ours_train}
        if tm is not None:
            torch_fwd, torch_train = _torch_contenders(torch, tm, x, gy, "cuda")
            fwd["torch"], train["torch"] = torch_fwd, torch_train
            got, ref = cp.asnumpy(ours_fwd()), torch_fwd().cpu().numpy()
            if not np.allclose(got, ref, rtol=1e-3, atol=1e-4):
                print(f"WARNING: {label}: loomgrad and torch disagree "
                      f"(max diff {np.max(np.abs(got - ref)):.3g})")
        flops = lstm_flops(T, N, I, H, L)
        rows["fwd"].append(harness.Row(label, flops, setup.time(fwd)))
        rows["train"].append(harness.Row(label, 3 * flops, setup.time(train)))
        print(f"  ... {label}", flush=True)
    harness.print_header("LSTM benchmark (CUDA)", setup, extra + paths)
    yardsticks = ["torch"] if torch is not None else []
    harness.print_table(rows["fwd"], ours="loomgrad", yardsticks=yardsticks,
                        peak_gflops=setup.peak, title="forward (no_grad)", setup=setup)
    print()
    harness.print_table(rows["train"], ours="loomgrad", yardsticks=yardsticks,
                        peak_gflops=setup.peak,
                        title="forward + backward (input and all parameter gradients)", setup=setup)
    return harness.finish(setup)


if __name__ == "__main__":
    raise SystemExit(main())
