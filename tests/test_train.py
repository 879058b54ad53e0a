"""The training job (python -m loomgrad train): accuracy, repeatability, options."""
import argparse

import pytest

import loomgrad as lg
from loomgrad import train


def test_defaults_reach_95_percent_and_repeat_exactly():
    args = train.default_args(no_progress=True, quiet=True)
    first = train.run(args)
    assert first["test_accuracy"] >= 0.95, first
    assert first["epochs"] == args.epochs == len(first["history"])
    assert 0 < first["final_loss"] < 0.2
    again = train.run(train.default_args(no_progress=True, quiet=True))
    assert again["test_accuracy"] == first["test_accuracy"]
    assert again["final_loss"] == first["final_loss"]
    assert [h["train_loss"] for h in again["history"]] == [h["train_loss"] for h in first["history"]]


def test_short_run_prints_progress_and_result(capsys):
    ns = argparse.Namespace(epochs=2, seed=3, hidden=(32,), optimizer="sgd", lr=0.05,
                            no_progress=True)  # the rest from the defaults
    res = train.run(ns)
    out = capsys.readouterr().out
    assert "epoch   1/2" in out and "epoch   2/2" in out and "test accuracy:" in out
    assert res["epochs"] == 2 and res["num_parameters"] == 64 * 32 + 32 + 32 * 10 + 10
    assert res["test_accuracy"] > 0.5  # two epochs already learn a lot


def test_parser_options_and_errors(capsys):
    parser = train.add_arguments(argparse.ArgumentParser())
    a = parser.parse_args(["--epochs", "3", "--lr", "0.01", "--batch-size", "32", "--seed", "4",
                           "--hidden", "64,32", "--no-progress"])
    assert (a.epochs, a.lr, a.batch_size, a.seed, a.hidden, a.no_progress) == \
        (3, 0.01, 32, 4, (64, 32), True)
    assert a.model == "mlp" and a.device == "cpu"
    for bad in (["--epochs", "0"], ["--lr", "-1"], ["--batch-size", "x"], ["--model", "cnn"],
                ["--hidden", "64,,-2"], ["--device", "tpu"], ["--weight-decay", "-1"]):
        with pytest.raises(SystemExit) as e:
            parser.parse_args(bad)
        assert e.value.code == 2
    capsys.readouterr()
    with pytest.raises(SystemExit):  # no GPU, or GPU training not wired up yet
        parser.parse_args(["--device", "cuda"])
    err = capsys.readouterr().err
    assert "argument --device" in err
    if not lg.cuda.is_available():
        assert lg.cuda.unavailable_reason() in err
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            train.run(argparse.Namespace(device="cuda"))
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        train.run(argparse.Namespace(batch_size=0))
    with pytest.raises(TypeError, match="unknown option"):
        train.default_args(epoch=3)
