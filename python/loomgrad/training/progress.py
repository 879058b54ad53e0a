"""The lines ``fit(verbose=...)`` prints, and its progress bar (only on a terminal)."""
from __future__ import annotations

import time

from tqdm import tqdm

from .callback import Callback

__all__ = ["Progress", "format_logs"]


def format_logs(logs: dict) -> str:
    """``loss 0.1234  accuracy 0.9650  val_loss 0.2000 ...`` (learning_rate as %.3g)."""
    return "  ".join(f"{k} {v:.3g}" if k == "learning_rate" else f"{k} {v:.4f}"
                     for k, v in logs.items())


class Progress(Callback):
    """verbose 0: nothing; 1: a line per epoch on stdout, plus a tqdm bar on ``stream`` when
    that is a terminal (piped output gets no bar frames); 2: the lines only."""

    def __init__(self, verbose: int, epochs: int, stream):
        super().__init__()
        if verbose not in (0, 1, 2):
            raise ValueError(f"fit: verbose must be 0, 1 or 2, got {verbose!r}")
        self.verbose, self.epochs, self.stream = verbose, epochs, stream
        self.bar = None

    def _bar_wanted(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return self.verbose == 1 and bool(isatty and isatty())

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()
        if self._bar_wanted():
            self.bar = tqdm(total=self.params.get("steps"), unit="batch", leave=False,
                            file=self.stream, desc=f"epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)
            self.bar.update(1)

    def on_epoch_end(self, epoch, logs=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.verbose:
            print(f"epoch {epoch + 1:3d}/{self.epochs}  {format_logs(logs or {})}  "
                  f"({time.perf_counter() - self.t0:.2f} s)", flush=True)

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
