"""A very deep vanilla tanh CNN (no batch norm, no skip connections) on the bundled 8x8 digits,
trained twice: with the delta-orthogonal initialiser (Xiao et al., "Dynamical Isometry and a
Mean Field Theory of CNNs", ICML 2018) and with torch's default conv init.

    python examples/deep_tanh_cnn.py [--depth 100] [--steps 300] [--quick]

Delta-orthogonal weights are zero except for an orthogonal matrix at each kernel's centre, so
every layer starts norm-preserving and the gradient reaches the first layer of a 100-layer
tanh network; under the default init (variance 1/(3 fan_in)) the signal shrinks layer by layer
and the loss stays near log(10) = 2.30. --quick: 24 layers, 40 steps (seconds).
"""
import argparse
import math

import numpy as np

import loomgrad as lg
import loomgrad.nn.functional as F
from loomgrad import nn


class DeepTanhCNN(nn.Module):
    """Conv(1->C) + (depth - 1) x [Conv(C->C) 3x3], tanh after each; flatten; Linear(C*64->10)."""

    def __init__(self, depth: int, channels: int):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(1, channels, 3, padding=1)] +
                                   [nn.Conv2d(channels, channels, 3, padding=1)
                                    for _ in range(depth - 1)])
        self.head = nn.Linear(channels * 64, 10)

    def forward(self, x):
        for conv in self.convs:
            x = conv(x).tanh()
        return self.head(x.flatten(1))


def delta_orthogonal_init(model: DeepTanhCNN, gain: float = 1.0) -> None:
    for conv in model.convs:
        nn.init.delta_orthogonal_(conv.weight, gain)
        nn.init.zeros_(conv.bias)


def train(model, X, y, Xt, yt, steps: int, batch: int, lr: float):
    opt = lg.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    rng = np.random.default_rng(0)
    losses = []
    for step in range(steps):
        idx = rng.integers(0, len(X), batch)
        loss = F.cross_entropy(model(lg.tensor(X[idx])), lg.tensor(y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with lg.no_grad():
        acc = float((model(lg.tensor(Xt)).argmax(1).numpy() == yt).mean())
    return losses, acc


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--depth", type=int, default=100)
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--quick", action="store_true", help="24 layers, 40 steps")
    args = p.parse_args(argv)
    if args.quick:
        args.depth, args.steps = 24, 40
    X, y = lg.data.digits(split="train")
    Xt, yt = lg.data.digits(split="test")
    X = X.numpy().reshape(-1, 1, 8, 8)
    Xt = Xt.numpy().reshape(-1, 1, 8, 8)
    y, yt = y.numpy(), yt.numpy()
    print(f"{args.depth}-layer tanh CNN, {args.channels} channels, no batch norm, no skips; "
          f"{args.steps} SGD steps of {args.batch}")
    results = {}
    for name in ("delta-orthogonal", "default"):
        lg.manual_seed(0)
        model = DeepTanhCNN(args.depth, args.channels)
        if name == "delta-orthogonal":
            delta_orthogonal_init(model)
        losses, acc = train(model, X, y, Xt, yt, args.steps, args.batch, args.lr)
        k = max(1, args.steps // 10)
        first, last = float(np.mean(losses[:k])), float(np.mean(losses[-k:]))
        results[name] = (first, last, acc)
        print(f"  {name:>16} init: loss {first:.3f} -> {last:.3f} (mean of {k} steps), "
              f"test accuracy {acc:.1%}")
    print(f"  chance: loss log(10) = {math.log(10):.3f}, accuracy 10%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
