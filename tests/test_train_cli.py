"""python -m loomgrad train as a user meets it: one-line errors with exit 2, --version,
no progress-bar frames in piped output, --plot, --logdir, every optimizer."""
import os
import subprocess
import sys

import pytest

import loomgrad as lg
from loomgrad import charlm, train, training

FAST = ["--epochs", "1", "--hidden", "8"]


def cli(*args, timeout=120):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "loomgrad", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def one_line_error(r, *needles):
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    for n in needles:
        assert n in r.stderr, r.stderr


def test_version():
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"loomgrad {lg.__version__}"


@pytest.mark.parametrize("args,needles", [
    (["--model", "lenet", "--hidden", "32"], ["--hidden does not apply to --model lenet"]),
    (["--model", "charlstm", "--schedule", "step"], ["--schedule does not apply"]),
    (["--model", "mlp", "--seq-len", "8"], ["--seq-len does not apply to --model mlp"]),
    (["--model", "charlstm", "--text", "/no/such/file.txt"], ["--text /no/such/file.txt",
                                                              "no such file"]),
    (["--checkpoint", "/no/such/dir/ck"], ["--checkpoint", "does not exist"]),
    (["--resume"], ["--resume needs --checkpoint"]),
    (["--epochs", "0"], ["argument --epochs", "must be > 0"]),
    (["--optimizer", "adamax"], ["argument --optimizer", "invalid choice"]),
])
def test_user_mistakes_are_one_line_and_exit_2(args, needles):
    r = cli("train", *args)
    one_line_error(r, *needles)
    assert "epoch" not in r.stdout   # refused before any training


def test_device_cuda_without_a_gpu_is_one_line():
    if lg.cuda.is_available():
        pytest.skip("a GPU is present")
    r = cli("train", "--device", "cuda")
    one_line_error(r, "CUDA is not available", lg.cuda.unavailable_reason())


def test_no_driver_is_named(monkeypatch):
    class FakeCuda:
        @staticmethod
        def device_count():
            return 0, "cudaErrorInsufficientDriver: CUDA driver version is insufficient for " \
                      "CUDA runtime version"

        @staticmethod
        def build_info():
            return {"driver": "none"}

    monkeypatch.setitem(sys.modules, "loomgrad._cuda", FakeCuda)
    monkeypatch.setattr(lg, "_cuda", FakeCuda, raising=False)
    lg.cuda._probe.cache_clear()
    try:
        why = lg.cuda.unavailable_reason()
    finally:
        monkeypatch.undo()
        lg.cuda._probe.cache_clear()
    assert why == "no usable CUDA device: no NVIDIA driver found"


def test_piped_output_has_lines_and_no_bar_frames(tmp_path):
    r = cli("train", *FAST, "--epochs", "2", "--plot", str(tmp_path / "curves.png"))
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr and "\r" not in r.stdout and r.stderr == ""
    assert "epoch   1/2" in r.stdout and "test accuracy:" in r.stdout
    if __import__("importlib").util.find_spec("matplotlib"):
        assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_logdir_writes_tensorboard_events(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    res = train.run(train.default_args(epochs=2, hidden=(8,), quiet=True,
                                       logdir=str(tmp_path / "tb")))
    acc = EventAccumulator(str(tmp_path / "tb")).Reload()
    got = [e.value for e in acc.Scalars("accuracy/validation")]
    assert got == pytest.approx([h["test_accuracy"] for h in res["history"]], rel=1e-6)


@pytest.mark.parametrize("name", list(training.OPTIMIZERS))
def test_every_optimizer_trains(name):
    lr = {"adadelta": 1.0, "sgd": 0.05, "adagrad": 0.05}.get(name, 3e-3)
    res = train.run(train.default_args(epochs=2, hidden=(32,), optimizer=name, lr=lr,
                                       quiet=True))
    assert res["test_accuracy"] > 0.5, (name, res["test_accuracy"])


def test_charlstm_checkpoint_resumes(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text(charlm.stdlib_text(6000))
    kw = dict(model="charlstm", text=str(text), seq_len=16, hidden=(16,), batch_size=8,
              sample_length=5, quiet=True)
    straight = train.run(train.default_args(epochs=2, checkpoint=str(tmp_path / "a"), **kw))
    train.run(train.default_args(epochs=1, checkpoint=str(tmp_path / "b"), **kw))
    resumed = train.run(train.default_args(epochs=2, checkpoint=str(tmp_path / "b"),
                                           resume=True, **kw))
    assert resumed["train_perplexity"] == straight["train_perplexity"]
    assert resumed["sample"] == straight["sample"]
