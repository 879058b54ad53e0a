"""PyTorch bridge benchmark (loomgrad.interop.torch): torch models trained with
torch's own layers beside the same models with ours swapped in, and the cost
of the bridge itself.

    python -m loomgrad bench bridge [--threads 2] [--dtype float32] [--quick]
    python bench/bridge.py ...

Training: one step = ``zero_grad``, forward, loss, ``backward``, optimizer
step (torch.optim.SGD with momentum on both sides), whole model, same
initial weights (a deep copy; ``swap_layers`` changes only the forwards),
same batch. Contenders alternate; each keeps its fastest step. Models:

- a 2-layer GRU language model (Embedding -> GRU -> Linear -> CrossEntropy):
  "ours: GRU" swaps only the GRU, "ours: all" also the Linear head and the
  loss;
- a small CNN (LeNet-5 on 28x28: two conv + max-pool blocks, three Linear,
  CrossEntropy), every layer swapped.

Before timing, each model pair runs three steps from the same weights and
the table notes the largest relative difference of the losses (float32
sums differ in the last bits; the tests check float64 to 1e-9).

Bridge overhead: a tiny-shape forward through the bridge (the autograd
Function on tensors that require grad: detach, DLPack-free NumPy views in
and ``torch.from_numpy`` out, the node) beside the raw kernel on NumPy
arrays; the difference is what the bridge costs per call (target < 10 us).
"""
from __future__ import annotations

# (label, T, N, vocab, embedding = hidden)
GRU_LMS = [
    ("char LM T=100 N=8 V=96 H=256", 100, 8, 96, 256),
    ("word LM T=35 N=20 V=10000 H=200", 35, 20, 10000, 200),
]
QUICK_GRU_LMS = [("char LM T=20 N=4 V=32 H=32", 20, 4, 32, 32)]
CNN_BATCH, QUICK_CNN_BATCH = 64, 8


def build_parser():
    from .harness import bench_parser

    return bench_parser("bridge", "torch models with torch's layers vs loomgrad's swapped in "
                        "(loomgrad.interop.torch), and the bridge's per-call overhead.",
                        reps=5, min_time=0.2)


def _gru_lm(torch, V, H):
    nn = torch.nn

    class GRULM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(V, H)
            self.rnn = nn.GRU(H, H, num_layers=2)
            self.head = nn.Linear(H, V)
            self.loss = nn.CrossEntropyLoss()

        def forward(self, tokens, targets):
            y, _ = self.rnn(self.emb(tokens))
            return self.loss(self.head(y).reshape(-1, V), targets.reshape(-1))

    return GRULM()


def _lenet(torch):
    nn = torch.nn

    class LeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.pool1 = nn.Conv2d(1, 6, 5, padding=2), nn.MaxPool2d(2)
            self.conv2, self.pool2 = nn.Conv2d(6, 16, 5), nn.MaxPool2d(2)
            self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)
            self.loss = nn.CrossEntropyLoss()

        def forward(self, x, y):
            h = self.pool1(torch.relu(self.conv1(x)))
            h = self.pool2(torch.relu(self.conv2(h))).flatten(1)
            h = torch.relu(self.fc2(torch.relu(self.fc1(h))))
            return self.loss(self.fc3(h), y)

    return LeNet()


def _step_fn(torch, model, batch):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad()
        loss = model(*batch)
        loss.backward()
        opt.step()
        return loss

    return step


def _train_row(setup, label, models, batch):
    """Row of steps/s per contender (Row.flops = 1e9, so "GF/s" reads steps/s),
    and the largest relative loss difference after three equal steps."""
    import copy

    from .harness import Row

    torch = setup.torch
    losses = {}
    for name, m in models.items():
        step = _step_fn(torch, copy.deepcopy(m), batch)
        losses[name] = [step().item() for _ in range(3)]
    ref = losses["torch"]
    diff = max(abs(a - b) / max(abs(a), 1e-30) for name, ls in losses.items() if name != "torch"
               for a, b in zip(ref, ls))
    steps = {name: _step_fn(torch, m, batch) for name, m in models.items()}
    print(f"  ... {label}: losses after 3 steps equal to {diff:.1e} (relative)", flush=True)
    return Row(label, 1e9, setup.time(steps))


def _overhead_rows(setup):
    """(family, raw kernel us, bridge forward us, torch's own us) at tiny shapes."""
    import numpy as np

    from loomgrad import kernels as K
    from loomgrad.interop import torch as lgt

    torch = setup.torch
    dt = setup.dtype
    rng = np.random.default_rng(0)
    a = lambda *s: rng.standard_normal(s).astype(dt)  # noqa: E731
    x4, w4, b4 = a(1, 2, 4, 4), a(2, 2, 3, 3), a(2)
    x2, w2, b2 = a(2, 4), a(3, 4), a(3)
    logits, target = a(2, 5), np.array([1, 3])
    xs, h0, wih, whh, bih = a(2, 1, 4), a(1, 4), a(12, 4), a(12, 4), a(12)

    def t(v, grad=True):
        return torch.from_numpy(v).requires_grad_(grad and v.dtype.kind == "f")

    F = torch.nn.functional
    floor = _function_floor(torch)
    gx4, gw4, gb4, gx2, gw2, gb2 = map(t, (x4, w4, b4, x2, w2, b2))
    glog, tt = t(logits), torch.from_numpy(target)
    gxs, gh0, gwih, gwhh, gbih = map(t, (xs, h0, wih, whh, bih))
    cases = [
        ("conv2d 1x2x4x4 k3", lambda: K.conv2d(x4, w4, b4, 1, 1),
         lambda: lgt.conv2d(gx4, gw4, gb4, 1, 1), lambda: F.conv2d(gx4, gw4, gb4, 1, 1)),
        ("linear 2x4 -> 3", lambda: K.gemm(x2, w2, trans_b=True),
         lambda: lgt.linear(gx2, gw2, gb2), lambda: F.linear(gx2, gw2, gb2)),
        ("max_pool2d 1x2x4x4 k2", lambda: K.max_pool2d(x4, 2),
         lambda: lgt.max_pool2d(gx4, 2), lambda: F.max_pool2d(gx4, 2)),
        ("cross_entropy 2x5", lambda: K.softmax_cross_entropy(logits, target),
         lambda: lgt.cross_entropy(glog, tt), lambda: F.cross_entropy(glog, tt)),
        ("gru layer T=2 N=1 H=4", lambda: K.gru_sequence(xs, h0, wih, whh, bih, bih),
         lambda: lgt.gru_layer(gxs, gh0, gwih, gwhh, gbih, gbih),
         lambda: torch._VF.gru(gxs, gh0.unsqueeze(0), (gwih, gwhh, gbih, gbih), True, 1,
                               0.0, True, False, False)),
    ]
    rows = []
    for label, raw, bridged, theirs in cases:
        s = setup.time({"raw": raw, "bridge": bridged, "torch": theirs, "floor": floor})
        rows.append((label, s["raw"] * 1e6, s["bridge"] * 1e6, s["floor"] * 1e6,
                     s["torch"] * 1e6))
    return rows


def _function_floor(torch):
    """A call of the cheapest torch.autograd.Function (three tensor inputs that
    require grad, one tiny output): what any Python-level bridge pays torch."""

    class Floor(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a, b, c):
            return a.detach().clone()

        @staticmethod
        def backward(ctx, g):
            return g, None, None

    a, b, c = (torch.zeros(2, requires_grad=True) for _ in range(3))
    return lambda: Floor.apply(a, b, c)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    import copy

    import numpy as np

    from . import harness

    setup = harness.bench_setup(args)
    torch = setup.torch
    if torch is None:
        raise SystemExit("bench bridge needs PyTorch (pip install loomgrad[torch])")
    from loomgrad.interop import torch as lgt

    tdt = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[setup.dtype]
    harness.print_header("PyTorch bridge benchmark (loomgrad.interop.torch)", setup, peak=False)

    gen = torch.Generator().manual_seed(0)
    rows_gru, rows_cnn = [], []
    for label, T, N, V, H in (QUICK_GRU_LMS if args.quick else GRU_LMS):
        torch.manual_seed(0)
        base = _gru_lm(torch, V, H).to(tdt)
        ours_gru = copy.deepcopy(base)
        ours_gru.rnn = lgt.swap_layers(ours_gru.rnn)
        ours_all = lgt.swap_layers(copy.deepcopy(base))
        batch = (torch.randint(0, V, (T, N), generator=gen),
                 torch.randint(0, V, (T, N), generator=gen))
        rows_gru.append(_train_row(setup, label, {"ours: GRU": ours_gru, "ours: all": ours_all,
                                                  "torch": base}, batch))
    B = QUICK_CNN_BATCH if args.quick else CNN_BATCH
    torch.manual_seed(0)
    base = _lenet(torch).to(tdt)
    batch = (torch.randn(B, 1, 28, 28, generator=gen, dtype=tdt),
             torch.randint(0, 10, (B,), generator=gen))
    rows_cnn.append(_train_row(setup, f"LeNet-5 batch {B} 28x28", {
        "ours": lgt.swap_layers(copy.deepcopy(base)), "torch": base}, batch))
    print()
    harness.print_table(rows_gru, ours="ours: GRU", yardsticks=["torch"], unit="step/s",
                        title="2-layer GRU language model, one training step (SGD momentum); "
                              "x torch = torch's time / ours")
    print()
    harness.print_table(rows_gru, ours="ours: all", yardsticks=["torch"], unit="step/s",
                        title="the same with the Linear head and CrossEntropyLoss swapped too")
    print()
    harness.print_table(rows_cnn, ours="ours", yardsticks=["torch"], unit="step/s",
                        title="LeNet-5 (Conv2d, MaxPool2d, Linear, CrossEntropyLoss all "
                              "swapped), one training step")
    print()
    rows = _overhead_rows(setup)
    w = max(len(r[0]) for r in rows)
    print("bridge overhead per forward call at tiny shapes, microseconds: raw = the kernel on "
          "NumPy arrays;\nbridge = our autograd Function on torch tensors that require grad; "
          "floor = an empty torch.autograd.Function\n(3 inputs), what torch charges any Python "
          "bridge; ours = bridge - raw - floor; torch = torch's own op")
    head = (f"{'call':<{w}}  {'raw':>7}  {'bridge':>7}  {'overhead':>8}  {'floor':>7}  "
            f"{'ours':>6}  {'torch':>7}")
    print(head)
    print("-" * len(head))
    for label, raw, br, fl, th in rows:
        print(f"{label:<{w}}  {raw:>7.1f}  {br:>7.1f}  {br - raw:>8.1f}  {fl:>7.1f}  "
              f"{br - raw - fl:>6.1f}  {th:>7.1f}")
    worst = max(rows, key=lambda r: r[2] - r[1])
    print(f"largest overhead: {worst[2] - worst[1]:.1f} us per call ({worst[0]}; target < 10 us), "
          f"of which torch's Function floor {worst[3]:.1f} us")
    return 0
