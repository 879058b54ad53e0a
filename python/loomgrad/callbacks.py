"""lg.callbacks: hooks into ``Module.fit`` with Keras' names.

A :class:`Callback` gets ``set_model(model)`` and ``set_params(params)`` before training, then
the hooks below with ``logs`` dicts (``loss``, the metrics, ``val_`` + each of them at epoch
end). ``epoch`` and ``batch`` are 0-based, as in Keras. Setting ``model.stop_training = True``
ends ``fit`` after the current epoch. A callback with state worth resuming (counters, bests,
schedules) has ``state_dict()``/``load_state_dict()``; ModelCheckpoint saves them with the
model so a resumed ``fit`` continues bit for bit.
"""
from __future__ import annotations

import csv
import inspect
import math
import os

import numpy as np

from .optim.lr_scheduler import LRScheduler
from .serialization import load as _load, save as _save
from .training.callback import Callback, History
from .utils import tensorboard as _tensorboard

__all__ = ["Callback", "History", "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau",
           "LearningRateScheduler", "CSVLogger", "TensorBoard", "LambdaCallback"]


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``
    (any hook name of :class:`Callback`)."""

    def __init__(self, **hooks):
        super().__init__()
        for name, fn in hooks.items():
            if not name.startswith("on_") or not hasattr(Callback, name):
                raise TypeError(f"LambdaCallback: {name!r} is not a Callback hook")
            setattr(self, name, fn)


def _mode(cls: str, mode: str, monitor: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{cls}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    maximised = ("acc", "precision", "recall", "f1", "r2", "auc")
    return "max" if any(k in monitor.replace("val_", "") for k in maximised) else "min"


class _Monitor(Callback):
    """Tracks the best value of ``monitor`` (``min_delta`` = the least change that counts)."""

    def __init__(self, cls: str, monitor: str, mode: str, min_delta: float):
        super().__init__()
        if not isinstance(monitor, str):
            raise TypeError(f"{cls}: monitor must be a str like 'val_loss', got "
                            f"{type(monitor).__name__}")
        if not min_delta >= 0:
            raise ValueError(f"{cls}: min_delta must be >= 0, got {min_delta}")
        self.cls, self.monitor = cls, monitor
        self.mode = _mode(cls, mode, monitor)
        self.min_delta = float(min_delta)
        self.best = math.inf if self.mode == "min" else -math.inf

    def _value(self, logs) -> float | None:
        logs = logs or {}
        if self.monitor not in logs:
            raise KeyError(f"{self.cls}: monitor {self.monitor!r} is not among the logged "
                           f"values {sorted(logs)} (val_ keys need validation data)")
        return float(logs[self.monitor])

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(_Monitor):
    """Stop training when ``monitor`` has not improved by more than ``min_delta`` for
    ``patience`` epochs; with ``restore_best_weights`` the model gets back the parameters of
    its best epoch when training stops (Keras: only when it stopped early; here also at the
    end of ``fit`` if the best epoch was not the last, as Keras 3 does)."""

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 mode: str = "auto", restore_best_weights: bool = False,
                 start_from_epoch: int = 0):
        super().__init__("EarlyStopping", monitor, mode, min_delta)
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an int >= 0, got {patience!r}")
        self.patience, self.restore_best_weights = patience, bool(restore_best_weights)
        self.start_from_epoch = int(start_from_epoch)
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, None
        self.best_weights = None

    def on_train_begin(self, logs=None):
        self.stopped_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        value = self._value(logs)
        if epoch < self.start_from_epoch:
            return
        self.wait += 1
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = {k: v.array.copy() for k, v in self.model.state_dict().items()}
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None and \
                self.best_epoch != (self.model.history.epoch or [None])[-1]:
            self.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict:
        return {"wait": self.wait, "best": self.best, "best_epoch": self.best_epoch,
                "best_weights": self.best_weights}

    def load_state_dict(self, state: dict) -> None:
        self.wait, self.best, self.best_epoch = state["wait"], state["best"], state["best_epoch"]
        self.best_weights = state["best_weights"]


class ModelCheckpoint(_Monitor):
    """Save the training state to ``filepath`` with ``lg.save`` (atomically: a crash leaves
    the previous file) after every epoch, or with ``save_best_only`` only when ``monitor``
    improved. The file holds ``epoch`` (epochs done), ``model`` (state_dict), ``optimizer``,
    ``rng`` and ``loader_rng`` (shuffling), ``history``, the other callbacks' states and
    ``extra`` (any lg.save-able dict you pass). ``filepath`` may contain ``{epoch}`` and log
    keys (``"ck-{epoch:02d}-{val_loss:.3f}"``).

    ``resume=True``: if the file exists when ``fit`` starts, everything in it is restored and
    training continues after its epoch -- bit for bit where the interrupted run would have
    gone, given the same data, model code and seed. The directory is checked (exists and is
    writable) when ``fit`` starts, not after the first epoch.
    """

    def __init__(self, filepath, monitor: str = "val_loss", save_best_only: bool = False,
                 mode: str = "auto", min_delta: float = 0.0, resume: bool = False,
                 extra: dict | None = None, verbose: int = 0):
        super().__init__("ModelCheckpoint", monitor, mode, min_delta)
        self.filepath = os.fspath(filepath)
        self.save_best_only, self.resume = bool(save_best_only), bool(resume)
        self.extra, self.verbose = extra, verbose
        self.resumed_from = None  # the epoch a resumed fit continued after

    @staticmethod
    def check_writable(filepath) -> None:
        """Raise a ValueError naming ``filepath`` when its directory is missing or not
        writable (what ``fit`` checks before its first epoch)."""
        directory = os.path.dirname(os.path.abspath(os.fspath(filepath))) or "."
        if not os.path.isdir(directory):
            raise ValueError(f"checkpoint {os.fspath(filepath)!r}: directory {directory!r} "
                             f"does not exist")
        if not os.access(directory, os.W_OK | os.X_OK):
            raise ValueError(f"checkpoint {os.fspath(filepath)!r}: directory {directory!r} "
                             f"is not writable")
        if os.path.isdir(os.fspath(filepath)):
            raise ValueError(f"checkpoint {os.fspath(filepath)!r} is a directory")

    def on_train_begin(self, logs=None):
        self.check_writable(self.filepath.format(epoch=0) if "{epoch" in self.filepath
                            else self.filepath)
        if self.resume and os.path.exists(self.filepath):
            state = _load(self.filepath)
            if not isinstance(state, dict) or not {"epoch", "model", "optimizer"} <= set(state):
                raise ValueError(f"ModelCheckpoint: {self.filepath!r} is not a training "
                                 f"checkpoint")
            self.model.set_training_state(state)
            self.resumed_from = int(state["epoch"])
            if state.get("monitor_best") is not None:
                self.best = state["monitor_best"]

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            value = self._value(logs)
            if not self._improved(value):
                return
            self.best = value
        path = self.filepath.format(epoch=epoch + 1, **logs)
        state = self.model.get_training_state()
        state["monitor_best"] = self.best if math.isfinite(self.best) else None
        if self.extra is not None:
            state["extra"] = self.extra
        _save(state, path)
        if self.verbose:
            print(f"epoch {epoch + 1}: saved the training state to {path}")


def _optimizer(cb: Callback):
    opt = getattr(cb.model, "optimizer", None)
    if opt is None:
        raise RuntimeError(f"{type(cb).__name__}: the model has no optimizer (call compile "
                           f"first)")
    return opt


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved by more
    than ``min_delta`` for ``patience`` epochs, then wait ``cooldown`` epochs; never below
    ``min_lr``. fit then logs ``learning_rate`` (the rate each epoch ran with)."""

    logs_learning_rate = True

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0,
                 min_lr: float = 0.0, verbose: int = 0):
        super().__init__("ReduceLROnPlateau", monitor, mode, min_delta)
        if not 0 < factor < 1:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor}")
        self.factor, self.patience, self.cooldown = float(factor), int(patience), int(cooldown)
        self.min_lr, self.verbose = float(min_lr), verbose
        self.wait = self.cooldown_counter = 0

    def on_epoch_end(self, epoch, logs=None):
        opt = _optimizer(self)
        value = self._value(logs)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(value):
            self.best, self.wait = value, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                for group in opt.param_groups:
                    if group["lr"] > self.min_lr:
                        group["lr"] = max(group["lr"] * self.factor, self.min_lr)
                        if self.verbose:
                            print(f"epoch {epoch + 1}: ReduceLROnPlateau set the learning "
                                  f"rate to {group['lr']:.4g}")
                self.cooldown_counter, self.wait = self.cooldown, 0

    def state_dict(self) -> dict:
        return {"wait": self.wait, "best": self.best, "cooldown_counter": self.cooldown_counter}

    def load_state_dict(self, state: dict) -> None:
        self.wait, self.best = state["wait"], state["best"]
        self.cooldown_counter = state["cooldown_counter"]


class LearningRateScheduler(Callback):
    """Change the learning rate per epoch: ``schedule`` is one of our
    ``lg.optim.lr_scheduler`` schedulers (stepped at each epoch's end, as torch's loops do),
    a function ``optimizer -> scheduler`` (built when training starts, for a model whose
    optimizer ``compile`` made), or Keras' ``f(epoch, lr) -> new lr`` (set at each epoch's
    start). fit then logs ``learning_rate`` (the rate each epoch ran with); the scheduler's
    state is saved by ModelCheckpoint."""

    logs_learning_rate = True

    def __init__(self, schedule, verbose: int = 0):
        super().__init__()
        if not (isinstance(schedule, LRScheduler) or callable(schedule)):
            raise TypeError(f"LearningRateScheduler: schedule must be an LRScheduler or a "
                            f"function, got {type(schedule).__name__}")
        self.schedule, self.verbose = schedule, verbose
        self.scheduler = schedule if isinstance(schedule, LRScheduler) else None
        self._keras_style = None

    def on_train_begin(self, logs=None):
        if self.scheduler is not None or self._keras_style is not None:
            return
        try:
            n_args = len(inspect.signature(self.schedule).parameters)
        except (TypeError, ValueError):
            n_args = 2
        self._keras_style = n_args >= 2
        if not self._keras_style:
            self.scheduler = self.schedule(_optimizer(self))
            if not isinstance(self.scheduler, LRScheduler):
                raise TypeError(f"LearningRateScheduler: schedule(optimizer) returned "
                                f"{type(self.scheduler).__name__}, not an LRScheduler")

    def on_epoch_begin(self, epoch, logs=None):
        if self.scheduler is None:
            opt = _optimizer(self)
            lr = float(self.schedule(epoch, opt.param_groups[0]["lr"]))
            if not (math.isfinite(lr) and lr >= 0):
                raise ValueError(f"LearningRateScheduler: schedule({epoch}, lr) returned {lr}")
            for group in opt.param_groups:
                group["lr"] = lr

    def on_epoch_end(self, epoch, logs=None):
        opt = _optimizer(self)
        if self.scheduler is not None:
            self.scheduler.step()
            if self.verbose:
                print(f"epoch {epoch + 1}: learning rate {opt.param_groups[0]['lr']:.4g}")

    def state_dict(self) -> dict:
        return {"scheduler": None if self.scheduler is None else self.scheduler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if (state["scheduler"] is None) != (self.scheduler is None):
            raise ValueError("LearningRateScheduler: the saved schedule is of another kind")
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])


class CSVLogger(Callback):
    """Write one CSV row per epoch: ``epoch`` then the logged keys in sorted order
    (Keras' layout). ``append=True`` continues an existing file (for resumed runs)."""

    def __init__(self, filename, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self._file = self._writer = self._keys = None

    def on_train_begin(self, logs=None):
        exists = self.append and os.path.exists(self.filename) and \
            os.path.getsize(self.filename) > 0
        if exists:
            with open(self.filename, newline="") as f:
                header = next(csv.reader(f, delimiter=self.separator), None)
            self._keys = header[1:] if header else None
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._writer = csv.writer(self._file, delimiter=self.separator)
        self._header_written = exists

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
        if not self._header_written:
            self._writer.writerow(["epoch", *self._keys])
            self._header_written = True
        self._writer.writerow([epoch, *(logs.get(k, "NA") for k in self._keys)])
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None


class TensorBoard(Callback):
    """Log each epoch's values to TensorBoard event files in ``log_dir`` (through
    :class:`lg.utils.tensorboard.SummaryWriter`, i.e. the ``tensorboard`` package): ``loss``
    and ``val_loss`` as the tags ``loss/train`` and ``loss/validation`` (one chart per
    quantity, as Keras shows them); with ``histogram_freq=k`` every k epochs a histogram of
    each parameter (tag = its parameter name), and of the model's outputs on
    ``histogram_inputs`` when given (tag ``outputs``: the logits over time)."""

    def __init__(self, log_dir="runs", histogram_freq: int = 0, histogram_inputs=None):
        super().__init__()
        if isinstance(histogram_freq, bool) or not isinstance(histogram_freq, int) or \
                histogram_freq < 0:
            raise ValueError(f"TensorBoard: histogram_freq must be an int >= 0, got "
                             f"{histogram_freq!r}")
        self.log_dir, self.histogram_freq = os.fspath(log_dir), histogram_freq
        self.histogram_inputs = histogram_inputs
        self.writer = None

    def on_train_begin(self, logs=None):
        self.writer = _tensorboard.SummaryWriter(self.log_dir)

    def on_epoch_end(self, epoch, logs=None):
        step = epoch + 1
        for key, value in (logs or {}).items():
            name, split = (key[4:], "validation") if key.startswith("val_") else (key, "train")
            if key == "learning_rate":
                split = "train"
            self.writer.add_scalar(f"{name}/{split}", float(value), step)
        if self.histogram_freq and step % self.histogram_freq == 0:
            for name, p in self.model.named_parameters():
                self.writer.add_histogram(name, np.asarray(_host_array(p.array)), step)
            if self.histogram_inputs is not None:
                outputs = self.model.predict(self.histogram_inputs)
                self.writer.add_histogram("outputs", outputs, step)
        self.writer.flush()

    def on_train_end(self, logs=None):
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _host_array(a):
    return a.get() if hasattr(a, "get") and hasattr(a, "__cuda_array_interface__") else a
