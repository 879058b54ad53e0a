"""The training job behind ``python -m loomgrad train``: an MLP or a LeNet CNN on digits.

``add_arguments(parser)`` adds the options; ``run(args)`` trains and returns
the metrics. Both are used by ``loomgrad.cli``; ``run`` also works from
Python: ``run()`` with the defaults, or ``run(argparse.Namespace(epochs=5))``
(options not given take their defaults).
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

__all__ = ["add_arguments", "run", "default_args"]

MODELS = ("mlp", "lenet", "charlstm")
SCHEDULES = ("none", "step", "cosine", "inverse-time")
# Options whose default depends on --model (None on the command line means "the model's").
_MODEL_DEFAULTS = {"mlp": dict(lr=3e-3, schedule="none"),
                   "charlstm": dict(lr=3e-3, schedule="none"),
                   "lenet": dict(lr=1e-2, schedule="cosine")}


def _positive(kind):
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") \
                from None
        if not v > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return v
    parse.__name__ = f"positive {kind.__name__}"
    return parse


def _non_negative_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {v}")
    return v


def _device(text: str) -> str:
    """cpu or cuda; cuda is refused at parse time when no GPU is usable, so the
    CLI prints a one-line usage error with the reason instead of a traceback."""
    if text not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from 'cpu', 'cuda')")
    if text == "cuda":
        from . import cuda
        if not cuda.is_available():
            raise argparse.ArgumentTypeError(f"CUDA is not available: "
                                             f"{cuda.unavailable_reason()}")
    return text


def _non_negative_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a float, got {text!r}") from None
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return v


def _hidden_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints like 128 or 256,128, "
                                         f"got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"hidden sizes must be >= 1, got {text!r}")
    return sizes


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the training options to ``parser`` (the ``train`` sub-command's)."""
    parser.add_argument("--model", choices=MODELS, default="mlp", help="model to train "
                        "(default: %(default)s)")
    parser.add_argument("--hidden", type=_hidden_sizes, default=(256,), metavar="N[,N...]",
                        help="hidden layer widths of the MLP (default: 256)")
    parser.add_argument("--epochs", type=_positive(int), default=20,
                        help="passes over the training set (default: %(default)s)")
    parser.add_argument("--lr", type=_positive(float), default=None,
                        help="learning rate (default: 3e-3 for mlp, 1e-2 for lenet)")
    parser.add_argument("--schedule", choices=SCHEDULES, default=None,
                        help="learning-rate schedule per epoch: step (x0.5 every 5), cosine "
                             "(to 0 at the last epoch), inverse-time (lr / (1 + 0.1 epoch)) "
                             "(default: none for mlp, cosine for lenet)")
    parser.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                        help="adam, or sgd with momentum 0.9 (default: %(default)s)")
    parser.add_argument("--weight-decay", type=_non_negative_float, default=0.0,
                        help="L2 weight decay (default: %(default)s)")
    parser.add_argument("--batch-size", type=_positive(int), default=64,
                        help="samples per step (default: %(default)s)")
    parser.add_argument("--seed", type=_non_negative_int, default=0,
                        help="seeds init, shuffling and the train/test split "
                             "(default: %(default)s)")
    parser.add_argument("--device", type=_device, default="cpu", metavar="{cpu,cuda}",
                        help="where to train (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (per-epoch lines are still printed)")
    parser.add_argument("--quiet", action="store_true", help="print nothing; just return")
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel over MPI (mlp, lenet): launch with mpirun -n N or "
                             "srun; --batch-size stays the global batch, split over the ranks "
                             "(see docs/distributed.md)")
    parser.add_argument("--checkpoint", default=None, metavar="PATH",
                        help="save model, optimizer, schedule, epoch and RNG states to PATH "
                             "after every epoch (atomically, with lg.save; mlp and lenet)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from --checkpoint PATH if it exists (bit-for-bit where "
                             "the interrupted run would have been); else start afresh")
    from . import charlm  # the charlstm options (--seq-len, --temperature, --text, ...)

    charlm.add_arguments(parser)
    return parser


def default_args(**overrides) -> argparse.Namespace:
    """The defaults of :func:`add_arguments` as a Namespace, with overrides
    (Python names: ``batch_size=32``)."""
    ns = add_arguments(argparse.ArgumentParser()).parse_args([])
    for k, v in overrides.items():
        if not hasattr(ns, k):
            raise TypeError(f"train: unknown option {k!r}")
        setattr(ns, k, v)
    return _model_defaults(ns)


def _model_defaults(ns: argparse.Namespace) -> argparse.Namespace:
    """Fill the options left None with the chosen model's defaults."""
    for k, v in _MODEL_DEFAULTS.get(ns.model, _MODEL_DEFAULTS["mlp"]).items():
        if getattr(ns, k, None) is None:
            setattr(ns, k, v)
    return ns


def _complete(args) -> argparse.Namespace:
    full = add_arguments(argparse.ArgumentParser()).parse_args([])
    if args is not None:
        for k, v in vars(args).items():
            setattr(full, k, v)
    _model_defaults(full)
    if full.schedule not in SCHEDULES:
        raise ValueError(f"train: schedule must be one of {SCHEDULES}, got {full.schedule!r}")
    for name in ("epochs", "batch_size"):
        v = getattr(full, name)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"train: {name} must be an int >= 1, got {v!r}")
    if isinstance(full.lr, bool) or not isinstance(full.lr, (int, float)) or not full.lr > 0:
        raise ValueError(f"train: lr must be a number > 0, got {full.lr!r}")
    if full.model not in MODELS:
        raise ValueError(f"train: model must be one of {MODELS}, got {full.model!r}")
    if full.device not in ("cpu", "cuda"):
        raise ValueError(f"train: device must be 'cpu' or 'cuda', got {full.device!r}")
    return full


# Options a checkpoint must agree on to be resumed (the rest may change, e.g. --epochs).
_CHECKPOINT_KEYS = ("model", "hidden", "optimizer", "batch_size", "seed", "schedule")


def _save_checkpoint(args, epoch, history, model, opt, sched, loader_rng) -> None:
    import loomgrad as lg

    lg.save({"epoch": epoch, "history": history,
             "config": {k: getattr(args, k) for k in _CHECKPOINT_KEYS},
             "model": model.state_dict(), "optimizer": opt.state_dict(),
             "scheduler": None if sched is None else sched.state_dict(),
             "rng": lg.get_rng_state(), "loader_rng": loader_rng.bit_generator.state},
            args.checkpoint)


def _load_checkpoint(args, model, opt, sched, loader_rng) -> tuple[int, list]:
    """Restore everything :func:`_save_checkpoint` saved; returns (epoch, history)."""
    import loomgrad as lg

    ck = lg.load(args.checkpoint)
    where = f"train --resume: {args.checkpoint}"
    if not isinstance(ck, dict) or not {"epoch", "config", "model", "optimizer"} <= set(ck):
        raise ValueError(f"{where}: not a training checkpoint")
    for k in _CHECKPOINT_KEYS:
        have, want = ck["config"].get(k), getattr(args, k)
        if (list(have) if isinstance(have, (list, tuple)) else have) != \
                (list(want) if isinstance(want, (list, tuple)) else want):
            raise ValueError(f"{where}: the checkpoint was made with --{k.replace('_', '-')} "
                             f"{have}, this run has {want}")
    if (ck.get("scheduler") is None) != (sched is None):
        raise ValueError(f"{where}: learning-rate schedule differs from the checkpoint's")
    if ck["epoch"] > args.epochs:
        raise ValueError(f"{where}: the checkpoint is at epoch {ck['epoch']}, past --epochs "
                         f"{args.epochs}")
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    if sched is not None:
        sched.load_state_dict(ck["scheduler"])
    lg.set_rng_state(ck["rng"])
    loader_rng.bit_generator.state = ck["loader_rng"]
    return int(ck["epoch"]), list(ck.get("history", []))


def _init_distributed(args):
    """--distributed: join the MPI process group; returns lg.distributed, or None."""
    if not getattr(args, "distributed", False):
        return None
    if args.model == "charlstm":
        raise NotImplementedError("train --distributed: mlp and lenet only (not charlstm yet)")
    if getattr(args, "checkpoint", None):
        raise NotImplementedError("train --distributed with --checkpoint is not supported yet")
    from . import distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("mpi")
    if args.batch_size < dist.get_world_size():
        raise ValueError(f"train --distributed: --batch-size {args.batch_size} is the global "
                         f"batch; it must be >= the {dist.get_world_size()} ranks")
    return dist


def _shard(xb, yb, dist):
    """This rank's contiguous share of a global batch, and the weight that makes the
    ranks' averaged gradient equal the full batch's mean-loss gradient:
    local_n * world / global_n. A rank whose share is empty (a last batch smaller than
    the world) runs the first sample with weight 0, so it still joins the all-reduce."""
    import loomgrad as lg

    n, world, rank = len(yb.array), dist.get_world_size(), dist.get_rank()
    lo, hi = rank * n // world, (rank + 1) * n // world
    if hi == lo:
        return lg.Tensor(xb.array[:1]), lg.Tensor(yb.array[:1]), 0.0
    return lg.Tensor(xb.array[lo:hi]), lg.Tensor(yb.array[lo:hi]), (hi - lo) * world / n


def _global_sums(dist, *values):
    import loomgrad as lg

    t = lg.Tensor(np.array(values, dtype=np.float64))
    dist.all_reduce(t)
    return tuple(float(v) for v in t.array)


def _distributed_result(dist, model) -> dict:
    """world size and the largest parameter difference from rank 0 (0.0 when in sync)."""
    if dist is None:
        return {}
    import loomgrad as lg

    diff = 0.0
    for p in model.parameters():
        ref = lg.Tensor(p.array.copy())
        dist.broadcast(ref, 0)
        diff = max(diff, float(np.max(np.abs(ref.array - p.array), initial=0.0)))
    (diff,) = _global_sums(dist, diff)  # a sum of non-negatives: 0 iff every rank agrees
    return {"world_size": dist.get_world_size(), "rank": dist.get_rank(),
            "max_param_diff_across_ranks": diff}


def _require_device(args) -> str:
    """args.device, after checking CUDA when it is asked for (the CLI checks at parse
    time; this covers ``run()`` from Python)."""
    if args.device == "cuda":
        from . import cuda
        if not cuda.is_available():
            raise RuntimeError(f"--device cuda: CUDA is not available: "
                               f"{cuda.unavailable_reason()}")
        if getattr(args, "distributed", False):
            raise NotImplementedError("train --distributed runs on the MPI backend, CPU tensors "
                                      "only: use --device cpu")
    return args.device


def _evaluate(model, X, y, batch_size: int = 512,
              device: str = "cpu") -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` on host arrays X, y, in eval mode;
    batches go to ``device`` (the model's)."""
    import loomgrad as lg
    from .nn import functional as F

    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    with lg.no_grad():
        for i in range(0, len(y), batch_size):
            xb = lg.Tensor(X[i:i + batch_size]).to(device)
            yb = lg.Tensor(y[i:i + batch_size]).to(device)
            logits = model(xb)
            total_loss += float(F.cross_entropy(logits, yb, reduction="sum").item())
            correct += int((logits.array.argmax(axis=1) == yb.array).sum())
    model.train(was_training)
    return total_loss / len(y), correct / len(y)


def run(args: argparse.Namespace | None = None) -> dict:
    """Train the model on the digits training split, then test it.

    Returns ``{"test_accuracy", "test_loss", "train_accuracy", "final_loss"
    (mean training loss of the last epoch), "epochs", "seconds",
    "num_parameters", "history" (one dict per epoch), "model" (the trained module); with
    --distributed also "world_size", "rank", "max_param_diff_across_ranks"}``. Seeded: the same
    args give the same numbers.
    """
    import loomgrad as lg
    from tqdm.auto import tqdm

    from . import data, models, optim
    from .nn import functional as F

    args = _complete(args)
    if args.model == "charlstm" and args.checkpoint:
        raise NotImplementedError("train --checkpoint: not supported for charlstm yet (mlp, "
                                  "lenet)")
    if args.model == "charlstm":  # a language model on text: its own loop (charlm.py)
        from . import charlm

        return charlm.run(args)
    device = _require_device(args)
    dist = _init_distributed(args)  # None unless --distributed; then only rank 0 prints
    out = (lambda *a, **k: None) if args.quiet or (dist and dist.get_rank()) else print

    lg.manual_seed(int(args.seed))
    # the MLP takes flat (N, 64) rows, the CNN (N, 1, 8, 8) images
    flat = args.model == "mlp"
    X_train, y_train = data.load_digits_arrays("train", seed=int(args.seed), flatten=flat)
    X_test, y_test = data.load_digits_arrays("test", seed=int(args.seed), flatten=flat)
    if args.model == "lenet":
        model = models.lenet(in_channels=1, num_classes=10, image_size=X_train.shape[2:])
        shape = "CNN " + "-".join(map(str, model.channels)) + f"-{model.hidden}-10"
    else:
        model = models.mlp(in_features=X_train.shape[1], hidden=args.hidden, num_classes=10)
        shape = f"{model.in_features}-{'-'.join(map(str, model.hidden))}-10"
    # initialised on the host from the seed, then moved: one seed, one model on every device
    model.to(device)
    if args.optimizer == "adam":
        opt = optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    else:
        opt = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9,
                        weight_decay=args.weight_decay)
    sched = {"none": lambda: None,
             "step": lambda: optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5),
             "cosine": lambda: optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs),
             "inverse-time": lambda: optim.lr_scheduler.InverseTimeDecay(opt, 0.1),
             }[args.schedule]()
    # The loader's own generator, seeded from the global one: shuffles repeat with --seed.
    shuffle_rng = np.random.default_rng(lg.random.get_generator().integers(2**63))
    train_model = model
    if dist is not None:  # every rank sees the same global batches (same shuffle_rng)
        train_model = lg.nn.parallel.DistributedDataParallel(model)
        if dist.get_rank():  # dropout masks differ per rank; rank 0 keeps the 1-process stream
            lg.manual_seed(int(np.random.SeedSequence([int(args.seed), dist.get_rank()])
                               .generate_state(1)[0]))
    loader = data.DataLoader(data.TensorDataset(X_train, y_train), batch_size=args.batch_size,
                             shuffle=True, generator=shuffle_rng)
    n_params = sum(p.numel() for p in model.parameters())
    out(f"training {args.model} {shape} " + ("on the GPU " if device == "cuda" else "") +
        f"({n_params:,} parameters) on digits: {len(y_train)} train / {len(y_test)} test, "
        f"{args.epochs} epochs, {args.optimizer} lr={args.lr}"
        f"{'' if sched is None else ' (' + args.schedule + ' schedule)'}, "
        f"batch {args.batch_size}")

    history, done = [], 0
    if args.checkpoint and args.resume:
        import os

        if os.path.exists(args.checkpoint):
            done, history = _load_checkpoint(args, model, opt, sched, shuffle_rng)
            out(f"resuming from {args.checkpoint} after epoch {done}")
        else:
            out(f"no checkpoint at {args.checkpoint}: starting afresh")
    # One bar for the whole run (an epoch here is a few hundredths of a second);
    # epoch lines go through tqdm.write so they print above the bar.
    bar = tqdm(total=(args.epochs - done) * len(loader), unit="batch", leave=False, file=sys.stderr,
               disable=args.no_progress or args.quiet)
    say = out if bar.disable else (lambda *a: tqdm.write(" ".join(map(str, a))))
    start = time.perf_counter()
    for epoch in range(done + 1, args.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        seen = correct = 0
        loss_sum = 0.0
        bar.set_description(f"epoch {epoch}/{args.epochs}", refresh=False)
        for xb, yb in loader:
            weight = 1.0
            if dist is not None:
                xb, yb, weight = _shard(xb, yb, dist)
            xb, yb = xb.to(device), yb.to(device)  # the loader yields CPU tensors, as torch's
            opt.zero_grad()
            logits = train_model(xb)
            loss = F.cross_entropy(logits, yb)
            (loss if dist is None else loss * weight).backward()
            opt.step()
            n = len(yb.array) if weight else 0
            loss_sum += float(loss.item()) * n
            correct += int((logits.array.argmax(axis=1) == yb.array).sum()) if n else 0
            seen += n
            bar.set_postfix(loss=f"{loss_sum / max(seen, 1):.4f}",
                            accuracy=f"{correct / max(seen, 1):.3f}", refresh=False)
            bar.update(1)
        if sched is not None:
            sched.step()
        if dist is not None:  # the epoch's metrics over all ranks
            loss_sum, correct, seen = _global_sums(dist, loss_sum, correct, seen)
        train_loss, train_acc = loss_sum / seen, correct / seen
        test_loss, test_acc = _evaluate(model, X_test, y_test, device=device)
        history.append(dict(epoch=epoch, train_loss=train_loss, train_accuracy=train_acc,
                            test_loss=test_loss, test_accuracy=test_acc))
        say(f"epoch {epoch:3d}/{args.epochs}  loss {train_loss:.4f}  train acc "
            f"{100 * train_acc:5.1f}%  test loss {test_loss:.4f}  test acc "
            f"{100 * test_acc:5.1f}%  ({time.perf_counter() - t0:.2f} s)")
        if args.checkpoint:
            _save_checkpoint(args, epoch, history, model, opt, sched, shuffle_rng)
    bar.close()
    seconds = time.perf_counter() - start
    test_loss, test_acc = _evaluate(model, X_test, y_test, device=device)
    out(f"test accuracy: {100 * test_acc:.2f}% ({round(test_acc * len(y_test))}/{len(y_test)}), "
        f"trained in {seconds:.1f} s")
    return {"test_accuracy": test_acc, "test_loss": test_loss,
            "train_accuracy": history[-1]["train_accuracy"],
            "final_loss": history[-1]["train_loss"], "epochs": int(args.epochs),
            "seconds": seconds, "num_parameters": int(n_params), "history": history,
            "model": model, **_distributed_result(dist, model)}
