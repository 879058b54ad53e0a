"""train --checkpoint / --resume: an interrupted run resumed from its
checkpoint ends bit-for-bit where an uninterrupted run ends."""
import numpy as np
import pytest

import loomgrad as lg
from loomgrad import train


class _Crash(Exception):
    pass


def _run(path, resume=False, crash_at=None, monkeypatch=None, **kw):
    kw.setdefault("epochs", 4)
    args = train.default_args(checkpoint=str(path), resume=resume, quiet=True,
                              no_progress=True, **kw)
    if crash_at is not None:  # the process dies in epoch `crash_at`, before its checkpoint
        real = lg.callbacks.ModelCheckpoint.on_epoch_end

        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == crash_at:
                raise _Crash()
            return real(self, epoch, logs)

        monkeypatch.setattr(lg.callbacks.ModelCheckpoint, "on_epoch_end", on_epoch_end)
        with pytest.raises(_Crash):
            train.run(args)
        monkeypatch.setattr(lg.callbacks.ModelCheckpoint, "on_epoch_end", real)
        return None
    return train.run(args)


@pytest.mark.parametrize("model,kw", [
    ("mlp", dict(hidden=(32,))),
    ("lenet", dict(batch_size=128)),  # cosine schedule, dropout: RNG and scheduler state
    ("mlp", dict(hidden=(16,), optimizer="sgd", schedule="step", weight_decay=1e-3)),
])
def test_resume_is_bitwise_identical(tmp_path, monkeypatch, model, kw):
    straight = _run(tmp_path / "a", model=model, **kw)
    _run(tmp_path / "b", model=model, crash_at=3, monkeypatch=monkeypatch, **kw)
    assert lg.load(tmp_path / "b")["epoch"] == 2
    resumed = _run(tmp_path / "b", resume=True, model=model, **kw)
    a, b = lg.load(tmp_path / "a"), lg.load(tmp_path / "b")
    assert a["epoch"] == b["epoch"] == 4
    for k in a["model"]:
        np.testing.assert_array_equal(a["model"][k].array, b["model"][k].array, err_msg=k)
    for i, st in a["optimizer"]["state"].items():
        for k, v in st.items():
            np.testing.assert_array_equal(v, b["optimizer"]["state"][i][k], err_msg=f"{i}.{k}")
    assert a["rng"] == b["rng"] and a["loader_rng"] == b["loader_rng"]
    assert straight["history"] == resumed["history"]
    assert straight["test_accuracy"] == resumed["test_accuracy"]


def test_resume_refuses_a_different_config(tmp_path):
    _run(tmp_path / "c", model="mlp", hidden=(8,), epochs=1)
    with pytest.raises(ValueError, match="--hidden"):
        _run(tmp_path / "c", resume=True, model="mlp", hidden=(16,))
    with pytest.raises(ValueError, match="--optimizer"):
        _run(tmp_path / "c", resume=True, model="mlp", hidden=(8,), optimizer="sgd")


def test_resume_without_checkpoint_starts_afresh(tmp_path):
    r = _run(tmp_path / "none", resume=True, model="mlp", hidden=(8,), epochs=1)
    assert r["epochs"] == 1 and lg.load(tmp_path / "none")["epoch"] == 1


def test_cli_checkpoint_flags(tmp_path):
    from loomgrad import cli
    path = tmp_path / "ck"
    assert cli.main(["train", "--epochs", "1", "--hidden", "8", "--checkpoint", str(path),
                     "--quiet"]) in (0, None)
    assert cli.main(["train", "--epochs", "2", "--hidden", "8", "--checkpoint", str(path),
                     "--resume", "--quiet"]) in (0, None)
    assert lg.load(path)["epoch"] == 2
