"""lg.nn: modules, init, state dicts and the functional API, checked against torch.nn."""
import math

import numpy as np
import pytest

import loomgrad as lg
from loomgrad import nn
from loomgrad.nn import functional as F

torch = pytest.importorskip("torch")
from helpers import helper_test_op  # noqa: E402


def t2n(t):
    return t.detach().cpu().numpy()


def copy_linear_from_torch(lin, tlin):
    lin.weight.array[...] = t2n(tlin.weight)
    if tlin.bias is not None:
        lin.bias.array[...] = t2n(tlin.bias)


# --------------------------------------------------------------------------- Linear
@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 7), (7,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(dtype, tol, shape, bias):
    torch.manual_seed(0)
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    tlin = torch.nn.Linear(7, 4, bias=bias, dtype=tdtype)
    lin = nn.Linear(7, 4, bias=bias, dtype=dtype)
    copy_linear_from_torch(lin, tlin)
    x_np = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    tx = torch.tensor(x_np, requires_grad=True)
    x = lg.Tensor(x_np.copy(), requires_grad=True)
    ty, y = tlin(tx), lin(x)
    assert tuple(y.shape) == tuple(ty.shape)
    np.testing.assert_allclose(y.array, t2n(ty), rtol=tol, atol=tol)
    g = np.random.default_rng(2).standard_normal(ty.shape).astype(dtype)
    (ty * torch.tensor(g)).sum().backward()
    (y * lg.Tensor(g)).sum().backward()
    np.testing.assert_allclose(x.grad.array, t2n(tx.grad), rtol=tol, atol=tol)
    np.testing.assert_allclose(lin.weight.grad.array, t2n(tlin.weight.grad), rtol=tol, atol=tol)
    if bias:
        np.testing.assert_allclose(lin.bias.grad.array, t2n(tlin.bias.grad), rtol=tol, atol=tol)
    else:
        assert lin.bias is None and [n for n, _ in lin.named_parameters()] == ["weight"]


@pytest.mark.parametrize("shapes", [[(5, 7), (4, 7), (4,)], [(2, 3, 7), (4, 7), (4,)],
                                    [(5, 7), (4, 7)]])
def test_functional_linear_matches_torch_and_gradchecks(shapes):
    helper_test_op(shapes, torch.nn.functional.linear, F.linear, gradcheck=True)


def test_linear_bad_input_names_shapes():
    lin = nn.Linear(4, 3)
    with pytest.raises(ValueError, match=r"in_features = 4.*\(2, 5\).*\(3, 4\)"):
        lin(lg.Tensor(np.zeros((2, 5), np.float32)))
    with pytest.raises(TypeError, match="input must be a Tensor"):
        lin(np.zeros((2, 4), np.float32))
    with pytest.raises(TypeError, match="same dtype"):
        lin(lg.Tensor(np.zeros((2, 4), np.float64)))
    with pytest.raises(ValueError, match="out_features must be >= 0"):
        nn.Linear(3, -1)
    with pytest.raises(TypeError, match="in_features must be an int"):
        nn.Linear(3.5, 2)


# --------------------------------------------------------------------------- init
def test_linear_default_init_statistics_and_seeding():
    lg.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)  # kaiming_uniform_(a=sqrt(5)) reduces to this
    w, b = lin.weight.array, lin.bias.array
    assert w.shape == (300, 400) and w.dtype == np.float32 and b.shape == (300,)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert abs(w.mean()) < 0.01 * bound
    lg.manual_seed(0)
    again = nn.Linear(400, 300)
    np.testing.assert_array_equal(again.weight.array, w)
    np.testing.assert_array_equal(again.bias.array, b)


@pytest.mark.parametrize("nl,param", [("linear", None), ("relu", None), ("tanh", None),
                                      ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None),
                                      ("sigmoid", None), ("conv2d", None)])
def test_calculate_gain_matches_torch(nl, param):
    assert nn.init.calculate_gain(nl, param) == pytest.approx(
        torch.nn.init.calculate_gain(nl, param))


def test_init_functions_bounds_and_stds():
    lg.manual_seed(1)
    p = nn.Parameter(np.empty((256, 512), np.float32))
    fan_in, fan_out = 512, 256
    nn.init.xavier_uniform_(p, gain=2.0)
    a = 2.0 * math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(p.array).max() <= a and np.abs(p.array).max() > 0.99 * a
    nn.init.xavier_normal_(p)
    assert p.array.std() == pytest.approx(math.sqrt(2 / (fan_in + fan_out)), rel=0.02)
    nn.init.kaiming_normal_(p, mode="fan_out", nonlinearity="relu")
    assert p.array.std() == pytest.approx(math.sqrt(2 / fan_out), rel=0.02)
    nn.init.kaiming_uniform_(p, nonlinearity="relu")
    bound = math.sqrt(2) * math.sqrt(3 / fan_in)
    assert np.abs(p.array).max() <= bound and p.array.std() == pytest.approx(bound / math.sqrt(3),
                                                                          rel=0.02)
    nn.init.normal_(p, 3.0, 0.5)
    assert p.array.mean() == pytest.approx(3.0, abs=0.01) and p.array.dtype == np.float32
    nn.init.uniform_(p, -2, -1)
    assert p.array.min() >= -2 and p.array.max() <= -1
    nn.init.constant_(p, 0.25)
    assert (p.array == 0.25).all()
    nn.init.zeros_(p)
    assert not p.array.any()
    nn.init.ones_(p)
    assert (p.array == 1).all()
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.init.xavier_uniform_(nn.Parameter(np.zeros(3, np.float32)))
    with pytest.raises(ValueError, match="mode must be"):
        nn.init.kaiming_uniform_(p, mode="fan_avg")
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        nn.init.calculate_gain("swishy")


# --------------------------------------------------------------------------- Module
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 5)
        self.body = nn.Sequential(nn.ReLU(), nn.Linear(5, 4), nn.Tanh())
        self.fc2 = nn.Linear(4, 3, bias=False)
        self.register_buffer("scale", lg.Tensor(np.full(3, 2.0, np.float32)))
        self.register_buffer("tmp", lg.Tensor(np.zeros(1, np.float32)), persistent=False)

    def forward(self, x):
        return self.fc2(self.body(self.fc1(x))) * self.scale


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(6, 5)
        self.body = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(5, 4), torch.nn.Tanh())
        self.fc2 = torch.nn.Linear(4, 3, bias=False)
        self.register_buffer("scale", torch.full((3,), 2.0))
        self.register_buffer("tmp", torch.zeros(1), persistent=False)

    def forward(self, x):
        return self.fc2(self.body(self.fc1(x))) * self.scale


def test_names_and_traversal_match_torch():
    net, tnet = Net(), TorchNet()
    assert [n for n, _ in net.named_parameters()] == [n for n, _ in tnet.named_parameters()]
    assert list(net.state_dict()) == list(tnet.state_dict())
    assert [n for n, _ in net.named_modules()] == [n for n, _ in tnet.named_modules()]
    assert [n for n, _ in net.named_children()] == [n for n, _ in tnet.named_children()]
    assert [n for n, _ in net.named_buffers()] == [n for n, _ in tnet.named_buffers()]
    assert len(list(net.parameters(recurse=False))) == 0
    assert [tuple(p.shape) for p in net.parameters()] == \
        [tuple(p.shape) for p in tnet.parameters()]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())


def test_shared_parameter_listed_once():
    lin = nn.Linear(3, 3)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_load_torch_state_dict_one_to_one():
    torch.manual_seed(3)
    net, tnet = Net(), TorchNet()
    result = net.load_state_dict({k: t2n(v) for k, v in tnet.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    x = np.random.default_rng(0).standard_normal((8, 6)).astype(np.float32)
    np.testing.assert_allclose(net(lg.Tensor(x)).array, t2n(tnet(torch.tensor(x))),
                               rtol=1e-5, atol=1e-6)
    net.load_state_dict(tnet.state_dict())  # torch tensors straight in
    # and back: our state dict loads into torch
    tnet2 = TorchNet()
    tnet2.load_state_dict({k: torch.tensor(v.array) for k, v in net.state_dict().items()})
    np.testing.assert_allclose(t2n(tnet2(torch.tensor(x))), net(lg.Tensor(x)).array,
                               rtol=1e-5, atol=1e-6)


def test_state_dict_round_trip_and_semantics():
    lg.manual_seed(0)
    a, b = Net(), Net()
    sd = a.state_dict()
    assert all(isinstance(v, lg.Tensor) and not v.requires_grad for v in sd.values())
    assert "tmp" not in sd  # non-persistent buffer
    b.load_state_dict(sd)
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.array, q.array, err_msg=n)
        assert p.array is not q.array  # copied, not aliased
    # values are copied in place and keep the destination dtype
    w = b.fc1.weight
    before = w.array
    b.load_state_dict({k: v.array.astype(np.float64) for k, v in sd.items()})
    assert w.array is before and w.array.dtype == np.float32
    # keep_vars gives the Parameters themselves
    assert a.state_dict(keep_vars=True)["fc1.weight"] is a.fc1.weight


def test_load_state_dict_errors_name_keys_and_shapes():
    net = Net()
    sd = {k: v.array.copy() for k, v in net.state_dict().items()}
    snapshot = {k: v.copy() for k, v in sd.items()}
    bad = dict(sd)
    del bad["fc1.bias"]
    bad["extra.weight"] = np.zeros(2, np.float32)
    with pytest.raises(RuntimeError, match=r'Missing key\(s\).*"fc1.bias"(.|\n)*Unexpected '
                                           r'key\(s\).*"extra.weight"'):
        net.load_state_dict(bad)
    res = net.load_state_dict(bad, strict=False)
    assert res.missing_keys == ["fc1.bias"] and res.unexpected_keys == ["extra.weight"]
    wrong = dict(snapshot)
    wrong["body.1.weight"] = np.zeros((4, 6), np.float32)
    wrong["fc1.weight"] = np.ones((5, 6), np.float32)  # valid, but must not be written
    with pytest.raises(ValueError, match=r"size mismatch for body.1.weight.*\(4, 6\).*\(4, 5\)"):
        net.load_state_dict(wrong, strict=False)
    np.testing.assert_array_equal(net.fc1.weight.array, snapshot["fc1.weight"])
    with pytest.raises(TypeError, match="fc1.weight"):
        net.load_state_dict({**snapshot, "fc1.weight": "nope"})
    with pytest.raises(TypeError, match="expected a dict"):
        net.load_state_dict([1, 2])


def test_setattr_registration_rules():
    m = nn.Module()
    m.w = nn.Parameter(np.ones(2, np.float32))
    m.sub = nn.Linear(2, 2)
    m.plain = 3
    assert [n for n, _ in m.named_parameters()] == ["w", "sub.weight", "sub.bias"]
    with pytest.raises(TypeError, match="cannot assign Tensor as parameter 'w'"):
        m.w = lg.Tensor(np.ones(2, np.float32))
    m.w = None
    assert m.w is None and [n for n, _ in m.named_parameters()] == ["sub.weight", "sub.bias"]
    del m.sub
    assert list(m.parameters()) == []
    with pytest.raises(AttributeError, match="nothere"):
        m.nothere

    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)
    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()


def test_train_eval_zero_grad_apply_to():
    net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Sequential(nn.ReLU()))
    assert net.training and all(m.training for m in net.modules())
    assert net.eval() is net and not any(m.training for m in net.modules())
    x = lg.Tensor(np.ones((3, 4), np.float32))
    np.testing.assert_array_equal(net[1](x).array, x.array)  # dropout off in eval
    net.train()
    assert all(m.training for m in net.modules())
    dropped = net[1](lg.Tensor(np.ones((100, 100), np.float32))).array
    assert set(np.unique(dropped)) <= {0.0, 2.0} and 0.4 < (dropped == 0).mean() < 0.6

    net(x).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.array.any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())

    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "Dropout", "ReLU", "Sequential", "Sequential"]
    assert net.double() is net and net[0].weight.dtype == np.float64
    net.to(np.float32)
    assert net[0].weight.dtype == np.float32 and isinstance(net[0].weight, nn.Parameter)
    net.to("cpu")
    with pytest.raises(TypeError, match="floating point"):
        net.to(np.int32)
    with pytest.raises(ValueError, match="unknown device"):
        net.to("tpu")
    if not lg.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            net.to("cuda")


def test_repr_matches_torch():
    ours = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(),
                         nn.Sequential(nn.Linear(32, 10, bias=False), nn.Tanh()), nn.Sigmoid(),
                         nn.Identity(), nn.Dropout(0.1))
    theirs = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(),
                                 torch.nn.Sequential(torch.nn.Linear(32, 10, bias=False),
                                                     torch.nn.Tanh()),
                                 torch.nn.Sigmoid(), torch.nn.Identity(), torch.nn.Dropout(0.1))
    assert repr(ours) == repr(theirs)
    assert "Torch" + repr(Net()) == repr(TorchNet())


def test_sequential_container_api():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b)
    assert len(seq) == 2 and seq[0] is a and seq[-1] is b and list(seq) == [a, b]
    seq.append(c)
    assert len(seq) == 3 and seq[2] is c
    assert isinstance(seq[1:], nn.Sequential) and list(seq[1:]) == [b, c]
    out = seq(lg.Tensor(np.ones((4, 2), np.float32)))
    assert tuple(out.shape) == (4, 1)
    del seq[1]
    assert [n for n, _ in seq.named_children()] == ["0", "1"] and seq[1] is c
    with pytest.raises(IndexError, match="out of range"):
        seq[5]
    with pytest.raises(TypeError, match="not a Module"):
        nn.Sequential(nn.ReLU(), "relu")


def test_mlp_model_and_zero_sized_linear():
    from loomgrad import models
    lg.manual_seed(0)
    m = models.mlp(hidden=(32, 16))
    assert [n for n, _ in m.named_parameters()] == ["1.weight", "1.bias", "3.weight", "3.bias",
                                                    "5.weight", "5.bias"]
    assert tuple(m(lg.Tensor(np.zeros((2, 1, 8, 8), np.float32))).shape) == (2, 10)
    assert isinstance(m[1:3], nn.Sequential) and len(m[1:3]) == 2
    with pytest.raises(ValueError, match="hidden\\[1\\] must be >= 1"):
        models.mlp(hidden=(8, 0))
    lin = nn.Linear(0, 3)
    out = lin(lg.Tensor(np.zeros((2, 0), np.float32)))
    assert tuple(out.shape) == (2, 3) and not out.array.any()


def test_flatten_and_identity():
    x = lg.Tensor(np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5))
    assert tuple(nn.Flatten()(x).shape) == (2, 60)
    assert tuple(nn.Flatten(0, 1)(x).shape) == (6, 4, 5)
    assert tuple(nn.Flatten(2)(x).shape) == (2, 3, 20)
    assert nn.Identity(3, foo=1)(x) is x


# --------------------------------------------------------------------------- functional
def _torch_and_ours_ce(logits, target, **kw):
    tx = torch.tensor(logits, requires_grad=True)
    tt = torch.tensor(target)
    tkw = dict(kw)
    if "weight" in tkw:
        tkw["weight"] = torch.tensor(tkw["weight"])
    tl = torch.nn.functional.cross_entropy(tx, tt, **tkw)
    x = lg.Tensor(logits.copy(), requires_grad=True)
    ll = F.cross_entropy(x, target, **kw)
    g = np.random.default_rng(5).standard_normal(tl.shape).astype(logits.dtype)
    (tl * torch.tensor(g)).sum().backward()
    (ll * lg.Tensor(g)).sum().backward()
    return (t2n(tl), t2n(tx.grad)), (ll.array, x.grad.array)


CE_CASES = [
    dict(reduction="mean"), dict(reduction="sum"), dict(reduction="none"),
    dict(ignore_index=2), dict(ignore_index=2, reduction="none"),
    dict(weight=np.array([0.5, 1, 2, 0.1, 3])), dict(weight=np.array([0.5, 1, 2, 0.1, 3]),
                                                     ignore_index=1, reduction="sum"),
    dict(label_smoothing=0.1), dict(label_smoothing=0.2, weight=np.array([0.5, 1, 2, 0.1, 3]),
                                    ignore_index=0),
    dict(label_smoothing=0.3, reduction="none"),
]


def _torch_kw(kw):
    return {k: (torch.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}


@pytest.mark.parametrize("kw", CE_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_matches_torch(kw, dtype):
    logits = (3 * np.random.default_rng(0).standard_normal((7, 5))).astype(dtype)
    target = np.array([0, 2, 4, 1, 2, 3, 2])
    kw = {k: (v.astype(dtype) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
    tol = dict(atol=1e-6, rtol=1e-5) if dtype == np.float32 else dict(atol=1e-12, rtol=1e-12)
    out = helper_test_op(
        None, lambda x: torch.nn.functional.cross_entropy(x, torch.tensor(target),
                                                          **_torch_kw(kw)),
        lambda x: F.cross_entropy(x, target, **kw), vals=[logits], **tol)
    assert "CrossEntropy" in out[0].grad_fn.name()  # one fused node


@pytest.mark.parametrize("kw", [dict(), dict(label_smoothing=0.1, reduction="sum"),
                                dict(weight=np.array([1.0, 2.0, 0.5]))])
def test_cross_entropy_probability_and_kdim_targets(kw):
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((4, 3))
    probs = rng.random((4, 3))
    probs /= probs.sum(1, keepdims=True)
    (tv, tg), (v, g) = _torch_and_ours_ce(logits, probs, **kw)
    np.testing.assert_allclose(v, tv, rtol=1e-12)
    np.testing.assert_allclose(g, tg, rtol=1e-12, atol=1e-14)
    # (N, C, d1, d2) logits with (N, d1, d2) class indices
    logits = rng.standard_normal((2, 3, 4, 5))
    target = rng.integers(0, 3, size=(2, 4, 5))
    for red in ("mean", "none"):
        (tv, tg), (v, g) = _torch_and_ours_ce(logits, target, **{**kw, "reduction": red})
        np.testing.assert_allclose(v, tv, rtol=1e-12)
        np.testing.assert_allclose(g, tg, rtol=1e-12, atol=1e-14)
    # unbatched: (C,) logits, () target
    (tv, tg), (v, g) = _torch_and_ours_ce(rng.standard_normal(3), np.array(2), **kw)
    np.testing.assert_allclose(v, tv, rtol=1e-12)
    np.testing.assert_allclose(g, tg, rtol=1e-12)


def test_cross_entropy_extreme_logits_are_finite():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, -1e4]], np.float32)
    target = np.array([1, 2, 0])
    for red in ("mean", "none"):
        (tv, tg), (v, g) = _torch_and_ours_ce(logits, target, reduction=red)
        assert np.isfinite(v).all() and np.isfinite(g).all()
        np.testing.assert_allclose(v, tv, rtol=1e-6)
        np.testing.assert_allclose(g, tg, atol=1e-6)


def test_cross_entropy_errors():
    x = lg.Tensor(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"class index 4, outside \[0, 4\)"):
        F.cross_entropy(x, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"target shape \(2,\).*\(3,\)"):
        F.cross_entropy(x, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"float target must have input's shape \(3, 4\)"):
        F.cross_entropy(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.cross_entropy(x, np.array([0, 1, 2]), reduction="avg")
    with pytest.raises(ValueError, match=r"weight must have shape \(4,\)"):
        F.cross_entropy(x, np.array([0, 1, 2]), weight=np.ones(3))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, np.array([0, 1, 2]), label_smoothing=1.5)


def test_cross_entropy_module_and_nll_and_mse_match_torch():
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((6, 4))
    target = np.array([0, 1, 3, 3, 2, -100])
    w = np.array([1.0, 0.5, 2.0, 1.5])
    x = lg.Tensor(logits, requires_grad=True)
    loss = nn.CrossEntropyLoss(weight=lg.Tensor(w))(x, lg.Tensor(target))
    tx = torch.tensor(logits, requires_grad=True)
    tl = torch.nn.CrossEntropyLoss(weight=torch.tensor(w))(tx, torch.tensor(target))
    np.testing.assert_allclose(loss.array, t2n(tl), rtol=1e-12)
    for red in ("mean", "sum", "none"):
        x = lg.Tensor(logits, requires_grad=True)
        tx = torch.tensor(logits, requires_grad=True)
        ll = F.nll_loss(F.log_softmax(x, 1), target, weight=w, reduction=red)
        tl = torch.nn.functional.nll_loss(torch.log_softmax(tx, 1), torch.tensor(target),
                                          weight=torch.tensor(w), reduction=red)
        ll.sum().backward()
        tl.sum().backward()
        np.testing.assert_allclose(ll.array, t2n(tl), rtol=1e-12)
        np.testing.assert_allclose(x.grad.array, t2n(tx.grad), rtol=1e-10, atol=1e-14)
        y = rng.standard_normal((6, 4))
        x = lg.Tensor(logits, requires_grad=True)
        tx = torch.tensor(logits, requires_grad=True)
        ml = nn.MSELoss(reduction=red)(x, lg.Tensor(y))
        tl = torch.nn.functional.mse_loss(tx, torch.tensor(y), reduction=red)
        ml.sum().backward()
        tl.sum().backward()
        np.testing.assert_allclose(ml.array, t2n(tl), rtol=1e-12)
        np.testing.assert_allclose(x.grad.array, t2n(tx.grad), rtol=1e-12)
    with pytest.raises(ValueError, match=r"target shape \(6,\) differs from input shape"):
        F.mse_loss(lg.Tensor(logits), lg.Tensor(np.zeros(6)))


def test_activations_match_torch():
    x_np = np.random.default_rng(3).standard_normal((4, 5))
    for ours, theirs in [(F.relu, torch.relu), (F.sigmoid, torch.sigmoid), (F.tanh, torch.tanh),
                         (lambda t: F.softmax(t, 1), lambda t: torch.softmax(t, 1)),
                         (lambda t: F.log_softmax(t, -1), lambda t: torch.log_softmax(t, -1))]:
        x = lg.Tensor(x_np, requires_grad=True)
        tx = torch.tensor(x_np, requires_grad=True)
        y, ty = ours(x), theirs(tx)
        np.testing.assert_allclose(y.array, t2n(ty), rtol=1e-12, atol=1e-15)
        (y * y).sum().backward()
        (ty * ty).sum().backward()
        np.testing.assert_allclose(x.grad.array, t2n(tx.grad), rtol=1e-10, atol=1e-14)


def test_gradcheck_cross_entropy_linear_mse():
    rng = np.random.default_rng(4)
    x = lg.Tensor(rng.standard_normal((4, 5)), requires_grad=True)
    target = np.array([1, 0, 4, -100])
    w = np.array([0.3, 1.0, 2.0, 0.7, 1.1])
    for kw in (dict(), dict(reduction="none", weight=w), dict(label_smoothing=0.2, weight=w)):
        x.grad = None
        assert lg.utils.gradcheck(lambda a: F.cross_entropy(a, target, **kw), [x])
    inp = lg.Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    wt = lg.Tensor(rng.standard_normal((2, 4)), requires_grad=True)
    b = lg.Tensor(rng.standard_normal(2), requires_grad=True)
    assert lg.utils.gradcheck(F.linear, [inp, wt, b])
    y = lg.Tensor(rng.standard_normal((3, 4)))
    inp.grad = None
    assert lg.utils.gradcheck(lambda a: F.mse_loss(a, y), [inp])


def test_cross_entropy_runs_on_the_fused_cpu_kernel(monkeypatch):
    calls = []
    fwd, bwd = lg.kernels.softmax_cross_entropy, lg.kernels.softmax_cross_entropy_backward
    monkeypatch.setattr(lg.kernels, "softmax_cross_entropy",
                        lambda *a, **k: calls.append("fwd") or fwd(*a, **k))
    monkeypatch.setattr(lg.kernels, "softmax_cross_entropy_backward",
                        lambda *a, **k: calls.append("bwd") or bwd(*a, **k))
    x = lg.randn(5, 7, 3, requires_grad=True)
    F.cross_entropy(x, np.array([[0, 1, 6]] * 5), label_smoothing=0.1).backward()
    assert calls == ["fwd", "bwd"]
    assert x.grad.shape == (5, 7, 3)
