"""Issue 14: lg.save/lg.load on file objects, and whole Modules saved and rebuilt without
pickle (only loomgrad's classes and registered ones)."""
import io
import json
import zipfile

import numpy as np
import pytest

import loomgrad as lg
from loomgrad.serialization import LoadError, add_safe_globals, clear_safe_globals


class Net(lg.nn.Module):
    def __init__(self, hidden, *, dropout=0.0, dtype=None):
        super().__init__()
        self.body = lg.nn.Sequential(lg.nn.Linear(64, hidden, dtype=dtype), lg.nn.ReLU(),
                                     lg.nn.Dropout(dropout))
        self.head = lg.nn.Linear(hidden, 10, dtype=dtype)

    def forward(self, x):
        return self.head(self.body(x))


class Unregistered(Net):
    pass


@pytest.fixture(autouse=True)
def _no_registered_classes():
    clear_safe_globals()
    yield
    clear_safe_globals()


def _roundtrip(obj):
    buf = io.BytesIO()
    lg.save(obj, buf)
    buf.seek(0)
    return lg.load(buf)


def test_state_dicts_through_bytesio_and_open_files(tmp_path):
    m = lg.nn.Linear(4, 3)
    opt = lg.optim.Adam(m.parameters())
    lg.nn.functional.mse_loss(m(lg.randn(2, 4)), lg.zeros(2, 3)).backward()
    opt.step()
    obj = {"model": m.state_dict(), "opt": opt.state_dict(), "epoch": 3}
    back = _roundtrip(obj)
    assert back["epoch"] == 3
    np.testing.assert_array_equal(back["model"]["weight"].array, m.weight.array)
    with open(tmp_path / "ck.lg", "wb") as f:
        f.write(b"")  # a file object positioned after other bytes works too
        lg.save(obj, f)
    with open(tmp_path / "ck.lg", "rb") as f:
        again = lg.load(f)
    np.testing.assert_array_equal(again["model"]["bias"].array, m.bias.array)
    with pytest.raises(LoadError, match="<BytesIO>"):
        lg.load(io.BytesIO(b"not a zip"))


def test_a_whole_loomgrad_model_is_rebuilt():
    m = lg.nn.Sequential(lg.nn.Conv2d(1, 4, 3, padding=1), lg.nn.BatchNorm2d(4), lg.nn.ReLU(),
                         lg.nn.Flatten(), lg.nn.Linear(4 * 8 * 8, 10))
    x = lg.randn(2, 1, 8, 8)
    m(x)  # batch-norm statistics move
    m.eval()
    back = _roundtrip(m)
    assert type(back) is lg.nn.Sequential and not back.training
    np.testing.assert_array_equal(back(x).array, m(x).array)
    for (k, a), (k2, b) in zip(m.state_dict().items(), back.state_dict().items()):
        assert k == k2
        np.testing.assert_array_equal(a.array, b.array)
    lstm = lg.nn.LSTM(3, 5, num_layers=2, batch_first=True)
    back = _roundtrip({"rnn": lstm, "note": "ok"})["rnn"]
    seq = lg.randn(2, 4, 3)
    np.testing.assert_array_equal(back(seq)[0].array, lstm(seq)[0].array)


def test_a_user_model_needs_registering_and_keeps_its_arguments():
    m = Net(16, dropout=0.25, dtype=lg.float64)
    buf = io.BytesIO()
    lg.save(m, buf)
    buf.seek(0)
    with pytest.raises(LoadError, match=r"test_fidelity_save\.Net"):
        lg.load(buf)
    add_safe_globals([Net])
    buf.seek(0)
    back = lg.load(buf)
    assert type(back) is Net and back.head.weight.dtype == np.float64
    assert back.body[2].p == 0.25
    x = lg.randn(3, 64, dtype=lg.float64)
    m.eval()
    back.eval()
    np.testing.assert_array_equal(back(x).array, m(x).array)
    # a subclass is not covered by its base's registration
    buf = io.BytesIO()
    lg.save(Unregistered(4), buf)
    buf.seek(0)
    with pytest.raises(LoadError, match="Unregistered"):
        lg.load(buf)


def test_a_forged_class_path_is_refused_without_importing_it():
    buf = io.BytesIO()
    lg.save(lg.nn.Linear(2, 2), buf)
    zin = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    meta = json.loads(zin.read("__loomgrad__.json"))
    out = io.BytesIO()
    for cls in ("os.system", "subprocess.Popen", "loomgrad.serialization.save",
                "loomgrad.tensor.Tensor"):
        meta["root"]["cls"] = cls
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zout:
            for info in zin.infolist():
                data = zin.read(info) if info.filename != "__loomgrad__.json" else \
                    json.dumps(meta).encode()
                zout.writestr(info.filename, data)
        out.seek(0)
        with pytest.raises(LoadError, match=cls.replace(".", r"\.")):
            lg.load(out)


def test_unsaveable_constructor_arguments_are_named():
    class WithFn(lg.nn.Module):
        def __init__(self, act):
            super().__init__()
            self.act = act
    with pytest.raises(TypeError, match="(?s)argument 0 of WithFn.*state_dict"):
        lg.save(WithFn(lambda x: x), io.BytesIO())


def test_a_changed_model_fails_loudly_on_load():
    m = lg.nn.Sequential(lg.nn.Linear(3, 4))
    m.append(lg.nn.Linear(4, 2)) if hasattr(m, "append") else m.add_module("1", lg.nn.Linear(4, 2))
    buf = io.BytesIO()
    lg.save(m, buf)
    buf.seek(0)
    with pytest.raises(Exception, match="1.weight"):
        lg.load(buf)
