"""One LeNet training step, loomgrad beside the same model in PyTorch (CPU or GPU).

    python -m loomgrad bench lenet [--threads 2] [--batch 64] [--quick]
    python -m loomgrad bench lenet --device cuda     # ours on the GPU vs torch.cuda
    python bench/lenet.py ...

The model is the classic LeNet-5-style CNN on 28x28 single-channel images:
conv 1->32 5x5 pad 2, relu, max-pool 2, conv 32->64 5x5 pad 2, relu,
max-pool 2, flatten (3136), linear 3136->1024, relu, dropout 0.5,
linear 1024->10, softmax cross-entropy. One step = zero_grad, forward, loss,
backward and an SGD-with-momentum update, on identical initial weights.
GFLOP/s counts the convolutions' and linears' multiply-adds of forward and
both backward passes (3x forward); elementwise work is not counted.
With ``--device cuda`` both models and the batch live on the GPU and the step
is timed with CUDA events (median); dropout masks then differ between the two
(each draws on the GPU), which does not change the work.
"""
from __future__ import annotations


def build_parser():
    from .harness import bench_parser

    p = bench_parser("lenet", "One LeNet training step: loomgrad vs PyTorch.", reps=5,
                     min_time=0.2)
    p.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    return p


def lenet_lg(lg):
    nn = lg.nn
    return nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 1024), nn.ReLU(), nn.Dropout(0.5), nn.Linear(1024, 10))


def lenet_torch(torch):
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 1024), nn.ReLU(), nn.Dropout(0.5), nn.Linear(1024, 10))


def step_flops(n: int) -> float:
    conv1 = 2.0 * n * 32 * 1 * 25 * 28 * 28
    conv2 = 2.0 * n * 64 * 32 * 25 * 14 * 14
    fcs = 2.0 * n * (3136 * 1024 + 1024 * 10)
    return 3 * (conv1 + conv2 + fcs)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.batch < 1:
        raise SystemExit("--batch must be >= 1")

    import numpy as np

    import loomgrad as lg
    from . import harness

    setup = harness.bench_setup(args)
    torch = setup.torch
    n = 8 if args.quick else args.batch
    dtype = setup.dtype
    peak = setup.peak
    harness.print_header(f"LeNet training step, batch {n}", setup)

    rng = np.random.default_rng(0)
    x = rng.random((n, 1, 28, 28)).astype(dtype)
    y = rng.integers(0, 10, n)
    lg.manual_seed(0)
    dev = setup.device  # "cpu" or "cuda"
    model = lenet_lg(lg).to(dtype).to(dev)
    opt = lg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xt, yt = lg.tensor(x, device=dev), lg.tensor(y, device=dev)

    def step_ours():
        opt.zero_grad()
        loss = lg.nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()

    contenders = {"loomgrad": step_ours}
    if torch is not None:
        tmodel = lenet_torch(torch).to(torch.float64 if dtype == np.float64 else torch.float32)
        tmodel.load_state_dict({k: torch.from_numpy(v.cpu().numpy().copy())
                                for k, v in model.state_dict().items()})
        tmodel.to(dev)
        topt = torch.optim.SGD(tmodel.parameters(), lr=0.01, momentum=0.9)
        tx, ty = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
        model.eval()
        tmodel.eval()
        with lg.no_grad():
            ours = model(xt).cpu().numpy()
        with torch.no_grad():
            ref = tmodel(tx).cpu().numpy()
        if not np.allclose(ours, ref, rtol=1e-3, atol=1e-4):
            print(f"WARNING: loomgrad and torch LeNet outputs disagree "
                  f"(max diff {np.max(np.abs(ours - ref)):.3g})")
        model.train()
        tmodel.train()

        def step_torch():
            topt.zero_grad()
            loss = torch.nn.functional.cross_entropy(tmodel(tx), ty)
            loss.backward()
            topt.step()

        contenders["torch"] = step_torch

    row = harness.Row(f"LeNet step [N={n}, 28x28]", step_flops(n),
                      setup.time(contenders))
    for name, t in row.seconds.items():
        print(f"  {name}: {t * 1e3:.2f} ms per step")
    print()
    harness.print_table([row], ours="loomgrad", yardsticks=["torch"] if torch else [],
                        peak_gflops=peak, title="training step (forward + backward + SGD)", setup=setup)
    return harness.finish(setup)


if __name__ == "__main__":
    raise SystemExit(main())
