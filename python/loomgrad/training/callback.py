"""The callback base class and History: what ``Module.fit`` itself needs (the other callbacks,
which save checkpoints and write logs, live in :mod:`loomgrad.callbacks`, above ``nn``)."""
from __future__ import annotations

from .. import plot as _plot

__all__ = ["Callback", "History"]


class Callback:
    """Base class: override the hooks you need; ``self.model`` is the module being trained,
    ``self.params`` holds ``epochs``, ``steps`` (batches per epoch) and ``verbose``."""

    def __init__(self):
        self.model = None
        self.params: dict = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = dict(params)

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch: int, logs=None): ...
    def on_epoch_end(self, epoch: int, logs=None): ...
    def on_train_batch_begin(self, batch: int, logs=None): ...
    def on_train_batch_end(self, batch: int, logs=None): ...
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_test_batch_begin(self, batch: int, logs=None): ...
    def on_test_batch_end(self, batch: int, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...
    def on_predict_batch_begin(self, batch: int, logs=None): ...
    def on_predict_batch_end(self, batch: int, logs=None): ...


class History(Callback):
    """Records each epoch's logs: ``history`` maps each key (``loss``, ``val_loss``,
    ``accuracy``, ...) to its list of per-epoch values, ``epoch`` lists the epochs (0-based).
    ``Module.fit`` adds one and returns it."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(int(epoch))
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def state_dict(self) -> dict:
        return {"history": {k: list(v) for k, v in self.history.items()},
                "epoch": list(self.epoch)}

    def load_state_dict(self, state: dict) -> None:
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.epoch = [int(e) for e in state["epoch"]]

    def plot(self, path=None, title: str | None = None):
        """One panel per quantity (loss, then each metric), training and validation curves
        against the epoch; saved to ``path`` when given. Returns the matplotlib Figure
        (needs the ``plot`` extra)."""
        return _plot.history(self.history, path=path, title=title, epochs=self.epoch)
