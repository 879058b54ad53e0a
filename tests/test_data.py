"""lg.data: TensorDataset, DataLoader and the digits data set."""
import numpy as np
import pytest

import loomgrad as lg
from loomgrad import data


def make_ds(n=10):
    X = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n, dtype=np.int64)
    return data.TensorDataset(lg.Tensor(X), y)


def test_tensor_dataset_items_and_errors():
    ds = make_ds()
    assert len(ds) == 10
    x, y = ds[4]
    np.testing.assert_array_equal(x.array, [12, 13, 14])
    assert int(y.array) == 4
    with pytest.raises(ValueError, match=r"first dimensions differ \(shapes \(10, 3\), \(9,\)\)"):
        data.TensorDataset(np.zeros((10, 3)), np.zeros(9))
    with pytest.raises(ValueError, match="at least one tensor"):
        data.TensorDataset()
    with pytest.raises(TypeError, match=r"tensors\[1\] must be a Tensor"):
        data.TensorDataset(np.zeros(3), [1, 2, 3])
    with pytest.raises(ValueError, match="0-D"):
        data.TensorDataset(np.float32(1.0))


@pytest.mark.parametrize("n,bs,drop,expected", [(10, 3, False, [3, 3, 3, 1]),
                                                (10, 3, True, [3, 3, 3]),
                                                (9, 3, False, [3, 3, 3]),
                                                (10, 20, False, [10]),
                                                (10, 20, True, []),
                                                (10, 1, False, [1] * 10)])
def test_batch_counts_and_sizes(n, bs, drop, expected):
    loader = data.DataLoader(make_ds(n), batch_size=bs, drop_last=drop)
    assert len(loader) == len(expected)
    sizes = [xb.shape[0] for xb, yb in loader]
    assert sizes == expected
    if not drop:  # in order, every sample once
        ys = np.concatenate([yb.array for _, yb in loader])
        np.testing.assert_array_equal(ys, np.arange(n))


def test_batches_are_tensors_and_copies():
    ds = make_ds()
    xb, yb = next(iter(data.DataLoader(ds, batch_size=4)))
    assert isinstance(xb, lg.Tensor) and xb.shape == (4, 3) and xb.dtype == np.float32
    assert yb.dtype == np.int64 and not xb.requires_grad
    xb.array[...] = -1
    assert ds.tensors[0].array.min() >= 0


def test_shuffle_is_a_permutation_and_seeded():
    ds = make_ds(50)

    def epochs(loader, k=3):
        return [np.concatenate([yb.array for _, yb in loader]) for _ in range(k)]

    a = epochs(data.DataLoader(ds, batch_size=7, shuffle=True, seed=123))
    b = epochs(data.DataLoader(ds, batch_size=7, shuffle=True, seed=123))
    for ea, eb in zip(a, b):
        np.testing.assert_array_equal(ea, eb)
        np.testing.assert_array_equal(np.sort(ea), np.arange(50))
    assert not np.array_equal(a[0], a[1])  # a new order each epoch
    assert not np.array_equal(a[0], np.arange(50))
    c = epochs(data.DataLoader(ds, batch_size=7, shuffle=True,
                               generator=np.random.default_rng(123)))
    np.testing.assert_array_equal(c[0], a[0])
    # without a generator: the library generator, so lg.manual_seed repeats it
    lg.manual_seed(7)
    d1 = epochs(data.DataLoader(ds, batch_size=7, shuffle=True), 2)
    lg.manual_seed(7)
    d2 = epochs(data.DataLoader(ds, batch_size=7, shuffle=True), 2)
    np.testing.assert_array_equal(np.stack(d1), np.stack(d2))


class Squares(data.Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {"x": np.array([i, i * i], np.float32), "i": i}


def test_generic_dataset_collate():
    batches = list(data.DataLoader(Squares(), batch_size=2))
    assert len(batches) == 3
    np.testing.assert_array_equal(batches[1]["x"].array, [[2, 4], [3, 9]])
    assert batches[2]["i"].array.tolist() == [4] and batches[0]["i"].dtype == np.int64
    ds = make_ds(5)
    slow = list(data.DataLoader(ds, batch_size=2, collate_fn=data.default_collate))
    fast = list(data.DataLoader(ds, batch_size=2))
    for (xs, ys), (xf, yf) in zip(slow, fast):
        np.testing.assert_array_equal(xs.array, xf.array)
        np.testing.assert_array_equal(ys.array, yf.array)


def test_dataloader_argument_errors():
    ds = make_ds()
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        data.DataLoader(ds, batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be an int"):
        data.DataLoader(ds, batch_size=2.5)
    with pytest.raises(TypeError, match="generator must be a numpy.random.Generator"):
        data.DataLoader(ds, shuffle=True, generator=42)
    with pytest.raises(ValueError, match="generator or seed, not both"):
        data.DataLoader(ds, generator=np.random.default_rng(), seed=1)
    with pytest.raises(TypeError, match="__getitem__ and __len__"):
        data.DataLoader(42)


def test_digits_shapes_split_and_determinism():
    X, y = data.digits()
    Xt, yt = data.digits(split="test")
    assert isinstance(X, lg.Tensor) and X.shape == (1437, 64) and X.dtype == np.float32
    assert Xt.shape == (360, 64) and y.dtype == np.int64 and yt.shape == (360,)
    assert 0.0 <= X.array.min() and X.array.max() <= 1.0
    # stratified: every class ~20% in test
    counts = np.bincount(yt.array, minlength=10)
    full = np.bincount(np.concatenate([y.array, yt.array]))
    assert full.sum() == 1797 and np.all(np.abs(counts - 0.2 * full) <= 1)
    # deterministic, and independent of the global generator
    lg.manual_seed(99)
    X2, y2 = data.digits()
    np.testing.assert_array_equal(X.array, X2.array)
    np.testing.assert_array_equal(y.array, y2.array)
    # train and test are disjoint and cover everything
    from loomgrad.data.digits import _split_indices
    Xa, ya = data.load_digits_arrays("all", normalize=False)
    tr, te = _split_indices(ya, 0.2, 0)
    assert not set(tr) & set(te) and len(tr) + len(te) == 1797
    np.testing.assert_array_equal(Xa[te] / 16, Xt.array)
    assert Xa.shape == (1797, 64) and Xa.max() == 16.0
    X3, _ = data.digits(seed=1)
    assert not np.array_equal(X.array, X3.array)
    img, _ = data.digits(split="test", flatten=False)
    assert img.shape == (360, 1, 8, 8)
    np.testing.assert_array_equal(img.array.reshape(360, 64), Xt.array)


def test_digits_match_sklearn():
    from sklearn.datasets import load_digits
    d = load_digits()
    Xa, ya = data.load_digits_arrays("all", normalize=False, dtype=np.float64)
    np.testing.assert_array_equal(Xa, d.data)
    np.testing.assert_array_equal(ya, d.target)


def test_digits_argument_errors():
    with pytest.raises(ValueError, match="split must be one of"):
        data.digits(split="validation")
    with pytest.raises(ValueError, match="test_fraction"):
        data.digits(test_fraction=1.5)
    with pytest.raises(ValueError, match="seed"):
        data.digits(seed=-1)
