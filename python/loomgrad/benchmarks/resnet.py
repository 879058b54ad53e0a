"""One ResNet basic-block training step, loomgrad beside the same block in PyTorch (CPU).

    python -m loomgrad bench resnet [--threads 2] [--batch 32] [--quick]

The block is ResNet's basic block at its first stage: conv 3x3 64->64 pad 1
(no bias), BatchNorm2d, ReLU, conv 3x3 64->64 pad 1, BatchNorm2d, plus the
identity, ReLU, on (N, 64, 56, 56) inputs. One step = zero_grad, forward,
an MSE loss against a fixed random target, backward and an SGD-with-momentum
update, both models starting from the same weights. GFLOP/s counts the two
convolutions' multiply-adds of forward and both backward passes (3x
forward); batch norm, ReLU and the update are not counted. The conversion
between layouts, if a kernel used one, is inside the timed step.
"""
from __future__ import annotations

CHANNELS, SIZE = 64, 56


def build_parser():
    from .harness import bench_parser

    p = bench_parser("resnet", "One ResNet basic-block training step: loomgrad vs PyTorch.",
                     reps=5, min_time=0.2)
    p.add_argument("--batch", type=int, default=32, help="batch size (default 32)")
    return p


def basic_block(nn, c):
    """The block on ``nn`` = ``lg.nn`` or ``torch.nn`` (same names, same parameters)."""

    class BasicBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)

        def forward(self, x):
            out = nn.functional.relu(self.bn1(self.conv1(x)))
            return nn.functional.relu(self.bn2(self.conv2(out)) + x)

    return BasicBlock()


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.batch < 1:
        raise SystemExit("--batch must be >= 1")
    if args.device != "cpu":
        raise SystemExit("bench resnet: CPU only")

    import numpy as np

    import loomgrad as lg
    from . import harness

    setup = harness.bench_setup(args)
    torch = setup.torch
    n, size = (4, 28) if args.quick else (args.batch, SIZE)
    c = CHANNELS
    dtype = setup.dtype
    harness.print_header(f"ResNet basic-block training step, batch {n}, {c}ch {size}x{size}",
                         setup)

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, size, size)).astype(dtype)
    target = rng.standard_normal((n, c, size, size)).astype(dtype)
    lg.manual_seed(0)
    model = basic_block(lg.nn, c).to(dtype)
    opt = lg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xt, tt = lg.tensor(x), lg.tensor(target)

    def step_ours():
        opt.zero_grad()
        loss = lg.nn.functional.mse_loss(model(xt), tt)
        loss.backward()
        opt.step()

    contenders = {"loomgrad": step_ours}
    if torch is not None:
        tmodel = basic_block(torch.nn, c).to(torch.float64 if dtype == np.float64 else torch.float32)
        tmodel.load_state_dict({k: torch.from_numpy(np.array(v.numpy(), copy=True))
                                for k, v in model.state_dict().items()})
        topt = torch.optim.SGD(tmodel.parameters(), lr=0.01, momentum=0.9)
        tx, tt_ = torch.from_numpy(x), torch.from_numpy(target)
        model.eval()
        tmodel.eval()
        with lg.no_grad():
            ours = model(xt).numpy()
        with torch.no_grad():
            ref = tmodel(tx).numpy()
        if not np.allclose(ours, ref, rtol=1e-3, atol=1e-4):
            print(f"WARNING: loomgrad and torch block outputs disagree "
                  f"(max diff {np.max(np.abs(ours - ref)):.3g})")
        model.train()
        tmodel.train()

        def step_torch():
            topt.zero_grad()
            loss = torch.nn.functional.mse_loss(tmodel(tx), tt_)
            loss.backward()
            topt.step()

        contenders["torch"] = step_torch

    flops = 3 * 2 * (2.0 * n * c * c * 9 * size * size)
    row = harness.Row(f"ResNet block [N={n}, {c}ch, {size}x{size}]", flops,
                      setup.time(contenders))
    for name, t in row.seconds.items():
        print(f"  {name}: {t * 1e3:.2f} ms per step")
    print()
    harness.print_table([row], ours="loomgrad", yardsticks=["torch"] if torch else [],
                        peak_gflops=setup.peak, title="training step (forward + backward + SGD)",
                        setup=setup)
    return harness.finish(setup)


if __name__ == "__main__":
    raise SystemExit(main())
