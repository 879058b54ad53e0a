"""Autograd semantics: accumulation, retain_graph, freed graphs, grad mode, leaf rules,
deep chains and reused non-leaves (micrograd's classic bugs)."""
import gc
import weakref

import numpy as np
import pytest

import loomgrad as lg
from helpers import helper_test_op, requires_torch, torch


def leaf(*shape, dtype=lg.float64):
    return lg.randn(*shape, dtype=dtype, requires_grad=True)


def test_grad_accumulates_across_backward_calls():
    x = leaf(3)
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 5.0))


def test_retain_graph_backward_twice_accumulates_exactly_twice():
    x = leaf(4)
    y = (x * x).exp().sum()
    y.backward(retain_graph=True)
    once = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * once)


def test_second_backward_through_freed_graph_raises():
    x = leaf(3)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_graph_without_saved_arrays_can_backward_twice_like_torch():
    x = leaf(3)
    y = (x + 1).sum()
    y.backward()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 2.0))


def test_saved_arrays_are_freed_after_backward():
    x = leaf(1000)
    e = x.exp()
    ref = weakref.ref(e.array)
    loss = (e * 2).sum()
    del e
    gc.collect()
    assert ref() is not None  # held by the graph until backward
    loss.backward()
    gc.collect()
    assert ref() is None  # the output is alive, the activation is not


def test_backward_requires_grad_and_scalar():
    with pytest.raises(RuntimeError, match="does not require grad"):
        lg.ones(3).sum().backward()
    x = leaf(2, 3)
    with pytest.raises(RuntimeError, match="scalar outputs"):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"\(3,\).*\(2, 3\)"):
        (x * 2).backward(lg.ones(3, dtype=lg.float64))
    (x * 2).backward(lg.ones(2, 3))
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 3), 2.0))


def test_backward_on_leaf_itself():
    x = leaf(2)
    x.backward(lg.tensor([1.0, 2.0]))
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 2.0])


def test_reused_non_leaf_gets_all_contributions():
    x = leaf(3)
    y = x * x            # x used twice by one op
    z = y + y            # non-leaf used twice by one op
    z.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * x.array)


@requires_torch
def test_diamond_and_reuse_match_torch():
    def f(x, w):
        a = x.exp()
        b, c = a * w, a.tanh()
        d = b * c + a
        return (d * d).sum() + (d @ w).sum()
    helper_test_op([(3, 3), (3, 3)], f)


def test_chain_of_10000_ops_backpropagates():
    x = leaf(2)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(2, 1.0001 ** 10_000), rtol=1e-9)


def test_leaf_and_non_leaf_rules():
    x = leaf(3)
    y = x * 2
    assert x.is_leaf and not y.is_leaf and y.requires_grad and y.grad_fn is not None
    y.retain_grad()
    z = y * 3
    z.sum().backward()
    assert z.grad is None and x.grad is not None
    np.testing.assert_allclose(y.grad.numpy(), np.full(3, 3.0))
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad = False
    x.retain_grad()  # a no-op on leaves
    c = lg.ones(3)
    assert c.is_leaf and not c.requires_grad and (c * x).is_leaf is False


def test_only_floating_tensors_can_require_grad():
    with pytest.raises(RuntimeError, match="floating point"):
        lg.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        lg.arange(3).requires_grad_()


def test_inputs_without_grad_get_none():
    x, c = leaf(3), lg.randn(3, dtype=lg.float64)
    (x * c).sum().backward()
    assert c.grad is None and x.grad is not None


def test_no_grad_context_and_decorator():
    x = leaf(3)
    with lg.no_grad():
        y = x * 2
        assert not lg.is_grad_enabled()
        with lg.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None and z.requires_grad
    assert lg.is_grad_enabled()

    @lg.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad and lg.is_grad_enabled()

    with pytest.raises(ZeroDivisionError):
        with lg.no_grad():
            1 / 0
    assert lg.is_grad_enabled()


def test_set_grad_enabled():
    x = leaf(2)
    with lg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert lg.is_grad_enabled()
    lg.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad
    finally:
        lg.set_grad_enabled(True)
    assert (x * 2).requires_grad


def test_detach_shares_data_and_cuts_graph():
    x = leaf(3)
    d = (x * 2).detach()
    assert d.is_leaf and not d.requires_grad
    x2 = x.detach()
    x2.array[0] = 42.0
    assert x.array[0] == 42.0


def test_augmented_assignment_is_in_place_like_torch():
    x = leaf(3)
    y = x * 2
    y_before = y
    y += 1          # in place, as torch: y keeps its identity and takes a new node
    y *= 3
    assert y is y_before and not y.is_leaf
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 6.0))
    a = x
    with pytest.raises(RuntimeError, match="leaf"):
        a += 1      # a leaf that requires grad, as torch


def test_in_place_methods_refuse_while_recording_but_work_under_no_grad():
    x = leaf(3)
    with pytest.raises(RuntimeError, match="in-place"):
        x.add_(1)
    with pytest.raises(RuntimeError, match="in place"):
        x[0] = 1.0
    with lg.no_grad():
        x.add_(1).mul_(2).zero_()
        x[1] = 5.0
    np.testing.assert_allclose(x.numpy(force=True), [0.0, 5.0, 0.0])


def test_setting_data_and_grad_like_an_optimizer():
    x = leaf(3)
    (x * x).sum().backward()
    x.array -= 0.1 * x.grad.array                   # in place on the array
    x.array = np.zeros(3)                           # or rebinding it
    x.grad = None
    (x * x + x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.ones(3))


def test_grad_dtype_follows_leaf_under_promotion():
    x = lg.randn(3, requires_grad=True)               # float32
    y = lg.randn(3, dtype=lg.float64, requires_grad=True)
    (x * y).sum().backward()
    assert x.grad.dtype == lg.float32 and y.grad.dtype == lg.float64


def test_grad_is_owned_not_aliased():
    x, y = leaf(3), leaf(3)
    (x + y).sum().backward()
    x.grad.array += 1  # must not leak into y.grad
    np.testing.assert_allclose(y.grad.numpy(), np.ones(3))


def test_subclass_like_parameter_works_as_a_leaf():
    class P(lg.Tensor):
        def __init__(self, data, requires_grad=True):
            super().__init__(data, requires_grad=requires_grad)

    w = P(np.ones((2, 2)))
    assert w.requires_grad and w.is_leaf and w.grad_fn is None
    (lg.ones(3, 2, dtype=lg.float64) @ w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), np.full((2, 2), 3.0))


def test_broadcast_gradient_reduced_to_input_shape():
    b = leaf(4)
    (leaf(5, 3, 4) + b).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), np.full(4, 15.0))


@requires_torch
def test_retain_grad_matches_torch():
    xs = np.random.default_rng(0).standard_normal((2, 3))
    grads = []
    for mod in (lg, torch):
        x = mod.tensor(xs, requires_grad=True)
        h = (x * 3).tanh()
        h.retain_grad()
        (h * h).sum().backward()
        grads.append(np.asarray(h.grad.numpy()))
    np.testing.assert_allclose(*grads)


def test_grad_mode_is_per_thread():
    import threading
    x = leaf(2)
    seen = []
    with lg.no_grad():
        t = threading.Thread(target=lambda: seen.append((x * 2).requires_grad))
        t.start()
        t.join()
        assert not (x * 2).requires_grad
    assert seen == [True]
