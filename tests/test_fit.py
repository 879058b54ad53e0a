"""Module.compile/fit/evaluate/predict/summary and the callbacks that steer fit."""
import numpy as np
import pytest

import loomgrad as lg
from loomgrad import callbacks as C
from loomgrad.data import DataLoader, TensorDataset
from loomgrad.nn import functional as F


@pytest.fixture(scope="module")
def digits():
    X, y = lg.data.load_digits_arrays("train", flatten=True)
    Xt, yt = lg.data.load_digits_arrays("test", flatten=True)
    return X[:600], y[:600], Xt, yt


def _mlp(seed=0, dropout=0.0):
    lg.manual_seed(seed)
    return lg.models.mlp(64, (32,), 10, dropout=dropout)


def _params(model):
    return {k: v.array.copy() for k, v in model.state_dict().items()}


def test_fit_equals_the_hand_written_loop_bitwise(digits):
    X, y, _, _ = digits
    model = _mlp(dropout=0.2)
    model.compile(optimizer="sgd", loss="cross_entropy", lr=0.05, momentum=0.9)
    h = model.fit(X, y, batch_size=50, epochs=3, verbose=0)
    fitted = _params(model)

    ref = _mlp(dropout=0.2)
    opt = lg.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(3):
        ref.train()
        total = 0.0
        for xb, yb in DataLoader(TensorDataset(X, y), batch_size=50, shuffle=True):
            opt.zero_grad()
            loss = F.cross_entropy(ref(xb), yb)
            loss.backward()
            opt.step()
            total += float(loss.item()) * len(yb)
        losses.append(total / len(y))
    for k, v in _params(ref).items():
        np.testing.assert_array_equal(fitted[k], v, err_msg=k)
    assert h.history["loss"] == losses
    assert h.epoch == [0, 1, 2] and model.history is h


def test_validation_split_holds_out_the_tail_and_means_are_exact(digits):
    X, y, _, _ = digits
    model = _mlp()
    model.compile("adam", "cross_entropy", metrics=["accuracy", "top3_accuracy"], lr=3e-3)
    h = model.fit(X, y, batch_size=64, epochs=2, validation_split=0.25, verbose=0)
    assert set(h.history) == {"loss", "accuracy", "top3_accuracy", "val_loss", "val_accuracy",
                              "val_top3_accuracy"}
    tail_x, tail_y = X[450:], y[450:]                  # ceil(600 * 0.75) = 450
    ev = model.evaluate(tail_x, tail_y, batch_size=7)  # any batch size: exact means
    assert ev["loss"] == pytest.approx(h.history["val_loss"][-1], rel=1e-6)  # float32 batches
    assert ev["accuracy"] == h.history["val_accuracy"][-1]
    logits = model.predict(tail_x, batch_size=1000)
    assert logits.shape == (150, 10) and logits.dtype == np.float32
    full = F.cross_entropy(lg.tensor(logits), lg.tensor(tail_y), reduction="mean").item()
    assert ev["loss"] == pytest.approx(full, rel=1e-6)
    assert ev["accuracy"] == lg.metrics.accuracy_score(tail_y, logits)
    assert ev["top3_accuracy"] == lg.metrics.top_k_accuracy_score(tail_y, logits, k=3)
    assert model.training  # fit/evaluate/predict restore train mode


def test_fit_takes_datasets_loaders_and_float64_arrays(digits):
    X, y, Xt, yt = digits
    for data in (dict(x=X.astype(np.float64), y=y),
                 dict(x=TensorDataset(lg.tensor(X), lg.tensor(y))),
                 dict(x=DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True))):
        model = _mlp()
        model.compile("adam", lr=3e-3, metrics="accuracy")
        h = model.fit(**data, epochs=2, verbose=0, validation_data=(Xt, yt))
        assert h.history["val_accuracy"][-1] > 0.5
    with pytest.raises(ValueError, match="y must be None"):
        model.fit(TensorDataset(lg.tensor(X), lg.tensor(y)), y, verbose=0)
    with pytest.raises(ValueError, match="different numbers of samples"):
        model.fit(X, y[:10], verbose=0)
    with pytest.raises(RuntimeError, match="compile"):
        _mlp().fit(X, y)
    with pytest.raises(ValueError, match="unknown optimizer"):
        _mlp().compile("adamax")
    with pytest.raises(ValueError, match="unknown loss"):
        _mlp().compile(loss="hinge")
    with pytest.raises(ValueError, match="unknown metric"):
        _mlp().compile(metrics=["auc"])


def test_regression_with_mse_and_a_column_output():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(256, 3)).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 0.5], np.float32) + 0.3   # (N,) target, (N, 1) output
    lg.manual_seed(0)
    model = lg.nn.Linear(3, 1)
    model.compile("adam", "mse", metrics=["mae", "r2"], lr=0.05)
    h = model.fit(X, y, batch_size=32, epochs=30, verbose=0)
    assert h.history["loss"][-1] < 1e-3 and h.history["r2"][-1] > 0.99
    pred = model.predict(X)
    ev = model.evaluate(X, y)
    assert ev["r2"] == pytest.approx(lg.metrics.r2_score(y, pred[:, 0]), rel=1e-9)
    assert ev["mae"] == pytest.approx(lg.metrics.mean_absolute_error(y, pred), rel=1e-9)


def test_early_stopping_stops_and_restores_the_best_weights(digits):
    X, y, Xt, yt = digits
    wrong = (yt + 1 + np.arange(len(yt)) % 9) % 10   # labels the model can only get worse on
    model = _mlp()
    model.compile("adam", lr=1e-2)
    snapshots = []
    keep = C.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(_params(model)))
    stop = C.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    h = model.fit(X, y, epochs=30, validation_data=(Xt, wrong), callbacks=[keep, stop],
                  verbose=0)
    val = h.history["val_loss"]
    best = int(np.argmin(val))
    assert len(val) < 30 and len(val) == best + 3 and stop.stopped_epoch == len(val) - 1
    for k, v in _params(model).items():
        np.testing.assert_array_equal(v, snapshots[best][k], err_msg=k)


class _Crash(Exception):
    pass


def _resumable_fit(path, X, y, Xt, yt, epochs=5, crash_at=None, resume=False):
    model = _mlp(seed=1, dropout=0.3)                      # dropout: the RNG must resume too
    model.compile("sgd", "cross_entropy", metrics=["accuracy"], lr=0.1, momentum=0.9)
    sched = lg.optim.lr_scheduler.StepLR(model.optimizer, step_size=2, gamma=0.5)
    cbs = [C.LearningRateScheduler(sched), C.ReduceLROnPlateau(patience=1, factor=0.5),
           C.EarlyStopping(patience=50),
           C.ModelCheckpoint(path, resume=resume)]
    if crash_at is not None:
        def crash(epoch, logs):
            if epoch == crash_at:
                raise _Crash()
        cbs.append(C.LambdaCallback(on_epoch_begin=crash))
    h = model.fit(X, y, batch_size=64, epochs=epochs, validation_data=(Xt, yt),
                  callbacks=cbs, verbose=0)
    return model, h


def test_model_checkpoint_resumes_bit_exact(digits, tmp_path):
    X, y, Xt, yt = digits
    straight, h1 = _resumable_fit(tmp_path / "a.ck", X, y, Xt, yt)
    with pytest.raises(_Crash):
        _resumable_fit(tmp_path / "b.ck", X, y, Xt, yt, crash_at=3)
    assert lg.load(tmp_path / "b.ck")["epoch"] == 3
    lg.manual_seed(123)                                    # a new process: other RNG state
    resumed, h2 = _resumable_fit(tmp_path / "b.ck", X, y, Xt, yt, resume=True)
    assert h2.history == h1.history and "learning_rate" in h1.history
    for k, v in _params(straight).items():
        np.testing.assert_array_equal(_params(resumed)[k], v, err_msg=k)
    assert lg.load(tmp_path / "b.ck")["rng"] == lg.load(tmp_path / "a.ck")["rng"]


def test_model_checkpoint_checks_its_directory_before_training(digits, tmp_path):
    X, y, _, _ = digits
    model = _mlp()
    model.compile()
    before = _params(model)
    with pytest.raises(ValueError, match="does not exist"):
        model.fit(X, y, callbacks=[C.ModelCheckpoint(tmp_path / "no" / "such.ck")], verbose=0)
    for k, v in _params(model).items():                    # no step was taken
        np.testing.assert_array_equal(v, before[k])


def test_checkpoint_best_only_and_filename_template(digits, tmp_path):
    X, y, Xt, yt = digits
    model = _mlp()
    model.compile(lr=3e-3, metrics=["accuracy"])
    ck = C.ModelCheckpoint(str(tmp_path / "ck-{epoch:02d}"), monitor="val_accuracy",
                           save_best_only=True)
    h = model.fit(X, y, epochs=3, validation_data=(Xt, yt), callbacks=[ck], verbose=0)
    acc = h.history["val_accuracy"]
    saved = sorted(p.name for p in tmp_path.iterdir())
    expected = [f"ck-{e + 1:02d}" for e in range(3) if acc[e] > max(acc[:e], default=-1)]
    assert saved == expected


def test_checkpoint_files_follow_the_umask(digits, tmp_path):
    import os
    X, y, _, _ = digits
    model = _mlp()
    model.compile()
    old = os.umask(0o022)
    try:
        model.fit(X[:64], y[:64], callbacks=[C.ModelCheckpoint(tmp_path / "m.ck")], verbose=0)
    finally:
        os.umask(old)
    assert (tmp_path / "m.ck").stat().st_mode & 0o777 == 0o644


def test_csv_logger_and_lr_schedule_logs(digits, tmp_path):
    X, y, Xt, yt = digits
    model = _mlp()
    model.compile("sgd", lr=0.1)
    h = model.fit(X, y, epochs=3, validation_data=(Xt, yt), verbose=0,
                  callbacks=[C.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1)),
                             C.CSVLogger(tmp_path / "log.csv")])
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])
    rows = (tmp_path / "log.csv").read_text().strip().splitlines()
    assert rows[0] == "epoch,learning_rate,loss,val_loss" and len(rows) == 4
    assert float(rows[2].split(",")[2]) == h.history["loss"][1]


def test_summary_counts_equal_the_parameters(capsys):
    model = lg.models.lenet(1, 10, (8, 8))
    text = model.summary((1, 8, 8))
    total = sum(p.numel() for p in model.parameters())
    assert f"Total params: {total:,}" in text and f"Trainable params: {total:,}" in text
    assert "(-1, 16, 8, 8)" in text and "(-1, 10)" in text
    rows = [line for line in text.splitlines() if "(" in line and ")" in line[:30]]
    counted = sum(int(r.split()[-1].replace(",", "")) for r in rows
                  if r.split()[-1].replace(",", "").isdigit())
    assert counted == total
    assert capsys.readouterr().out.strip() == text.strip()
    model[0].weight.requires_grad_(False)
    frozen = model[0].weight.numel()
    text = model.summary((1, 8, 8), print_fn=None)
    assert f"Non-trainable params: {frozen:,}" in text


def test_forward_hooks_run_and_remove():
    lin = lg.nn.Linear(2, 3)
    seen = []
    handle = lin.register_forward_hook(lambda m, args, out: seen.append(out.shape))
    lin(lg.randn(4, 2))
    handle.remove()
    lin(lg.randn(4, 2))
    assert seen == [(4, 3)]


def test_stateful_model_through_a_loader_of_batches():
    """A sequence model trained from a re-iterable of (x, y) batches with a loss callable
    that reshapes (what train --model charlstm does)."""
    lg.manual_seed(0)
    model = lg.models.char_lstm(5, hidden_size=8, num_layers=1, embedding_dim=4)

    class Logits(lg.nn.Module):
        def __init__(self, lm):
            super().__init__()
            self.lm = lm

        def forward(self, x):
            return self.lm(x)[0]

    net = Logits(model)
    ids = np.arange(200) % 5
    batches = [(ids[None, i:i + 10], ids[None, i + 1:i + 11]) for i in range(0, 180, 10)]
    net.compile("adam", loss=lambda out, t: F.cross_entropy(out.reshape(-1, 5), t.reshape(-1)),
                metrics=["perplexity"], lr=0.05, clip_grad_norm=1.0)
    h = net.fit(batches, epochs=5, verbose=0)
    assert h.history["perplexity"][-1] < h.history["perplexity"][0]
    assert h.history["perplexity"][-1] == pytest.approx(np.exp(h.history["loss"][-1]), rel=1e-6)
