"""The JAX bridge (loomgrad.interop.jax): every function's value and its
``jax.grad`` against JAX's own maths (lax.conv_general_dilated, reduce_window,
log_softmax, scan-based LSTM/GRU cells written here), float32 and float64
(x64 mode), eagerly and under ``jax.jit``; ``jax.vmap``; bad input refused at
trace time. Skipped without JAX (the ``jax`` extra)."""
import subprocess
import sys

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402

from loomgrad.interop import jax as lgj  # noqa: E402

HIGHEST = lax.Precision.HIGHEST
TOL = {"float32": 2e-5, "float64": 1e-11}   # relative to the largest value compared


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    with jax.enable_x64(request.param == "float64"):
        yield request.param


def _arrays(dtype, *shapes, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    return [jnp.asarray(scale * rng.standard_normal(s), dtype) for s in shapes]


def _close(ours, ref, dtype, what):
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape and ours.dtype == ref.dtype, (what, ours.shape, ref.shape)
    tol = TOL[dtype] * max(1.0, float(np.max(np.abs(ref), initial=0.0)))
    np.testing.assert_allclose(ours, ref, rtol=0, atol=tol, err_msg=what)


def check(ours, ref, args, dtype, argnums=None):
    """Values of ours(*args) and ref(*args), and the gradients of a random
    projection of their outputs with respect to ``argnums`` (default: every
    float argument), eagerly and under jax.jit."""
    if argnums is None:
        argnums = tuple(i for i, a in enumerate(args)
                        if a is not None and jnp.issubdtype(a.dtype, jnp.floating))
    outs = jax.eval_shape(ref, *args)
    leaves, tree = jax.tree_util.tree_flatten(outs)
    rng = np.random.default_rng(1)
    cts = [jnp.asarray(rng.standard_normal(o.shape), o.dtype) for o in leaves]

    def loss(f):
        def scalar(*a):
            out = jax.tree_util.tree_leaves(f(*a))
            return sum(jnp.sum(o * c) for o, c in zip(out, cts))
        return scalar

    want = jax.tree_util.tree_leaves(jax.jit(ref)(*args))   # compiled: far faster than
    g_ref = jax.jit(jax.grad(loss(ref), argnums))(*args)    # op-by-op on the first call
    for jit in (False, True):
        wrap = jax.jit if jit else (lambda f: f)
        got = wrap(ours)(*args)
        assert jax.tree_util.tree_structure(got) == tree
        for i, (o, r) in enumerate(zip(jax.tree_util.tree_leaves(got), want)):
            _close(o, r, dtype, f"output {i} (jit={jit})")
        g_ours = wrap(jax.grad(loss(ours), argnums))(*args)
        for i, (a, b) in zip(argnums, zip(g_ours, g_ref)):
            _close(a, b, dtype, f"gradient of argument {i} (jit={jit})")


# ------------------------------------------------------------ linear, matmul
@pytest.mark.parametrize("bias", [True, False])
def test_linear(dtype, bias):
    x, w, b = _arrays(dtype, (2, 3, 5), (4, 5), (4,))
    b = b if bias else None
    check(lambda x, w, b: lgj.linear(x, w, b),
          lambda x, w, b: jnp.matmul(x, w.T, precision=HIGHEST) + (0 if b is None else b),
          (x, w, b), dtype)


def test_matmul(dtype):
    a, b = _arrays(dtype, (3, 5), (5, 4))
    check(lgj.matmul, lambda a, b: jnp.matmul(a, b, precision=HIGHEST), (a, b), dtype)


# ------------------------------------------------------------ conv2d
def _ref_conv(x, w, b, stride, padding, dilation, groups):
    s, p, d = (v if isinstance(v, tuple) else (v, v) for v in (stride, padding, dilation))
    unbatched = x.ndim == 3
    out = lax.conv_general_dilated(x[None] if unbatched else x, w, s,
                                   [(p[0], p[0]), (p[1], p[1])], rhs_dilation=d,
                                   feature_group_count=groups, precision=HIGHEST)
    if b is not None:
        out = out + b[None, :, None, None]
    return out[0] if unbatched else out


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups, bias", [
    ((2, 3, 7, 6), (4, 3, 3, 3), 1, 1, 1, 1, True),
    ((2, 3, 8, 7), (5, 3, 3, 2), 2, 0, 1, 1, True),
    ((1, 2, 9, 9), (3, 2, 3, 3), (1, 2), (2, 1), 2, 1, False),
    ((2, 6, 6, 6), (6, 2, 3, 3), 2, 1, 1, 3, True),
    ((3, 5, 5), (2, 3, 1, 1), 1, 0, 1, 1, True),   # unbatched
])
def test_conv2d(dtype, x_shape, w_shape, stride, padding, dilation, groups, bias):
    x, w, b = _arrays(dtype, x_shape, w_shape, w_shape[:1])
    b = b if bias else None
    geo = (stride, padding, dilation, groups)
    check(lambda x, w, b: lgj.conv2d(x, w, b, *geo), lambda x, w, b: _ref_conv(x, w, b, *geo),
          (x, w, b), dtype)


# ------------------------------------------------------------ pools
def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


def _pool_pads(shape, k, s, p, d, ceil_mode):
    """reduce_window paddings ((lo, hi) per dim) giving torch's output size."""
    pads = [(0, 0), (0, 0)]
    for n, kk, ss, pp, dd in zip(shape[2:], k, s, p, d):
        span = n + 2 * pp - dd * (kk - 1) - 1
        out = (-(-span // ss) if ceil_mode else span // ss) + 1
        if ceil_mode and (out - 1) * ss >= n + pp:
            out -= 1
        pads.append((pp, max(pp, (out - 1) * ss + dd * (kk - 1) + 1 - n - pp)))
    return pads


def _ref_max_pool(x, k, s=None, p=0, d=1, ceil_mode=False):
    """The maximum over the window's taps, each a strided slice of the padded
    input (reduce_window's VJP has no window dilation)."""
    k, p, d = _pair(k), _pair(p), _pair(d)
    s = k if s is None else _pair(s)
    pads = _pool_pads(x.shape, k, s, p, d, ceil_mode)
    xp = jnp.pad(x, pads, constant_values=-jnp.inf)
    oh, ow = ((n + lo + hi - dd * (kk - 1) - 1) // ss + 1
              for n, (lo, hi), kk, ss, dd in zip(x.shape[2:], pads[2:], k, s, d))
    taps = [xp[:, :, i * d[0]:i * d[0] + (oh - 1) * s[0] + 1:s[0],
               j * d[1]:j * d[1] + (ow - 1) * s[1] + 1:s[1]]
            for i in range(k[0]) for j in range(k[1])]
    return jnp.max(jnp.stack(taps), 0)


@pytest.mark.parametrize("args", [(2,), (3, 2, 1), (3, 1, 1, 2), (3, 2, 0, 1, True),
                                  ((2, 3), (1, 2), (1, 1))])
def test_max_pool2d(dtype, args):
    (x,) = _arrays(dtype, (2, 3, 7, 8))
    check(lambda x: lgj.max_pool2d(x, *args), lambda x: _ref_max_pool(x, *args), (x,), dtype)


def test_max_pool2d_unbatched(dtype):
    (x,) = _arrays(dtype, (3, 6, 6))
    check(lambda x: lgj.max_pool2d(x, 2), lambda x: _ref_max_pool(x[None], 2)[0], (x,), dtype)


def _ref_avg_pool(x, k, s=None, p=0, count_include_pad=True, divisor_override=None):
    k, p = _pair(k), _pair(p)
    s = k if s is None else _pair(s)
    pads = _pool_pads(x.shape, k, s, p, (1, 1), False)
    total = lax.reduce_window(x, 0.0, lax.add, (1, 1) + k, (1, 1) + s, pads)
    if divisor_override:
        return total / divisor_override
    if count_include_pad:
        return total / (k[0] * k[1])
    count = lax.reduce_window(jnp.ones_like(x), 0.0, lax.add, (1, 1) + k, (1, 1) + s, pads)
    return total / count


@pytest.mark.parametrize("k, s, p, cip, div", [(2, None, 0, True, None), (3, 2, 1, True, None),
                                               (3, 2, 1, False, None), (3, 1, 1, True, 5),
                                               ((3, 2), (2, 1), (1, 0), False, None)])
def test_avg_pool2d(dtype, k, s, p, cip, div):
    (x,) = _arrays(dtype, (2, 3, 7, 8))
    check(lambda x: lgj.avg_pool2d(x, k, s, p, False, cip, div),
          lambda x: _ref_avg_pool(x, k, s, p, cip, div), (x,), dtype)


def _ref_adaptive(x, size):
    H, W = x.shape[2:]
    oh, ow = (H if size[0] is None else size[0]), (W if size[1] is None else size[1])
    rows = []
    for i in range(oh):
        h0, h1 = (i * H) // oh, -(-((i + 1) * H) // oh)
        rows.append(jnp.stack([jnp.mean(x[:, :, h0:h1, (j * W) // ow:-(-((j + 1) * W) // ow)],
                                         axis=(2, 3)) for j in range(ow)], -1))
    return jnp.stack(rows, -2)


@pytest.mark.parametrize("size", [(3, 4), (1, 1), (None, 2)])
def test_adaptive_avg_pool2d(dtype, size):
    (x,) = _arrays(dtype, (2, 3, 7, 9))
    check(lambda x: lgj.adaptive_avg_pool2d(x, size), lambda x: _ref_adaptive(x, size), (x,),
          dtype)


# ------------------------------------------------------------ cross-entropy
def _ref_xent(x, t, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """torch.nn.functional.cross_entropy's definition, in JAX, on (N, C) logits."""
    C = x.shape[-1]
    logp = jax.nn.log_softmax(x, axis=-1)
    w = jnp.ones((C,), x.dtype) if weight is None else weight
    ls = label_smoothing
    if jnp.issubdtype(t.dtype, jnp.floating):
        loss = -jnp.sum(w * (t * (1 - ls) + ls / C) * logp, -1)
        return {"mean": jnp.sum(loss) / x.shape[0], "sum": jnp.sum(loss), "none": loss}[reduction]
    keep = t != ignore_index
    tc = jnp.where(keep, t, 0)
    wt = jnp.where(keep, w[tc], 0)
    nll = -wt * jnp.take_along_axis(logp, tc[:, None], -1)[:, 0]
    smooth = jnp.where(keep, -jnp.sum(w * logp, -1), 0)
    loss = (1 - ls) * nll + ls / C * smooth
    return {"mean": jnp.sum(loss) / jnp.sum(wt), "sum": jnp.sum(loss), "none": loss}[reduction]


XENT_CASES = [dict(), dict(reduction="sum"), dict(reduction="none"),
              dict(weight=True), dict(ignore_index=2), dict(label_smoothing=0.2),
              dict(weight=True, ignore_index=2, label_smoothing=0.1, reduction="mean"),
              dict(probabilities=True), dict(probabilities=True, label_smoothing=0.3),
              dict(probabilities=True, weight=True, reduction="none")]


def _xent_inputs(dtype, case):
    case = dict(case)
    x, w, p = _arrays(dtype, (6, 5), (5,), (6, 5))
    if case.pop("probabilities", False):
        t = jax.nn.softmax(p, -1)
    else:
        t = jnp.asarray([0, 2, 4, 2, 1, 3])
    if case.pop("weight", False):
        case["weight"] = jnp.abs(w) + 0.1
    return x, t, case


@pytest.mark.parametrize("case", XENT_CASES)
def test_cross_entropy(dtype, case):
    x, t, kw = _xent_inputs(dtype, case)
    check(lambda x, t: lgj.cross_entropy(x, t, **kw), lambda x, t: _ref_xent(x, t, **kw),
          (x, t), dtype)


@pytest.mark.parametrize("case", XENT_CASES)
def test_cross_entropy_reference_is_torchs(case):
    torch = pytest.importorskip("torch")
    with jax.enable_x64(True):
        x, t, kw = _xent_inputs("float64", case)
        tkw = {k: torch.from_numpy(np.array(v)) if k == "weight" else v
               for k, v in kw.items()}
        want = torch.nn.functional.cross_entropy(torch.from_numpy(np.array(x)),
                                                 torch.from_numpy(np.array(t)), **tkw)
        np.testing.assert_allclose(np.asarray(_ref_xent(x, t, **kw)), want.numpy(),
                                   rtol=1e-12, atol=1e-12)


def test_cross_entropy_other_shapes(dtype):
    x, p = _arrays(dtype, (2, 4, 3, 2), (5,))
    t = jnp.asarray(np.random.default_rng(2).integers(0, 4, (2, 3, 2)))
    rows = lambda x: jnp.reshape(jnp.moveaxis(x, 1, -1), (-1, 4))  # noqa: E731
    check(lambda x: lgj.cross_entropy(x, t, reduction="none"),
          lambda x: jnp.reshape(_ref_xent(rows(x), t.reshape(-1), reduction="none"), (2, 3, 2)),
          (x,), dtype)
    check(lambda p: lgj.cross_entropy(p, jnp.asarray(3)),
          lambda p: _ref_xent(p[None], jnp.asarray([3])), (p,), dtype)


# ------------------------------------------------------------ LSTM, GRU
def _ref_lstm(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse):
    def cell(carry, xt):
        h, c = carry
        g = (jnp.matmul(xt, w_ih.T, precision=HIGHEST) + jnp.matmul(h, w_hh.T, precision=HIGHEST)
             + (0 if b_ih is None else b_ih + b_hh))
        i, f, gg, o = jnp.split(g, 4, -1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(gg)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), h

    (h, c), y = lax.scan(cell, (h0, c0), x, reverse=reverse)
    return y, h, c


def _ref_gru(x, h0, w_ih, w_hh, b_ih, b_hh, reverse):
    zero = jnp.zeros((w_ih.shape[0],), x.dtype)
    b_ih, b_hh = (zero, zero) if b_ih is None else (b_ih, b_hh)

    def cell(h, xt):
        gx = jnp.matmul(xt, w_ih.T, precision=HIGHEST) + b_ih
        gh = jnp.matmul(h, w_hh.T, precision=HIGHEST) + b_hh
        (xr, xz, xn), (hr, hz, hn) = jnp.split(gx, 3, -1), jnp.split(gh, 3, -1)
        r, z = jax.nn.sigmoid(xr + hr), jax.nn.sigmoid(xz + hz)
        n = jnp.tanh(xn + r * hn)
        h = (1 - z) * n + z * h
        return h, h

    h, y = lax.scan(cell, h0, x, reverse=reverse)
    return y, h


@pytest.mark.parametrize("reverse, bias", [(False, True), (True, True), (False, False)])
def test_lstm_layer(dtype, reverse, bias):
    T, N, I, H = 5, 3, 4, 6
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = _arrays(
        dtype, (T, N, I), (N, H), (N, H), (4 * H, I), (4 * H, H), (4 * H,), (4 * H,), scale=0.5)
    if not bias:
        b_ih = b_hh = None
    args = (x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    check(lambda *a: lgj.lstm_layer(*a, reverse=reverse),
          lambda *a: _ref_lstm(*a, reverse), args, dtype)


@pytest.mark.parametrize("reverse, bias", [(False, True), (True, True), (False, False)])
def test_gru_layer(dtype, reverse, bias):
    T, N, I, H = 5, 3, 4, 6
    x, h0, w_ih, w_hh, b_ih, b_hh = _arrays(
        dtype, (T, N, I), (N, H), (3 * H, I), (3 * H, H), (3 * H,), (3 * H,), scale=0.5)
    if not bias:
        b_ih = b_hh = None
    args = (x, h0, w_ih, w_hh, b_ih, b_hh)
    check(lambda *a: lgj.gru_layer(*a, reverse=reverse),
          lambda *a: _ref_gru(*a, reverse), args, dtype)


def test_recurrent_zero_initial_state(dtype):
    x, w_ih, w_hh = _arrays(dtype, (3, 2, 4), (9, 4), (9, 3), scale=0.5)
    zeros = jnp.zeros((2, 3), x.dtype)
    check(lambda x, w_ih, w_hh: lgj.gru_layer(x, None, w_ih, w_hh),
          lambda x, w_ih, w_hh: _ref_gru(x, zeros, w_ih, w_hh, None, None, False),
          (x, w_ih, w_hh), dtype)
    x, w_ih, w_hh = _arrays(dtype, (3, 2, 4), (12, 4), (12, 3), scale=0.5)
    check(lambda x, w_ih, w_hh: lgj.lstm_layer(x, None, None, w_ih, w_hh),
          lambda x, w_ih, w_hh: _ref_lstm(x, zeros, zeros, w_ih, w_hh, None, None, False),
          (x, w_ih, w_hh), dtype)


# ------------------------------------------------------------ transformations, errors
def test_vmap_runs_each_batch_element():
    x, w, b = _arrays("float32", (4, 2, 3, 6, 6), (5, 3, 3, 3), (5,))
    got = jax.vmap(lambda x: lgj.conv2d(x, w, b, padding=1))(x)
    want = jnp.stack([_ref_conv(xi, w, b, 1, 1, 1, 1) for xi in x])
    _close(got, want, "float32", "vmap")
    g = jax.grad(lambda x: jnp.sum(jax.vmap(lambda x: lgj.max_pool2d(x, 2))(x) ** 2))(x)
    g_ref = jax.grad(lambda x: jnp.sum(_ref_max_pool(x.reshape(8, 3, 6, 6), 2) ** 2))(x)
    _close(g, g_ref, "float32", "vmap grad")


def test_a_training_step_under_jit():
    """A small CNN step under jit: loss and parameter gradients equal jax's own."""
    rng = np.random.default_rng(3)
    params = [jnp.asarray(0.3 * rng.standard_normal(s), jnp.float32)
              for s in [(4, 1, 3, 3), (4,), (10, 4 * 3 * 3), (10,)]]
    x = jnp.asarray(rng.standard_normal((5, 1, 6, 6)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 10, 5))

    def net(conv, pool, lin, xent):
        def loss(p):
            h = pool(jax.nn.relu(conv(x, p[0], p[1])))
            return xent(lin(h.reshape(5, -1), p[2], p[3]), y)
        return jax.jit(jax.value_and_grad(loss))

    ours = net(lambda x, w, b: lgj.conv2d(x, w, b, padding=1), lambda h: lgj.max_pool2d(h, 2),
               lgj.linear, lgj.cross_entropy)(params)
    ref = net(lambda x, w, b: _ref_conv(x, w, b, 1, 1, 1, 1), lambda h: _ref_max_pool(h, 2),
              lambda h, w, b: jnp.matmul(h, w.T, precision=HIGHEST) + b, _ref_xent)(params)
    _close(ours[0], ref[0], "float32", "loss")
    for i, (a, b) in enumerate(zip(ours[1], ref[1])):
        _close(a, b, "float32", f"gradient {i}")


def test_bad_input_is_refused_at_trace_time():
    x, w = _arrays("float32", (2, 3, 5, 5), (4, 3, 3, 3))
    with pytest.raises(TypeError, match="conv2d: weight"):
        lgj.conv2d(x, w.astype(jnp.int32))
    with pytest.raises(TypeError, match="float32 or float64"):
        lgj.max_pool2d(x.astype(jnp.float16), 2)
    with pytest.raises(ValueError):
        lgj.conv2d(x, w[:, :2])              # channels differ
    with pytest.raises(ValueError, match="linear"):
        lgj.linear(x.reshape(2, 75), w.reshape(4, 27))
    with pytest.raises(ValueError, match="inner dimensions"):
        lgj.matmul(x.reshape(2, 75), w.reshape(27, 4))
    with pytest.raises(ValueError, match="w_ih"):
        lgj.gru_layer(x[0], None, w.reshape(12, 9)[:9, :4], w.reshape(12, 9)[:9, :3])
    with pytest.raises(ValueError, match="target"):
        lgj.cross_entropy(x.reshape(6, 25), jnp.asarray([1, 2]))
    with pytest.raises(ValueError, match="reduction"):
        lgj.cross_entropy(x.reshape(6, 25), jnp.zeros(6, jnp.int32), reduction="avg")
    with pytest.raises(ValueError):
        jax.jit(lambda x: lgj.max_pool2d(x, 7))(x)   # window larger than the padded input


def test_weight_is_a_constant():
    x, w = _arrays("float32", (4, 3), (3,))
    t = jnp.asarray([0, 1, 2, 1])
    g = jax.grad(lambda w: lgj.cross_entropy(x, t, weight=w))(jnp.abs(w))
    assert not np.any(np.asarray(g))


def test_importing_the_package_imports_no_jax():
    code = ("import loomgrad, loomgrad.interop, loomgrad.kernels, sys; "
            "assert 'jax' not in sys.modules, 'jax imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
