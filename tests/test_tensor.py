"""Tensor basics: creation, dtype rules, conversions, DLPack, repr, devices, bad input."""
import copy
import pickle

import numpy as np
import pytest

import loomgrad as lg
from helpers import helper_test_op, requires_torch, torch

# ---------------------------------------------------------------- creation


@pytest.mark.parametrize("fn", [lg.zeros, lg.ones, lg.empty, lg.rand, lg.randn])
def test_creation_sizes_dtype_and_grad(fn):
    for t in (fn(2, 3), fn((2, 3)), fn([2, 3]), fn(size=(2, 3))):
        assert t.shape == (2, 3) and t.dtype == lg.float32 and not t.requires_grad
    t = fn(4, dtype=lg.float64, requires_grad=True)
    assert t.dtype == lg.float64 and t.requires_grad and t.is_leaf
    assert fn(0, 3).shape == (0, 3) and fn().shape == ()


def test_creation_values():
    np.testing.assert_array_equal(lg.zeros(2).numpy(), [0, 0])
    np.testing.assert_array_equal(lg.ones(2, dtype=lg.int64).numpy(), [1, 1])
    f = lg.full((2, 2), 7)
    assert f.dtype == lg.int64 and f.tolist() == [[7, 7], [7, 7]]
    assert lg.full((2,), 0.5).dtype == lg.float32
    r = lg.rand(1000)
    assert 0 <= r.min().item() and r.max().item() < 1
    n = lg.randn(10000, dtype=lg.float64)
    assert abs(n.mean().item()) < 0.05 and abs(n.var().item() - 1) < 0.05
    assert lg.eye(3).tolist() == np.eye(3).tolist()
    np.testing.assert_allclose(lg.linspace(0, 1, 5).numpy(), [0, 0.25, 0.5, 0.75, 1])
    ri = lg.randint(0, 5, (100,))
    assert ri.dtype == lg.int64 and 0 <= ri.min().item() and ri.max().item() < 5


def test_arange_dtypes():
    assert lg.arange(5).dtype == lg.int64 and lg.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert lg.arange(0, 1, 0.25).dtype == lg.float32
    assert lg.arange(1, 7, 2).tolist() == [1, 3, 5]
    assert lg.arange(3, dtype=lg.float64).dtype == lg.float64


def test_like_functions():
    x = lg.randn(2, 3, dtype=lg.float64)
    for fn in (lg.zeros_like, lg.ones_like, lg.empty_like, lg.rand_like, lg.randn_like):
        y = fn(x)
        assert y.shape == (2, 3) and y.dtype == lg.float64 and not y.requires_grad
    assert lg.full_like(x, 3.0).tolist() == [[3.0] * 3] * 2
    assert lg.zeros_like(x, dtype=lg.float32).dtype == lg.float32


def test_manual_seed_makes_random_repeatable():
    lg.manual_seed(123)
    a = lg.randn(5)
    lg.manual_seed(123)
    np.testing.assert_array_equal(a.numpy(), lg.randn(5).numpy())


# ---------------------------------------------------------------- dtype rules


def test_tensor_dtype_inference():
    assert lg.tensor(1.5).dtype == lg.float32 and lg.tensor([1.0, 2]).dtype == lg.float32
    assert lg.tensor([1, 2]).dtype == lg.int64 and lg.tensor(True).dtype == lg.bool
    assert lg.tensor(np.zeros(2)).dtype == lg.float64  # numpy float64 kept, like torch
    assert lg.tensor(np.zeros(2, np.float32)).dtype == lg.float32
    assert lg.tensor([1, 2], dtype=lg.float64).dtype == lg.float64
    assert lg.tensor([[1.0, 2.0]]).shape == (1, 2)


@requires_torch
@pytest.mark.parametrize("a_dt,b", [("float32", 2.5), ("float32", 2), ("int64", 2.5),
                                    ("int64", 2), ("bool", 1), ("float32", "float64"),
                                    ("int64", "float32"), ("bool", True)])
@pytest.mark.parametrize("op", ["add", "mul", "div"])
def test_promotion_matches_torch(a_dt, b, op):
    fn = {"add": lambda x, y: x + y, "mul": lambda x, y: x * y, "div": lambda x, y: x / y}[op]
    a = np.array([1, 2, 3]).astype(a_dt)
    if isinstance(b, str):
        helper_test_op(None, fn, vals=[a, np.array([3, 2, 1]).astype(b)], forward_only=True,
                       atol=1e-6)
    else:
        helper_test_op(None, lambda x: fn(x, b), vals=[a], forward_only=True, atol=1e-6)


def test_float_tensor_with_python_scalar_keeps_dtype():
    x = lg.ones(2)
    assert (x * 2.5).dtype == lg.float32 and (2.5 - x).dtype == lg.float32
    assert (x ** 2).dtype == lg.float32 and (2 ** x).dtype == lg.float32
    assert (lg.ones(2, dtype=lg.float64) + lg.ones(2)).dtype == lg.float64


def test_conversions():
    x = lg.tensor([1.7, -2.2])
    assert x.double().dtype == lg.float64 and x.half().dtype == lg.float16
    assert x.long().tolist() == [1, -2] and x.long().dtype == lg.int64
    assert x.to(lg.float64).dtype == lg.float64 and x.to("cpu") is x and x.cpu() is x
    assert x.to(dtype=lg.float32) is x and x.to(lg.ones(1, dtype=lg.float64)).dtype == lg.float64
    assert x.bool().dtype == lg.bool and x.float() is x
    w = lg.tensor([1.0, 2.0], requires_grad=True)
    w.double().sum().backward()
    assert w.grad.dtype == lg.float32


# ---------------------------------------------------------------- metadata and conversion


def test_metadata():
    x = lg.zeros(2, 3, 4)
    assert x.shape == (2, 3, 4) and isinstance(x.shape, tuple)
    assert x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert x.ndim == 3 == x.dim() and x.numel() == 24 and len(x) == 2
    assert x.device == "cpu" and x.device.type == "cpu" and not x.is_cuda
    assert x.dtype == lg.float32 and x.is_floating_point() and x.is_contiguous()
    assert x.T.shape == (4, 3, 2) and not x.transpose(0, 1).is_contiguous()
    assert x.transpose(0, 1).contiguous().is_contiguous()
    with pytest.raises(TypeError, match="0-d"):
        len(lg.tensor(1.0))
    assert [r.shape for r in lg.zeros(3, 2)] == [(2,)] * 3


def test_numpy_from_numpy_share_memory():
    a = np.arange(6.0).reshape(2, 3)
    t = lg.from_numpy(a)
    assert t.dtype == lg.float64 and np.shares_memory(t.numpy(), a)
    a[0, 0] = 9
    assert t[0, 0].item() == 9
    t.numpy()[1, 1] = -1
    assert a[1, 1] == -1
    assert np.shares_memory(np.asarray(t), a)
    assert lg.Tensor(a).array is a  # the constructor wraps arrays without a copy
    c = lg.tensor(a)
    assert not np.shares_memory(c.numpy(), a)  # lg.tensor copies, like torch.tensor
    with pytest.raises(TypeError, match="numpy.ndarray"):
        lg.from_numpy([1, 2])


def test_numpy_refused_when_requires_grad():
    x = lg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    assert x.detach().numpy().tolist() == [1.0, 1.0]


def test_item_tolist_scalars():
    assert lg.tensor([[2.5]]).item() == 2.5 and isinstance(lg.tensor(3).item(), int)
    assert lg.tensor([[1, 2]]).tolist() == [[1, 2]]
    assert float(lg.tensor(1.5)) == 1.5 and int(lg.tensor(7)) == 7 and bool(lg.tensor(1))
    assert [10, 20, 30][lg.tensor(1)] == 20
    with pytest.raises(ValueError, match="6 elements"):
        lg.zeros(2, 3).item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(lg.zeros(2))


def test_clone_is_independent_and_differentiable():
    x = lg.ones(3, requires_grad=True)
    c = x.clone()
    assert c.array is not x.array and c.grad_fn is not None
    (c * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_comparisons_are_bool_without_grad():
    x = lg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for r in (x < 2, x <= 2, x > 2, x >= 2, x == 2, x != 2, 2 < x, x > lg.ones(3)):
        assert r.dtype == lg.bool and not r.requires_grad
    assert (x == 2).tolist() == [False, True, False]
    assert len({x, lg.ones(1)}) == 2  # hashable by identity


def test_pickle_and_deepcopy_leaves():
    x = lg.tensor([1.0, 2.0], requires_grad=True)
    y = pickle.loads(pickle.dumps(x))
    z = copy.deepcopy(x)
    for t in (y, z):
        assert t.tolist() == [1.0, 2.0] and t.requires_grad and t.array is not x.array
    with pytest.raises(RuntimeError, match="leaf"):
        copy.deepcopy(x * 2)


# ---------------------------------------------------------------- DLPack


def test_dlpack_with_numpy():
    x = lg.arange(6).reshape(2, 3)
    a = np.from_dlpack(x)
    assert np.shares_memory(a, x.numpy()) and a.tolist() == x.tolist()
    y = lg.from_dlpack(np.arange(3.0))
    assert y.dtype == lg.float64 and y.tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(RuntimeError, match="detach"):
        np.from_dlpack(lg.ones(2, requires_grad=True))
    with pytest.raises(TypeError, match="DLPack"):
        lg.from_dlpack([1, 2])


@requires_torch
def test_dlpack_round_trip_with_torch():
    x = lg.randn(3, 4)
    t = torch.from_dlpack(x)
    assert t.shape == (3, 4) and t.dtype == torch.float32
    t[0, 0] = 100.0  # shared memory
    assert x[0, 0].item() == 100.0
    back = lg.from_dlpack(t)
    assert np.shares_memory(back.numpy(), x.numpy())
    tt = torch.arange(5, dtype=torch.float64)
    y = lg.from_dlpack(tt)
    assert y.dtype == lg.float64 and y.tolist() == tt.tolist()


# ---------------------------------------------------------------- repr


@requires_torch
@pytest.mark.parametrize("make", [
    lambda m: m.tensor([1.5, 2.0, -3.25]),
    lambda m: m.tensor([[1.0, 2.0], [3.0, 4.0]]),
    lambda m: m.tensor([1, 2, 3]),
    lambda m: m.tensor(2.5),
    lambda m: m.tensor([True, False]),
    lambda m: m.tensor([1.0, 2.0], dtype=m.float64),
    lambda m: m.tensor([1.5, 2.0], requires_grad=True),
    lambda m: m.zeros(0),
])
def test_repr_like_torch(make):
    assert repr(make(lg)) == repr(make(torch)).replace("torch.", "")


def test_repr_shows_grad_fn():
    x = lg.ones(2, requires_grad=True)
    assert "grad_fn=<MulBackward0>" in repr(x * 2)


# ---------------------------------------------------------------- devices


@pytest.mark.skipif(lg.cuda.is_available(), reason="checks the no-CUDA error")
def test_cuda_unavailable_is_a_clear_error():
    x = lg.ones(2)
    for call in (lambda: x.to("cuda"), lambda: x.cuda(), lambda: lg.zeros(2, device="cuda")):
        with pytest.raises(RuntimeError, match="CUDA is not available") as e:
            call()
        assert lg.cuda.unavailable_reason() in str(e.value)
    with pytest.raises(ValueError, match="unknown device"):
        x.to("tpu")


@pytest.mark.cuda
@pytest.mark.skipif(not lg.cuda.is_available(), reason="no CUDA")
def test_cuda_tensor_ops_match_cpu():  # pragma: no cover - needs a GPU
    a = lg.randn(8, 16, requires_grad=True)
    b = lg.randn(16, 4, requires_grad=True)
    ag, bg = a.cuda(), b.cuda()
    out = (ag @ bg).relu().sum()
    out.backward()
    ref_a, ref_b = a.grad.numpy().copy(), b.grad.numpy().copy()
    a.grad = b.grad = None
    (a @ b).relu().sum().backward()
    np.testing.assert_allclose(ref_a, a.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ref_b, b.grad.numpy(), rtol=1e-4, atol=1e-4)
    assert out.device.type == "cuda"


# ---------------------------------------------------------------- bad input


def test_bad_input_errors_name_arguments_and_shapes():
    x = lg.zeros(2, 3)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        x @ lg.zeros(4, 5)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 4\).*\(2, 5, 5\)|do not broadcast"):
        lg.zeros(2, 2, 3) @ lg.zeros(3, 3, 4)
    with pytest.raises(ValueError, match=r"\(4, 2\).*\(2, 3\).*6 elements"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match="invalid"):
        x.reshape(-1, -1)
    with pytest.raises(IndexError, match="out of range"):
        x.sum(2)
    with pytest.raises(ValueError, match="out of range"):  # also a ValueError
        x.softmax(5)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 4\)"):
        lg.cat([x, lg.zeros(3, 4)])
    with pytest.raises(ValueError, match="same shape"):
        lg.stack([x, lg.zeros(3, 2)])
    with pytest.raises(TypeError, match="list or tuple"):
        lg.cat(x)
    with pytest.raises(ValueError, match="not a permutation"):
        x.permute(0, 0)
    with pytest.raises(ValueError, match="broadcast"):
        lg.where(lg.ones(4, dtype=lg.bool), x, x)
    with pytest.raises(TypeError, match="bool"):
        lg.where(lg.ones(3), x, x)
    with pytest.raises(ValueError, match="at least one"):
        x.clamp()
    with pytest.raises(ValueError, match="approximate"):
        lg.gelu(x, approximate="fast")
    with pytest.raises(ValueError, match="expand"):
        x.expand(4, 3)
    with pytest.raises(TypeError, match="sizes must be ints"):
        lg.zeros("a")
    with pytest.raises(ValueError, match="negative"):
        lg.zeros(-1)
    with pytest.raises(TypeError, match="floating"):
        lg.rand(2, dtype=lg.int64)
    with pytest.raises(TypeError, match="dtype"):
        lg.tensor(["a", "b"])
    with pytest.raises(TypeError, match="dtype"):
        lg.zeros(2, dtype="complex64")
    with pytest.raises(TypeError, match="Tensor"):
        lg.exp(np.ones(2))
    with pytest.raises(TypeError, match="floating point"):
        lg.arange(3).mean()
    with pytest.raises(TypeError, match="unsupported operand"):
        x + "a"
    with pytest.raises(ValueError, match="empty"):
        lg.zeros(0).max()


@requires_torch
def test_argmax_argmin_all_any_match_torch():
    for fn in (lambda x: x.argmax(), lambda x: x.argmax(1), lambda x: x.argmin(0, keepdim=True),
               lambda x: (x > 0).all(), lambda x: (x > 0).any()):
        helper_test_op(None, fn, vals=[np.array([[1.0, 5.0, 2.0], [7.0, 0.0, -1.0]])],
                       forward_only=True)
