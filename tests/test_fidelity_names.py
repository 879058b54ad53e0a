"""Issue 14, torch's module paths and names: utils.data, backends.cudnn, accelerator,
nn.modules, dtype aliases, randint's signature and the new maths (log1p ... multinomial),
each against torch on the same input."""
import builtins

import numpy as np
import pytest
import torch

import loomgrad as lg
from helpers import helper_test_op


def test_module_paths_like_torch():
    from loomgrad.nn.modules.linear import Linear
    from loomgrad.utils.data import (ConcatDataset, DataLoader, Dataset, Subset, TensorDataset,
                                     random_split)
    assert Linear is lg.nn.Linear and lg.nn.modules.Conv2d is lg.nn.Conv2d
    assert lg.nn.modules.module.Module is lg.nn.Module
    assert DataLoader is lg.data.DataLoader and TensorDataset is lg.data.TensorDataset
    assert all(callable(x) for x in (ConcatDataset, Dataset, Subset, random_split))
    with pytest.raises(AttributeError):
        lg.nn.modules.NoSuchLayer


def test_cudnn_flags_are_accepted_and_inert():
    cudnn = lg.backends.cudnn
    cudnn.benchmark = True
    cudnn.deterministic = True
    cudnn.enabled = False
    assert cudnn.is_available() is False
    with pytest.raises(AttributeError):
        cudnn.benchmrk = True  # a misspelt flag is an error, not silently ignored
    cudnn.benchmark, cudnn.deterministic, cudnn.enabled = False, False, True


def test_accelerator():
    assert lg.accelerator.is_available() == lg.cuda.is_available()
    if not lg.cuda.is_available():
        assert lg.accelerator.current_accelerator() is None
        assert lg.accelerator.device_count() == 0


def test_dtype_aliases_without_shadowing_builtins():
    for name in ("float", "int", "long", "double", "half", "short", "bool", "float32", "int64"):
        assert np.dtype(getattr(lg, name)) == np.dtype(str(getattr(torch, name)).split(".")[1])
    assert lg.zeros(2, dtype=lg.float).dtype == np.float32
    assert lg.ones(2, dtype=lg.long).dtype == np.int64
    # our own modules still see the builtins
    import loomgrad.ops as ops
    import loomgrad.tensor as tensor
    for mod in (ops, tensor):
        assert getattr(mod, "float", builtins.float) is builtins.float
        assert getattr(mod, "int", builtins.int) is builtins.int
    with pytest.raises(AttributeError):
        lg.no_such_name


def test_randint_signatures():
    lg.manual_seed(0)
    a = lg.randint(10, (3, 4))
    assert a.shape == (3, 4) and a.dtype == np.int64 and 0 <= a.min().item() and \
        a.max().item() < 10
    b = lg.randint(5, 7, (100,))
    assert set(np.unique(b.array)) <= {5, 6}
    assert lg.randint(3, size=(2,)).shape == (2,)
    assert lg.randint(0, 3, size=(2,)).shape == (2,)
    with pytest.raises(TypeError, match="size"):
        lg.randint(10)


X = np.array([[0.3, -0.2, 1.5, 0.7], [-1.1, 0.4, 0.25, -0.6], [0.9, 2.0, -0.3, 0.1]])


@pytest.mark.parametrize("name", ["log1p", "expm1", "sin", "cos"])
def test_unary_maths_match_torch_with_gradcheck(name):
    vals = [np.abs(X) if name == "log1p" else X]
    helper_test_op(None, lambda x: getattr(x, name)(), vals=vals, gradcheck=True)
    # the function API too
    np.testing.assert_allclose(getattr(lg, name)(lg.tensor(vals[0])).array,
                               getattr(torch, name)(torch.tensor(vals[0])).numpy(), rtol=1e-12)


@pytest.mark.parametrize("diag", [-1, 0, 2])
def test_tril_triu_match_torch(diag):
    helper_test_op(None, lambda x: x.tril(diag), vals=[X], gradcheck=True)
    helper_test_op(None, lambda x: x.triu(diag), vals=[X], gradcheck=True)
    x3 = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(lg.triu(lg.tensor(x3), diag).array,
                                  torch.triu(torch.tensor(x3), diag).numpy())
    with pytest.raises(ValueError, match="2 dims"):
        lg.tensor([1.0, 2.0]).tril()


def test_narrow_mm_bmm_match_torch():
    helper_test_op(None, lambda x: x.narrow(1, 1, 2), vals=[X], gradcheck=True)
    helper_test_op(None, lambda x: x.narrow(0, -2, 2), vals=[X])
    helper_test_op(None, lambda a, b: a.mm(b), vals=[X, X.T.copy()], gradcheck=True)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 5))
    helper_test_op(None, lambda a, b: a.bmm(b), vals=[a, b], gradcheck=True)
    np.testing.assert_allclose(lg.bmm(lg.tensor(a), lg.tensor(b)).array,
                               torch.bmm(torch.tensor(a), torch.tensor(b)).numpy())
    with pytest.raises(ValueError, match="2-D"):
        lg.mm(lg.tensor(a), lg.tensor(b))
    with pytest.raises(ValueError, match="cannot be multiplied"):
        lg.bmm(lg.tensor(a), lg.tensor(a))
    with pytest.raises(ValueError, match="exceeds"):
        lg.tensor(X).narrow(1, 3, 2)


@pytest.mark.parametrize("p", ["fro", 1, 2, 3, float("inf"), float("-inf")])
@pytest.mark.parametrize("dim", [None, 1, (0, 1)])
def test_norm_matches_torch(p, dim):
    if p == "fro" and dim == 1:
        pytest.skip("torch's 'fro' wants 2 dims")
    helper_test_op(None, lambda x: torch.norm(x, p, dim), lambda x: x.norm(p, dim), vals=[X],
                   gradcheck=True)


def test_new_constructors_match_torch():
    for mod in (lg, torch):
        base = mod.zeros(2, dtype=mod.float64)
        for t, shape in ((base.new_zeros(3, 4), (3, 4)), (base.new_ones((2,)), (2,)),
                         (base.new_full((2, 2), 7.0), (2, 2)), (base.new_empty(5), (5,)),
                         (base.new_zeros(3, dtype=mod.int64), (3,))):
            assert tuple(t.shape) == shape
    assert lg.zeros(2, dtype=lg.float64).new_ones(2).dtype == np.float64
    assert lg.zeros(2).new_zeros(3, dtype=lg.int64).dtype == np.int64
    np.testing.assert_array_equal(lg.zeros(1).new_full((2, 2), 7.0).array, np.full((2, 2), 7.0))
    np.testing.assert_array_equal(lg.zeros(1).new_tensor([1, 2]).array, [1.0, 2.0])


def test_multinomial_distribution():
    lg.manual_seed(0)
    w = lg.tensor([[0.0, 1.0, 3.0], [5.0, 0.0, 0.0]])
    s = lg.multinomial(w, 4000, replacement=True)
    assert s.shape == (2, 4000) and s.dtype == np.int64
    freq = np.bincount(s.array[0], minlength=3) / 4000
    np.testing.assert_allclose(freq, [0.0, 0.25, 0.75], atol=0.03)
    assert (s.array[1] == 0).all()
    s2 = w[0].multinomial(2)  # without replacement: both nonzero indices, once each
    assert sorted(s2.tolist()) == [1, 2]
    with pytest.raises(ValueError, match="without replacement"):
        w[0].multinomial(3)
    with pytest.raises(ValueError, match="non-negative"):
        lg.tensor([1.0, -1.0]).multinomial(1)


@pytest.mark.parametrize("beta", [1.0, 0.5, 0.0])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_smooth_l1_loss_matches_torch(beta, reduction):
    target = np.random.default_rng(1).standard_normal(X.shape)
    helper_test_op(None, lambda x: torch.nn.functional.smooth_l1_loss(
        x, torch.tensor(target), reduction=reduction, beta=beta),
        lambda x: lg.nn.functional.smooth_l1_loss(
            x, lg.tensor(target), reduction=reduction, beta=beta), vals=[X], gradcheck=True)
    m = lg.nn.SmoothL1Loss(beta=beta, reduction=reduction)
    np.testing.assert_allclose(m(lg.tensor(X), lg.tensor(target)).array,
                               torch.nn.SmoothL1Loss(beta=beta, reduction=reduction)(
                                   torch.tensor(X), torch.tensor(target)).numpy(), rtol=1e-12)


def test_format_of_a_0d_tensor_like_torch():
    for spec in (".3f", "8.2e", ""):
        assert format(lg.tensor(3.14159), spec) == format(torch.tensor(3.14159), spec)
    assert f"{lg.tensor(2.5).sum():.2f}" == "2.50"
    with pytest.raises(TypeError):
        format(lg.tensor([1.0, 2.0]), ".2f")


def test_subset_concat_random_split():
    X_, y_ = lg.arange(10).float().reshape(10, 1), lg.arange(10)
    ds = lg.utils.data.TensorDataset(X_, y_)
    sub = lg.utils.data.Subset(ds, [3, 1, 4])
    assert len(sub) == 3 and sub[0][1].item() == 3
    cat = lg.utils.data.ConcatDataset([sub, ds])
    assert len(cat) == 13 and cat[3][1].item() == 0 and cat[-1][1].item() == 9
    assert len(sub + ds) == 13
    with pytest.raises(IndexError):
        cat[13]
    a, b = lg.utils.data.random_split(ds, [7, 3], generator=np.random.default_rng(0))
    assert len(a) == 7 and len(b) == 3
    assert sorted(a.indices + b.indices) == list(range(10))
    parts = lg.utils.data.random_split(ds, [0.5, 0.3, 0.2])
    assert [len(p) for p in parts] == [len(p) for p in torch.utils.data.random_split(
        range(10), [0.5, 0.3, 0.2])]
    with pytest.raises(ValueError, match="sum"):
        lg.utils.data.random_split(ds, [5, 4])
    loader = lg.utils.data.DataLoader(cat, batch_size=4)
    assert [len(b[1]) for b in loader] == [4, 4, 4, 1]
