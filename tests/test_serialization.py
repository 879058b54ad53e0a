"""lg.save / lg.load: round trips, atomic writes, and refusal of bad files."""
import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest

import loomgrad as lg
from loomgrad import serialization


def _assert_same(a, b):
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, dict):
        assert list(a.keys()) == list(b.keys())
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, lg.Tensor):
        assert a.dtype == b.dtype and a.requires_grad == b.requires_grad
        np.testing.assert_array_equal(a.array, b.array)
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and np.shape(a) == np.shape(b)
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, float) and a != a:
        assert b != b
    else:
        assert a == b


def test_round_trip_nested(tmp_path):
    obj = {"w": lg.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True),
           "p": lg.nn.Parameter(np.ones((2,), np.float64)),
           "i": lg.tensor(np.array([1, 2], np.int64)),
           "arrs": [np.zeros((0, 3), np.float16), np.array(True), np.arange(4, dtype=np.uint8),
                    np.asfortranarray(np.arange(6.).reshape(2, 3)), np.array([1 + 2j])],
           "nums": (1, 2**80, -0.0, float("inf"), float("nan"), 0.1, np.float32(1.5),
                    np.int64(7)),
           "strs": ["", "µ", None, True, False],
           3: {"nested": {1.5: "float key", None: "none key", True: "bool key"}}}
    path = tmp_path / "obj.lg"
    lg.save(obj, path)
    _assert_same(obj, lg.load(path))
    assert isinstance(lg.load(path)["p"], lg.nn.Parameter)


def test_state_dicts_round_trip(tmp_path):
    lg.manual_seed(0)
    model = lg.models.lenet(in_channels=1, num_classes=10, image_size=(8, 8))
    opt = lg.optim.Adam(model.parameters(), lr=1e-3, betas=(0.8, 0.9))
    x = lg.randn(4, 1, 8, 8)
    lg.nn.functional.cross_entropy(model(x), np.array([0, 1, 2, 3])).backward()
    opt.step()
    lg.save({"model": model.state_dict(), "opt": opt.state_dict(),
             "rng": lg.get_rng_state()}, tmp_path / "ck")
    ck = lg.load(tmp_path / "ck")
    model2 = lg.models.lenet(in_channels=1, num_classes=10, image_size=(8, 8))
    model2.load_state_dict(ck["model"])
    for (k, a), (_, b) in zip(model.state_dict().items(), model2.state_dict().items()):
        np.testing.assert_array_equal(a.array, b.array, err_msg=k)
    opt2 = lg.optim.Adam(model2.parameters(), lr=5.0)
    opt2.load_state_dict(ck["opt"])
    _assert_same(opt.state_dict(), opt2.state_dict())
    lg.set_rng_state(ck["rng"])
    assert lg.get_rng_state() == ck["rng"]


def test_save_refuses_unsupported(tmp_path):
    with pytest.raises(TypeError, match=r"obj\['f'\].*function"):
        lg.save({"f": print}, tmp_path / "x")
    with pytest.raises(TypeError, match="dtype object"):
        lg.save(np.array([None]), tmp_path / "x")
    assert not os.listdir(tmp_path)


def test_atomic_write_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ck"
    lg.save({"v": np.arange(3)}, path)
    before = path.read_bytes()
    real = serialization._write_npz

    def crash(f, meta, arrays):
        real(f, meta, arrays)  # a complete but unsynced temp file ...
        f.write(b"partial")
        raise OSError("disk on fire")  # ... then the process "dies" mid-save

    monkeypatch.setattr(serialization, "_write_npz", crash)
    with pytest.raises(OSError, match="disk on fire"):
        lg.save({"v": np.arange(1000)}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ck"]  # no temp file left behind
    _assert_same(lg.load(path), {"v": np.arange(3)})


@pytest.fixture
def umask():
    """Set the process umask for one test, putting the old one back after."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664),
                                       (0o027, 0o640)])
def test_saved_file_mode_follows_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    lg.save({"v": np.arange(3)}, tmp_path / "ck")
    assert (tmp_path / "ck").stat().st_mode & 0o777 == mode
    assert serialization._umask() == mask  # read back without being changed


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")
def test_umask_is_read_without_setting_it(umask, monkeypatch):
    # setting the umask, even briefly, would race with other threads creating files
    umask(0o027)

    def no_set(mask):
        raise AssertionError("os.umask called")

    monkeypatch.setattr(serialization.os, "umask", no_set)
    assert serialization._umask() == 0o027


def test_umask_without_proc(umask, monkeypatch):
    # no /proc (macOS, a sandbox): the set-and-restore fallback reads the same mask
    def no_proc(*args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr(serialization, "open", no_proc, raising=False)
    umask(0o037)
    assert serialization._umask() == 0o037
    assert os.umask(0o037) == 0o037  # and left it as it was


def test_saving_over_a_file_keeps_its_mode(tmp_path, umask):
    # what open(path, "wb") would do: the user's chmod survives the atomic replace
    path = tmp_path / "ck"
    umask(0o022)
    lg.save({"v": np.arange(3)}, path)
    path.chmod(0o600)
    lg.save({"v": np.arange(4)}, path)
    assert path.stat().st_mode & 0o777 == 0o600
    _assert_same(lg.load(path), {"v": np.arange(4)})


def _write_zip(path, entries, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)


def _npy(a):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=True)
    return buf.getvalue()


def _meta(root):
    return json.dumps({"format": "loomgrad.save", "version": 1, "root": root})


@pytest.mark.parametrize("case", [
    "truncated", "garbage", "pickle", "plain_npz", "object_array", "bad_json", "wrong_format",
    "missing_array", "huge_shape", "short_data", "zip_bomb", "unknown_node", "deep_json",
    "flipped_byte", "empty"])
def test_load_refuses_bad_files(tmp_path, case):
    path = tmp_path / "bad"
    good = tmp_path / "good"
    lg.save({"w": np.arange(100, dtype=np.float64)}, good)
    raw = good.read_bytes()
    arr_node = {"t": "ndarray", "a": "a0"}
    if case == "truncated":
        path.write_bytes(raw[:len(raw) // 2])
    elif case == "garbage":
        path.write_bytes(os.urandom(1000))
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "pickle":
        path.write_bytes(pickle.dumps({"w": np.arange(3)}))
    elif case == "plain_npz":
        np.savez(path, w=np.arange(3))
        os.replace(str(path) + ".npz", path)
    elif case == "object_array":
        _write_zip(path, {"__loomgrad__.json": _meta(arr_node),
                          "a0.npy": _npy(np.array([{"x": 1}], dtype=object))})
    elif case == "bad_json":
        _write_zip(path, {"__loomgrad__.json": "{not json"})
    elif case == "wrong_format":
        _write_zip(path, {"__loomgrad__.json": json.dumps([1, 2])})
    elif case == "missing_array":
        _write_zip(path, {"__loomgrad__.json": _meta(arr_node)})
    elif case == "huge_shape":
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": "<f8", "fortran_order": False, "shape": (2**40, 2**20)})
        _write_zip(path, {"__loomgrad__.json": _meta(arr_node),
                          "a0.npy": header.getvalue() + b"\0" * 64})
    elif case == "short_data":
        _write_zip(path, {"__loomgrad__.json": _meta(arr_node),
                          "a0.npy": _npy(np.arange(10.0))[:-8]})
    elif case == "zip_bomb":
        _write_zip(path, {"__loomgrad__.json": _meta(arr_node),
                          "a0.npy": _npy(np.zeros(1 << 20))}, zipfile.ZIP_DEFLATED)
    elif case == "unknown_node":
        _write_zip(path, {"__loomgrad__.json": _meta({"t": "pickle", "v": "cos\nsystem"})})
    elif case == "deep_json":
        _write_zip(path, {"__loomgrad__.json": '{"format": "loomgrad.save", "version": 1, '
                                               '"root": ' + '[' * 100000 + ']' * 100000 + '}'})
    elif case == "flipped_byte":
        b = bytearray(raw)
        i = raw.index(np.arange(100, dtype=np.float64).tobytes()[8:16])
        b[i] ^= 0xFF  # inside the array data: the CRC check must notice
        path.write_bytes(bytes(b))
    with pytest.raises(lg.LoadError, match=str(path).replace("\\", "\\\\")) as info:
        lg.load(path)
    assert isinstance(info.value, ValueError)


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        lg.load(tmp_path / "nope")


# ------------------------------------------------------ load_state_dict dtypes
def test_load_state_dict_dtype_policy():
    lin = lg.nn.Linear(3, 2)
    sd = {k: v.array.astype(np.float64) for k, v in lin.state_dict().items()}
    lin.load_state_dict(sd)  # float64 -> float32: allowed, dtype kept
    assert lin.weight.dtype == np.float32
    bad = dict(sd, weight=np.ones((2, 3), np.complex64))
    with pytest.raises(lg.nn.StateDictError, match="dtype mismatch for weight.*complex64"):
        lin.load_state_dict(bad)
    bn = lg.nn.BatchNorm2d(2)
    sd = {k: v.array for k, v in bn.state_dict().items()}
    sd["num_batches_tracked"] = np.array(3.5)
    with pytest.raises(lg.nn.StateDictError, match="dtype mismatch for num_batches_tracked"):
        bn.load_state_dict(sd)
    # the failed load left the module intact
    assert int(bn.num_batches_tracked.array) == 0


def test_load_state_dict_reports_keys_and_shapes():
    lin = lg.nn.Linear(3, 2)
    sd = {"weight": np.ones((3, 3), np.float32), "extra": np.ones(1)}
    with pytest.raises(lg.nn.StateDictError) as info:
        lin.load_state_dict(sd)
    msg = str(info.value)
    assert '"bias"' in msg and '"extra"' in msg and "size mismatch for weight" in msg
