"""LeNet on the 8x8 digits: shapes, torch state-dict parity, and training to >= 97%."""
import argparse

import numpy as np
import pytest

import loomgrad as lg
from loomgrad import models, nn, train


def test_digits_images_are_nchw():
    X, y = lg.data.digits(flatten=False)
    assert tuple(X.shape) == (1437, 1, 8, 8) and X.dtype == np.float32
    flat, _ = lg.data.digits()
    np.testing.assert_array_equal(X.array.reshape(-1, 64), flat.array)


def test_lenet_shapes_names_and_errors():
    lg.manual_seed(0)
    m = models.lenet()
    assert tuple(m(lg.Tensor(np.zeros((5, 1, 8, 8), np.float32))).shape) == (5, 10)
    assert [n for n, _ in m.named_parameters()] == [
        "0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias", "10.weight",
        "10.bias"]
    assert isinstance(m[0], nn.Conv2d) and isinstance(m[9], nn.Dropout)
    big = models.lenet(in_channels=3, num_classes=4, image_size=16, channels=(4, 6), hidden=8)
    assert tuple(big(lg.Tensor(np.zeros((2, 3, 16, 16), np.float32))).shape) == (2, 4)
    with pytest.raises(ValueError, match="divisible by 4"):
        models.lenet(image_size=(8, 6))


def test_lenet_matches_the_same_torch_sequential():
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    torch.manual_seed(0)
    tm = tnn.Sequential(tnn.Conv2d(1, 16, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
                        tnn.Conv2d(16, 32, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
                        tnn.Flatten(), tnn.Linear(128, 64), tnn.ReLU(), tnn.Dropout(0.5),
                        tnn.Linear(64, 10)).eval()
    m = models.lenet().eval()
    m.load_state_dict(tm.state_dict())
    x = lg.data.digits(split="test")[0].array[:32].reshape(-1, 1, 8, 8)
    np.testing.assert_allclose(m(lg.Tensor(x)).array, tm(torch.tensor(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)


def test_lenet_training_reaches_97_percent():
    res = train.run(train.default_args(model="lenet", quiet=True, no_progress=True))
    assert res["test_accuracy"] >= 0.97, res
    assert res["epochs"] == 20 and res["history"][-1]["train_accuracy"] > 0.97
    assert res["num_parameters"] == 16 * 9 + 16 + 32 * 16 * 9 + 32 + 128 * 64 + 64 + 64 * 10 + 10


def test_train_options_resolve_per_model(capsys):
    a = train.default_args(model="lenet")
    assert (a.lr, a.schedule) == (1e-2, "cosine")
    m = train.default_args()
    assert (m.model, m.lr, m.schedule) == ("mlp", 3e-3, "none")
    res = train.run(argparse.Namespace(model="lenet", epochs=1, schedule="inverse-time",
                                       no_progress=True, lr=0.02))
    out = capsys.readouterr().out
    assert "training lenet CNN 16-32-64-10" in out and "inverse-time schedule" in out
    assert res["test_accuracy"] > 0.5
    with pytest.raises(ValueError, match="schedule must be one of"):
        train.run(argparse.Namespace(schedule="warmup"))
