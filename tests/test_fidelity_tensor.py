"""Issue 14, torch fidelity of the Tensor: pickled arrays in the kernels, the legacy
constructors, ``.data`` as a detached Tensor, the in-place methods and the version
counter; each checked against torch on the same input."""
import pickle

import numpy as np
import pytest
import torch

import loomgrad as lg
import loomgrad.nn.functional as F


def _pickled(a):
    out = pickle.loads(pickle.dumps(a))
    assert out.dtype == a.dtype and out.dtype is not np.dtype(a.dtype)  # the bug's premise
    return out


# ------------------------------------------------------------ bug (a): dtype identity

def test_pickled_float32_arrays_run_through_the_kernels():
    rng = np.random.default_rng(0)
    x = _pickled(rng.standard_normal((2, 3, 8, 8)).astype(np.float32))
    w = _pickled(rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
    b = _pickled(rng.standard_normal(4).astype(np.float32))
    target = _pickled(np.array([1, 3], np.int64))
    lw = _pickled(rng.standard_normal((5, 64)).astype(np.float32))
    xt, wt, bt = (lg.Tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv2d(xt, wt, bt, padding=1)
    pooled, idx = F.max_pool2d(y, 2, return_indices=True)
    z = F.linear(F.relu(pooled).flatten(1), lg.Tensor(lw))
    loss = F.cross_entropy(z, lg.Tensor(target))
    loss.backward()
    # the same through torch
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, padding=1)
    tz = torch.nn.functional.linear(torch.relu(torch.nn.functional.max_pool2d(ty, 2)).flatten(1),
                                    torch.tensor(lw))
    tl = torch.nn.functional.cross_entropy(tz, torch.tensor(target))
    tl.backward()
    np.testing.assert_allclose(loss.item(), tl.item(), rtol=1e-5)
    for ours, theirs in ((xt, tx), (wt, tw), (bt, tb)):
        np.testing.assert_allclose(ours.grad.array, theirs.grad.numpy(), rtol=1e-4, atol=1e-5)
    # kernels called on the raw arrays, with an index array that went through pickle
    out = lg.kernels.max_pool2d_backward(_pickled(np.ones(pooled.shape, np.float32)),
                                         _pickled(idx.array), y.shape, 2)
    assert out.shape == y.shape
    np.testing.assert_allclose(out, lg.kernels.max_pool2d_backward(
        np.ones(pooled.shape, np.float32), idx.array, y.shape, 2))
    np.testing.assert_allclose(lg.kernels.conv2d(x, w, b, padding=1), y.array, rtol=1e-6)
    np.testing.assert_allclose(lg.kernels.matmul(_pickled(x.reshape(6, 64)), lw.T),
                               x.reshape(6, 64) @ lw.T, rtol=1e-5, atol=1e-5)


def test_byte_swapped_arrays_are_still_refused_by_name():
    x = np.zeros((2, 3), np.dtype(">f4"))
    with pytest.raises((TypeError, ValueError)):
        lg.kernels.matmul(x, np.zeros((3, 2), np.float32))


# ------------------------------------------------------------ bug (b): legacy constructors

def test_legacy_constructors_match_torch():
    for args in ((3, 4), (5,), (2, 0, 3)):
        ours, theirs = lg.Tensor(*args), torch.Tensor(*args)
        assert ours.shape == tuple(theirs.shape) and ours.dtype == np.float32
        assert not ours.requires_grad
    assert lg.Tensor().shape == tuple(torch.Tensor().shape) == (0,)
    np.testing.assert_array_equal(lg.Tensor([1, 2, 3]).array, torch.Tensor([1, 2, 3]).numpy())
    assert lg.Tensor([1, 2]).dtype == np.float32
    for ours, theirs in ((lg.FloatTensor, torch.FloatTensor), (lg.DoubleTensor, torch.DoubleTensor),
                         (lg.LongTensor, torch.LongTensor), (lg.IntTensor, torch.IntTensor),
                         (lg.ByteTensor, torch.ByteTensor), (lg.BoolTensor, torch.BoolTensor)):
        a, b = ours(2, 3), theirs(2, 3)
        assert a.shape == tuple(b.shape) and str(a.dtype) == str(b.dtype).replace("torch.", "")
        a, b = ours([1, 0, 2]), theirs([1, 0, 2])
        np.testing.assert_array_equal(a.array, b.numpy())
        assert str(a.dtype) == str(b.dtype).replace("torch.", "")
    p = lg.nn.Parameter(lg.Tensor(3, 4))  # the nn.Parameter(torch.Tensor(i, o)) pattern
    assert p.shape == (3, 4) and p.requires_grad


def test_legacy_constructors_refuse_ambiguous_arguments():
    with pytest.raises(TypeError, match="float"):
        lg.Tensor(2.5)
    with pytest.raises(TypeError, match="sizes"):
        lg.Tensor(3, 4.0)
    with pytest.raises(TypeError, match="sizes"):
        lg.Tensor([1, 2], [3, 4])
    with pytest.raises(ValueError, match="negative"):
        lg.Tensor(3, -1)


# ------------------------------------------------------------ .data and in place

def test_data_is_a_detached_tensor_sharing_memory():
    p = lg.nn.Parameter(lg.randn(3, 2))
    d = p.data
    assert isinstance(d, lg.Tensor) and not isinstance(d, lg.nn.Parameter)
    assert not d.requires_grad and d.grad_fn is None
    assert d.array is p.array
    d.mul_(2)  # changes p, autograd does not see it
    q = lg.randn(3, 2)
    p.data = q  # replaces the storage
    assert p.array is q.array and p.requires_grad
    with pytest.raises(TypeError, match="array"):
        p.data = np.zeros(3)


def test_data_updates_train_like_torch_sgd():
    """A hand-written SGD loop through ``.data`` equals torch's, step by step."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((16, 4)).astype(np.float32)
    y = rng.standard_normal((16, 1)).astype(np.float32)
    w0 = rng.standard_normal((1, 4)).astype(np.float32)
    ours = lg.nn.Linear(4, 1)
    theirs = torch.nn.Linear(4, 1)
    with lg.no_grad():
        ours.weight.copy_(lg.tensor(w0))
        ours.bias.zero_()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(w0))
        theirs.bias.zero_()
    for _ in range(5):
        for model, mod, Xt, yt in ((ours, lg, lg.tensor(X), lg.tensor(y)),
                                   (theirs, torch, torch.tensor(X), torch.tensor(y))):
            loss = ((model(Xt) - yt) ** 2).mean()
            for p in model.parameters():
                p.grad = None
            loss.backward()
            for p in model.parameters():
                p.data.add_(p.grad.data, alpha=-0.1)
    np.testing.assert_allclose(ours.weight.array, theirs.weight.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(ours.bias.array, theirs.bias.detach().numpy(), rtol=1e-5,
                               atol=1e-6)


INPLACE = [
    ("add_", lambda t, o: t.add_(o, alpha=0.5)),
    ("sub_", lambda t, o: t.sub_(o)),
    ("mul_", lambda t, o: t.mul_(o)),
    ("div_", lambda t, o: t.div_(o.abs() + 1)),
    ("addcmul_", lambda t, o: t.addcmul_(o, o, value=0.3)),
    ("addcdiv_", lambda t, o: t.addcdiv_(o, o.abs() + 1, value=-2)),
    ("clamp_", lambda t, o: t.clamp_(-0.5, 0.5)),
    ("clamp_min", lambda t, o: t.clamp_(min=0.1)),
    ("zero_", lambda t, o: t.zero_()),
    ("fill_", lambda t, o: t.fill_(1.25)),
    ("copy_", lambda t, o: t.copy_(o)),
    ("lerp_", lambda t, o: t.lerp_(o, 0.25)),
    ("pow_", lambda t, o: t.abs_().pow_(2)),
    ("neg_", lambda t, o: t.neg_()),
    ("exp_", lambda t, o: t.exp_()),
    ("sqrt_", lambda t, o: t.abs_().sqrt_()),
    ("relu_", lambda t, o: t.relu_()),
    ("sigmoid_", lambda t, o: t.sigmoid_()),
    ("tanh_", lambda t, o: t.tanh_()),
    ("masked_fill_", lambda t, o: t.masked_fill_(o > 0, -1.0)),
    ("iadd", lambda t, o: t.__iadd__(o)),
    ("isub", lambda t, o: t.__isub__(o)),
    ("imul", lambda t, o: t.__imul__(o)),
    ("itruediv", lambda t, o: t.__itruediv__(o.abs() + 1)),
]


@pytest.mark.parametrize("name,op", INPLACE, ids=[n for n, _ in INPLACE])
def test_inplace_methods_match_torch(name, op):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((3, 4)).astype(np.float32)
    ours, theirs = lg.tensor(a), torch.tensor(a)
    v0 = ours._version
    assert op(ours, lg.tensor(b)) is ours
    op(theirs, torch.tensor(b))
    np.testing.assert_allclose(ours.array, theirs.numpy(), rtol=1e-6, atol=1e-7)
    assert ours._version > v0


@pytest.mark.parametrize("name,op", INPLACE, ids=[n for n, _ in INPLACE])
def test_inplace_on_a_non_leaf_is_differentiable_like_torch(name, op):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((3, 4))
    b = rng.standard_normal((3, 4))
    w = rng.standard_normal((3, 4))
    grads = []
    for mod in (lg, torch):
        x = mod.tensor(a, requires_grad=True)
        o = mod.tensor(b, requires_grad=True)
        y = x * 1.5
        op(y, o)
        (y * mod.tensor(w)).sum().backward()
        grads.append([t.grad.numpy() if t.grad is not None else np.zeros_like(a)
                      for t in (x, o)])
    for g_ours, g_torch in zip(*grads):
        np.testing.assert_allclose(g_ours, g_torch, rtol=1e-10, atol=1e-12)


def test_inplace_float64_gradcheck():
    def f(x, o):
        y = x * 1.0
        y.addcmul_(o, x, value=0.7).mul_(o)
        return y.tanh_()
    x = lg.tensor(np.random.default_rng(4).standard_normal((3, 2)), requires_grad=True)
    o = lg.tensor(np.random.default_rng(5).standard_normal((3, 2)), requires_grad=True)
    assert lg.utils.gradcheck(f, (x, o))


def test_inplace_on_a_leaf_that_requires_grad_is_refused_outside_no_grad():
    p = lg.nn.Parameter(lg.randn(3))
    for op in (lambda t: t.add_(1), lambda t: t.mul_(2), lambda t: t.zero_(),
               lambda t: t.uniform_(), lambda t: t.__iadd__(1)):
        with pytest.raises(RuntimeError, match="leaf"):
            op(p)
    with lg.no_grad():
        p.add_(1)  # allowed, as torch
        p -= 1
    p.data.add_(1)  # .data is not a leaf that requires grad


def test_inplace_change_of_a_saved_tensor_is_caught_at_backward():
    for mod in (lg, torch):
        x = mod.ones(3, requires_grad=True)
        y = (x * 2).exp()
        s = y.sum()
        y.add_(1)  # exp saved its output
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            s.backward()
    # via detach() (shares the version counter, as torch)
    for mod in (lg, torch):
        w = mod.ones(3, requires_grad=True)
        x = mod.ones(3)
        loss = (w * x).sum()  # mul saves x for w's gradient
        x.detach().mul_(3)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            loss.backward()
    # and a change the graph does not depend on is fine (add saves nothing)
    for mod in (lg, torch):
        x = mod.ones(3, requires_grad=True)
        z = x + 1
        loss = z.sum()
        with mod.no_grad():
            x.mul_(5)
        loss.backward()
        np.testing.assert_array_equal(np.asarray(x.grad.numpy()), np.ones(3))


def test_version_counter_like_torch():
    for mod in (lg, torch):
        x = mod.zeros(3)
        assert x._version == 0
        x.add_(1)
        x[0] = 5
        x.data.add_(1)  # .data has its own counter: x's does not move
        d = x.detach()
        d.mul_(2)  # detach() shares it
        assert x._version == 3 and d._version == 3
