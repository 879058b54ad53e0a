"""The training job behind ``python -m loomgrad train``: a thin layer over ``Module.fit``.

mlp and lenet train on the bundled digits (the test split is fit's validation data),
charlstm on text (see ``charlm``). Options become ``compile``/``fit`` arguments and callbacks:
``--schedule`` a LearningRateScheduler, ``--checkpoint``/``--resume`` a ModelCheckpoint,
``--logdir`` a TensorBoard callback, ``--plot`` ``History.plot``; ``--distributed`` wraps the
model in DistributedDataParallel, whose ``fit`` shards each batch over the ranks.

``add_arguments(parser)`` adds the options; ``run(args)`` trains and returns the metrics. Both
are used by ``loomgrad.cli``; ``run`` also works from Python: ``run()`` with the defaults, or
``run(argparse.Namespace(epochs=5))`` (options not given take their defaults). A user mistake
(a flag the model does not take, a missing file, a checkpoint of another run) is a
:class:`UsageError`, which the CLI prints as one line with exit status 2.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

import numpy as np

from . import callbacks as C, charlm, cuda, data, distributed, models, optim
from . import random as _random
from .nn.parallel import DistributedDataParallel
from .serialization import load as _load
from .tensor import Tensor
from .training import OPTIMIZERS

__all__ = ["add_arguments", "run", "default_args", "UsageError"]

MODELS = ("mlp", "lenet", "charlstm")
SCHEDULES = ("none", "step", "cosine", "inverse-time")


class UsageError(ValueError):
    """A mistake in the options or inputs; the CLI prints it as one line and exits 2."""


# Defaults that depend on --model (None on the command line means "the model's"), and the
# options each model takes: giving one to another model is an error, not silently ignored.
_MODEL_DEFAULTS = {
    "mlp": dict(lr=3e-3, schedule="none", hidden=(256,)),
    "lenet": dict(lr=1e-2, schedule="cosine"),
    "charlstm": dict(lr=3e-3, hidden=(256,), seq_len=64, temperature=0.8, sample_length=200),
}
_ONLY_FOR = {"hidden": ("mlp", "charlstm"), "schedule": ("mlp", "lenet"),
             "seq_len": ("charlstm",), "temperature": ("charlstm",), "text": ("charlstm",),
             "sample_length": ("charlstm",), "distributed": ("mlp", "lenet")}
# charlstm's fixed settings, overridable from Python (run(Namespace(max_chars=4000)))
_CHARLSTM_FIXED = dict(embedding_dim=64, max_chars=150_000, clip=1.0)


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


def _non_negative(kind):
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") \
                from None
        if not v >= 0:
            raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
        return v
    parse.__name__ = f"non-negative {kind.__name__}"
    return parse


def _device(text: str) -> str:
    """cpu or cuda; cuda is refused at parse time when no GPU is usable, so the CLI prints
    one line with the reason instead of a traceback."""
    if text not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from 'cpu', 'cuda')")
    if text == "cuda" and not cuda.is_available():
        raise argparse.ArgumentTypeError(f"CUDA is not available: {cuda.unavailable_reason()}")
    return text


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
    parser.add_argument("--model", choices=MODELS, default="mlp",
                        help="model to train (default: %(default)s)")
    parser.add_argument("--hidden", type=_hidden_sizes, default=None, metavar="N[,N...]",
                        help="hidden layer widths of the MLP, or LSTM layers of charlstm (all "
                             "equal) (default: 256)")
    parser.add_argument("--epochs", type=_positive(int), default=20,
                        help="passes over the training set (default: %(default)s)")
    parser.add_argument("--lr", type=_positive(float), default=None,
                        help="learning rate (default: 3e-3 for mlp and charlstm, 1e-2 for lenet)")
    parser.add_argument("--schedule", choices=SCHEDULES, default=None,
                        help="learning-rate schedule per epoch (mlp, lenet): step (x0.5 every "
                             "5), cosine (to 0 at the last epoch), inverse-time (lr / (1 + 0.1 "
                             "epoch)) (default: none for mlp, cosine for lenet)")
    parser.add_argument("--optimizer", choices=tuple(OPTIMIZERS), default="adam",
                        help="the optimizer; sgd runs with momentum 0.9 (default: %(default)s)")
    parser.add_argument("--weight-decay", type=_non_negative(float), default=0.0,
                        help="L2 weight decay (default: %(default)s)")
    parser.add_argument("--batch-size", type=_positive(int), default=64,
                        help="samples per step (default: %(default)s)")
    parser.add_argument("--seed", type=_non_negative(int), default=0,
                        help="seeds init, shuffling and the train/test split "
                             "(default: %(default)s)")
    parser.add_argument("--device", type=_device, default="cpu", metavar="{cpu,cuda}",
                        help="where to train (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (there is one only when stderr is a terminal; "
                             "per-epoch lines are still printed)")
    parser.add_argument("--quiet", action="store_true", help="print nothing; just return")
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel over MPI (mlp, lenet): launch with mpirun -n N or "
                             "srun; --batch-size stays the global batch, split over the ranks "
                             "(see docs/distributed.md)")
    parser.add_argument("--checkpoint", default=None, metavar="PATH",
                        help="save model, optimizer, schedule, epoch and RNG states to PATH "
                             "after every epoch (atomically, with lg.save)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from --checkpoint PATH if it exists (bit-for-bit where "
                             "the interrupted run would have been); else start afresh")
    parser.add_argument("--plot", default=None, metavar="PNG",
                        help="save the loss and accuracy (or perplexity) curves, training and "
                             "held-out, to this image (needs the plot extra: matplotlib)")
    parser.add_argument("--logdir", default=None, metavar="DIR",
                        help="write TensorBoard event files (scalars per epoch, weight "
                             "histograms) to DIR (needs the tensorboard extra)")
    g = parser.add_argument_group("charlstm (character-level LSTM language model)")
    g.add_argument("--seq-len", type=_positive(int), default=None,
                   help="characters per truncated-BPTT step (default: 64)")
    g.add_argument("--temperature", type=_positive(float), default=None,
                   help="sampling temperature (default: 0.8)")
    g.add_argument("--text", metavar="FILE", default=None,
                   help="train on this UTF-8 text file (default: docstrings of the Python "
                        "standard library)")
    g.add_argument("--sample-length", type=_positive(int), default=None,
                   help="characters to sample at the end (default: 200)")
    return parser


def _parsed_defaults() -> argparse.Namespace:
    return add_arguments(argparse.ArgumentParser()).parse_args([])


def default_args(**overrides) -> argparse.Namespace:
    """The defaults of :func:`add_arguments` as a Namespace, with overrides
    (Python names: ``batch_size=32``) and the chosen model's defaults filled in."""
    ns = _parsed_defaults()
    for k, v in overrides.items():
        if not hasattr(ns, k) and k not in _CHARLSTM_FIXED:
            raise TypeError(f"train: unknown option {k!r}")
        setattr(ns, k, v)
    return _model_defaults(ns)


def _given(ns, name: str) -> bool:
    v = getattr(ns, name, None)
    return v is not None and v is not False


def _model_defaults(ns: argparse.Namespace) -> argparse.Namespace:
    """Refuse options the model does not take, then fill the unset ones with its defaults."""
    if ns.model not in MODELS:
        raise UsageError(f"train: model must be one of {MODELS}, got {ns.model!r}")
    wrong = [k for k, models_ in _ONLY_FOR.items() if _given(ns, k) and ns.model not in models_]
    if wrong:
        k = wrong[0]
        raise UsageError(f"--{k.replace('_', '-')} does not apply to --model {ns.model} (only "
                         f"to {', '.join(_ONLY_FOR[k])})")
    for k, v in _MODEL_DEFAULTS[ns.model].items():
        if getattr(ns, k, None) is None:
            setattr(ns, k, v)
    if ns.model == "charlstm":
        for k, v in _CHARLSTM_FIXED.items():
            if getattr(ns, k, None) is None:
                setattr(ns, k, v)
    return ns


def _complete(args) -> argparse.Namespace:
    full = _parsed_defaults()
    if args is not None:
        for k, v in vars(args).items():
            setattr(full, k, v)
    if full.schedule is not None and full.schedule not in SCHEDULES:
        raise UsageError(f"train: schedule must be one of {SCHEDULES}, got {full.schedule!r}")
    _model_defaults(full)
    for name in ("epochs", "batch_size"):
        v = getattr(full, name)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise UsageError(f"train: {name} must be an int >= 1, got {v!r}")
    if isinstance(full.lr, bool) or not isinstance(full.lr, (int, float)) or not full.lr > 0:
        raise UsageError(f"train: lr must be a number > 0, got {full.lr!r}")
    if full.optimizer not in OPTIMIZERS:
        raise UsageError(f"train: optimizer must be one of {tuple(OPTIMIZERS)}, got "
                         f"{full.optimizer!r}")
    if full.device not in ("cpu", "cuda"):
        raise UsageError(f"train: device must be 'cpu' or 'cuda', got {full.device!r}")
    if isinstance(full.hidden, int):
        full.hidden = (full.hidden,)
    if full.model == "charlstm" and len(set(full.hidden)) != 1:
        raise UsageError(f"charlstm: --hidden gives one size per LSTM layer and they must be "
                         f"equal, got {','.join(map(str, full.hidden))}")
    if full.resume and not full.checkpoint:
        raise UsageError("--resume needs --checkpoint PATH")
    if full.distributed and full.checkpoint:
        raise UsageError("--distributed with --checkpoint is not supported yet")
    if full.text is not None and not os.path.isfile(full.text):
        raise UsageError(f"--text {full.text}: no such file")
    if full.checkpoint:
        try:
            C.ModelCheckpoint.check_writable(full.checkpoint)
        except ValueError as e:
            raise UsageError(f"--checkpoint: {e}") from None
    for flag, module, extra in (("plot", "matplotlib", "plot"),
                                ("logdir", "tensorboard", "tensorboard")):
        if getattr(full, flag) and importlib.util.find_spec(module) is None:
            raise UsageError(f"--{flag} needs {module}: pip install 'loomgrad[{extra}]'")
    return full


def _require_device(args) -> str:
    """args.device, after checking CUDA when it is asked for (the CLI checks at parse
    time; this covers ``run()`` from Python)."""
    if args.device == "cuda":
        if not cuda.is_available():
            raise RuntimeError(f"--device cuda: CUDA is not available: "
                               f"{cuda.unavailable_reason()}")
        if args.distributed:
            raise UsageError("train --distributed runs on the MPI backend, CPU tensors only: "
                             "use --device cpu")
    return args.device


# ------------------------------------------------------------------ checkpoints
# Options a checkpoint must agree on to be resumed (the rest may change, e.g. --epochs).
_CHECKPOINT_KEYS = ("model", "hidden", "optimizer", "batch_size", "seed", "schedule")


def _config(args) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v)
            for k, v in ((k, getattr(args, k, None)) for k in _CHECKPOINT_KEYS)}


def _check_resumable(args, out) -> None:
    """Before training: a --resume checkpoint must be one of this configuration."""
    if not (args.resume and os.path.exists(args.checkpoint)):
        if args.resume:
            out(f"no checkpoint at {args.checkpoint}: starting afresh")
        return
    ck = _load(args.checkpoint)
    where = f"train --resume: {args.checkpoint}"
    if not isinstance(ck, dict) or not {"epoch", "model", "optimizer"} <= set(ck):
        raise UsageError(f"{where}: not a training checkpoint")
    have = (ck.get("extra") or {}).get("config", {})
    want = _config(args)
    for k in _CHECKPOINT_KEYS:
        if have.get(k) != want[k]:
            raise UsageError(f"{where}: the checkpoint was made with --{k.replace('_', '-')} "
                             f"{have.get(k)}, this run has {want[k]}")
    if ck["epoch"] > args.epochs:
        raise UsageError(f"{where}: the checkpoint is at epoch {ck['epoch']}, past --epochs "
                         f"{args.epochs}")
    out(f"resuming from {args.checkpoint} after epoch {ck['epoch']}")


def _callbacks(args, schedule=None) -> list:
    cbs = []
    if schedule is not None:
        cbs.append(C.LearningRateScheduler(schedule))
    if args.checkpoint:
        cbs.append(C.ModelCheckpoint(args.checkpoint, resume=args.resume,
                                     extra={"config": _config(args)}))
    if args.logdir:
        cbs.append(C.TensorBoard(args.logdir, histogram_freq=1))
    return cbs


def _optimizer_options(args) -> dict:
    """compile()'s options for --optimizer: sgd runs with momentum 0.9."""
    return {"momentum": 0.9} if args.optimizer == "sgd" else {}


def _verbose(args, rank: int = 0) -> int:
    return 0 if args.quiet or rank else (2 if args.no_progress else 1)


# ------------------------------------------------------------------ digits (mlp, lenet)
def _init_distributed(args):
    """--distributed: join the MPI process group (mpi4py is imported there); returns
    lg.distributed, or None."""
    if not args.distributed:
        return None
    if not distributed.is_initialized():
        distributed.init_process_group("mpi")
    if args.batch_size < distributed.get_world_size():
        raise UsageError(f"train --distributed: --batch-size {args.batch_size} is the global "
                         f"batch; it must be >= the {distributed.get_world_size()} ranks")
    return distributed


def _distributed_result(dist, ddp) -> dict:
    """world size and the largest parameter difference from rank 0 (0.0 when in sync)."""
    if dist is None:
        return {}
    diff = 0.0
    for p in ddp.module.parameters():
        ref = Tensor(p.array.copy())
        dist.broadcast(ref, 0)
        diff = max(diff, float(np.max(np.abs(ref.array - p.array), initial=0.0)))
    (diff,) = ddp._global_sums([diff])  # a sum of non-negatives: 0 iff every rank agrees
    return {"world_size": dist.get_world_size(), "rank": dist.get_rank(),
            "max_param_diff_across_ranks": diff}


def _schedule(args, opt):
    return {"none": lambda: None,
            "step": lambda: optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5),
            "cosine": lambda: optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs),
            "inverse-time": lambda: optim.lr_scheduler.InverseTimeDecay(opt, 0.1),
            }[args.schedule]()


def _run_digits(args, device, out) -> dict:
    dist = _init_distributed(args)  # None unless --distributed; then only rank 0 prints
    rank = dist.get_rank() if dist else 0
    if rank:
        out = _silent
    _random.manual_seed(int(args.seed))
    flat = args.model == "mlp"  # the MLP takes flat (N, 64) rows, the CNN (N, 1, 8, 8) images
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
    # The loader's own generator, seeded from the global one: shuffles repeat with --seed,
    # and every rank draws the same global batches.
    shuffle_rng = np.random.default_rng(_random.get_generator().integers(2**63))
    trained = model
    if dist is not None:
        trained = DistributedDataParallel(model)
        if rank:  # dropout masks differ per rank; rank 0 keeps the 1-process stream
            _random.manual_seed(int(np.random.SeedSequence([int(args.seed), rank])
                                    .generate_state(1)[0]))
    trained.compile(args.optimizer, "cross_entropy", metrics=["accuracy"], lr=args.lr,
                    weight_decay=args.weight_decay, **_optimizer_options(args))
    sched = _schedule(args, trained.optimizer)
    loader = data.DataLoader(data.TensorDataset(X_train, y_train), batch_size=args.batch_size,
                             shuffle=True, generator=shuffle_rng)
    n_params = sum(p.numel() for p in model.parameters())
    out(f"training {args.model} {shape} " + ("on the GPU " if device == "cuda" else "") +
        f"({n_params:,} parameters) on digits: {len(y_train)} train / {len(y_test)} test, "
        f"{args.epochs} epochs, {args.optimizer} lr={args.lr}"
        f"{'' if sched is None else ' (' + args.schedule + ' schedule)'}, "
        f"batch {args.batch_size}")
    if args.checkpoint:
        _check_resumable(args, out)
    start = time.perf_counter()
    h = trained.fit(loader, epochs=args.epochs, validation_data=(X_test, y_test),
                    validation_batch_size=512, callbacks=_callbacks(args, sched),
                    verbose=_verbose(args, rank))
    seconds = time.perf_counter() - start
    test = trained.evaluate(X_test, y_test, batch_size=512)
    out(f"test accuracy: {100 * test['accuracy']:.2f}% "
        f"({round(test['accuracy'] * len(y_test))}/{len(y_test)}), trained in {seconds:.1f} s")
    if args.plot:
        h.plot(args.plot, title=f"{args.model} on digits")
    hist = h.history
    history = [dict(epoch=e + 1, train_loss=hist["loss"][i], train_accuracy=hist["accuracy"][i],
                    test_loss=hist["val_loss"][i], test_accuracy=hist["val_accuracy"][i])
               for i, e in enumerate(h.epoch)]
    return {"test_accuracy": test["accuracy"], "test_loss": test["loss"],
            "train_accuracy": history[-1]["train_accuracy"],
            "final_loss": history[-1]["train_loss"], "epochs": int(args.epochs),
            "seconds": seconds, "num_parameters": int(n_params), "history": history,
            "model": model, **_distributed_result(dist, trained)}


# ------------------------------------------------------------------ charlstm
def _run_charlstm(args, device, out) -> dict:
    _random.manual_seed(int(args.seed))
    if args.text:
        with open(args.text, encoding="utf-8", errors="replace") as f:
            text, source = f.read(), args.text
    else:
        text = charlm.stdlib_text(int(args.max_chars))
        source = f"Python {sys.version.split()[0]} standard-library docstrings"
    vocab, ids = charlm.encode(text)
    split = int(len(ids) * 0.9)
    try:
        train = charlm.Streams(ids[:split], args.batch_size, args.seq_len)
        val = charlm.Streams(ids[split:], min(args.batch_size,
                                              max(1, (len(ids) - split) // (4 * args.seq_len))),
                             args.seq_len)
    except ValueError as e:
        raise UsageError(str(e)) from None
    lm = models.char_lstm(len(vocab), hidden_size=args.hidden[0], num_layers=len(args.hidden),
                          embedding_dim=args.embedding_dim)
    lm.to(device)  # initialised on the host from the seed, then moved
    model = charlm.StatefulLM(lm)
    model.compile(args.optimizer, charlm.token_cross_entropy, metrics=["perplexity"], lr=args.lr,
                  weight_decay=args.weight_decay, clip_grad_norm=args.clip,
                  **_optimizer_options(args))
    n_params = sum(p.numel() for p in model.parameters())
    out(f"training charlstm ({len(args.hidden)}x{args.hidden[0]} LSTM, {n_params:,} parameters) "
        f"on {len(text):,} characters of {source} (vocabulary {len(vocab)}), {args.epochs} "
        f"epochs, batch {args.batch_size} x {args.seq_len} characters, {args.optimizer} "
        f"lr={args.lr}")
    if args.checkpoint:
        _check_resumable(args, out)
    start = time.perf_counter()
    h = model.fit(train, epochs=args.epochs, validation_data=val,
                  callbacks=[charlm.ResetState()] + _callbacks(args), verbose=_verbose(args))
    seconds = time.perf_counter() - start
    rng = np.random.default_rng(int(args.seed))
    text_out = charlm.sample(lm, vocab, "The ", int(args.sample_length), float(args.temperature),
                             rng)
    out(f"sample (temperature {args.temperature}):\n{text_out}")
    out(f"trained in {seconds:.1f} s")
    if args.plot:
        h.plot(args.plot, title="charlstm")
    return {"train_perplexity": h.history["perplexity"],
            "val_perplexity": h.history["val_perplexity"], "sample": text_out,
            "first_line": text_out.split("\n")[0], "seconds": seconds,
            "num_parameters": int(n_params), "vocab_size": len(vocab), "text_chars": len(text),
            "epochs": int(args.epochs), "model": lm}


def _silent(*a, **k) -> None:
    pass


def run(args: argparse.Namespace | None = None) -> dict:
    """Train the chosen model, then test it.

    mlp/lenet return ``{"test_accuracy", "test_loss", "train_accuracy", "final_loss" (mean
    training loss of the last epoch), "epochs", "seconds", "num_parameters", "history" (one
    dict per epoch: epoch, train_loss, train_accuracy, test_loss, test_accuracy), "model"; with
    --distributed also "world_size", "rank", "max_param_diff_across_ranks"}``; charlstm returns
    ``{"train_perplexity": [...], "val_perplexity": [...], "sample", "first_line", "seconds",
    "num_parameters", "vocab_size", "text_chars", "epochs", "model"}``. Seeded: the same args
    give the same numbers.
    """
    args = _complete(args)
    device = _require_device(args)
    out = _silent if args.quiet else print
    if args.model == "charlstm":
        return _run_charlstm(args, device, out)
    return _run_digits(args, device, out)
