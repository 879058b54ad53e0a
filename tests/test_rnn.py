"""nn.RNN (tanh/relu, layers, bidirectional, batch_first, dropout), nn.RNNCell and nn.GRUCell
(issue 18): forward, h_n and every gradient against torch with torch's state_dict loaded;
float64 gradcheck; reprs, init bounds, unbatched inputs."""
import numpy as np
import pytest

import loomgrad as lg
import loomgrad.nn.functional as F
from helpers import HAVE_TORCH, helper_gradcheck, requires_torch

if HAVE_TORCH:
    import torch


def _load(ours, theirs):
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})


def _compare(ours, theirs, x, h0=None, tol=1e-9):
    """Forward outputs and every gradient (input, h0, parameters) under random upstream
    gradients on output and h_n."""
    xl, xt = lg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    args_l, args_t = [xl], [xt]
    if h0 is not None:
        hl, ht = lg.tensor(h0, requires_grad=True), torch.tensor(h0, requires_grad=True)
        args_l.append(hl)
        args_t.append(ht)
    (yl, hnl), (yt, hnt) = ours(*args_l), theirs(*args_t)
    np.testing.assert_allclose(yl.detach().numpy(), yt.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(hnl.detach().numpy(), hnt.detach().numpy(), rtol=tol, atol=tol)
    rng = np.random.default_rng(7)
    gy = rng.standard_normal(tuple(yt.shape)).astype(x.dtype)
    gh = rng.standard_normal(tuple(hnt.shape)).astype(x.dtype)
    ((yl * lg.tensor(gy)).sum() + (hnl * lg.tensor(gh)).sum()).backward()
    ((yt * torch.tensor(gy)).sum() + (hnt * torch.tensor(gh)).sum()).backward()
    for a, b in zip(args_l, args_t):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=tol * 10, atol=tol * 10)
    for (k, pl), (_, pt) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(pl.grad.numpy(), pt.grad.numpy(), rtol=tol * 10,
                                   atol=tol * 10, err_msg=k)


CONFIGS = [dict(), dict(nonlinearity="relu"), dict(num_layers=2), dict(bidirectional=True),
           dict(num_layers=2, bidirectional=True, batch_first=True), dict(bias=False),
           dict(num_layers=3, nonlinearity="relu", bidirectional=True)]


@requires_torch
@pytest.mark.parametrize("kw", CONFIGS, ids=str)
@pytest.mark.parametrize("with_h0", [False, True])
def test_rnn_matches_torch(kw, with_h0):
    torch.manual_seed(0)
    I, H, T, N = 4, 5, 6, 3
    theirs = torch.nn.RNN(I, H, dtype=torch.float64, **kw)
    ours = lg.nn.RNN(I, H, dtype=np.float64, **kw)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _load(ours, theirs)
    rng = np.random.default_rng(0)
    shape = (N, T, I) if kw.get("batch_first") else (T, N, I)
    D = 2 if kw.get("bidirectional") else 1
    h0 = rng.standard_normal((kw.get("num_layers", 1) * D, N, H)) if with_h0 else None
    _compare(ours, theirs, rng.standard_normal(shape), h0)


@requires_torch
def test_rnn_unbatched_float32_and_init():
    torch.manual_seed(0)
    theirs = torch.nn.RNN(3, 4, num_layers=2)
    ours = lg.nn.RNN(3, 4, num_layers=2)
    for k, v in ours.state_dict().items():
        assert v.dtype == np.float32 and np.abs(v.numpy()).max() <= 0.5 + 1e-7, k
    _load(ours, theirs)
    x = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
    _compare(ours, theirs, x, tol=1e-5)


def test_rnn_gradcheck():
    lg.manual_seed(0)
    for kw in (dict(), dict(nonlinearity="relu", bidirectional=True)):
        m = lg.nn.RNN(3, 2, dtype=np.float64, **kw)
        helper_gradcheck(lambda x, h: m(x, h)[0].sum() + m(x, h)[1].sum(),
                         [(4, 2, 3), (2 if kw else 1, 2, 2)])


def test_rnn_dropout_between_layers():
    lg.manual_seed(0)
    m = lg.nn.RNN(3, 4, num_layers=2, dropout=0.5)
    x = lg.randn(5, 2, 3)
    with lg.no_grad():
        a, b = m(x)[0].numpy(), m(x)[0].numpy()
        assert not np.allclose(a, b)  # training: fresh masks
        m.eval()
        np.testing.assert_array_equal(m(x)[0].numpy(), m(x)[0].numpy())


@requires_torch
@pytest.mark.parametrize("name,kw", [("RNNCell", {}), ("RNNCell", dict(nonlinearity="relu")),
                                     ("RNNCell", dict(bias=False)), ("GRUCell", {}),
                                     ("GRUCell", dict(bias=False))], ids=str)
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_torch(name, kw, batched):
    torch.manual_seed(0)
    theirs = getattr(torch.nn, name)(4, 3, dtype=torch.float64, **kw)
    ours = getattr(lg.nn, name)(4, 3, dtype=np.float64, **kw)
    assert repr(ours) == repr(theirs)
    _load(ours, theirs)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 4) if batched else (4,))
    h = rng.standard_normal((5, 3) if batched else (3,))
    xl, hl = lg.tensor(x, requires_grad=True), lg.tensor(h, requires_grad=True)
    xt, ht = torch.tensor(x, requires_grad=True), torch.tensor(h, requires_grad=True)
    yl, yt = ours(xl, hl), theirs(xt, ht)
    np.testing.assert_allclose(yl.detach().numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    yl.sum().backward()
    yt.sum().backward()
    for a, b in ((xl, xt), (hl, ht)):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)
    for (k, pl), (_, pt) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(pl.grad.numpy(), pt.grad.numpy(), rtol=1e-10, atol=1e-12)
    # no hx: zeros
    np.testing.assert_allclose(ours(lg.tensor(x)).detach().numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-12)


def test_cell_gradcheck():
    lg.manual_seed(0)
    for m in (lg.nn.GRUCell(3, 2, dtype=np.float64), lg.nn.RNNCell(3, 2, dtype=np.float64)):
        helper_gradcheck(lambda x, h: m(x, h), [(4, 3), (4, 2)])


def test_bad_arguments():
    with pytest.raises(ValueError, match="nonlinearity"):
        lg.nn.RNN(2, 3, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="nonlinearity"):
        lg.nn.RNNCell(2, 3, nonlinearity="gelu")
    m = lg.nn.RNN(2, 3)
    with pytest.raises(ValueError, match="input_size=2"):
        m(lg.zeros(4, 1, 5))
    with pytest.raises(ValueError, match="hx must have shape"):
        m(lg.zeros(4, 1, 2), lg.zeros(2, 1, 3))
    with pytest.raises(ValueError, match="hx must have shape"):
        lg.nn.GRUCell(2, 3)(lg.zeros(4, 2), lg.zeros(4, 2))
    with pytest.raises(TypeError, match="dtype"):
        lg.nn.RNNCell(2, 3)(lg.zeros(4, 2, dtype=lg.float64))
