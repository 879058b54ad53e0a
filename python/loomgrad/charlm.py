"""The character-level LSTM language model behind ``train --model charlstm``: its corpus, its
batches and its sampler; ``train.py`` trains it with ``Module.fit``.

The text is gathered at run time from the docstrings of a fixed list of
Python standard-library modules (offline, and the same for a given Python
version), or read from ``--text FILE``. Training is truncated BPTT over
``--batch-size`` parallel streams of the text (:class:`Streams`), ``--seq-len``
characters per step, the LSTM state carried (detached) from one step to the next
(:class:`StatefulLM`, reset by :class:`ResetState` at each epoch and validation pass);
the last 10% of the text is held out. :func:`sample` continues a prompt.
"""
from __future__ import annotations

import importlib
import inspect
import math

import numpy as np

from .autograd import no_grad
from .callbacks import Callback
from .nn import functional as F
from .nn.module import Module
from .ops import tensor

__all__ = ["stdlib_text", "encode", "Streams", "StatefulLM", "ResetState", "token_cross_entropy",
           "sample"]

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


def encode(text: str) -> tuple[str, np.ndarray]:
    """(vocabulary: the sorted distinct characters, the text as int64 indices into it)."""
    vocab = "".join(sorted(set(text)))
    ids = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    return vocab, np.searchsorted(np.frombuffer(vocab.encode("utf-32-le"), np.uint32), ids)


class Streams:
    """A 1-D int array cut into ``batch`` parallel streams, walked ``seq_len`` at a time:
    an iterable of (x, y) batches of shape (batch, <= seq_len), y = x shifted by one
    character, in order (what ``fit`` takes for a stateful model)."""

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


class StatefulLM(Module):
    """Wraps a language model ``lm(x, state) -> (logits, state)`` so that each call continues
    from the previous call's state (detached: truncated BPTT) and returns the logits only;
    ``reset_state()`` starts afresh. The state is not a parameter or buffer."""

    def __init__(self, lm: Module):
        super().__init__()
        self.lm = lm
        object.__setattr__(self, "state", None)

    def reset_state(self) -> None:
        object.__setattr__(self, "state", None)

    def forward(self, x):
        state = None if self.state is None else tuple(s.detach() for s in self.state)
        logits, state = self.lm(x, state)
        object.__setattr__(self, "state", state)
        return logits


class ResetState(Callback):
    """Reset a :class:`StatefulLM` before each epoch and each validation pass."""

    def on_epoch_begin(self, epoch, logs=None):
        self.model.reset_state()

    def on_test_begin(self, logs=None):
        self.model.reset_state()


def token_cross_entropy(logits, targets):
    """Mean cross-entropy over every position: logits (N, T, V), targets (N, T)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def sample(model, vocab: str, prompt: str, length: int, temperature: float, rng) -> str:
    """Continue ``prompt`` by ``length`` characters drawn from the model."""
    index = {ch: i for i, ch in enumerate(vocab)}
    ids = [index.get(ch, 0) for ch in prompt] or [0]
    out = []
    device = next(iter(model.parameters())).device  # inputs go where the model is
    model.eval()
    with no_grad():
        logits, state = model(tensor(np.array([ids], np.int64), device=device))
        for _ in range(length):
            z = logits[0, -1].cpu().numpy().astype(np.float64) / temperature  # drawn on the host
            p = np.exp(z - z.max())
            nxt = int(rng.choice(len(vocab), p=p / p.sum()))
            out.append(vocab[nxt])
            logits, state = model(tensor(np.array([[nxt]], np.int64), device=device), state)
    model.train()
    return prompt + "".join(out)
