"""CNN layers against torch: conv2d, pooling, batch norm, l1/huber/bce losses (values,
gradients, float64 gradcheck), their modules (init, state dicts, repr, train/eval)."""
import math

import numpy as np
import pytest

import loomgrad as lg
from loomgrad import nn
from loomgrad.nn import functional as F
from loomgrad.nn.functional import conv as F_conv
from loomgrad.nn.functional import pool as F_pool

torch = pytest.importorskip("torch")
TF = torch.nn.functional
from helpers import helper_gradcheck, helper_test_op  # noqa: E402
from reference.conv_pool import NumpyConvPool  # noqa: E402

_BACKENDS = {"numpy": NumpyConvPool, "cpp": lg.kernels}


@pytest.fixture(params=sorted(_BACKENDS))
def backend(request, monkeypatch):
    """Run a test on each conv/pool backend present (the NumPy twin, the C++ kernels)."""
    for module in (F_conv, F_pool):  # the nodes call kernels.conv2d, kernels.max_pool2d, ...
        monkeypatch.setattr(module, "kernels", _BACKENDS[request.param])
    return request.param


def t2n(t):
    return t.detach().cpu().numpy()


# --------------------------------------------------------------------------- conv2d
CONV_CASES = [  # (input shape, weight shape, bias, kwargs)
    ((2, 3, 7, 6), (4, 3, 3, 3), True, dict()),
    ((2, 3, 7, 6), (4, 3, 3, 3), True, dict(stride=2, padding=1)),
    ((1, 2, 9, 8), (3, 2, 3, 2), True, dict(stride=(2, 1), padding=(1, 2))),
    ((2, 2, 9, 9), (3, 2, 3, 3), False, dict(dilation=2, padding=2)),
    ((1, 2, 10, 9), (2, 2, 2, 3), True, dict(stride=(1, 3), dilation=(3, 1))),
    ((2, 4, 6, 6), (6, 2, 3, 3), True, dict(groups=2, padding=1)),
    ((2, 3, 6, 5), (3, 1, 3, 3), True, dict(groups=3)),                     # depthwise
    ((2, 3, 6, 5), (6, 1, 3, 3), True, dict(groups=3, padding="same")),     # depthwise x2
    ((1, 2, 5, 6), (3, 2, 3, 3), True, dict(padding="same")),
    ((1, 2, 5, 6), (3, 2, 2, 4), True, dict(padding="same")),               # even: asymmetric
    ((1, 2, 7, 6), (3, 2, 2, 3), True, dict(padding="same", dilation=(3, 2))),
    ((1, 2, 5, 6), (3, 2, 3, 2), True, dict(padding="valid", stride=2)),
    ((2, 5, 4, 4), (7, 5, 1, 1), True, dict()),                             # 1x1
    ((2, 3, 4, 5), (2, 3, 4, 5), True, dict()),                             # kernel = input
    ((2, 1, 8, 8), (3, 1, 1, 5), True, dict(padding=(0, 2), stride=(2, 1))),
    ((0, 3, 5, 5), (4, 3, 3, 3), True, dict(padding=1)),                    # empty batch
    ((3, 5, 6), (4, 3, 3, 3), True, dict(padding=1)),                       # unbatched
]


def _conv_fns(bias, kw):
    def torch_fn(x, w, *b):
        return TF.conv2d(x, w, b[0] if b else None, **kw)

    def lg_fn(x, w, *b):
        return F.conv2d(x, w, b[0] if b else None, **kw)
    return torch_fn, lg_fn


@pytest.mark.parametrize("xs,ws,bias,kw", CONV_CASES)
def test_conv2d_matches_torch(backend, xs, ws, bias, kw):
    shapes = [xs, ws] + ([(ws[0],)] if bias else [])
    torch_fn, lg_fn = _conv_fns(bias, kw)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's note on 'same' with even kernels
        helper_test_op(shapes, torch_fn, lg_fn, atol=1e-12, rtol=1e-10)
        if 0 not in xs:  # float32 too, on our GEMM
            helper_test_op(shapes, torch_fn, lg_fn, dtype=np.float32, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("xs,ws,kw", [((1, 2, 5, 4), (2, 2, 3, 2), dict(padding=1, stride=2)),
                                      ((1, 4, 4, 5), (4, 2, 2, 2), dict(groups=2,
                                                                        padding="same")),
                                      ((1, 1, 6, 5), (2, 1, 2, 2), dict(dilation=2))])
def test_conv2d_gradcheck(backend, xs, ws, kw):
    helper_gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw), [xs, ws, (ws[0],)])


def test_conv2d_errors():
    x = lg.Tensor(np.zeros((1, 3, 5, 5), np.float32))
    w = lg.Tensor(np.zeros((4, 2, 3, 3), np.float32))
    with pytest.raises(ValueError, match=r"input has 3 channels.*\(4, 2, 3, 3\)"):
        F.conv2d(x, w)
    w3 = lg.Tensor(np.zeros((4, 3, 3, 3), np.float32))
    with pytest.raises(ValueError, match="strided"):
        F.conv2d(x, w3, stride=2, padding="same")
    with pytest.raises(ValueError, match="larger than the padded input"):
        F.conv2d(x, lg.Tensor(np.zeros((4, 3, 7, 7), np.float32)))
    with pytest.raises(TypeError, match="same dtype"):
        F.conv2d(x, w3.double())
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        F.conv2d(x, w3, lg.Tensor(np.zeros(3, np.float32)))
    with pytest.raises(ValueError, match="padding must be"):
        F.conv2d(x, w3, padding="full")
    with pytest.raises(ValueError, match="3-D .* or 4-D"):
        F.conv2d(lg.Tensor(np.zeros((3, 5), np.float32)), w3)
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)


def test_conv2d_module_init_names_repr_and_torch_state_dict():
    lg.manual_seed(0)
    m = nn.Conv2d(8, 16, (3, 5), stride=2, padding=1)
    assert [(n, tuple(p.shape)) for n, p in m.named_parameters()] == \
        [("weight", (16, 8, 3, 5)), ("bias", (16,))]
    bound = 1 / math.sqrt(8 * 3 * 5)  # kaiming_uniform_(a=sqrt(5)) and the bias rule
    w, b = m.weight.array, m.bias.array
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound and w.dtype == np.float32
    g = nn.Conv2d(4, 6, 3, groups=2, bias=False)
    assert g.bias is None and tuple(g.weight.shape) == (6, 2, 3, 3)
    for kw in (dict(), dict(stride=2, padding=1), dict(padding="same", dilation=2),
               dict(groups=2, bias=False), dict(padding="valid")):
        assert repr(nn.Conv2d(4, 6, 3, **kw)) == repr(torch.nn.Conv2d(4, 6, 3, **kw))
    # a torch Conv2d's state dict loads 1:1 and gives the same output
    torch.manual_seed(0)
    tm = torch.nn.Conv2d(3, 5, 3, padding="same", groups=1)
    ours = nn.Conv2d(3, 5, 3, padding="same")
    ours.load_state_dict(tm.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 7)).astype(np.float32)
    np.testing.assert_allclose(ours(lg.Tensor(x)).array, t2n(tm(torch.tensor(x))), atol=1e-5)


# --------------------------------------------------------------------------- pooling
MAXPOOL_CASES = [
    ((2, 3, 8, 8), dict(kernel_size=2)),
    ((2, 3, 7, 6), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 3, 7, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((1, 2, 8, 7), dict(kernel_size=(2, 3), stride=(1, 2), ceil_mode=True)),
    ((1, 2, 9, 9), dict(kernel_size=3, stride=1, dilation=2, padding=1)),
    ((1, 2, 9, 8), dict(kernel_size=(3, 2), dilation=(2, 3), ceil_mode=True)),
    ((2, 1, 5, 4), dict(kernel_size=(5, 4))),                                   # = input
    ((2, 2, 5, 5), dict(kernel_size=1, stride=2)),
    ((0, 2, 6, 6), dict(kernel_size=2)),
    ((3, 6, 6), dict(kernel_size=2, stride=1)),                                  # unbatched
]


@pytest.mark.parametrize("xs,kw", MAXPOOL_CASES)
def test_max_pool2d_matches_torch(backend, xs, kw):
    helper_test_op([xs], lambda x: TF.max_pool2d(x, **kw, return_indices=True),
                   lambda x: F.max_pool2d(x, **kw, return_indices=True), atol=0, rtol=0)
    if 0 not in xs:
        # overlapping windows sum gradients in some order: float32 rounding may differ
        helper_test_op([xs], lambda x: TF.max_pool2d(x, **kw), lambda x: F.max_pool2d(x, **kw),
                       dtype=np.float32, atol=0, rtol=0, grad_atol=1e-6, grad_rtol=1e-6)


AVGPOOL_CASES = [
    ((2, 3, 8, 8), dict(kernel_size=2)),
    ((2, 3, 7, 6), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 3, 7, 6), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ((2, 3, 7, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((2, 3, 7, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                        count_include_pad=False)),
    ((1, 2, 8, 7), dict(kernel_size=(2, 3), stride=(3, 2), ceil_mode=True)),
    ((1, 2, 6, 6), dict(kernel_size=(3, 2), padding=(1, 1), divisor_override=5)),
    ((2, 1, 5, 4), dict(kernel_size=(5, 4))),
    ((0, 2, 6, 6), dict(kernel_size=2)),
    ((3, 6, 6), dict(kernel_size=3, stride=2, padding=1)),
]


@pytest.mark.parametrize("xs,kw", AVGPOOL_CASES)
def test_avg_pool2d_matches_torch(backend, xs, kw):
    helper_test_op([xs], lambda x: TF.avg_pool2d(x, **kw), lambda x: F.avg_pool2d(x, **kw),
                   atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("xs,size", [((2, 3, 7, 6), (3, 4)), ((2, 3, 7, 6), 1),
                                     ((1, 2, 5, 8), (None, 3)), ((1, 2, 5, 5), (5, 5)),
                                     ((1, 2, 3, 4), (7, 6)), ((3, 7, 9), 4),
                                     ((0, 2, 6, 6), 2)])
def test_adaptive_avg_pool2d_matches_torch(backend, xs, size):
    helper_test_op([xs], lambda x: TF.adaptive_avg_pool2d(x, size),
                   lambda x: F.adaptive_avg_pool2d(x, size), atol=1e-12, rtol=1e-12)


def test_pool_gradchecks(backend):
    helper_gradcheck(lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), [(1, 2, 5, 4)])
    helper_gradcheck(lambda x: F.max_pool2d(x, 2, 1, dilation=2), [(1, 1, 5, 5)])
    helper_gradcheck(lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True,
                                            count_include_pad=False), [(1, 2, 5, 4)])
    helper_gradcheck(lambda x: F.adaptive_avg_pool2d(x, (2, 3)), [(1, 2, 5, 4)])


def test_pool_modules_repr_and_errors():
    pairs = [(nn.MaxPool2d(2), torch.nn.MaxPool2d(2)),
             (nn.MaxPool2d(3, 2, 1, ceil_mode=True), torch.nn.MaxPool2d(3, 2, 1, ceil_mode=True)),
             (nn.AvgPool2d(3, 1, 1), torch.nn.AvgPool2d(3, 1, 1)),
             (nn.AdaptiveAvgPool2d((2, None)), torch.nn.AdaptiveAvgPool2d((2, None)))]
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
        np.testing.assert_allclose(ours(lg.Tensor(x)).array, t2n(theirs(torch.tensor(x))),
                                   atol=1e-6)
    out, idx = nn.MaxPool2d(2, return_indices=True)(lg.Tensor(x))
    assert idx.dtype == np.int64 and tuple(idx.shape) == (2, 3, 3, 3)
    with pytest.raises(ValueError, match="at most half"):
        F.max_pool2d(lg.Tensor(x), 2, padding=2)
    with pytest.raises(ValueError, match="too small"):
        F.avg_pool2d(lg.Tensor(x), 7)


# --------------------------------------------------------------------------- batch norm
def test_batch_norm_gradcheck_train_and_eval():
    rm, rv = lg.Tensor(np.zeros(3)), lg.Tensor(np.ones(3))
    helper_gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                     [(4, 3, 2, 3), (3,), (3,)])
    helper_gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                     [(5, 3), (3,), (3,)])
    helper_gradcheck(lambda x: F.batch_norm(x, None, None, training=True), [(3, 2, 4)])
    helper_gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False),
                     [(4, 3, 2), (3,), (3,)])


@pytest.mark.parametrize("cls,shape,kw", [
    ("BatchNorm2d", (4, 3, 5, 2), dict()),
    ("BatchNorm2d", (4, 3, 5, 2), dict(momentum=None)),
    ("BatchNorm2d", (2, 3, 3, 3), dict(affine=False, momentum=0.3, eps=1e-3)),
    ("BatchNorm2d", (4, 3, 2, 2), dict(track_running_stats=False)),
    ("BatchNorm1d", (6, 3), dict()),
    ("BatchNorm1d", (4, 3, 5), dict(momentum=0.5)),
])
def test_batch_norm_modules_match_torch_over_steps(cls, shape, kw):
    tm = getattr(torch.nn, cls)(3, **kw).double()
    m = getattr(nn, cls)(3, dtype=np.float64, **kw)
    assert repr(m) == repr(tm)
    assert list(m.state_dict()) == list(tm.state_dict())
    rng = np.random.default_rng(0)
    with torch.no_grad():  # non-trivial affine parameters, copied into ours via state_dict
        for p in tm.parameters():
            p.copy_(torch.tensor(rng.uniform(0.5, 1.5, p.shape)))
    m.load_state_dict(tm.state_dict())
    for step in range(5):
        if step == 3:
            m.eval()
            tm.eval()
        x = rng.standard_normal(shape) * 2 + 1
        g = rng.standard_normal(shape)
        tx, lx = torch.tensor(x, requires_grad=True), lg.Tensor(x, requires_grad=True)
        ty, ly = tm(tx), m(lx)
        (ty * torch.tensor(g)).sum().backward()
        (ly * lg.Tensor(g)).sum().backward()
        np.testing.assert_allclose(ly.array, t2n(ty), atol=1e-12, err_msg=f"step {step}")
        np.testing.assert_allclose(lx.grad.array, t2n(tx.grad), atol=1e-11)
        for (name, p), tp in zip(m.named_parameters(), tm.parameters()):
            np.testing.assert_allclose(p.grad.array, t2n(tp.grad), atol=1e-11, err_msg=name)
            p.grad, tp.grad = None, None
        for (name, b), tb in zip(m.state_dict().items(), tm.state_dict().values()):
            np.testing.assert_allclose(b.array, t2n(tb), rtol=1e-13, atol=1e-14,
                                       err_msg=f"{name} after step {step}")


def test_batch_norm_defaults_and_errors():
    m = nn.BatchNorm2d(4)
    sd = m.state_dict()
    assert list(sd) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert (sd["weight"].array == 1).all() and not sd["bias"].array.any()
    assert sd["num_batches_tracked"].dtype == np.int64 and sd["num_batches_tracked"].ndim == 0
    m.double()
    assert m.running_var.dtype == np.float64 and m.num_batches_tracked.dtype == np.int64
    with pytest.raises(ValueError, match="expected 4D input"):
        m(lg.Tensor(np.zeros((2, 4))))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(4)(lg.Tensor(np.zeros((1, 4), np.float32)))
    # an empty batch passes through (torch does not touch the running stats either)
    out = nn.BatchNorm1d(4)(lg.Tensor(np.zeros((0, 4), np.float32)))
    assert tuple(out.shape) == (0, 4)
    # eval mode: running statistics, and no update of them
    m = nn.BatchNorm1d(2).eval()
    m.running_mean.array[...] = [1.0, -1.0]
    m.running_var.array[...] = [4.0, 0.25]
    y = m(lg.Tensor(np.array([[3.0, 0.0]], np.float32)))
    np.testing.assert_allclose(y.array, [[2 / math.sqrt(4 + 1e-5), 1 / math.sqrt(0.25 + 1e-5)]],
                               rtol=1e-6)
    assert int(m.num_batches_tracked.item()) == 0


# --------------------------------------------------------------------------- losses
_REDS = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", _REDS)
def test_l1_and_huber_match_torch(reduction):
    shapes = [(4, 5), (4, 5)]
    helper_test_op(shapes, lambda a, b: TF.l1_loss(a, b, reduction=reduction),
                   lambda a, b: F.l1_loss(a, b, reduction=reduction), gradcheck=True)
    for delta in (1.0, 0.3, 2.5):
        helper_test_op(shapes, lambda a, b: TF.huber_loss(a, b, reduction=reduction,
                                                          delta=delta),
                       lambda a, b: F.huber_loss(a, b, reduction=reduction, delta=delta),
                       gradcheck=True)


@pytest.mark.parametrize("reduction", _REDS)
def test_bce_matches_torch(reduction):
    rng = np.random.default_rng(3)
    x, y = rng.uniform(0.02, 0.98, (4, 3)), rng.uniform(0, 1, (4, 3))
    w = rng.uniform(0.5, 2, (3,))
    helper_test_op(None, lambda a, b: TF.binary_cross_entropy(a, b, reduction=reduction),
                   lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction), vals=[x, y],
                   gradcheck=True)
    helper_test_op(None, lambda a, b: TF.binary_cross_entropy(a, b, torch.tensor(w),
                                                              reduction=reduction),
                   lambda a, b: F.binary_cross_entropy(a, b, w, reduction=reduction),
                   vals=[x, y])
    # clamped logs at the edges: finite, like torch
    edge = np.array([0.0, 1.0, 0.5, 1e-45])
    tgt = np.array([1.0, 0.0, 0.5, 1.0])
    ours = F.binary_cross_entropy(lg.Tensor(edge), lg.Tensor(tgt), reduction="none").array
    np.testing.assert_allclose(ours, t2n(TF.binary_cross_entropy(
        torch.tensor(edge), torch.tensor(tgt), reduction="none")), rtol=1e-12)


@pytest.mark.parametrize("reduction", _REDS)
def test_bce_with_logits_matches_torch(reduction):
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((5, 3)) * 3, rng.uniform(0, 1, (5, 3))
    w, pw = rng.uniform(0.5, 2, (5, 1)), rng.uniform(0.5, 3, (3,))
    helper_test_op(None, lambda a, b: TF.binary_cross_entropy_with_logits(a, b,
                                                                          reduction=reduction),
                   lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction),
                   vals=[x, y], gradcheck=True)
    helper_test_op(None, lambda a, b: TF.binary_cross_entropy_with_logits(
        a, b, torch.tensor(w), reduction=reduction, pos_weight=torch.tensor(pw)),
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, w, reduction=reduction,
                                                        pos_weight=pw),
        vals=[x, y], gradcheck=True)
    # torch has no gradient for pos_weight; ours is checked against finite differences
    helper_gradcheck(lambda a, b, p: F.binary_cross_entropy_with_logits(
        a, b, w, reduction=reduction, pos_weight=p), None, vals=[x, y, pw])
    big = np.array([1e4, -1e4, 0.0, 50.0])
    t = np.array([0.0, 1.0, 1.0, 1.0])
    ours = F.binary_cross_entropy_with_logits(lg.Tensor(big), lg.Tensor(t), reduction="none")
    np.testing.assert_allclose(ours.array, t2n(TF.binary_cross_entropy_with_logits(
        torch.tensor(big), torch.tensor(t), reduction="none")), rtol=1e-12)


def test_loss_modules_match_torch_and_errors():
    rng = np.random.default_rng(5)
    x, y = rng.uniform(0.05, 0.95, (4, 3)), rng.uniform(0, 1, (4, 3))
    pw = rng.uniform(0.5, 3, 3)
    pairs = [(nn.L1Loss(), torch.nn.L1Loss()), (nn.HuberLoss(delta=0.5),
                                                torch.nn.HuberLoss(delta=0.5)),
             (nn.BCELoss(reduction="sum"), torch.nn.BCELoss(reduction="sum")),
             (nn.BCEWithLogitsLoss(pos_weight=lg.Tensor(pw)),
              torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pw)))]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
        np.testing.assert_allclose(ours(lg.Tensor(x), lg.Tensor(y)).array,
                                   t2n(theirs(torch.tensor(x), torch.tensor(y))), rtol=1e-12)
    assert list(pairs[3][0].state_dict()) == list(pairs[3][1].state_dict()) == ["pos_weight"]
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(lg.Tensor(np.array([1.5])), lg.Tensor(np.array([1.0])))
    with pytest.raises(ValueError, match="target shape"):
        F.l1_loss(lg.Tensor(np.zeros(3)), lg.Tensor(np.zeros(2)))
    with pytest.raises(ValueError, match="delta"):
        F.huber_loss(lg.Tensor(np.zeros(3)), lg.Tensor(np.zeros(3)), delta=0)
    with pytest.raises(ValueError, match="pos_weight"):
        F.binary_cross_entropy_with_logits(lg.Tensor(np.zeros((2, 3))),
                                           lg.Tensor(np.zeros((2, 3))), pos_weight=np.ones(2))
