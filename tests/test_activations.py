"""The activation modules and F functions of issue 18 (LeakyReLU, ELU, GELU, SiLU, Softplus,
Hardtanh, ReLU6, PReLU) and whole-channel dropout (Dropout1d, Dropout2d): forward and every
gradient against torch, float64 gradcheck, torch's defaults, reprs and state_dict keys."""
import numpy as np
import pytest

import loomgrad as lg
import loomgrad.nn.functional as F
from helpers import HAVE_TORCH, helper_gradcheck, helper_test_op, requires_torch
from layer_helpers import assert_module_matches_torch

if HAVE_TORCH:
    import torch
    import torch.nn.functional as TF

# (loomgrad F call, torch F call) pairs; inputs include exact kinks (0, the bounds).
CASES = {
    "leaky_relu": (lambda x: F.leaky_relu(x), lambda x: TF.leaky_relu(x)),
    "leaky_relu_0.2": (lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2)),
    "elu": (lambda x: F.elu(x), lambda x: TF.elu(x)),
    "elu_alpha": (lambda x: F.elu(x, alpha=0.7), lambda x: TF.elu(x, alpha=0.7)),
    "gelu": (lambda x: F.gelu(x), lambda x: TF.gelu(x)),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  lambda x: TF.gelu(x, approximate="tanh")),
    "silu": (lambda x: F.silu(x), lambda x: TF.silu(x)),
    "softplus": (lambda x: F.softplus(x), lambda x: TF.softplus(x)),
    "softplus_beta": (lambda x: F.softplus(x, beta=2.0, threshold=3.0),
                      lambda x: TF.softplus(x, beta=2.0, threshold=3.0)),
    "hardtanh": (lambda x: F.hardtanh(x), lambda x: TF.hardtanh(x)),
    "hardtanh_range": (lambda x: F.hardtanh(x, -0.5, 1.5), lambda x: TF.hardtanh(x, -0.5, 1.5)),
    "relu6": (lambda x: F.relu6(x * 4), lambda x: TF.relu6(x * 4)),
}


def _with_kinks(shape, seed=0):
    x = np.random.default_rng(seed).uniform(-3, 3, shape)
    flat = x.reshape(-1)
    flat[:6] = [0.0, -1.0, 1.0, 1.5, -0.5, 6.0 / 4][:flat.size]
    return x


@requires_torch
@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("shape", [(3, 4, 5), (7,), (), (0, 3)])
def test_activation_matches_torch(name, shape):
    ours, theirs = CASES[name]
    x = _with_kinks(shape)
    helper_test_op(None, theirs, ours, vals=[x], atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("name", sorted(CASES))
def test_activation_gradcheck(name):
    ours, _ = CASES[name]
    # away from the kinks, where central differences are meaningful
    x = np.random.default_rng(1).uniform(0.1, 0.9, (2, 3, 4)) * \
        np.random.default_rng(2).choice([-2.3, 2.3], (2, 3, 4))
    helper_gradcheck(ours, None, vals=[x])


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_keeps_dtype(dtype):
    x = _with_kinks((4, 5)).astype(dtype)
    for name, (ours, theirs) in CASES.items():
        out = ours(lg.tensor(x))
        assert out.dtype == dtype, name
        np.testing.assert_allclose(out.numpy(), theirs(torch.tensor(x)).numpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=name)


@requires_torch
@pytest.mark.parametrize("shape,wshape", [((2, 3, 4, 5), (3,)), ((2, 3, 4, 5), (1,)),
                                          ((4, 3), (3,)), ((5,), (1,)), ((0, 3, 2), (3,))])
def test_prelu_matches_torch(shape, wshape):
    x = _with_kinks(shape)
    w = np.random.default_rng(3).uniform(-0.5, 0.5, wshape)
    helper_test_op(None, TF.prelu, F.prelu, vals=[x, w], atol=1e-12, rtol=1e-10)


def test_prelu_gradcheck():
    helper_gradcheck(F.prelu, [(2, 3, 4), (3,)])
    helper_gradcheck(F.prelu, [(2, 3, 4), (1,)])


def test_prelu_bad_weight():
    with pytest.raises(ValueError, match="prelu: weight must have 1 or 3 elements"):
        F.prelu(lg.zeros(2, 3, 4), lg.zeros(2))
    with pytest.raises(TypeError, match="same dtype"):
        F.prelu(lg.zeros(2, 3), lg.zeros(3, dtype=lg.float64))


def test_bad_arguments():
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(lg.zeros(3), approximate="erf")
    with pytest.raises(ValueError, match="approximate"):
        lg.nn.GELU("fast")
    with pytest.raises(ValueError, match="min_val"):
        F.hardtanh(lg.zeros(3), 2.0, 1.0)
    with pytest.raises(TypeError, match="negative_slope"):
        F.leaky_relu(lg.zeros(3), "0.1")
    with pytest.raises(TypeError, match="floating-point"):
        F.elu(lg.tensor([1, 2]))
    with pytest.raises(ValueError, match="num_parameters"):
        lg.nn.PReLU(0)


MODULES = [("LeakyReLU", ()), ("LeakyReLU", (0.2, True)), ("ELU", ()), ("ELU", (0.5,)),
           ("GELU", ()), ("GELU", ("tanh",)), ("SiLU", ()), ("Softplus", ()),
           ("Softplus", (2.0, 5.0)), ("Hardtanh", ()), ("Hardtanh", (-2.0, 3.0)), ("ReLU6", ()),
           ("PReLU", ()), ("PReLU", (3, 0.1)), ("Dropout1d", ()), ("Dropout2d", (0.3,))]


@requires_torch
@pytest.mark.parametrize("name,args", MODULES)
def test_modules_match_torch(name, args):
    ours, theirs = getattr(lg.nn, name)(*args), getattr(torch.nn, name)(*args)
    if name.startswith("Dropout"):
        assert repr(ours) == repr(theirs)
        return
    x = _with_kinks((2, 3, 4)).astype(np.float32)
    assert_module_matches_torch(ours, theirs, x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fn,shape,mask_shape", [
    (F.dropout2d, (4, 6, 3, 5), (4, 6, 1, 1)), (F.dropout1d, (4, 6, 7), (4, 6, 1)),
    (F.dropout1d, (6, 7), (6, 1))])
def test_channel_dropout_zeroes_whole_channels(fn, shape, mask_shape):
    x = lg.tensor(np.random.default_rng(0).uniform(1, 2, shape), requires_grad=True)
    p = 0.4
    y = fn(x, p)
    ratio = (y / x).detach().numpy()
    # one value per channel, either 0 or 1/(1-p)
    per_channel = ratio.reshape(mask_shape[:-1] + (-1,)) if len(shape) == 2 else \
        ratio.reshape(shape[:2] + (-1,))
    assert np.allclose(per_channel, per_channel[..., :1])
    vals = np.unique(np.round(per_channel[..., 0], 9))
    assert set(vals) <= {0.0, round(1 / (1 - p), 9)}
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), ratio)
    # eval mode / p = 0: identity; p = 1: zeros
    assert fn(x, p, training=False) is x
    assert not np.any(fn(x, 1.0).detach().numpy())


def test_channel_dropout_rate():
    y = F.dropout2d(lg.ones(200, 50, 2, 2), 0.3)
    kept = (y.numpy()[:, :, 0, 0] > 0).mean()
    assert abs(kept - 0.7) < 0.02
    np.testing.assert_allclose(y.numpy().max(), 1 / 0.7, rtol=1e-6)


def test_channel_dropout_modules_and_errors():
    m = lg.nn.Dropout2d(0.5)
    x = lg.ones(2, 3, 4, 4)
    m.eval()
    assert m(x) is x
    with pytest.raises(ValueError, match="dropout1d: expected a 2-D"):
        F.dropout1d(lg.ones(2, 3, 4, 5))
    with pytest.raises(ValueError, match="p must be a probability"):
        F.dropout2d(x, 1.5)
    with pytest.warns(UserWarning, match="dropout2d: received a 3-D input"):
        F.dropout2d(lg.ones(2, 3, 4))
