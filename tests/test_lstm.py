"""LSTM kernels (raw, vs a NumPy reference), nn.LSTM / LSTMCell (gradcheck, vs
torch.nn.LSTM with copied weights), Embedding, gradient clipping, charlstm."""
from __future__ import annotations

import numpy as np
import pytest

import loomgrad as lg
from loomgrad import kernels as K
from loomgrad.nn.functional import rnn
from gpu_doubles import BindingDouble, binding_source, fake_gpu_module
from helpers import (HAVE_TORCH, helper_gradcheck, helper_test_op, requires_cuda, requires_torch,
                     torch, torch_cuda)

needs_kernels = pytest.mark.skipif(
    not hasattr(lg._cpu, "lstm_sequence_forward"),
    reason="loomgrad._cpu was built without the LSTM kernels (CMakeLists.txt / cpu_module.cpp "
           "not wired yet); rebuild with pip install -e .")


# ----------------------------------------------------------------------------- NumPy reference
def _sig(x):
    return 1 / (1 + np.exp(-x))


def ref_forward(x, h0, c0, wi, wh, b, reverse=False):
    """Plain NumPy LSTM over time-major x; returns y, h_T, c_T and per-step caches."""
    T, H = x.shape[0], wh.shape[1]
    h, c = h0, c0
    ys, cache = [None] * T, {}
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        g = x[t] @ wi.T + h @ wh.T + b
        i, f, gg, o = _sig(g[:, :H]), _sig(g[:, H:2 * H]), np.tanh(g[:, 2 * H:3 * H]), \
            _sig(g[:, 3 * H:])
        cache[t] = (h, c, i, f, gg, o)
        c = f * c + i * gg
        h = o * np.tanh(c)
        ys[t] = h
        cache[t] += (c,)
    return np.stack(ys), h, c, cache


def ref_backward(x, wi, wh, dy, dh, dc, cache, reverse=False):
    """Plain BPTT, one step at a time; returns dx, dh0, dc0, dwi, dwh, db."""
    T, H = x.shape[0], wh.shape[1]
    dx, dwi, dwh = np.zeros_like(x), np.zeros_like(wi), np.zeros_like(wh)
    db = np.zeros(4 * H, x.dtype)
    for t in (range(T) if reverse else range(T - 1, -1, -1)):
        h_prev, c_prev, i, f, gg, o, c = cache[t]
        dh = dh + dy[t]
        tc = np.tanh(c)
        dc = dc + dh * o * (1 - tc ** 2)
        dg = np.concatenate([dc * gg * i * (1 - i), dc * c_prev * f * (1 - f),
                             dc * i * (1 - gg ** 2), dh * tc * o * (1 - o)], axis=1)
        dx[t] = dg @ wi
        dwi += dg.T @ x[t]
        dwh += dg.T @ h_prev
        db += dg.sum(0)
        dh, dc = dg @ wh, dc * f
    return dx, dh, dc, dwi, dwh, db


def _rand(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


# The recurrence splits hidden units over threads once the step is big enough
# (N * 4H * H >= 2^17 on 2 threads). N <= 4 runs the few-row kernel on the rows in
# place; larger N the packed microkernels, with a tail of 1..4 rows (N = 7, 9, 10,
# 13, 64) on the few-row kernel over the packed panel and N = 5 as an edge tile.
# H = 17, 70, 130, 200 leave a partial unit block; H = 260 / 300 span two K
# blocks forward, 4H several backward.
SEQUENCE_SHAPES = [(5, 3, 4, 6), (1, 1, 1, 1), (7, 2, 13, 17), (4, 9, 5, 17), (3, 13, 7, 300),
                   (2, 64, 8, 16), (6, 1, 8, 200), (4, 5, 6, 130), (3, 7, 5, 260),
                   (3, 4, 6, 130), (3, 10, 5, 70)]


@needs_kernels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("T,N,I,H", SEQUENCE_SHAPES)
def test_sequence_kernel_matches_numpy(dtype, reverse, T, N, I, H):
    rng = np.random.default_rng(T * 100 + H)
    x, h0, c0 = _rand(rng, (T, N, I), dtype), _rand(rng, (N, H), dtype), _rand(rng, (N, H), dtype)
    wi, wh = _rand(rng, (4 * H, I), dtype, 0.5), _rand(rng, (4 * H, H), dtype, 0.5)
    bi, bh = _rand(rng, 4 * H, dtype), _rand(rng, 4 * H, dtype)
    y, hn, cn, saved = K.lstm_sequence(x, h0, c0, wi, wh, bi, bh, reverse=reverse)
    ry, rh, rc, cache = ref_forward(x, h0, c0, wi, wh, bi + bh, reverse)
    # float32: rounding grows with the 4H-long sums of the backward GEMMs
    tol = dict(rtol=1e-4, atol=1e-5 * np.sqrt(H)) if dtype == np.float32 else \
        dict(rtol=1e-10, atol=1e-12)
    for a, b in ((y, ry), (hn, rh), (cn, rc)):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, **tol)
    dy, dh, dc = _rand(rng, y.shape, dtype), _rand(rng, (N, H), dtype), _rand(rng, (N, H), dtype)
    got = K.lstm_sequence_backward(dy, dh, dc, saved)
    want = ref_backward(x, wi, wh, dy, dh, dc, cache, reverse)
    for name, a, b in zip(["dx", "dh0", "dc0", "dw_ih", "dw_hh", "db_ih"], got, want):
        np.testing.assert_allclose(a, b, **tol, err_msg=name)
    np.testing.assert_array_equal(got[5], got[6])


@needs_kernels
@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("T,N,I,H", [(6, 1, 8, 200), (4, 7, 6, 260), (3, 3, 5, 210),
                                     (5, 1, 6, 260)])
def test_recurrent_kernels_same_bits_on_any_thread_count(kind, T, N, I, H):
    # Each hidden unit's column of the recurrence is computed whole by one
    # thread in a fixed order, so the split over threads cannot change a bit
    # of what only the recurrence produces (dx and the weight gradients come
    # from the GEMM, whose K blocking may follow the thread count; I is kept
    # far below one K block so the input-projection GEMM sums in one order).
    gates = 4 if kind == "lstm" else 3
    rng = np.random.default_rng(7)
    x, h0, c0 = _rand(rng, (T, N, I), np.float32), _rand(rng, (N, H), np.float32), \
        _rand(rng, (N, H), np.float32)
    wi = _rand(rng, (gates * H, I), np.float32, 0.2)
    wh = _rand(rng, (gates * H, H), np.float32, 0.2)
    b = _rand(rng, gates * H, np.float32)
    dy = _rand(rng, (T, N, H), np.float32)

    def run():
        if kind == "lstm":
            y, hn, cn, saved = K.lstm_sequence(x, h0, c0, wi, wh, b, b)
            dh0, dc0 = K.lstm_sequence_backward(dy, None, None, saved)[1:3]
            return dict(y=y, h_n=hn, c_n=cn, dh0=dh0, dc0=dc0)
        y, hn, saved = K.gru_sequence(x, h0, wi, wh, b, b)
        return dict(y=y, h_n=hn, dh0=K.gru_sequence_backward(dy, None, saved)[1])

    results = []
    before = lg.get_num_threads()
    try:
        for n in (1, 2, 3):
            lg.set_num_threads(n)
            results.append(run())
    finally:
        lg.set_num_threads(before)
    for other in results[1:]:
        for name in other:
            np.testing.assert_array_equal(results[0][name], other[name], err_msg=name)


@needs_kernels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cell_kernel_matches_numpy(dtype):
    rng = np.random.default_rng(1)
    N, I, H = 4, 5, 3
    x, h, c = _rand(rng, (N, I), dtype), _rand(rng, (N, H), dtype), _rand(rng, (N, H), dtype)
    wi, wh = _rand(rng, (4 * H, I), dtype), _rand(rng, (4 * H, H), dtype)
    h1, c1, saved = K.lstm_cell(x, h, c, wi, wh)  # no bias
    _, rh, rc, cache = ref_forward(x[None], h, c, wi, wh, np.zeros(4 * H, dtype))
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h1, rh, **tol)
    np.testing.assert_allclose(c1, rc, **tol)
    dh, dc = _rand(rng, (N, H), dtype), _rand(rng, (N, H), dtype)
    got = K.lstm_cell_backward(dh, dc, saved)
    want = ref_backward(x[None], wi, wh, np.zeros((1, N, H), dtype), dh, dc, cache)
    for name, a, b in zip(["dx", "dh", "dc", "dw_ih", "dw_hh"], got, want):
        np.testing.assert_allclose(a, b[0] if name == "dx" else b, **tol, err_msg=name)
    assert got[5] is None and got[6] is None
    # dh' alone (dc' None) equals passing a zero dc'
    a = K.lstm_cell_backward(dh, None, saved)
    b = K.lstm_cell_backward(dh, np.zeros_like(dc), saved)
    for u, v in zip(a[:5], b[:5]):
        np.testing.assert_array_equal(u, v)


@needs_kernels
def test_kernel_zero_sizes_and_errors():
    f = np.float32
    # N = 0, I = 0: legal, empty or zero results
    y, hn, cn, s = K.lstm_sequence(np.zeros((3, 0, 4), f), None, None, np.ones((8, 4), f),
                                   np.ones((8, 2), f))
    assert y.shape == (3, 0, 2) and hn.shape == (0, 2)
    g = K.lstm_sequence_backward(None, None, None, s)
    assert g[0].shape == (3, 0, 4) and not g[3].any() and not g[4].any()
    y, hn, cn, s = K.lstm_sequence(np.zeros((2, 3, 0), f), None, None, np.ones((8, 0), f),
                                   np.ones((8, 2), f), np.ones(8, f), np.ones(8, f))
    assert np.isfinite(y).all() and y.shape == (2, 3, 2)
    # T = 0 at the kernel level: the state passes through
    h0 = np.full((3, 2), 0.5, f)
    y, hn, cn, s = K.lstm_sequence(np.zeros((0, 3, 4), f), h0, h0, np.ones((8, 4), f),
                                   np.ones((8, 2), f))
    assert y.shape == (0, 3, 2)
    np.testing.assert_array_equal(hn, h0)
    dx, dh0, dc0, *_ = K.lstm_sequence_backward(None, h0, None, s)
    np.testing.assert_array_equal(dh0, h0)
    assert not dc0.any()
    # errors name the argument and the shapes
    with pytest.raises(ValueError, match=r"w_ih.*\(8, 4\)"):
        K.lstm_sequence(np.zeros((2, 3, 4), f), None, None, np.ones((8, 5), f), np.ones((8, 2), f))
    with pytest.raises(ValueError, match="w_hh"):
        K.lstm_sequence(np.zeros((2, 3, 4), f), None, None, np.ones((8, 4), f), np.ones((7, 2), f))
    with pytest.raises(TypeError, match="dtype"):
        K.lstm_sequence(np.zeros((2, 3, 4), f), None, None, np.ones((8, 4)), np.ones((8, 2), f))
    with pytest.raises(ValueError, match="3-D"):
        K.lstm_sequence(np.zeros((3, 4), f), None, None, np.ones((8, 4), f), np.ones((8, 2), f))
    # the binding refuses a wrongly typed output instead of writing into a copy
    x = np.zeros((2, 3, 4), f)
    with pytest.raises(TypeError):
        lg._cpu.lstm_sequence_forward(x, np.zeros((3, 2), f), np.zeros((3, 2), f),
                                        np.ones((8, 4), f), np.ones((8, 2), f), None, None,
                                        np.empty((2, 3, 2)), np.empty((3, 2), f),
                                        np.empty((3, 2), f), np.empty((2, 3, 8), f),
                                        np.empty((2, 3, 2), f))


# ----------------------------------------------------------------------------- gradcheck
@needs_kernels
def test_gradcheck_cell():
    def fn(x, h, c, wi, wh, bi, bh):
        return lg.nn.functional.lstm_cell(x, (h, c), wi, wh, bi, bh)
    helper_gradcheck(fn, [(3, 4), (3, 5), (3, 5), (20, 4), (20, 5), (20,), (20,)])


@needs_kernels
def test_gradcheck_two_layer_bidirectional_sequence():
    T, N, I, H = 4, 2, 3, 2
    shapes = [(T, N, I), (4, N, H), (4, N, H)]
    for layer in range(2):
        for _ in range(2):
            shapes += [(4 * H, I if layer == 0 else 2 * H), (4 * H, H), (4 * H,), (4 * H,)]

    def fn(x, h0, c0, *w):
        weights = [list(w[4 * k:4 * k + 4]) for k in range(4)]
        y, h, c = rnn.lstm_layers(x, h0, c0, weights, 2, 2)
        return y, h, c
    helper_gradcheck(fn, shapes, low=-1.0, high=1.0)


# ----------------------------------------------------------------------------- vs torch.nn.LSTM
def _compare_with_torch(kw, T=5, N=3, I=4, H=6, unbatched=False, with_state=True, seed=0):
    rng = np.random.default_rng(seed)
    L = kw.get("num_layers", 1)
    D = 2 if kw.get("bidirectional") else 1
    m = lg.nn.LSTM(I, H, dtype=np.float64, **kw)
    tm = torch.nn.LSTM(I, H, **kw).double()
    assert list(m.state_dict()) == list(tm.state_dict())
    m.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})  # NumPy values
    if unbatched:
        xs, ss = (T, I), (L * D, H)
    else:
        xs, ss = ((N, T, I) if kw.get("batch_first") else (T, N, I)), (L * D, N, H)
    arrays = [rng.standard_normal(xs), rng.standard_normal(ss), rng.standard_normal(ss)]

    def run(lib, make):
        ins = [make(a) for a in arrays]
        out, (h, c) = m(ins[0], (ins[1], ins[2])) if with_state and lib == "lg" else \
            m(ins[0]) if lib == "lg" else \
            tm(ins[0], (ins[1], ins[2])) if with_state else tm(ins[0])
        w = np.random.default_rng(seed + 1)
        loss = (out * make(w.standard_normal(out.shape), False)).sum() \
            + (h * make(w.standard_normal(h.shape), False)).sum() \
            + (c * make(w.standard_normal(c.shape), False)).sum()
        loss.backward()
        return ins, (out, h, c)

    l_in, l_out = run("lg", lambda a, rg=True: lg.tensor(a, requires_grad=rg))
    t_in, t_out = run("torch", lambda a, rg=True: torch.tensor(a, requires_grad=rg))
    for name, a, b in zip(("output", "h_n", "c_n"), l_out, t_out):
        assert tuple(a.shape) == tuple(b.shape), name
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-9,
                                   atol=1e-11, err_msg=name)
    for k, (a, b) in enumerate(zip(l_in, t_in)):
        if b.grad is not None and (k == 0 or with_state):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-8, atol=1e-10,
                                       err_msg=f"grad of input {k}")
    for (name, p), tp in zip(m.named_parameters(), tm.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-8, atol=1e-10,
                                   err_msg=f"grad of {name}")


@requires_torch
@pytest.mark.parametrize("kw", [
    {}, {"batch_first": True}, {"bias": False}, {"num_layers": 3},
    {"bidirectional": True}, {"num_layers": 2, "bidirectional": True, "batch_first": True},
])
@needs_kernels
def test_lstm_matches_torch(kw):
    _compare_with_torch(kw)
    _compare_with_torch(kw, N=11, H=20)  # packed microkernels, a 5-row edge tile


@needs_kernels
@requires_torch
@pytest.mark.parametrize("kw", [{}, {"num_layers": 2, "bidirectional": True}])
def test_lstm_unbatched_and_default_state_match_torch(kw):
    _compare_with_torch(kw, unbatched=True)
    _compare_with_torch(kw, with_state=False)


@needs_kernels
@requires_torch
def test_lstm_cell_matches_torch():
    cell = torch.nn.LSTMCell(4, 5).double()
    m = lg.nn.LSTMCell(4, 5, dtype=np.float64)
    m.load_state_dict(cell.state_dict())
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in cell.named_parameters()]

    def t_fn(x, h, c, wi, wh, bi, bh):
        return torch.lstm_cell(x, (h, c), wi, wh, bi, bh)

    def l_fn(x, h, c, wi, wh, bi, bh):
        return lg.nn.functional.lstm_cell(x, (h, c), wi, wh, bi, bh)
    helper_test_op([(3, 4), (3, 5), (3, 5), (20, 4), (20, 5), (20,), (20,)], t_fn, l_fn)
    x = np.random.default_rng(0).standard_normal(4)
    h, c = m(lg.tensor(x))
    th, tc = cell(torch.tensor(x))
    np.testing.assert_allclose(h.detach().numpy(), th.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(c.detach().numpy(), tc.detach().numpy(), rtol=1e-10)


@needs_kernels
def test_lstm_float32_init_and_shapes():
    lg.manual_seed(0)
    m = lg.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    names = [n for n, _ in m.named_parameters()]
    assert names[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert "weight_ih_l1_reverse" in names and m.weight_ih_l1.shape == (16, 8)
    for p in m.parameters():
        assert p.dtype == np.float32 and np.abs(p.array).max() <= 0.5
    out, (h, c) = m(lg.randn(6, 2, 3))
    assert out.shape == (6, 2, 8) and h.shape == (4, 2, 4) and c.shape == (4, 2, 4)
    with pytest.raises(TypeError, match="dtype"):
        m(lg.tensor(np.zeros((6, 2, 3))))
    with pytest.raises(ValueError, match="input_size"):
        m(lg.randn(6, 2, 5))


@needs_kernels
def test_lstm_long_sequence_and_only_final_state_used():
    # T = 1000: no NaN, no deep recursion in backward (one node per layer)
    lg.manual_seed(1)
    m = lg.nn.LSTM(3, 8, num_layers=2)
    x = lg.randn(1000, 2, 3, requires_grad=True)
    out, (h, c) = m(x)
    h[-1].sum().backward()  # only h_n feeds the loss
    assert np.isfinite(out.array).all()
    assert np.isfinite(x.grad.numpy()).all() and np.abs(x.grad.numpy()[-1]).sum() > 0
    assert all(np.isfinite(p.grad.numpy()).all() for p in m.parameters())


@needs_kernels
def test_lstm_empty_batch_and_empty_sequence():
    m = lg.nn.LSTM(3, 4, num_layers=2)
    x = lg.randn(5, 0, 3, requires_grad=True)
    out, (h, c) = m(x)
    assert out.shape == (5, 0, 4) and h.shape == (2, 0, 4)
    out.sum().backward()
    assert x.grad.shape == (5, 0, 3)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in m.parameters())
    with pytest.raises(ValueError, match="T = 0"):  # torch refuses too
        m(lg.randn(0, 2, 3))
    if HAVE_TORCH:
        with pytest.raises(RuntimeError):
            torch.nn.LSTM(3, 4)(torch.zeros(0, 2, 3))


@needs_kernels
def test_lstm_retain_graph_and_no_grad():
    m = lg.nn.LSTM(2, 3)
    x = lg.randn(4, 1, 2)
    out, (h, c) = m(x)
    (out.sum() + c.sum()).backward(retain_graph=True)
    g1 = m.weight_hh_l0.grad.numpy().copy()
    (out.sum() + c.sum()).backward()
    np.testing.assert_allclose(m.weight_hh_l0.grad.numpy(), 2 * g1, rtol=1e-6)
    with pytest.raises(RuntimeError, match="second time"):
        out.sum().backward()
    with lg.no_grad():
        out, (h, c) = m(x)
    assert not out.requires_grad and not h.requires_grad


@needs_kernels
def test_lstm_dropout_between_layers_only_in_training():
    lg.manual_seed(0)
    m = lg.nn.LSTM(3, 16, num_layers=2, dropout=0.5)
    x = lg.randn(5, 4, 3)
    m.eval()
    a, b = m(x)[0].detach().numpy(), m(x)[0].detach().numpy()
    np.testing.assert_array_equal(a, b)
    m.train()
    assert not np.allclose(m(x)[0].detach().numpy(), a)
    one = lg.nn.LSTM(3, 16, num_layers=1, dropout=0.5)  # nothing to drop between layers
    np.testing.assert_array_equal(one(x)[0].detach().numpy(), one(x)[0].detach().numpy())


# ----------------------------------------------------------------------------- Embedding, clipping
@requires_torch
@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_matches_torch(padding_idx):
    idx = np.array([[0, 2, 2, 5], [5, 1, 2, 0]])
    tw = torch.nn.Embedding(6, 3, padding_idx=padding_idx).double()
    m = lg.nn.Embedding(6, 3, padding_idx=padding_idx, dtype=np.float64)
    m.load_state_dict(tw.state_dict())
    out, tout = m(lg.tensor(idx)), tw(torch.tensor(idx))
    np.testing.assert_array_equal(out.detach().numpy(), tout.detach().numpy())
    g = np.random.default_rng(0).standard_normal(out.shape)
    (out * lg.tensor(g)).sum().backward()
    (tout * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(m.weight.grad.numpy(), tw.weight.grad.numpy(), rtol=1e-12)
    lg.manual_seed(0)
    fresh = lg.nn.Embedding(6, 3, padding_idx=padding_idx)
    if padding_idx is not None:
        assert not fresh.weight.array[padding_idx].any()
    with pytest.raises(IndexError, match="out of range"):
        m(lg.tensor(np.array([6])))
    # the functional form
    w = lg.tensor(tw.weight.detach().numpy(), requires_grad=True)
    np.testing.assert_array_equal(lg.nn.functional.embedding(lg.tensor(idx), w).detach().numpy(),
                                  torch.nn.functional.embedding(torch.tensor(idx),
                                                                tw.weight).detach().numpy())


@requires_torch
@pytest.mark.parametrize("max_norm,norm_type", [(0.5, 2.0), (100.0, 2.0), (0.3, 1.0),
                                                (0.2, float("inf"))])
def test_clip_grad_norm_matches_torch(max_norm, norm_type):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s) for s in [(3, 4), (5,), (2, 2, 2)]]
    ps = [lg.tensor(np.zeros_like(g), requires_grad=True) for g in grads]
    tps = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, tp, g in zip(ps, tps, grads):
        p.grad, tp.grad = lg.tensor(g.copy()), torch.tensor(g.copy())
    total = lg.nn.utils.clip_grad_norm_(ps, max_norm, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type)
    assert abs(float(total) - float(ttotal)) < 1e-10
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-7)
    lg.nn.utils.clip_grad_value_(ps, 0.01)
    assert max(np.abs(p.grad.numpy()).max() for p in ps) <= 0.01
    ps[0].grad.array[0, 0] = np.nan
    with pytest.raises(RuntimeError, match="non-finite"):
        lg.nn.utils.clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)


# ----------------------------------------------------------------------------- charlstm
@needs_kernels
def test_charlstm_quick_run_perplexity_falls(tmp_path):
    import argparse

    from loomgrad import charlm, train

    text = tmp_path / "tiny.txt"
    text.write_text(charlm.stdlib_text(12_000))
    parser = train.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--model", "charlstm", "--text", str(text), "--epochs", "3",
                              "--seq-len", "16", "--hidden", "48", "--batch-size", "16",
                              "--sample-length", "30", "--quiet"])
    r = train.run(args)
    ppl = r["train_perplexity"]
    assert len(ppl) == 3 and ppl[0] > ppl[1] > ppl[2]
    assert r["val_perplexity"][-1] < r["vocab_size"]  # better than uniform guessing
    assert r["sample"].startswith("The ") and len(r["sample"]) == 34
    assert charlm.stdlib_text(5000) == charlm.stdlib_text(5000)  # deterministic corpus


# ----------------------------------------------------------------------------- GRU
@requires_torch
@pytest.mark.parametrize("kw,unbatched", [
    ({}, False), ({"num_layers": 2, "bidirectional": True}, False),
    ({"batch_first": True, "bias": False}, False), ({"num_layers": 2}, True),
])
def test_gru_matches_torch(kw, unbatched):
    T, N, I, H = 5, 7, 4, 6
    L, D = kw.get("num_layers", 1), 2 if kw.get("bidirectional") else 1
    m, tm = lg.nn.GRU(I, H, dtype=np.float64, **kw), torch.nn.GRU(I, H, **kw).double()
    assert list(m.state_dict()) == list(tm.state_dict())
    m.load_state_dict(tm.state_dict())
    rng = np.random.default_rng(3)
    xs = (T, I) if unbatched else ((N, T, I) if kw.get("batch_first") else (T, N, I))
    x, h0 = rng.standard_normal(xs), rng.standard_normal((L * D, H) if unbatched else (L * D, N, H))
    lx, lh = lg.tensor(x, requires_grad=True), lg.tensor(h0, requires_grad=True)
    tx, th = torch.tensor(x, requires_grad=True), torch.tensor(h0, requires_grad=True)
    out, hn = m(lx, lh)
    tout, thn = tm(tx, th)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(hn.detach().numpy(), thn.detach().numpy(), rtol=1e-9, atol=1e-11)
    w1, w2 = rng.standard_normal(out.shape), rng.standard_normal(hn.shape)
    ((out * lg.tensor(w1)).sum() + (hn * lg.tensor(w2)).sum()).backward()
    ((tout * torch.tensor(w1)).sum() + (thn * torch.tensor(w2)).sum()).backward()
    for a, b, name in [(lx, tx, "x"), (lh, th, "h0")] + [
            (p, tp, n) for (n, p), tp in zip(m.named_parameters(), tm.parameters())]:
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-8, atol=1e-10,
                                   err_msg=name)


def test_gru_gradcheck_and_float32():
    m = lg.nn.GRU(3, 2, num_layers=2, bidirectional=True, dtype=np.float64)
    helper_gradcheck(lambda x, h: m(x, h), [(3, 2, 3), (4, 2, 2)], low=-1.0, high=1.0)
    out, h = lg.nn.GRU(3, 5)(lg.randn(4, 2, 3))
    assert out.dtype == np.float32 and out.shape == (4, 2, 5) and h.shape == (1, 2, 5)


def _gru_run(m, x, h0, w1, w2):
    """Outputs and every gradient of nn.GRU ``m`` on arrays x, h0 (grads reset after)."""
    lx, lh = lg.tensor(x, requires_grad=True), lg.tensor(h0, requires_grad=True)
    out, hn = m(lx, lh)
    ((out * lg.tensor(w1)).sum() + (hn * lg.tensor(w2)).sum()).backward()
    res = {"out": out.detach().numpy(), "h_n": hn.detach().numpy(), "dx": lx.grad.numpy(),
           "dh0": lh.grad.numpy()}
    for n, p in m.named_parameters():
        res[n] = p.grad.numpy().copy()
        p.grad = None
    return res


@needs_kernels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("T,N,I,H", SEQUENCE_SHAPES)
def test_gru_kernels_match_array_path(monkeypatch, dtype, T, N, I, H):
    # The fused C++ GRU against the array-expression path (the GPU's) on the CPU,
    # two bidirectional layers: every output and gradient.


    lg.manual_seed(T * 100 + H)
    m = lg.nn.GRU(I, H, num_layers=2, bidirectional=True, dtype=dtype)
    rng = np.random.default_rng(N)
    x, h0 = _rand(rng, (T, N, I), dtype), _rand(rng, (4, N, H), dtype)
    w1, w2 = _rand(rng, (T, N, 2 * H), dtype), _rand(rng, (4, N, H), dtype)
    fused = _gru_run(m, x, h0, w1, w2)
    monkeypatch.setattr(rnn, "_on_gru_kernel", lambda x: False)  # the array path
    ref = _gru_run(m, x, h0, w1, w2)
    tol = dict(rtol=1e-4, atol=1e-5 * np.sqrt(H)) if dtype == np.float32 else \
        dict(rtol=1e-10, atol=1e-12)
    for name in ref:
        assert fused[name].dtype == dtype
        np.testing.assert_allclose(fused[name], ref[name], **tol, err_msg=name)


@needs_kernels
def test_gru_kernel_raw_api_edges_and_errors():
    rng = np.random.default_rng(0)
    f = np.float64
    T, N, I, H = 4, 3, 5, 6
    x, h0 = _rand(rng, (T, N, I), f), _rand(rng, (N, H), f)
    wi, wh = _rand(rng, (3 * H, I), f), _rand(rng, (3 * H, H), f)
    # Only dh_n, no dy; no bias; need flags.
    y, hn, saved = K.gru_sequence(x, h0, wi, wh)
    np.testing.assert_array_equal(hn, y[-1])
    dh = _rand(rng, (N, H), f)
    dx, dh0, dwi, dwh, dbi, dbh = K.gru_sequence_backward(None, dh, saved)
    assert dx.shape == x.shape and dwi.shape == wi.shape and dbi is None and dbh is None
    dx2, dh02, none1, none2, _, _ = K.gru_sequence_backward(None, dh, saved,
                                                            need_weight_grads=False)
    assert none1 is None and none2 is None
    np.testing.assert_array_equal(dx2, dx)
    np.testing.assert_array_equal(dh02, dh0)
    assert K.gru_sequence_backward(None, dh, saved, need_input_grad=False)[0] is None
    # Reverse: h_n is the state after t = 0.
    y, hn, _ = K.gru_sequence(x, h0, wi, wh, reverse=True)
    np.testing.assert_array_equal(hn, y[0])
    # Empty sequence: h0 passes through, zero gradients; empty batch.
    y, hn, saved = K.gru_sequence(x[:0], h0, wi, wh)
    assert y.shape == (0, N, H)
    np.testing.assert_array_equal(hn, h0)
    dx, dh0, dwi, dwh, _, _ = K.gru_sequence_backward(None, dh, saved)
    np.testing.assert_array_equal(dh0, dh)
    assert not dwi.any() and not dwh.any()
    y, hn, saved = K.gru_sequence(x[:, :0], h0[:0], wi, wh)
    assert y.shape == (T, 0, H) and hn.shape == (0, H)
    # Bad input names the argument.
    with pytest.raises(ValueError, match="w_hh"):
        K.gru_sequence(x, h0, wi, _rand(rng, (4 * H, H), f))
    with pytest.raises(ValueError, match="w_ih"):
        K.gru_sequence(x, h0, _rand(rng, (3 * H, I + 1), f), wh)
    with pytest.raises(ValueError, match="h0"):
        K.gru_sequence(x, h0[:, :-1], wi, wh)
    with pytest.raises(TypeError, match="dtype"):
        K.gru_sequence(x.astype(np.float32), h0, wi, wh)
    with pytest.raises(TypeError, match="saved"):
        K.gru_sequence_backward(None, dh, object())


# ----------------------------------------------------------------------------- CUDA vs CPU kernels
# Each CUDA kernel against the float32 CPU kernel on the tables above; skipped without a GPU.
CELL_SHAPES = [(N, I, H) for _, N, I, H in SEQUENCE_SHAPES]
GRAD_NAMES = ["dx", "dh", "dc", "dw_ih", "dw_hh", "db_ih", "db_hh"]


def _seq_inputs(T, N, I, H, bias=True, seed=0):
    rng = np.random.default_rng(seed)
    f = np.float32
    return dict(x=_rand(rng, (T, N, I), f), h0=_rand(rng, (N, H), f), c0=_rand(rng, (N, H), f),
                w_ih=_rand(rng, (4 * H, I), f, 0.5), w_hh=_rand(rng, (4 * H, H), f, 0.5),
                b_ih=_rand(rng, 4 * H, f) if bias else None,
                b_hh=_rand(rng, 4 * H, f) if bias else None)


def _to_gpu(arrays):
    import cupy

    if isinstance(arrays, dict):
        return {k: None if v is None else cupy.asarray(v) for k, v in arrays.items()}
    return [None if v is None else cupy.asarray(v) for v in arrays]


def _cuda_tol(*reduction_lengths):
    # float32 on both sides; GEMM summation order and expf vs the CPU's polynomial differ
    return dict(rtol=1e-3, atol=2e-5 * np.sqrt(max(reduction_lengths + (1,))))


def _assert_gpu_close(got, want, tol, names):
    import cupy

    for name, a, b in zip(names, got, want):
        if b is None:
            assert a is None, name
            continue
        assert isinstance(a, cupy.ndarray) and a.dtype == np.float32, name
        assert a.shape == b.shape, (name, a.shape, b.shape)
        np.testing.assert_allclose(cupy.asnumpy(a), b, **tol, err_msg=name)


def _check_sequence(inp, reverse, path=None, seed=0, need=(True, True), stream=None):
    """GPU lstm_sequence (+ backward) on `path` vs the CPU kernel; returns the GPU results."""
    import cupy

    from loomgrad.kernels.gpu import lstm as _gpu_lstm

    T, N, I = inp["x"].shape
    H = inp["w_hh"].shape[1]
    rng = np.random.default_rng(seed)
    grads = [_rand(rng, (T, N, H), np.float32), _rand(rng, (N, H), np.float32),
             _rand(rng, (N, H), np.float32)]
    with _gpu_lstm.forced_path(path), (stream or cupy.cuda.get_current_stream()):
        got = K.lstm_sequence(**_to_gpu(inp), reverse=reverse)
        ran = _gpu_lstm.last_path
        got_g = K.lstm_sequence_backward(*_to_gpu(grads), got[3], *need)
    if stream is not None:
        stream.synchronize()
    if path is not None:
        assert ran == path and _gpu_lstm.last_backward_path == path
    want = K.lstm_sequence(**inp, reverse=reverse)
    want_g = K.lstm_sequence_backward(*grads, want[3], *need)
    tol = _cuda_tol(I, 4 * H, T * N)
    _assert_gpu_close(got[:3], want[:3], tol, ["y", "h_n", "c_n"])
    _assert_gpu_close([got[3].gates, got[3].cs], [want[3].gates, want[3].cs], tol, ["gates", "cs"])
    _assert_gpu_close(got_g, want_g, tol, GRAD_NAMES)
    return got, got_g


@pytest.mark.cuda
@requires_cuda
@needs_kernels
@pytest.mark.parametrize("path", ["gemm", "persistent"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("T,N,I,H", SEQUENCE_SHAPES)
def test_cuda_sequence_matches_cpu(T, N, I, H, reverse, bias, path):
    inp = _seq_inputs(T, N, I, H, bias, seed=T * 100 + H)
    if path == "persistent" and H % 4:
        from loomgrad.kernels.gpu import lstm as _gpu_lstm

        with _gpu_lstm.forced_path(path), pytest.raises(ValueError, match="multiple of 4"):
            K.lstm_sequence(**_to_gpu(inp), reverse=reverse)
        return
    _check_sequence(inp, reverse, path, seed=H)


@pytest.mark.cuda
@requires_cuda
@needs_kernels
@pytest.mark.parametrize("need", [(True, False), (False, True), (False, False)])
def test_cuda_sequence_need_flags(need):
    _, g = _check_sequence(_seq_inputs(6, 5, 7, 12), False, seed=1, need=need)
    assert (g[0] is None) == (not need[0]) and (g[3] is None) == (not need[1])


@pytest.mark.cuda
@requires_cuda
@needs_kernels
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("need_input,need_weight", [(True, True), (False, True), (True, False)])
@pytest.mark.parametrize("N,I,H", CELL_SHAPES)
def test_cuda_cell_matches_cpu(N, I, H, need_input, need_weight, bias):
    import cupy

    inp = _seq_inputs(1, N, I, H, bias, seed=N + H)
    x, h, c, wi, wh, bi, bh = (inp["x"][0], inp["h0"], inp["c0"], inp["w_ih"], inp["w_hh"],
                               inp["b_ih"], inp["b_hh"])
    got = K.lstm_cell(*_to_gpu([x, h, c, wi, wh, bi, bh]))
    want = K.lstm_cell(x, h, c, wi, wh, bi, bh)
    tol = _cuda_tol(I, H, 4 * H, N)
    _assert_gpu_close(got[:2], want[:2], tol, ["h'", "c'"])
    np.testing.assert_allclose(cupy.asnumpy(got[2].gates), want[2].gates, **tol)
    rng = np.random.default_rng(2)
    dh, dc = _rand(rng, (N, H), np.float32), _rand(rng, (N, H), np.float32)
    for dc_arg in (dc, None):  # dc' None means zero
        g = K.lstm_cell_backward(cupy.asarray(dh), None if dc_arg is None else cupy.asarray(dc),
                                 got[2], need_input, need_weight)
        w = K.lstm_cell_backward(dh, dc_arg, want[2], need_input, need_weight)
        _assert_gpu_close(g, w, tol, GRAD_NAMES)
    # zero states given as None
    a = K.lstm_cell(*_to_gpu([x, None, None, wi, wh]))
    b = K.lstm_cell(x, None, None, wi, wh)
    _assert_gpu_close(a[:2], b[:2], tol, ["h' (zero state)", "c' (zero state)"])


@pytest.mark.cuda
@requires_cuda
@needs_kernels
def test_cuda_zero_sizes_and_errors():
    import cupy

    f = np.float32
    g = lambda a: cupy.asarray(np.asarray(a, f))  # noqa: E731
    # N = 0 and I = 0 (both paths), T = 0: as the CPU kernels
    y, hn, cn, s = K.lstm_sequence(g(np.zeros((3, 0, 4))), None, None, g(np.ones((8, 4))),
                                   g(np.ones((8, 2))))
    assert y.shape == (3, 0, 2) and hn.shape == (0, 2)
    d = K.lstm_sequence_backward(None, None, None, s)
    assert d[0].shape == (3, 0, 4) and not d[3].any() and not d[4].any()
    for path in ("gemm", "persistent"):
        from loomgrad.kernels.gpu import lstm as _gpu_lstm

        inp = dict(x=np.zeros((2, 3, 0), f), h0=None, c0=None, w_ih=np.ones((16, 0), f),
                   w_hh=np.full((16, 4), 0.1, f), b_ih=np.ones(16, f), b_hh=np.ones(16, f))
        with _gpu_lstm.forced_path(path):
            y, *_ = K.lstm_sequence(**_to_gpu(inp))
        want = K.lstm_sequence(**inp)[0]
        np.testing.assert_allclose(cupy.asnumpy(y), want, rtol=1e-5, atol=1e-6)
    h0 = np.full((3, 2), 0.5, f)
    y, hn, cn, s = K.lstm_sequence(g(np.zeros((0, 3, 4))), g(h0), g(h0), g(np.ones((8, 4))),
                                   g(np.ones((8, 2))))
    assert y.shape == (0, 3, 2)
    np.testing.assert_array_equal(cupy.asnumpy(hn), h0)
    dx, dh0, dc0, *_ = K.lstm_sequence_backward(None, g(h0), None, s)
    np.testing.assert_array_equal(cupy.asnumpy(dh0), h0)
    assert not dc0.any() and dx.shape == (0, 3, 4)
    h1, c1, cs = K.lstm_cell(g(np.zeros((0, 4))), None, None, g(np.ones((8, 4))),
                             g(np.ones((8, 2))))
    assert h1.shape == (0, 2)
    d = K.lstm_cell_backward(None, None, cs)
    assert d[0].shape == (0, 4) and not d[3].any() and not d[4].any()
    # errors name the argument and the shapes, as on the CPU
    x = g(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"w_ih.*\(8, 4\)"):
        K.lstm_sequence(x, None, None, g(np.ones((8, 5))), g(np.ones((8, 2))))
    with pytest.raises(ValueError, match="w_hh"):
        K.lstm_sequence(x, None, None, g(np.ones((8, 4))), g(np.ones((7, 2))))
    with pytest.raises(TypeError, match="float32"):
        K.lstm_sequence(x, None, None, cupy.ones((8, 4)), g(np.ones((8, 2))))
    with pytest.raises(TypeError, match="NumPy"):
        K.lstm_sequence(x, None, None, np.ones((8, 4), f), g(np.ones((8, 2))))
    with pytest.raises(ValueError, match="3-D"):
        K.lstm_sequence(g(np.zeros((3, 4))), None, None, g(np.ones((8, 4))), g(np.ones((8, 2))))


@pytest.mark.cuda
@requires_cuda
@needs_kernels
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("T,N,I,H", [(50, 8, 32, 64), (1, 3, 5, 8), (20, 1, 16, 256),
                                     (7, 64, 16, 128)])
def test_cuda_persistent_and_gemm_paths_agree(T, N, I, H, reverse):
    import cupy

    from loomgrad.kernels.gpu import lstm as _gpu_lstm

    inp = _to_gpu(_seq_inputs(T, N, I, H, seed=3))
    dy = cupy.asarray(_rand(np.random.default_rng(4), (T, N, H), np.float32))
    out, grads = {}, {}
    for path in ("persistent", "gemm"):
        with _gpu_lstm.forced_path(path):
            out[path] = K.lstm_sequence(**inp, reverse=reverse)
            grads[path] = K.lstm_sequence_backward(dy, out[path][1], None, out[path][3])
        assert _gpu_lstm.last_path == path and _gpu_lstm.last_backward_path == path
    for k, name in enumerate(["y", "h_n", "c_n"]):
        np.testing.assert_allclose(cupy.asnumpy(out["persistent"][k]),
                                   cupy.asnumpy(out["gemm"][k]), rtol=1e-4,
                                   atol=1e-5 * np.sqrt(H), err_msg=name)
    for name, a, b in zip(GRAD_NAMES, grads["persistent"], grads["gemm"]):
        np.testing.assert_allclose(cupy.asnumpy(a), cupy.asnumpy(b), rtol=1e-3,
                                   atol=2e-5 * np.sqrt(max(4 * H, T * N)), err_msg=name)
    y, _, _, s = K.lstm_sequence(**inp)  # auto: small batches take the persistent kernels
    assert _gpu_lstm.last_path == "persistent"
    K.lstm_sequence_backward(dy, None, None, s)
    if N <= 8:  # (larger batches may take the GEMM driver for the backward)
        assert _gpu_lstm.last_backward_path == "persistent"


@pytest.mark.cuda
@requires_cuda
@needs_kernels
@pytest.mark.parametrize("path", ["gemm", "persistent"])
def test_cuda_long_sequence_has_no_nan(path):
    import cupy

    from loomgrad.kernels.gpu import lstm as _gpu_lstm

    inp = _seq_inputs(1000, 4, 8, 32, seed=4)
    with _gpu_lstm.forced_path(path):
        y, hn, cn, s = K.lstm_sequence(**_to_gpu(inp))
        g = K.lstm_sequence_backward(cupy.ones_like(y), None, None, s)
    assert bool(cupy.isfinite(y).all()) and all(bool(cupy.isfinite(a).all()) for a in g[:6])
    assert float(cupy.abs(g[0][0]).sum()) > 0  # the gradient reaches the first step
    want = K.lstm_sequence(**inp)[0]
    np.testing.assert_allclose(cupy.asnumpy(y[:50]), want[:50], rtol=1e-3, atol=1e-4)


@pytest.mark.cuda
@requires_cuda
@needs_kernels
@pytest.mark.parametrize("path", ["gemm", "persistent"])
def test_cuda_sequence_on_non_default_stream(path):
    import cupy

    stream = cupy.cuda.Stream(non_blocking=True)
    _check_sequence(_seq_inputs(9, 6, 10, 24, seed=5), True, path, seed=5, stream=stream)


@pytest.mark.cuda
@requires_cuda
@needs_kernels
def test_cuda_kernels_take_torch_cuda_tensors():
    torch_ = torch_cuda()
    import cupy

    inp = _seq_inputs(5, 3, 4, 8, seed=6)
    tin = {k: torch_.from_numpy(v).cuda() for k, v in inp.items()}
    y, hn, cn, s = K.lstm_sequence(**tin)
    torch_.cuda.synchronize()
    assert isinstance(y, cupy.ndarray)
    want = K.lstm_sequence(**inp)
    tol = _cuda_tol(4, 32, 15)
    _assert_gpu_close([y, hn, cn], want[:3], tol, ["y", "h_n", "c_n"])
    dy = np.ones((5, 3, 8), np.float32)
    g = K.lstm_sequence_backward(torch_.from_numpy(dy).cuda(), None, None, s)
    _assert_gpu_close(g, K.lstm_sequence_backward(dy, None, None, want[3]), tol, GRAD_NAMES)
    h1, c1, _ = K.lstm_cell(tin["x"][0], tin["h0"], tin["c0"], tin["w_ih"], tin["w_hh"])
    w1 = K.lstm_cell(inp["x"][0], inp["h0"], inp["c0"], inp["w_ih"], inp["w_hh"])
    _assert_gpu_close([h1, c1], w1[:2], tol, ["h'", "c'"])


# ----------------------------------------------------------------------------- GPU glue, CPU double
class _CudaDouble(BindingDouble):
    """Stands in for loomgrad._cuda's LSTM bindings on the CPU (see
    gpu_doubles.BindingDouble): runs the CPU kernels. Checks the Python glue's
    argument order, sizes, allocations, None handling and need flags where no
    GPU is at hand."""

    def lstm_sequence_forward(self, *args):
        a, arr = self._args("lstm_sequence_forward", args)
        assert (a["T"], a["N"], a["I"]) == arr("x").shape and a["H"] == arr("w_hh").shape[1]
        lg._cpu.lstm_sequence_forward(*[arr(k) for k in ("x", "h0", "c0", "w_ih", "w_hh",
                                                            "b_ih", "b_hh", "y", "h_n", "c_n",
                                                            "gates", "cs")], a["reverse"])
        self.modes.append(a["mode"])
        return 1 if a["mode"] == 1 else 0

    def lstm_sequence_backward_workspace(self, T, N, I, H):
        return 4 * H * max(I, H)

    def lstm_sequence_backward(self, *args):
        a, arr = self._args("lstm_sequence_backward", args)
        assert (a["T"], a["N"], a["I"]) == arr("x").shape and a["H"] == arr("w_hh").shape[1]
        lg._cpu.lstm_sequence_backward(*[arr(k) for k in (
            "dy", "dh_n", "dc_n", "x", "h0", "c0", "w_ih", "w_hh", "y", "gates", "cs", "dgates",
            "dx", "dh0", "dc0", "dw_ih", "dw_hh", "db")], a["reverse"])
        ws = arr("workspace")
        assert ws is None or ws.shape == (a["workspace_size"],)
        self.modes.append(a["mode"])
        return 1 if a["mode"] == 1 else 0

    def lstm_cell_forward(self, *args):
        a, arr = self._args("lstm_cell_forward", args)
        assert (a["N"], a["I"]) == arr("x").shape and a["H"] == arr("w_hh").shape[1]
        lg._cpu.lstm_cell_forward(*[arr(k) for k in ("x", "h", "c", "w_ih", "w_hh", "b_ih",
                                                        "b_hh", "h_out", "c_out", "gates")])

    def lstm_cell_backward(self, *args):
        a, arr = self._args("lstm_cell_backward", args)
        assert (a["N"], a["I"]) == arr("x").shape and a["H"] == arr("w_hh").shape[1]
        lg._cpu.lstm_cell_backward(*[arr(k) for k in (
            "dh_out", "dc_out", "x", "h", "c", "w_ih", "w_hh", "gates", "c_out", "dgates", "dx",
            "dh", "dc", "dw_ih", "dw_hh", "db")])


def _assert_same_grads(got, want):
    for name, a, b in zip(GRAD_NAMES, got, want):
        assert (a is None) == (b is None), name
        if a is not None:
            np.testing.assert_array_equal(a, b, err_msg=name)


@pytest.fixture
def gpu_glue_on_cpu(monkeypatch):
    """loomgrad._gpu_lstm wired to _CudaDouble and NumPy instead of _cuda and CuPy."""
    from loomgrad.kernels.gpu import lstm as _gpu_lstm

    double = _CudaDouble(binding_source("cuda_lstm.cpp"))
    fake = fake_gpu_module(double)
    monkeypatch.setattr(_gpu_lstm, "arrays", fake)
    return _gpu_lstm, double


@needs_kernels
@pytest.mark.parametrize("need", [(True, True), (False, True), (True, False)])
@pytest.mark.parametrize("bias,reverse", [(True, False), (False, True)])
@pytest.mark.parametrize("T,N,I,H", SEQUENCE_SHAPES + [(0, 3, 4, 2), (3, 0, 4, 2), (2, 3, 0, 4)])
def test_gpu_glue_sequence_matches_cpu_kernels(gpu_glue_on_cpu, T, N, I, H, bias, reverse, need):
    G, double = gpu_glue_on_cpu
    inp = _seq_inputs(T, N, I, H, bias, seed=7)
    for path, mode in ((None, 0), ("gemm", -1), ("persistent", 1)):
        with G.forced_path(path):
            got = G.lstm_sequence(**inp, reverse=reverse)
        assert double.modes[-1] == mode and G.last_path == ("persistent" if mode == 1 else "gemm")
    want = K.lstm_sequence(**inp, reverse=reverse)
    for a, b in zip(got[:3], want[:3]):
        np.testing.assert_array_equal(a, b)
    assert got[3].reverse == reverse and got[3].has_bias == bias
    rng = np.random.default_rng(8)
    dy, dh = _rand(rng, (T, N, H), np.float32), _rand(rng, (N, H), np.float32)
    for grads in ((dy, dh, None), (None, None, dh)):
        g = G.lstm_sequence_backward(*grads, got[3], *need)
        w = K.lstm_sequence_backward(*grads, want[3], *need)
        _assert_same_grads(g, w)


@needs_kernels
@pytest.mark.parametrize("need", [(True, True), (False, True), (True, False)])
@pytest.mark.parametrize("N,I,H", CELL_SHAPES + [(0, 4, 2)])
def test_gpu_glue_cell_matches_cpu_kernels(gpu_glue_on_cpu, N, I, H, need):
    G, _ = gpu_glue_on_cpu
    inp = _seq_inputs(1, N, I, H, seed=9)
    args = (inp["x"][0], inp["h0"], None, inp["w_ih"], inp["w_hh"], inp["b_ih"], None)
    got, want = G.lstm_cell(*args), K.lstm_cell(*args)
    for a, b in zip(got[:2], want[:2]):
        np.testing.assert_array_equal(a, b)
    dh = _rand(np.random.default_rng(10), (N, H), np.float32)
    for grads in ((dh, None), (None, dh)):
        g = G.lstm_cell_backward(*grads, got[2], *need)
        w = K.lstm_cell_backward(*grads, want[2], *need)
        _assert_same_grads(g, w)


@needs_kernels
def test_gpu_glue_errors(gpu_glue_on_cpu):
    G, _ = gpu_glue_on_cpu
    f = np.float32
    x = np.zeros((2, 3, 4), f)
    with pytest.raises(ValueError, match=r"w_ih.*\(8, 4\)"):
        G.lstm_sequence(x, None, None, np.ones((8, 5), f), np.ones((8, 2), f))
    with pytest.raises(ValueError, match="w_hh"):
        G.lstm_sequence(x, None, None, np.ones((8, 4), f), np.ones((7, 2), f))
    with pytest.raises(ValueError, match=r"h0.*\(3, 2\)"):
        G.lstm_sequence(x, np.ones((2, 2), f), None, np.ones((8, 4), f), np.ones((8, 2), f))
    with pytest.raises(ValueError, match="3-D"):
        G.lstm_sequence(x[0], None, None, np.ones((8, 4), f), np.ones((8, 2), f))
    with pytest.raises(ValueError, match="2-D"):
        G.lstm_cell(x, None, None, np.ones((8, 4), f), np.ones((8, 2), f))
    with pytest.raises(TypeError, match="float32"):
        G.lstm_sequence(x, None, None, np.ones((8, 4)), np.ones((8, 2), f))
    with pytest.raises(ValueError, match="path"):
        with G.forced_path("fast"):
            pass


@pytest.mark.cuda
@requires_cuda
@needs_kernels
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("T,N,I,H", [(50, 7, 20, 32), (12, 64, 24, 256)])
def test_cuda_backward_split_products_match_cpu(T, N, I, H, reverse):
    # dh per step and dw_ih / dw_hh take the split-K products here (few output tiles,
    # long K; T=50 N=7: (T-1)*N = 343 leaves a K remainder for the last chunk)
    from loomgrad.kernels.gpu import arrays as _gpu

    mod, _ = _gpu.require()
    assert mod.lstm_sequence_backward_workspace(T, N, I, H) > 0
    _check_sequence(_seq_inputs(T, N, I, H, seed=11), reverse, "gemm", seed=12)
