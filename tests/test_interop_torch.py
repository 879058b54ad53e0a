"""The PyTorch bridge (loomgrad.interop.torch) against torch's own layers:
state_dicts load 1:1 both ways, outputs and every gradient (input and each
parameter) equal in float64 and float32, torch.autograd.gradcheck on every
Function in float64, a few optimizer steps of small models equal, swap_layers."""
import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from loomgrad.interop import torch as lgt  # noqa: E402

TOL = {torch.float64: dict(rtol=1e-9, atol=1e-10), torch.float32: dict(rtol=2e-4, atol=2e-5)}
DTYPES = [torch.float64, torch.float32]


def _flat(out):
    if isinstance(out, torch.Tensor):
        return [out]
    return [t for o in out for t in _flat(o)]


def _run(mod, inputs, seed):
    """Outputs, the input gradients and the parameter gradients of mod(*inputs)
    under a random linear loss of its float outputs."""
    only_first = isinstance(mod, nn.CrossEntropyLoss)   # no gradient for probability targets
    xs = [x.detach().clone().requires_grad_(x.is_floating_point() and not (only_first and i))
          for i, x in enumerate(inputs)]
    outs = _flat(mod(*xs))
    g = torch.Generator().manual_seed(seed)
    loss = sum((o * torch.randn(o.shape, generator=g, dtype=o.dtype)).sum()
               for o in outs if o.is_floating_point())
    mod.zero_grad()
    loss.backward()
    return outs, [x.grad for x in xs if x.requires_grad], \
        {n: p.grad for n, p in mod.named_parameters()}


def _compare(theirs, ours, inputs, dtype):
    theirs, ours = theirs.to(dtype), ours.to(dtype)
    assert list(theirs.state_dict()) == list(ours.state_dict())
    ours.load_state_dict(theirs.state_dict())          # 1:1 one way ...
    theirs.load_state_dict(copy.deepcopy(ours.state_dict()))   # ... and back
    inputs = [x.to(dtype) if x.is_floating_point() else x for x in inputs]
    (o1, gx1, gp1), (o2, gx2, gp2) = _run(theirs, inputs, 1), _run(ours, inputs, 1)
    assert len(o1) == len(o2)
    for a, b in zip(o1, o2):
        assert a.dtype == b.dtype and a.shape == b.shape
        torch.testing.assert_close(b, a, **TOL[dtype])
    for a, b in zip(gx1, gx2):
        torch.testing.assert_close(b, a, **TOL[dtype])
    assert gp1.keys() == gp2.keys()
    for k in gp1:
        assert (gp1[k] is None) == (gp2[k] is None), k
        if gp1[k] is not None:
            torch.testing.assert_close(gp2[k], gp1[k], **TOL[dtype], msg=k)


def _randn(*shape):
    return torch.randn(*shape, dtype=torch.float64)


# (torch class, our class, constructor args, kwargs, inputs)
MODULES = [
    (nn.Conv2d, lgt.Conv2d, (3, 8, 3), dict(stride=2, padding=1), lambda: [_randn(2, 3, 9, 9)]),
    (nn.Conv2d, lgt.Conv2d, (4, 6, (3, 2)), dict(padding="same", dilation=2, groups=2, bias=False),
     lambda: [_randn(2, 4, 7, 8)]),
    (nn.Conv2d, lgt.Conv2d, (3, 4, 3), dict(padding=1, padding_mode="reflect"),
     lambda: [_randn(2, 3, 6, 6)]),
    (nn.Conv2d, lgt.Conv2d, (3, 4, 3), dict(padding="valid"), lambda: [_randn(3, 6, 5)]),
    (nn.Linear, lgt.Linear, (7, 5), {}, lambda: [_randn(3, 4, 7)]),
    (nn.Linear, lgt.Linear, (7, 5), dict(bias=False), lambda: [_randn(7)]),
    (nn.MaxPool2d, lgt.MaxPool2d, (3, 2, 1), {}, lambda: [_randn(2, 3, 9, 9)]),
    (nn.MaxPool2d, lgt.MaxPool2d, (2,), dict(ceil_mode=True, return_indices=True),
     lambda: [_randn(2, 3, 7, 7)]),
    (nn.AvgPool2d, lgt.AvgPool2d, (3, 2, 1), dict(count_include_pad=False),
     lambda: [_randn(2, 3, 9, 9)]),
    (nn.AvgPool2d, lgt.AvgPool2d, (2,), dict(divisor_override=3, ceil_mode=True),
     lambda: [_randn(3, 7, 7)]),
    (nn.AdaptiveAvgPool2d, lgt.AdaptiveAvgPool2d, ((3, 5),), {}, lambda: [_randn(2, 3, 7, 11)]),
    (nn.AdaptiveAvgPool2d, lgt.AdaptiveAvgPool2d, ((None, 2),), {}, lambda: [_randn(2, 3, 7, 11)]),
    (nn.LSTM, lgt.LSTM, (5, 6), dict(num_layers=2, bidirectional=True, batch_first=True),
     lambda: [_randn(3, 4, 5)]),
    (nn.LSTM, lgt.LSTM, (5, 6), {}, lambda: [_randn(4, 5), (_randn(1, 6), _randn(1, 6))]),
    (nn.GRU, lgt.GRU, (5, 6), dict(num_layers=2), lambda: [_randn(4, 3, 5)]),
    (nn.GRU, lgt.GRU, (5, 6), dict(bidirectional=True, batch_first=True, bias=False),
     lambda: [_randn(3, 4, 5), _randn(2, 3, 6)]),
    (nn.CrossEntropyLoss, lgt.CrossEntropyLoss, (), {},
     lambda: [_randn(6, 5), torch.tensor([0, 4, 2, 2, 1, 3])]),
    (nn.CrossEntropyLoss, lgt.CrossEntropyLoss, (),
     dict(weight=torch.tensor([1.0, 2.0, 0.5, 1.5, 1.0], dtype=torch.float64), ignore_index=1,
          label_smoothing=0.1), lambda: [_randn(6, 5), torch.tensor([0, 4, 1, 2, 1, 3])]),
    (nn.CrossEntropyLoss, lgt.CrossEntropyLoss, (), dict(reduction="none"),
     lambda: [_randn(2, 5, 3, 4), torch.randint(0, 5, (2, 3, 4))]),
    (nn.CrossEntropyLoss, lgt.CrossEntropyLoss, (), dict(reduction="sum"),
     lambda: [_randn(3, 5, 4), torch.softmax(_randn(3, 5, 4), 1)]),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("i", range(len(MODULES)))
def test_module_equals_torch(i, dtype):
    theirs_cls, ours_cls, args, kwargs, make = MODULES[i]
    torch.manual_seed(i)
    theirs = theirs_cls(*args, **kwargs)
    ours = ours_cls(*args, **kwargs)
    assert isinstance(ours, theirs_cls)
    inputs = make()
    if any(isinstance(x, tuple) for x in inputs):   # LSTM (input, (h0, c0))
        x, (h0, c0) = inputs
        _compare(_HxWrapper(theirs), _HxWrapper(ours), [x, h0, c0], dtype)
    else:
        _compare(theirs, ours, inputs, dtype)


class _HxWrapper(nn.Module):
    """LSTM(x, (h0, c0)) as a module of three tensors (so h0/c0 get gradients too)."""

    def __init__(self, lstm):
        super().__init__()
        self.lstm = lstm

    def forward(self, x, h0, c0):
        return self.lstm(x, (h0, c0))


# ------------------------------------------------------------ gradcheck (float64)
def _g(*shape):
    return _randn(*shape).requires_grad_()


GRADCHECKS = {
    "conv2d": lambda: (lgt.conv2d, (_g(2, 4, 6, 5), _g(6, 2, 3, 2), _g(6)),
                       dict(stride=(2, 1), padding=1, dilation=(1, 2), groups=2)),
    "linear": lambda: (lgt.linear, (_g(2, 3, 4), _g(5, 4), _g(5)), {}),
    "max_pool2d": lambda: (lgt.max_pool2d, (_g(2, 3, 7, 7),), dict(kernel_size=3, stride=2,
                                                                  padding=1, ceil_mode=True)),
    "avg_pool2d": lambda: (lgt.avg_pool2d, (_g(2, 3, 7, 7),),
                           dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    "adaptive_avg_pool2d": lambda: (lgt.adaptive_avg_pool2d, (_g(2, 3, 7, 6),),
                                    dict(output_size=(3, 4))),
    "cross_entropy": lambda: (lgt.cross_entropy, (_g(5, 4), torch.tensor([0, 3, 1, 1, 2])),
                              dict(label_smoothing=0.2)),
    "cross_entropy_kdim": lambda: (lgt.cross_entropy, (_g(2, 4, 3),
                                                       torch.softmax(_randn(2, 4, 3), 1)),
                                   dict(reduction="none")),
    "lstm_layer": lambda: (lgt.lstm_layer, (_g(4, 2, 3), _g(2, 5), _g(2, 5), _g(20, 3),
                                            _g(20, 5), _g(20), _g(20)), dict(reverse=True)),
    "gru_layer": lambda: (lgt.gru_layer, (_g(4, 2, 3), _g(2, 5), _g(15, 3), _g(15, 5), _g(15),
                                          _g(15)), {}),
}


@pytest.mark.parametrize("name", list(GRADCHECKS))
def test_gradcheck(name):
    torch.manual_seed(0)
    fn, args, kwargs = GRADCHECKS[name]()
    assert torch.autograd.gradcheck(lambda *a: fn(*a, **kwargs), args, eps=1e-6, atol=1e-6)


def test_double_backward_is_refused():
    x = _g(2, 3)
    y = lgt.linear(x, _g(4, 3))
    (gx,) = torch.autograd.grad(y, x, grad_outputs=_g(2, 4), create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        gx.sum().backward()


@pytest.mark.parametrize("layer", ["lstm", "gru", "linear", "conv2d"])
def test_inplace_change_of_a_saved_input_is_refused(layer):
    """torch's "modified by an inplace operation" check holds through the
    bridge: the recurrent kernels keep views of their inputs for the backward."""
    x, w = _g(3, 2, 4), _g(12, 4)
    run = {"lstm": lambda x: lgt.lstm_layer(x, None, None, w, _g(12, 3))[0],
           "gru": lambda x: lgt.gru_layer(x, None, w[:9], _g(9, 3))[0],
           "linear": lambda x: lgt.linear(x, w),
           "conv2d": lambda x: lgt.conv2d(x[None], w.reshape(1, 3, 4, 4)[:, :, :2, :2])}[layer]
    leaf = x.detach().requires_grad_()
    src = leaf * 1.0          # a non-leaf that can be changed in place
    out = run(src)
    with torch.no_grad():
        src.add_(1.0)
    with pytest.raises(RuntimeError, match="inplace operation"):
        out.sum().backward()


# ------------------------------------------------------------ training equal
class _CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 6, 3)
        self.avg = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(24, 3)
        self.loss = nn.CrossEntropyLoss()

    def forward(self, x, y):
        h = self.pool(torch.relu(self.conv1(x)))
        h = self.avg(torch.relu(self.conv2(h)))
        return self.loss(self.fc(h.flatten(1)), y)


class _GRULM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(11, 6)
        self.rnn = nn.GRU(6, 8, num_layers=2)
        self.head = nn.Linear(8, 11)
        self.loss = nn.CrossEntropyLoss()

    def forward(self, tokens, targets):
        y, _ = self.rnn(self.emb(tokens))
        return self.loss(self.head(y).reshape(-1, 11), targets.reshape(-1))


@pytest.mark.parametrize("model_cls,make,opt", [
    (_CNN, lambda: (_randn(4, 1, 8, 8), torch.tensor([0, 2, 1, 2])), torch.optim.SGD),
    (_GRULM, lambda: (torch.randint(0, 11, (5, 3)), torch.randint(0, 11, (5, 3))),
     torch.optim.Adam),
])
def test_optimizer_steps_equal(model_cls, make, opt):
    torch.manual_seed(0)
    theirs = model_cls().double()
    ours = lgt.swap_layers(copy.deepcopy(theirs))
    assert not any(type(m).__module__.startswith("torch.nn") and type(m) in lgt._SWAPS
                   for m in ours.modules())
    kw = dict(lr=0.1, momentum=0.9) if opt is torch.optim.SGD else dict(lr=0.01)
    opts = [opt(m.parameters(), **kw) for m in (theirs, ours)]
    for step in range(4):
        x, y = make()
        for m, o in zip((theirs, ours), opts):
            o.zero_grad()
            m(x, y).backward()
            o.step()
    for (n, a), (_, b) in zip(theirs.named_parameters(), ours.named_parameters()):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-10, msg=n)


def test_swap_layers_keeps_parameters_and_types():
    class MyLinear(nn.Linear):
        pass

    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), MyLinear(8, 3))
    before = {k: v.clone() for k, v in m.state_dict().items()}
    lgt.swap_layers(m)
    assert type(m[0]) is lgt.Conv2d and type(m[1]) is nn.ReLU
    assert type(m[3]) is MyLinear            # only exact torch types are swapped
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())


def test_unsupported_inputs_are_refused():
    with pytest.raises(ValueError, match="proj_size"):
        lgt.LSTM(4, 6, proj_size=3)
    gru = lgt.GRU(3, 4)
    packed = nn.utils.rnn.pack_sequence([torch.randn(3, 3), torch.randn(2, 3)])
    with pytest.raises(TypeError, match="PackedSequence"):
        gru(packed)
    with pytest.raises(ValueError, match="target or weight"):
        lgt.cross_entropy(torch.randn(3, 4, requires_grad=True),
                          torch.softmax(torch.randn(3, 4), 1).requires_grad_())


def test_rnn_dropout_between_layers_in_training_only():
    torch.manual_seed(0)
    theirs = nn.GRU(4, 5, num_layers=3, dropout=0.5)
    ours = lgt.GRU(4, 5, num_layers=3, dropout=0.5)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(6, 2, 4)
    theirs.eval(), ours.eval()
    torch.testing.assert_close(ours(x)[0], theirs(x)[0], rtol=2e-4, atol=2e-5)
    ours.train()
    a, b = ours(x)[0], ours(x)[0]
    assert not torch.allclose(a, b)            # dropout is applied (two different masks)
    assert np.isfinite(a.detach().numpy()).all()
