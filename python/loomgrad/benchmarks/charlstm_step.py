"""One char-LSTM language-model training step, loomgrad beside the same model in PyTorch (CPU).

    python -m loomgrad bench charlstm_step [--threads 2] [--quick]

The model is ``python -m loomgrad train --model charlstm``'s shape at
issue-13 size: an embedding of a 96-character vocabulary (dimension 64), a
2-layer LSTM with H = 512, a linear head 512 -> 96, softmax cross-entropy
over every position, on T = 64 steps of N = 32 streams. One step =
zero_grad, forward, loss, backward and an SGD-with-momentum update, both
models starting from the same weights. GFLOP/s counts the LSTM's and the
head's multiply-adds of forward and both backward passes (3x forward).
After the table, each side's step split into its phases (zero_grad +
forward + loss, backward, optimizer step): minima over alternating rounds
of single timed steps, to show where the two differ.
"""
from __future__ import annotations

VOCAB, EMBED, HIDDEN, LAYERS, T, N = 96, 64, 512, 2, 64, 32


def build_parser():
    from .harness import bench_parser

    return bench_parser("charlstm_step",
                        "One char-LSTM LM training step: loomgrad vs PyTorch.",
                        reps=5, min_time=0.2)


def char_lstm(nn, hidden):
    """The model on ``nn`` = ``lg.nn`` or ``torch.nn`` (same names, same parameters)."""

    class CharLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, EMBED)
            self.lstm = nn.LSTM(EMBED, hidden, LAYERS)
            self.head = nn.Linear(hidden, VOCAB)

        def forward(self, ids):
            out, _ = self.lstm(self.embed(ids))
            return self.head(out).reshape(-1, VOCAB)

    return CharLSTM()


def step_flops(t: int, n: int, h: int) -> float:
    lstm = 2.0 * t * n * 4 * h * ((EMBED + h) + (h + h) * (LAYERS - 1))
    head = 2.0 * t * n * h * VOCAB
    return 3 * (lstm + head)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.device != "cpu":
        raise SystemExit("bench charlstm_step: CPU only")

    import numpy as np

    import loomgrad as lg
    from . import harness

    setup = harness.bench_setup(args)
    torch = setup.torch
    t, n, h = (16, 8, 128) if args.quick else (T, N, HIDDEN)
    dtype = setup.dtype
    harness.print_header(f"char-LSTM LM training step, T={t} N={n} H={h} x{LAYERS}, "
                         f"vocab {VOCAB}", setup)

    rng = np.random.default_rng(0)
    ids = rng.integers(0, VOCAB, (t, n))
    targets = rng.integers(0, VOCAB, t * n)
    lg.manual_seed(0)
    model = char_lstm(lg.nn, h).to(dtype)
    opt = lg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    it, tt = lg.tensor(ids), lg.tensor(targets)

    def step_ours(clock=None):
        opt.zero_grad()
        loss = lg.nn.functional.cross_entropy(model(it), tt)
        clock and clock()
        loss.backward()
        clock and clock()
        opt.step()

    contenders = {"loomgrad": step_ours}
    if torch is not None:
        tmodel = char_lstm(torch.nn, h).to(torch.float64 if dtype == np.float64
                                           else torch.float32)
        tmodel.load_state_dict({k: torch.from_numpy(np.array(v.numpy(), copy=True))
                                for k, v in model.state_dict().items()})
        topt = torch.optim.SGD(tmodel.parameters(), lr=0.01, momentum=0.9)
        tids, ttg = torch.from_numpy(ids), torch.from_numpy(targets)
        with lg.no_grad():
            ours = model(it).numpy()
        with torch.no_grad():
            ref = tmodel(tids).numpy()
        if not np.allclose(ours, ref, rtol=1e-3, atol=1e-4):
            print(f"WARNING: loomgrad and torch char-LSTM outputs disagree "
                  f"(max diff {np.max(np.abs(ours - ref)):.3g})")

        def step_torch(clock=None):
            topt.zero_grad()
            loss = torch.nn.functional.cross_entropy(tmodel(tids), ttg)
            clock and clock()
            loss.backward()
            clock and clock()
            topt.step()

        contenders["torch"] = step_torch

    row = harness.Row(f"char-LSTM step [T={t}, N={n}, H={h}]", step_flops(t, n, h),
                      setup.time(contenders))
    for name, sec in row.seconds.items():
        print(f"  {name}: {sec * 1e3:.2f} ms per step")
    print()
    harness.print_table([row], ours="loomgrad", yardsticks=["torch"] if torch else [],
                        peak_gflops=setup.peak, title="training step (forward + backward + SGD)",
                        setup=setup)
    print_phases(contenders, setup.reps)
    return harness.finish(setup)


PHASES = ("forward + loss", "backward", "optimizer step")


def step_phases(step) -> list:
    """Seconds of each phase of one call of ``step(clock)`` (clock() marks a phase's end)."""
    import time

    marks = [time.perf_counter()]
    step(lambda: marks.append(time.perf_counter()))
    marks.append(time.perf_counter())
    return [b - a for a, b in zip(marks, marks[1:])]


def print_phases(contenders: dict, reps: int) -> None:
    """Per-phase minima (ms) over ``reps`` alternating rounds of one step per contender."""
    best = {name: [float("inf")] * len(PHASES) for name in contenders}
    for _ in range(reps):
        for name, step in contenders.items():
            best[name] = [min(a, b) for a, b in zip(best[name], step_phases(step))]
    print("\nphases of one step, ms (minimum over alternating rounds)")
    print(f"{'phase':<18}" + "".join(f"{name:>12}" for name in contenders))
    for i, phase in enumerate(PHASES):
        print(f"{phase:<18}" + "".join(f"{best[name][i] * 1e3:>12.1f}" for name in contenders))


if __name__ == "__main__":
    raise SystemExit(main())
