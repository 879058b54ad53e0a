"""``python -m loomgrad train --model charlstm``: a character-level LSTM language model.

The text is gathered at run time from the docstrings of a fixed list of
Python standard-library modules (offline, and the same for a given Python
version), or read from ``--text FILE``. Training is truncated BPTT over
``--batch-size`` parallel streams of the text, ``--seq-len`` characters per
step, the LSTM state carried (detached) from one step to the next; the last
10% of the text is held out. Each epoch prints training and held-out
perplexity; at the end a line of text is sampled at ``--temperature``.

``add_arguments(parser)`` adds the options ``train.py`` does not define;
``run(args) -> dict`` trains and returns the history and the sample.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import math
import sys
import time

import numpy as np

__all__ = ["add_arguments", "run", "stdlib_text", "DEFAULTS"]

# The options run() needs, with charlstm's defaults (the same as train.py's
# where train.py defines the option; None from the command line means these).
DEFAULTS = dict(epochs=20, lr=3e-3, batch_size=64, hidden=(256,), seed=0, device="cpu",
                optimizer="adam", weight_decay=0.0, no_progress=False, quiet=False,
                seq_len=64, temperature=0.8, text=None, embedding_dim=64, sample_length=200,
                max_chars=150_000, clip=1.0)

# Modules whose docstrings make the default corpus (all pure-Python, present
# in every CPython build). Order and content are fixed for a Python version.
_MODULES = ("string", "textwrap", "json", "collections", "functools", "itertools", "argparse",
            "pathlib", "random", "statistics", "fractions", "decimal", "heapq", "bisect",
            "difflib", "shutil", "tempfile", "csv", "calendar", "datetime", "enum",
            "dataclasses", "contextlib", "copy", "pprint", "inspect", "logging", "threading",
            "queue", "subprocess", "email.message", "urllib.parse", "http.client", "zipfile",
            "tarfile", "gzip", "base64", "configparser", "getopt", "glob", "fnmatch", "shlex",
            "optparse", "imaplib", "smtplib", "ftplib", "pickle", "sched", "locale", "gettext")


def stdlib_text(max_chars: int = 150_000) -> str:
    """Docstrings of the standard library's modules and their public classes and
    functions, in a fixed order, ASCII only, cut to ``max_chars``."""
    parts, total = [], 0
    for name in _MODULES:
        try:
            mod = importlib.import_module(name)
        except ImportError:  # a trimmed Python build: skip, the rest is still deterministic
            continue
        docs = [inspect.getdoc(mod)]
        for attr in sorted(vars(mod)):
            obj = vars(mod)[attr]
            if attr.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                continue
            if inspect.isclass(obj) or inspect.isfunction(obj):
                docs.append(inspect.getdoc(obj))
        for d in docs:
            if d and len(d) > 40:
                parts.append(d)
                total += len(d) + 2
        if total >= max_chars:
            break
    text = "\n\n".join(parts)
    text = "".join(ch if (" " <= ch <= "~" or ch == "\n") else " " for ch in text)
    return text[:max_chars]


def _positive(kind):
    def parse(s):
        try:
            v = kind(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {s!r}") from None
        if not v > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {s}")
        return v
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The charlstm options (train.py already has --epochs, --lr, --hidden, ...)."""
    g = parser.add_argument_group("charlstm (character-level LSTM language model)")
    g.add_argument("--seq-len", type=_positive(int), default=None,
                   help=f"characters per truncated-BPTT step (default: {DEFAULTS['seq_len']})")
    g.add_argument("--temperature", type=_positive(float), default=None,
                   help=f"sampling temperature (default: {DEFAULTS['temperature']})")
    g.add_argument("--text", metavar="FILE", default=None,
                   help="train on this UTF-8 text file (default: docstrings of the Python "
                        "standard library)")
    g.add_argument("--sample-length", type=_positive(int), default=None,
                   help=f"characters to sample at the end (default: "
                        f"{DEFAULTS['sample_length']})")
    return parser


def _complete(args) -> argparse.Namespace:
    ns = argparse.Namespace(**DEFAULTS)
    given = vars(args) if args is not None else {}
    for k, v in given.items():
        if v is not None:
            setattr(ns, k, v)
    hidden = tuple(ns.hidden) if not isinstance(ns.hidden, int) else (ns.hidden,)
    if len(set(hidden)) != 1:
        raise ValueError(f"charlstm: --hidden gives one size per LSTM layer and they must be "
                         f"equal, got {','.join(map(str, hidden))}")
    ns.hidden = hidden
    return ns


class _Streams:
    """A 1-D int array cut into ``batch`` parallel streams, walked ``seq_len`` at a time."""

    def __init__(self, ids: np.ndarray, batch: int, seq_len: int):
        n = (len(ids) - 1) // batch
        if n < 2:
            raise ValueError(f"charlstm: text of {len(ids)} characters is too short for "
                             f"{batch} streams")
        self.x = ids[:batch * n].reshape(batch, n)
        self.y = ids[1:batch * n + 1].reshape(batch, n)
        self.seq_len = seq_len

    def __len__(self):
        return math.ceil(self.x.shape[1] / self.seq_len)

    def __iter__(self):
        for i in range(0, self.x.shape[1], self.seq_len):
            yield self.x[:, i:i + self.seq_len], self.y[:, i:i + self.seq_len]


def _detach(state):
    return None if state is None else tuple(s.detach() for s in state)


def sample(model, vocab: str, prompt: str, length: int, temperature: float, rng) -> str:
    """Continue ``prompt`` by ``length`` characters drawn from the model."""
    import loomgrad as lg

    index = {ch: i for i, ch in enumerate(vocab)}
    ids = [index.get(ch, 0) for ch in prompt] or [0]
    out = []
    device = next(iter(model.parameters())).device  # inputs go where the model is
    model.eval()
    with lg.no_grad():
        logits, state = model(lg.tensor(np.array([ids], np.int64), device=device))
        for _ in range(length):
            z = logits[0, -1].cpu().numpy().astype(np.float64) / temperature  # drawn on the host
            p = np.exp(z - z.max())
            nxt = int(rng.choice(len(vocab), p=p / p.sum()))
            out.append(vocab[nxt])
            logits, state = model(lg.tensor(np.array([[nxt]], np.int64), device=device), state)
    model.train()
    return prompt + "".join(out)


def _perplexity(model, streams, F, device="cpu") -> float:
    import loomgrad as lg

    model.eval()
    total, count, state = 0.0, 0, None
    with lg.no_grad():
        for xb, yb in streams:
            logits, state = model(lg.tensor(xb, device=device), state)
            total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                           lg.tensor(yb.reshape(-1), device=device),
                                           reduction="sum").item())
            count += yb.size
    model.train()
    return math.exp(total / count)


def run(args: argparse.Namespace | None = None) -> dict:
    """Train the character LSTM; returns ``{"train_perplexity": [...],
    "val_perplexity": [...], "sample", "seconds", "num_parameters",
    "vocab_size", "text_chars"}``. Seeded: the same args give the same numbers."""
    import loomgrad as lg
    from tqdm.auto import tqdm

    from . import models, optim
    from .nn import functional as F

    from .train import _require_device

    a = _complete(args)
    device = _require_device(a)
    out = (lambda *x, **k: None) if a.quiet else print
    lg.manual_seed(int(a.seed))
    if a.text:
        with open(a.text, encoding="utf-8", errors="replace") as f:
            text, source = f.read(), a.text
    else:
        text = stdlib_text(int(a.max_chars))
        source = f"Python {sys.version.split()[0]} standard-library docstrings"
    vocab = "".join(sorted(set(text)))
    ids = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    ids = np.searchsorted(np.frombuffer(vocab.encode("utf-32-le"), np.uint32), ids)
    split = int(len(ids) * 0.9)
    train = _Streams(ids[:split], a.batch_size, a.seq_len)
    val = _Streams(ids[split:], min(a.batch_size, max(1, (len(ids) - split) // (4 * a.seq_len))),
                   a.seq_len)
    model = models.char_lstm(len(vocab), hidden_size=a.hidden[0], num_layers=len(a.hidden),
                             embedding_dim=a.embedding_dim)
    model.to(device)  # initialised on the host from the seed, then moved
    params = list(model.parameters())
    opt = (optim.Adam(params, lr=a.lr, weight_decay=a.weight_decay) if a.optimizer == "adam"
           else optim.SGD(params, lr=a.lr, momentum=0.9, weight_decay=a.weight_decay))
    n_params = sum(p.numel() for p in params)
    out(f"training charlstm ({len(a.hidden)}x{a.hidden[0]} LSTM, {n_params:,} parameters) on "
        f"{len(text):,} characters of {source} (vocabulary {len(vocab)}), {a.epochs} epochs, "
        f"batch {a.batch_size} x {a.seq_len} characters, {a.optimizer} lr={a.lr}")
    bar = tqdm(total=a.epochs * len(train), unit="step", leave=False, file=sys.stderr,
               disable=a.no_progress or a.quiet)
    say = out if bar.disable else (lambda *x: tqdm.write(" ".join(map(str, x))))
    hist_train, hist_val = [], []
    start = time.perf_counter()
    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        bar.set_description(f"epoch {epoch}/{a.epochs}", refresh=False)
        state, total, count = None, 0.0, 0
        for xb, yb in train:
            logits, state = model(lg.tensor(xb, device=device), _detach(state))
            loss = F.cross_entropy(logits.reshape(-1, len(vocab)),
                                   lg.tensor(yb.reshape(-1), device=device))
            opt.zero_grad()
            loss.backward()
            lg.nn.utils.clip_grad_norm_(params, a.clip)
            opt.step()
            total += float(loss.item()) * yb.size
            count += yb.size
            bar.set_postfix(ppl=f"{math.exp(total / count):.2f}", refresh=False)
            bar.update(1)
        hist_train.append(math.exp(total / count))
        hist_val.append(_perplexity(model, val, F, device))
        say(f"epoch {epoch:3d}/{a.epochs}  train perplexity {hist_train[-1]:7.3f}  held-out "
            f"perplexity {hist_val[-1]:7.3f}  ({time.perf_counter() - t0:.1f} s)")
    bar.close()
    seconds = time.perf_counter() - start
    rng = np.random.default_rng(int(a.seed))
    prompt = "The "
    text_out = sample(model, vocab, prompt, int(a.sample_length), float(a.temperature), rng)
    line = text_out.split("\n")
    out(f"sample (temperature {a.temperature}):\n{text_out}")
    out(f"trained in {seconds:.1f} s")
    return {"train_perplexity": hist_train, "val_perplexity": hist_val, "sample": text_out,
            "first_line": line[0], "seconds": seconds, "num_parameters": int(n_params),
            "vocab_size": len(vocab), "text_chars": len(text), "epochs": int(a.epochs)}
