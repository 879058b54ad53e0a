"""Keras-style training on every ``lg.nn.Module``: compile, fit, evaluate, predict, summary.

``nn.Module`` inherits :class:`Trainer` (as Keras 3's torch Model is a ``torch.nn.Module``
with a Trainer mixed in), so the torch-style API is untouched and ``model.fit(x, y)`` works on
any module. This module imports only what sits below ``nn.Module`` (tensor, autograd, optim,
data, random, metrics, the callback base, ``nn.functional`` for the losses, ``nn.utils``);
it reaches the model only through ``self`` (``parameters()``, ``train()``, ``state_dict()``,
calling it).

One step of ``fit`` is exactly the hand-written loop::

    for xb, yb in DataLoader(TensorDataset(x, y), batch_size, shuffle=True):
        optimizer.zero_grad(); loss = loss_fn(model(xb), yb); loss.backward(); optimizer.step()

so with the same seed both give the same parameters bit for bit on the CPU.
"""
from __future__ import annotations

import sys

import numpy as np

from .. import metrics as _metrics, optim as _optim
from .. import random as _random
from ..autograd import no_grad
from ..nn.utils import clip_grad_norm_
from ..tensor import Tensor
from . import inputs as _inputs, losses as _losses
from .callback import Callback, History
from .progress import Progress
from .summary import summary as _summary

__all__ = ["Trainer", "OPTIMIZERS"]

# compile(optimizer=<name>); each with its own default lr (torch's, and Keras' 0.01 for SGD).
OPTIMIZERS = {"sgd": _optim.SGD, "adam": _optim.Adam, "adamw": _optim.AdamW,
              "rmsprop": _optim.RMSprop, "adagrad": _optim.Adagrad, "adadelta": _optim.Adadelta}
_DEFAULT_LR = {"sgd": 0.01}


class _Compiled:
    """What compile() fixed: the loss function, the metric prototypes, gradient clipping."""

    def __init__(self, loss, loss_spec, metrics, clip_grad_norm):
        self.loss, self.loss_spec = loss, loss_spec
        self.metric_specs, self.clip_grad_norm = metrics, clip_grad_norm

    def new_metrics(self) -> list:
        threshold = _losses.from_logits_threshold(self.loss_spec)
        kw = {} if threshold is None else {"threshold": threshold}
        out = []
        for m in self.metric_specs:
            metric = _metrics.get(m, **kw)
            if isinstance(m, _metrics.Metric):
                metric.reset()
            out.append(metric)
        names = [m.name for m in out]
        if len(set(names)) != len(names) or "loss" in names:
            raise ValueError(f"compile: metric names must be unique and not 'loss', got "
                             f"{names}")
        return out


class _FitRun:
    """The state of one fit() call that a checkpoint must capture besides the model."""

    def __init__(self, loader, callbacks: list, history):
        self.loader, self.callbacks, self.history = loader, callbacks, history
        self.start_epoch = 0


class Trainer:
    """compile / fit / evaluate / predict / summary, mixed into ``nn.Module``."""

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="adam", loss="cross_entropy", metrics=None, lr=None,
                clip_grad_norm=None, **optimizer_options):
        """Fix the optimizer, the loss and the metrics for :meth:`fit` and :meth:`evaluate`.

        optimizer: a name (``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``, ``"adagrad"``,
        ``"adadelta"``; built over ``self.parameters()`` with ``lr`` and ``optimizer_options``,
        e.g. ``momentum=0.9``) or an Optimizer instance. loss: ``"cross_entropy"``, ``"mse"``,
        ``"bce_with_logits"``, ... (``training.losses.NAMES``), a function ``(output, target)
        -> Tensor`` or a loss Module. metrics: names (``"accuracy"``, ``"top5_accuracy"``,
        ``"f1"``, ``"mae"``, ``"r2"``, ``"perplexity"``, ...), ``lg.metrics.Metric``s or
        functions ``(y_true, y_pred) -> float`` on arrays. clip_grad_norm: clip the global
        gradient norm to this before each step. Returns self."""
        if isinstance(optimizer, str):
            key = optimizer.lower()
            if key not in OPTIMIZERS:
                raise ValueError(f"compile: unknown optimizer {optimizer!r}; choose from "
                                 f"{sorted(OPTIMIZERS)} or pass an Optimizer")
            if lr is None:
                lr = _DEFAULT_LR.get(key)
            kw = dict(optimizer_options)
            if lr is not None:
                kw["lr"] = lr
            params = list(self.parameters())
            if not params:
                raise ValueError(f"compile: {type(self).__name__} has no parameters to train")
            opt = OPTIMIZERS[key](params, **kw)
        elif isinstance(optimizer, _optim.Optimizer):
            if optimizer_options:
                raise TypeError(f"compile: options {sorted(optimizer_options)} apply only to "
                                f"an optimizer given by name")
            opt = optimizer
            if lr is not None:
                for group in opt.param_groups:
                    group["lr"] = lr
        else:
            raise TypeError(f"compile: optimizer must be a name or an Optimizer, got "
                            f"{type(optimizer).__name__}")
        if clip_grad_norm is not None and not clip_grad_norm > 0:
            raise ValueError(f"compile: clip_grad_norm must be > 0, got {clip_grad_norm}")
        if metrics is None:
            metrics = []
        elif isinstance(metrics, (str, _metrics.Metric)) or callable(metrics):
            metrics = [metrics]
        compiled = _Compiled(_losses.get(loss), loss, list(metrics), clip_grad_norm)
        compiled.new_metrics()  # checks the names now, not at the first fit
        object.__setattr__(self, "optimizer", opt)
        object.__setattr__(self, "_compiled", compiled)
        object.__setattr__(self, "stop_training", False)
        return self

    def _require_compiled(self, fn: str) -> _Compiled:
        compiled = self.__dict__.get("_compiled")
        if compiled is None:
            raise RuntimeError(f"{fn}: call compile(optimizer=..., loss=...) first")
        return compiled

    # ------------------------------------------------------------------ helpers
    def _device_and_dtype(self):
        """Where the model's parameters live and their floating dtype (None if none)."""
        device, dtype = "cpu", None
        for p in self.parameters():
            device = str(p.device)
            if p.array.dtype.kind == "f":
                return device, p.array.dtype
        return device, dtype

    def _local_batch(self, x: Tensor, y: Tensor):
        """This process's part of a batch and the factor on its loss (all of it and 1.0;
        DistributedDataParallel overrides it to shard batches across ranks)."""
        return x, y, 1.0

    def _global_sums(self, values: list[float]) -> list[float]:
        """Sums over all processes of per-process sums (the identity here; overridden by
        DistributedDataParallel)."""
        return values

    def _run_batches(self, loader, fn: str, metrics: list, compiled, train: bool,
                     callbacks: list, float_dtype, device):
        """One pass over ``loader``: (loss mean, metric results, seen) over all samples."""
        loss_fn = compiled.loss
        loss_sum, seen = 0.0, 0
        for m in metrics:
            m.reset()
        hook = "on_train_batch" if train else "on_test_batch"
        params = list(self.parameters()) if train and compiled.clip_grad_norm else None
        for i, batch in enumerate(loader):
            for cb in callbacks:
                getattr(cb, hook + "_begin")(i, None)
            xb, yb = _inputs.unpack(fn, batch)
            xb = _inputs.to_device(xb, device, float_dtype)
            yb = _inputs.to_device(yb, device, float_dtype)
            if train:
                xb, yb, weight = self._local_batch(xb, yb)
                self.optimizer.zero_grad()
                out = self(xb)
                loss = loss_fn(out, yb)
                (loss if weight == 1.0 else loss * weight).backward()
                if params:
                    clip_grad_norm_(params, compiled.clip_grad_norm)
                self.optimizer.step()
            else:
                weight = 1.0
                out = self(xb)
                loss = loss_fn(out, yb)
            n = len(yb) if weight else 0
            if n:
                loss_sum += float(loss.item()) * n
                for m in metrics:
                    m.update(yb.array, out.array)
            seen += n
            logs = {"loss": loss_sum / max(seen, 1)}
            for cb in callbacks:
                getattr(cb, hook + "_end")(i, logs)
        return loss_sum, seen

    def _results(self, loss_sum, seen, metrics, fn) -> dict:
        loss_sum, seen = self._global_sums([loss_sum, float(seen)])
        if not seen:
            raise ValueError(f"{fn}: the data gave no samples")
        logs = {"loss": loss_sum / seen}
        for m in metrics:
            logs[m.name] = _global_metric(self, m)
        return logs

    # ------------------------------------------------------------------ fit
    def fit(self, x, y=None, batch_size: int = 32, epochs: int = 1,
            validation_split: float = 0.0, validation_data=None, callbacks=None,
            shuffle: bool = True, verbose: int = 1, initial_epoch: int = 0,
            validation_batch_size: int | None = None):
        """Train for ``epochs`` passes over the data; returns a :class:`lg.callbacks.History`
        (also ``self.history``) whose ``.history`` maps ``loss``, each metric and their
        ``val_`` versions to per-epoch lists.

        x, y: arrays/Tensors (floating inputs are cast to the model's dtype), or x a Dataset
        or DataLoader yielding (x, y) with y None. validation_split: hold out this last
        fraction of array data (taken before shuffling, as Keras does); validation_data:
        ``(x_val, y_val)`` or a Dataset/DataLoader. Validation figures are exact means over
        all validation samples, computed in eval mode without gradients. shuffle: a new order
        each epoch from the library generator (``lg.manual_seed``). verbose: 0 silent, 1 a
        line per epoch (and a progress bar when stderr is a terminal), 2 a line per epoch.
        initial_epoch: the epoch to start at (0-based; ModelCheckpoint(resume=True) sets it
        from its file). validation_batch_size: batches of the validation pass (default
        ``batch_size``)."""
        compiled = self._require_compiled("fit")
        for name, v, low in (("epochs", epochs, 1), ("initial_epoch", initial_epoch, 0)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ValueError(f"fit: {name} must be an int >= {low}, got {v!r}")
        if validation_split and validation_data is not None:
            raise ValueError("fit: pass validation_split or validation_data, not both")
        device, float_dtype = self._device_and_dtype()
        if validation_split:
            if not (_inputs.is_array(x) and y is not None):
                raise ValueError("fit: validation_split needs array data (x and y); pass "
                                 "validation_data for a Dataset or DataLoader")
            xa, ya = _inputs.as_array(x, "x"), _inputs.as_array(y, "y")
            if len(xa) != len(ya):
                raise ValueError(f"fit: x and y have different numbers of samples: x "
                                 f"{tuple(xa.shape)}, y {tuple(ya.shape)}")
            x, y, vx, vy = _inputs.split_validation(xa, ya, float(validation_split))
            validation_data = (vx, vy)
        loader = _inputs.batches("fit", x, y, batch_size, shuffle, float_dtype)
        val_loader = None
        val_batch = batch_size if validation_batch_size is None else validation_batch_size
        if validation_data is not None:
            if isinstance(validation_data, tuple):
                if len(validation_data) != 2:
                    raise ValueError(f"fit: validation_data must be (x_val, y_val), got a "
                                     f"tuple of {len(validation_data)}")
                val_loader = _inputs.batches("fit", *validation_data, val_batch, False,
                                             float_dtype)
            else:
                val_loader = _inputs.batches("fit", validation_data, None, val_batch, False,
                                             float_dtype)
        history = History()
        user = list(callbacks or [])
        for cb in user:
            if not isinstance(cb, Callback):
                raise TypeError(f"fit: callbacks must be lg.callbacks.Callback instances, got "
                                f"{type(cb).__name__}")
        cbs = [history] + user + [Progress(verbose, epochs, sys.stderr)]
        steps = len(loader) if hasattr(loader, "__len__") else None
        for cb in cbs:
            cb.set_model(self)
            cb.set_params({"epochs": int(epochs), "steps": steps, "verbose": verbose})
        run = _FitRun(loader, cbs, history)
        run.start_epoch = int(initial_epoch)
        object.__setattr__(self, "history", history)
        object.__setattr__(self, "stop_training", False)
        object.__setattr__(self, "_fit_run", run)
        log_lr = any(getattr(cb, "logs_learning_rate", False) for cb in user)
        train_metrics = compiled.new_metrics()
        val_metrics = compiled.new_metrics()
        try:
            for cb in cbs:
                cb.on_train_begin(None)
            for epoch in range(run.start_epoch, int(epochs)):
                if self.stop_training:
                    break
                for cb in cbs:
                    cb.on_epoch_begin(epoch, None)
                lr = self.optimizer.param_groups[0]["lr"]
                self.train()
                loss_sum, seen = self._run_batches(loader, "fit", train_metrics, compiled, True,
                                                   cbs, float_dtype, device)
                logs = self._results(loss_sum, seen, train_metrics, "fit")
                if val_loader is not None:
                    val = self._test(val_loader, "fit", val_metrics, compiled, cbs, float_dtype,
                                     device)
                    logs.update({"val_" + k: v for k, v in val.items()})
                if log_lr:
                    logs["learning_rate"] = lr
                for cb in cbs:
                    cb.on_epoch_end(epoch, logs)
            for cb in cbs:
                cb.on_train_end(None)
        finally:
            self.__dict__.pop("_fit_run", None)
            self.train()
        return history

    # ------------------------------------------------------------------ evaluate / predict
    def _test(self, loader, fn, metrics, compiled, cbs, float_dtype, device) -> dict:
        was_training = self.training
        self.eval()
        try:
            for cb in cbs:
                cb.on_test_begin(None)
            with no_grad():
                loss_sum, seen = self._run_batches(loader, fn, metrics, compiled, False, cbs,
                                                   float_dtype, device)
            logs = self._local_results(loss_sum, seen, metrics, fn)
            for cb in cbs:
                cb.on_test_end(logs)
        finally:
            self.train(was_training)
        return logs

    def _local_results(self, loss_sum, seen, metrics, fn) -> dict:
        """Validation runs on every process over all of its data: no cross-process sums."""
        if not seen:
            raise ValueError(f"{fn}: the data gave no samples")
        logs = {"loss": loss_sum / seen}
        for m in metrics:
            logs[m.name] = m.result()
        return logs

    def evaluate(self, x, y=None, batch_size: int = 32, verbose: int = 0, callbacks=None) -> dict:
        """The loss and the compiled metrics over all of ``x``/``y`` (exact means), in eval
        mode without gradients: ``{"loss": ..., "accuracy": ..., ...}``."""
        compiled = self._require_compiled("evaluate")
        device, float_dtype = self._device_and_dtype()
        loader = _inputs.batches("evaluate", x, y, batch_size, False, float_dtype)
        cbs = list(callbacks or [])
        for cb in cbs:
            cb.set_model(self)
        logs = self._test(loader, "evaluate", compiled.new_metrics(), compiled, cbs, float_dtype,
                          device)
        if verbose:
            print("  ".join(f"{k} {v:.4f}" for k, v in logs.items()))
        return logs

    def predict(self, x, batch_size: int = 32, verbose: int = 0, callbacks=None):
        """The model's outputs on ``x`` as a NumPy array (batches concatenated; a tuple of
        arrays for a model that returns a tuple), in eval mode without gradients. x: an
        array/Tensor, or a Dataset/DataLoader (of inputs, or of (x, y) whose y is ignored)."""
        device, float_dtype = self._device_and_dtype()
        loader = _inputs.batches("predict", x, None, batch_size, False, float_dtype,
                                 need_y=False)
        cbs = list(callbacks or [])
        for cb in cbs:
            cb.set_model(self)
        outputs = []
        was_training = self.training
        self.eval()
        try:
            for cb in cbs:
                cb.on_predict_begin(None)
            with no_grad():
                for i, batch in enumerate(loader):
                    for cb in cbs:
                        cb.on_predict_batch_begin(i, None)
                    xb, _ = _inputs.unpack("predict", batch, need_y=False)
                    out = self(_inputs.to_device(xb, device, float_dtype))
                    outputs.append(tuple(_host(o) for o in out) if isinstance(out, tuple)
                                   else _host(out))
                    for cb in cbs:
                        cb.on_predict_batch_end(i, None)
            for cb in cbs:
                cb.on_predict_end(None)
        finally:
            self.train(was_training)
        if not outputs:
            raise ValueError("predict: the data gave no samples")
        if isinstance(outputs[0], tuple):
            return tuple(np.concatenate(parts) for parts in zip(*outputs))
        result = np.concatenate(outputs)
        if verbose:
            print(f"predicted {len(result)} samples")
        return result

    # ------------------------------------------------------------------ checkpoints
    def get_training_state(self) -> dict:
        """Everything a resumed :meth:`fit` needs, as an ``lg.save``-able dict: ``epoch``
        (epochs done), ``model``, ``optimizer``, ``rng`` (the library generator),
        ``loader_rng`` (the DataLoader's own generator, or None), ``history`` and
        ``callbacks`` (the states of the callbacks that have one)."""
        self._require_compiled("get_training_state")
        run = self.__dict__.get("_fit_run")
        if run is None:
            raise RuntimeError("get_training_state: only during fit (from a callback)")
        loader_rng = getattr(run.loader, "generator", None)
        return {"epoch": len(run.history.epoch) and run.history.epoch[-1] + 1,
                "model": self.state_dict(), "optimizer": self.optimizer.state_dict(),
                "rng": _random.get_rng_state(),
                "loader_rng": None if loader_rng is None else loader_rng.bit_generator.state,
                "history": run.history.history,
                "callbacks": [[type(cb).__name__, cb.state_dict()] for cb in run.callbacks
                              if hasattr(cb, "state_dict")]}

    def set_training_state(self, state: dict) -> None:
        """Restore :meth:`get_training_state`'s dict during fit (from ``on_train_begin``):
        the next epoch run is ``state["epoch"]``."""
        run = self.__dict__.get("_fit_run")
        if run is None:
            raise RuntimeError("set_training_state: only during fit (from on_train_begin)")
        self.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        _random.set_rng_state(state["rng"])
        loader_rng = getattr(run.loader, "generator", None)
        if (loader_rng is None) != (state.get("loader_rng") is None):
            raise ValueError("set_training_state: the checkpoint's data order came from "
                             + ("a DataLoader generator" if loader_rng is None else
                                "the library generator") + ", this fit's does not")
        if loader_rng is not None:
            loader_rng.bit_generator.state = state["loader_rng"]
        saved = list(state.get("callbacks", []))
        mine = [cb for cb in run.callbacks if hasattr(cb, "state_dict")]
        if [name for name, _ in saved] != [type(cb).__name__ for cb in mine]:
            raise ValueError(f"set_training_state: the checkpoint has callback states "
                             f"{[n for n, _ in saved]}, this fit has "
                             f"{[type(cb).__name__ for cb in mine]}")
        for cb, (_, cb_state) in zip(mine, saved):
            cb.load_state_dict(cb_state)
        run.start_epoch = int(state["epoch"])

    # ------------------------------------------------------------------ summary
    def summary(self, input_size, dtype=None, print_fn=print) -> str:
        """A Keras/torchinfo-style table: each layer's name, type, output shape and parameter
        count, then total, trainable and non-trainable parameter counts. ``input_size``: one
        sample's shape without the batch axis (``(1, 8, 8)``), or a list of them for several
        inputs. Runs one forward pass on a zero batch of 2 in eval mode; returns the text
        (and prints it with ``print_fn`` unless that is None)."""
        text = _summary(self, input_size, dtype)
        if print_fn is not None:
            print_fn(text)
        return text


def _global_metric(model, metric) -> float:
    """A metric's result over all processes: exact for the counting metrics (their counts
    are summed across processes), else this process's value."""
    if isinstance(metric, _metrics.Accuracy):
        correct, count = model._global_sums([float(metric.correct), float(metric.count)])
        return correct / count if count else float("nan")
    return metric.result()


def _host(t) -> np.ndarray:
    a = t.array if isinstance(t, Tensor) else t
    return a.get() if hasattr(a, "get") and hasattr(a, "__cuda_array_interface__") else \
        np.asarray(a)
