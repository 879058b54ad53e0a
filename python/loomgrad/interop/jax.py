"""JAX bridge: loomgrad's kernels as differentiable JAX functions (CPU).

    from loomgrad.interop import jax as lgj
    y = lgj.conv2d(x, w, b, stride=1, padding=1)   # works under jax.grad, jax.jit, jax.vmap
    loss = lgj.cross_entropy(lgj.linear(h, w_out, b_out), labels)

Functions (torch.nn.functional's arguments and layouts: NCHW images, OIHW
filters, (out, in) linear weights, time-major (T, N, I) sequences with
torch's gate order): linear, matmul (2-D), conv2d, max_pool2d, avg_pool2d,
adaptive_avg_pool2d, cross_entropy, lstm_layer and gru_layer (one recurrent
layer in one direction, returning ``(y, h_T[, c_T])``).

Each is a ``jax.custom_vjp`` whose forward and backward run
``loomgrad.kernels`` inside ``jax.pure_callback`` on NumPy views of JAX's CPU
buffers (no copy in; JAX copies the results out). Shapes, dtypes and
arguments are checked when the function is traced, so bad input is a
ValueError/TypeError naming the argument, never an error inside XLA.
float32, and float64 under ``jax.enable_x64``. The forward used for a
gradient also returns what its backward needs (max-pool argmax indices as
int32, the recurrent kernels' gate activations) as residuals; the plain
forward does not. ``jax.vmap`` runs the kernels once per batch element
(``vmap_method="sequential"``). Gradients are first-order (a custom_vjp's
backward is not itself differentiable). JAX cannot see from inside a VJP
which inputs are differentiated, so every gradient is computed: the
recurrent backward always runs its weight GEMMs, for instance.

Not covered: GPU arrays (JAX's GPU buffers are not handed to a callback
without a copy to the host), gradients with respect to cross-entropy's class
``weight`` (a constant here: ``jax.lax.stop_gradient`` is applied to it).

Cost: each call is a host callback, and JAX charges about 0.2 ms for an
empty ``pure_callback`` under jit on the 2-core Zen 3 (a tiny ``linear``
through the bridge: ~0.35 ms, eager or jitted), so the bridge pays where a
kernel takes milliseconds (recurrent layers, convolutions of real size).

This module imports JAX; ``import loomgrad`` and ``import loomgrad.interop``
do not.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .. import _cpu
from .. import kernels as K
from ..kernels._args import (adaptive_size, check_dtype_like, check_float, conv_geometry,
                             divisor, gemm_out_shape, pool_args, shape4, xent_options)
from ..kernels._saved import GRUSaved, SequenceSaved

__all__ = ["linear", "matmul", "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
           "cross_entropy", "lstm_layer", "gru_layer"]

_INT32_MAX = 2**31 - 1


# ------------------------------------------------------------ the callback and checks
def _spec(shape, dtype):
    return jax.ShapeDtypeStruct(tuple(shape), dtype)


def _run(host_fn, result_specs, *args):
    """``host_fn`` on NumPy views of ``args`` (CPU JAX buffers, no copy; None
    stays None), as a JAX computation with results ``result_specs``."""
    def call(*arrays):
        return host_fn(*[None if a is None else np.asarray(a) for a in arrays])

    return jax.pure_callback(call, result_specs, *args, vmap_method="sequential")


def _floats(fn: str, **arrays):
    """The common float32/float64 dtype of ``arrays`` (None entries skipped);
    a TypeError naming the first argument that is not a float array of it."""
    dtype = None
    for name, a in arrays.items():
        if a is None:
            continue
        check_float(f"{fn}: {name}", a)
        check_dtype_like(f"{fn}: {name}", a, dtype)
        dtype = a.dtype if dtype is None else dtype
    return dtype


def _expect_shape(fn: str, name: str, a, shape) -> None:
    if tuple(a.shape) != tuple(shape):
        raise ValueError(f"{fn}: {name} must have shape {tuple(shape)}, got {tuple(a.shape)}")


def _bias(fn: str, b, n: int, dtype):
    """A (n,) bias, or zeros for None (whose gradient then goes nowhere)."""
    if b is None:
        return jnp.zeros((n,), dtype)
    _expect_shape(fn, "bias", b, (n,))
    return b


def _images(fn: str, x):
    """(x as (N, C, H, W), whether a batch dimension was added)."""
    shape, added = shape4(f"{fn}: input", x.shape)
    return (jnp.reshape(x, shape) if added else x), added


# Each custom_vjp is called through a jax.jit of itself (static arguments
# static): an eager call then reuses a compiled executable per shape instead
# of tracing the custom_vjp and its callbacks anew (~20 ms a call); inside a
# caller's jit it is inlined.

# ------------------------------------------------------------ linear and matmul
@jax.custom_vjp
def _linear2d(x, w, b):
    return _run(_linear_host, _spec((x.shape[0], w.shape[0]), x.dtype), x, w, b)


def _linear_host(x, w, b):
    out = K.gemm(x, w, trans_b=True)
    out += b
    return out


def _linear_fwd(x, w, b):
    return _linear2d(x, w, b), (x, w)


def _linear_bwd(res, g):
    x, w = res
    specs = (_spec(x.shape, x.dtype), _spec(w.shape, w.dtype), _spec(w.shape[:1], w.dtype))
    return _run(lambda g, x, w: (K.gemm(g, w), K.gemm(g, x, trans_a=True), g.sum(0)),
                specs, g, x, w)


_linear2d.defvjp(_linear_fwd, _linear_bwd)
_linear2d_jit = jax.jit(_linear2d)


def linear(x, weight, bias=None):
    """``x @ weightᵀ + bias`` on our GEMM: x (..., I), weight (O, I), bias (O,)
    or None; returns (..., O)."""
    fn = "linear"
    dt = _floats(fn, x=x, weight=weight, bias=bias)
    if weight.ndim != 2 or x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"{fn}: input (..., {weight.shape[-1] if weight.ndim else '?'}) and "
                         f"weight (out, in) do not fit: input {tuple(x.shape)}, weight "
                         f"{tuple(weight.shape)}")
    O = weight.shape[0]
    out = _linear2d_jit(jnp.reshape(x, (-1, x.shape[-1])), weight, _bias(fn, bias, O, dt))
    return jnp.reshape(out, tuple(x.shape[:-1]) + (O,))


@jax.custom_vjp
def _matmul2d(a, b):
    return _run(K.gemm, _spec((a.shape[0], b.shape[1]), a.dtype), a, b)


def _matmul_fwd(a, b):
    return _matmul2d(a, b), (a, b)


def _matmul_bwd(res, g):
    a, b = res
    return _run(lambda g, a, b: (K.gemm(g, b, trans_b=True), K.gemm(a, g, trans_a=True)),
                (_spec(a.shape, a.dtype), _spec(b.shape, b.dtype)), g, a, b)


_matmul2d.defvjp(_matmul_fwd, _matmul_bwd)
_matmul2d_jit = jax.jit(_matmul2d)


def matmul(a, b):
    """``a @ b`` for 2-D a (M, K) and b (K, N) on our GEMM."""
    _floats("matmul", a=a, b=b)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"matmul: expected 2-D operands, got a {tuple(a.shape)}, "
                         f"b {tuple(b.shape)}")
    gemm_out_shape(a, b, False, False)   # the inner-dimension check
    return _matmul2d_jit(a, b)


# ------------------------------------------------------------ conv2d
@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _conv2d(x, w, b, geometry):
    shape = _cpu.conv2d_output_shape(x.shape, w.shape, *geometry)
    return _run(lambda x, w, b: K.conv2d(x, w, b, *geometry), _spec(shape, x.dtype), x, w, b)


def _conv2d_fwd(x, w, b, geometry):
    return _conv2d(x, w, b, geometry), (x, w)


def _conv2d_bwd(geometry, res, g):
    x, w = res
    specs = (_spec(x.shape, x.dtype), _spec(w.shape, w.dtype), _spec(w.shape[:1], w.dtype))
    return _run(lambda g, x, w: K.conv2d_backward(g, x, w, *geometry), specs, g, x, w)


_conv2d.defvjp(_conv2d_fwd, _conv2d_bwd)
_conv2d_jit = jax.jit(_conv2d, static_argnums=3)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation as ``torch.nn.functional.conv2d``: x (N, C, H, W)
    or (C, H, W), weight (K, C // groups, R, S), bias (K,) or None; stride,
    padding, dilation an int or a pair."""
    fn = "conv2d"
    dt = _floats(fn, x=x, weight=weight, bias=bias)
    x4, added = _images(fn, x)
    geometry = conv_geometry(stride, padding, dilation, groups)
    _cpu.conv2d_output_shape(x4.shape, weight.shape, *geometry)   # the C++ shape check
    out = _conv2d_jit(x4, weight, _bias(fn, bias, weight.shape[0], dt), geometry)
    return out[0] if added else out


# ------------------------------------------------------------ pools
# Each pool's static arguments start with the (N, C, H, W) input shape, which
# the backward needs and the residuals (arrays only) cannot carry.
@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _max_pool2d(x, args):
    shape = _cpu.pool2d_output_shape("max_pool2d", *args)
    return _run(lambda x: K.max_pool2d(x, *args[1:])[0], _spec(shape, x.dtype), x)


def _max_pool2d_fwd(x, args):
    shape = _cpu.pool2d_output_shape("max_pool2d", *args)

    def host(x):
        out, idx = K.max_pool2d(x, *args[1:])
        return out, idx.astype(np.int32)   # offsets into one H x W plane: checked to fit

    out, idx = _run(host, (_spec(shape, x.dtype), _spec(shape, np.int32)), x)
    return out, idx


def _max_pool2d_bwd(args, idx, g):
    return (_run(lambda g, idx: K.max_pool2d_backward(g, idx, *args), _spec(args[0], g.dtype),
                 g, idx),)


_max_pool2d.defvjp(_max_pool2d_fwd, _max_pool2d_bwd)
_max_pool2d_jit = jax.jit(_max_pool2d, static_argnums=1)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Max pooling as ``torch.nn.functional.max_pool2d`` (without indices):
    x (N, C, H, W) or (C, H, W); the gradient goes to the first maximum of
    each window, as torch's."""
    fn = "max_pool2d"
    _floats(fn, x=x)
    x4, added = _images(fn, x)
    if x4.shape[2] * x4.shape[3] > _INT32_MAX:
        raise ValueError(f"{fn}: a {x4.shape[2]}x{x4.shape[3]} plane is too large for the "
                         f"int32 argmax offsets the bridge keeps")
    args = (tuple(x4.shape),) + pool_args(kernel_size, stride, padding, dilation) \
        + (bool(ceil_mode),)
    _cpu.pool2d_output_shape(fn, *args)   # the C++ shape check
    out = _max_pool2d_jit(x4, args)
    return out[0] if added else out


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _avg_pool2d(x, args):
    shape, k, s, p, ceil = args[:5]
    out_shape = _cpu.pool2d_output_shape("avg_pool2d", shape, k, s, p, (1, 1), ceil)
    return _run(lambda x: K.avg_pool2d(x, *args[1:]), _spec(out_shape, x.dtype), x)


def _avg_pool2d_fwd(x, args):
    return _avg_pool2d(x, args), None


def _avg_pool2d_bwd(args, _res, g):
    return (_run(lambda g: K.avg_pool2d_backward(g, *args), _spec(args[0], g.dtype), g),)


_avg_pool2d.defvjp(_avg_pool2d_fwd, _avg_pool2d_bwd)
_avg_pool2d_jit = jax.jit(_avg_pool2d, static_argnums=1)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Average pooling as ``torch.nn.functional.avg_pool2d``: x (N, C, H, W) or
    (C, H, W)."""
    fn = "avg_pool2d"
    _floats(fn, x=x)
    x4, added = _images(fn, x)
    k, s, p, _ = pool_args(kernel_size, stride, padding, 1)
    divisor(divisor_override)   # the check
    _cpu.pool2d_output_shape(fn, tuple(x4.shape), k, s, p, (1, 1), bool(ceil_mode))
    args = (tuple(x4.shape), k, s, p, bool(ceil_mode), bool(count_include_pad),
            divisor_override)
    out = _avg_pool2d_jit(x4, args)
    return out[0] if added else out


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _adaptive_avg_pool2d(x, args):
    shape, size = args
    return _run(lambda x: K.adaptive_avg_pool2d(x, size), _spec(shape[:2] + size, x.dtype), x)


def _adaptive_avg_pool2d_fwd(x, args):
    return _adaptive_avg_pool2d(x, args), None


def _adaptive_avg_pool2d_bwd(args, _res, g):
    return (_run(lambda g: K.adaptive_avg_pool2d_backward(g, args[0]),
                 _spec(args[0], g.dtype), g),)


_adaptive_avg_pool2d.defvjp(_adaptive_avg_pool2d_fwd, _adaptive_avg_pool2d_bwd)
_adaptive_avg_pool2d_jit = jax.jit(_adaptive_avg_pool2d, static_argnums=1)


def adaptive_avg_pool2d(x, output_size):
    """Adaptive average pooling as ``torch.nn.functional.adaptive_avg_pool2d``:
    (N, C, H, W) or (C, H, W) -> (..., OH, OW); ``output_size`` an int or a
    pair (None keeps that input size)."""
    _floats("adaptive_avg_pool2d", x=x)
    x4, added = _images("adaptive_avg_pool2d", x)
    size = adaptive_size(output_size, x4.shape[2], x4.shape[3])
    out = _adaptive_avg_pool2d_jit(x4, (tuple(x4.shape), size))
    return out[0] if added else out


# ------------------------------------------------------------ cross-entropy
@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _xent(logits, target, weight, options):
    shape = (logits.shape[0],) if options[1] == "none" else ()
    return _run(lambda x, t, w: K.softmax_cross_entropy(x, t, w, *options),
                _spec(shape, logits.dtype), logits, target, weight)


def _xent_fwd(logits, target, weight, options):
    return _xent(logits, target, weight, options), (logits, target, weight)


def _xent_bwd(options, res, g):
    logits, target, weight = res
    ignore_index, reduction, ls = options
    probabilities = jnp.issubdtype(target.dtype, jnp.floating)

    def host(g, x, t, w):
        dx = K.softmax_cross_entropy_backward(g, x, t, w, *options)
        if not probabilities:
            return dx
        # d loss / d t[i, c] = -(1 - ls) * w[c] * log_softmax(x)[i, c] * (scale of row i)
        scale = g[:, None] if reduction == "none" else \
            g / x.shape[0] if reduction == "mean" else g
        dt = K.log_softmax(x)
        dt *= -(1.0 - ls) * scale
        if w is not None:
            dt *= w
        return dx, dt

    spec = _spec(logits.shape, logits.dtype)
    if not probabilities:
        return _run(host, spec, g, logits, target, weight), None, None
    dx, dt = _run(host, (spec, spec), g, logits, target, weight)
    return dx, dt, None


_xent.defvjp(_xent_fwd, _xent_bwd)
_xent_jit = jax.jit(_xent, static_argnums=3)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Fused softmax cross-entropy as ``torch.nn.functional.cross_entropy``:
    logits (N, C), (C,) or (N, C, d1, ...); target integer class indices
    ((N,), (), (N, d1, ...)) or class probabilities shaped like the logits;
    weight (C,) or None (a constant: no gradient flows to it). Gradients flow
    to the logits and to probability targets."""
    fn = "cross_entropy"
    dt = _floats(fn, input=input, weight=weight)
    reduction, ls, ignore_index = xent_options(reduction, label_smoothing, ignore_index)
    options = (ignore_index, reduction, ls)   # the kernels' order
    if input.ndim == 0:
        raise ValueError(f"{fn}: input must have a class dimension, got a 0-d array")
    probabilities = jnp.issubdtype(target.dtype, jnp.floating)
    index_shape = tuple(input.shape[:1] + input.shape[2:]) if input.ndim > 1 else ()
    if probabilities:
        check_dtype_like(f"{fn}: target", target, dt)
        if target.shape != input.shape:
            raise ValueError(f"{fn}: probability target must have the logits' shape "
                             f"{tuple(input.shape)}, got {tuple(target.shape)}")
    elif not jnp.issubdtype(target.dtype, jnp.integer):
        raise TypeError(f"{fn}: target: expected integer class indices or float "
                        f"probabilities, got dtype {target.dtype}")
    elif tuple(target.shape) != index_shape:
        raise ValueError(f"{fn}: class-index target must have shape {index_shape} for "
                         f"logits {tuple(input.shape)}, got {tuple(target.shape)}")
    C = input.shape[1] if input.ndim > 1 else input.shape[0]
    if weight is not None:
        _expect_shape(fn, "weight", weight, (C,))
        weight = jax.lax.stop_gradient(weight)
    if input.ndim == 1:
        rows, t = input[None], target[None]
    else:
        rows = jnp.reshape(jnp.moveaxis(input, 1, -1), (-1, C))
        t = jnp.reshape(jnp.moveaxis(target, 1, -1), (-1, C)) if probabilities \
            else jnp.reshape(target, (-1,))
    loss = _xent_jit(rows, t, weight, options)
    if reduction != "none":
        return loss
    return loss[0] if input.ndim == 1 else jnp.reshape(loss, input.shape[:1] + input.shape[2:])


# ------------------------------------------------------------ LSTM and GRU layers
def _recurrent_args(fn, gates, x, w_ih, w_hh, b_ih, b_hh, states):
    """Checked (x, states, w_ih, w_hh, b_ih, b_hh) with zeros for missing
    states and biases."""
    dt = _floats(fn, x=x, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh,
                 **{k: v for k, v in states.items() if v is not None})
    if x.ndim != 3:
        raise ValueError(f"{fn}: x must be 3-D (T, N, I), got shape {tuple(x.shape)}")
    if w_hh.ndim != 2 or w_hh.shape[0] != gates * w_hh.shape[1]:
        raise ValueError(f"{fn}: w_hh must have shape ({gates}*hidden, hidden), got "
                         f"{tuple(w_hh.shape)}")
    T, N, I = x.shape
    H = w_hh.shape[1]
    _expect_shape(fn, "w_ih", w_ih, (gates * H, I))
    out = []
    for name, s in states.items():
        if s is None:
            s = jnp.zeros((N, H), dt)
        _expect_shape(fn, name, s, (N, H))
        out.append(s)
    biases = []
    for name, b in (("b_ih", b_ih), ("b_hh", b_hh)):
        if b is not None:
            _expect_shape(fn, name, b, (gates * H,))
        biases.append(jnp.zeros((gates * H,), dt) if b is None else b)
    return out, biases


@functools.partial(jax.custom_vjp, nondiff_argnums=(7,))
def _lstm(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse):
    st = _spec(h0.shape, x.dtype)
    return _run(lambda *a: K.lstm_sequence(*a, reverse)[:3],
                (_spec(x.shape[:2] + h0.shape[1:], x.dtype), st, st),
                x, h0, c0, w_ih, w_hh, b_ih, b_hh)


def _lstm_fwd(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse):
    T, N, H = x.shape[0], h0.shape[0], h0.shape[1]

    def host(*a):
        y, h_n, c_n, s = K.lstm_sequence(*a, reverse)
        return y, h_n, c_n, s.gates, s.cs

    y, h_n, c_n, gates, cs = _run(host, (
        _spec((T, N, H), x.dtype), _spec((N, H), x.dtype), _spec((N, H), x.dtype),
        _spec((T, N, 4 * H), x.dtype), _spec((T, N, H), x.dtype)),
        x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    return (y, h_n, c_n), (x, h0, c0, w_ih, w_hh, y, gates, cs)


def _lstm_bwd(reverse, res, cts):
    x, h0, c0, w_ih, w_hh = res[:5]

    def host(dy, dh_n, dc_n, x, h0, c0, w_ih, w_hh, y, gates, cs):
        saved = SequenceSaved(x=x, h0=h0, c0=c0, w_ih=w_ih, w_hh=w_hh, y=y, gates=gates,
                              cs=cs, reverse=reverse, has_bias=True)
        return K.lstm_sequence_backward(dy, dh_n, dc_n, saved)

    b = _spec(w_ih.shape[:1], x.dtype)
    return _run(host, (_spec(x.shape, x.dtype), _spec(h0.shape, x.dtype),
                       _spec(c0.shape, x.dtype), _spec(w_ih.shape, x.dtype),
                       _spec(w_hh.shape, x.dtype), b, b), *cts, *res)


_lstm.defvjp(_lstm_fwd, _lstm_bwd)
_lstm_jit = jax.jit(_lstm, static_argnums=7)


def lstm_layer(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """One LSTM layer in one direction on our fused kernels (torch.nn.LSTM's
    gates i, f, g, o): x (T, N, I), h0 and c0 (N, H) or None (zeros),
    w_ih (4H, I), w_hh (4H, H), biases (4H,) or None. ``reverse`` runs
    t = T-1 .. 0 (y stays in input order). Returns (y (T, N, H), h_T, c_T)."""
    (h0, c0), (b_ih, b_hh) = _recurrent_args("lstm_layer", 4, x, w_ih, w_hh, b_ih, b_hh,
                                             {"h0": h0, "c0": c0})
    return _lstm_jit(x, h0, c0, w_ih, w_hh, b_ih, b_hh, bool(reverse))


@functools.partial(jax.custom_vjp, nondiff_argnums=(6,))
def _gru(x, h0, w_ih, w_hh, b_ih, b_hh, reverse):
    return _run(lambda *a: K.gru_sequence(*a, reverse)[:2],
                (_spec(x.shape[:2] + h0.shape[1:], x.dtype), _spec(h0.shape, x.dtype)),
                x, h0, w_ih, w_hh, b_ih, b_hh)


def _gru_fwd(x, h0, w_ih, w_hh, b_ih, b_hh, reverse):
    T, N, H = x.shape[0], h0.shape[0], h0.shape[1]

    def host(*a):
        y, h_n, s = K.gru_sequence(*a, reverse)
        return y, h_n, s.acts

    y, h_n, acts = _run(host, (_spec((T, N, H), x.dtype), _spec((N, H), x.dtype),
                               _spec((T, N, 4 * H), x.dtype)),
                        x, h0, w_ih, w_hh, b_ih, b_hh)
    return (y, h_n), (x, h0, w_ih, w_hh, y, acts)


def _gru_bwd(reverse, res, cts):
    x, h0, w_ih, w_hh = res[:4]

    def host(dy, dh_n, x, h0, w_ih, w_hh, y, acts):
        saved = GRUSaved(x=x, h0=h0, w_ih=w_ih, w_hh=w_hh, y=y, acts=acts, reverse=reverse,
                         has_bias=True)
        return K.gru_sequence_backward(dy, dh_n, saved)

    b = _spec(w_ih.shape[:1], x.dtype)
    return _run(host, (_spec(x.shape, x.dtype), _spec(h0.shape, x.dtype),
                       _spec(w_ih.shape, x.dtype), _spec(w_hh.shape, x.dtype), b, b),
                *cts, *res)


_gru.defvjp(_gru_fwd, _gru_bwd)
_gru_jit = jax.jit(_gru, static_argnums=6)


def gru_layer(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """One GRU layer in one direction on our fused kernels (torch.nn.GRU's
    gates r, z, n): x (T, N, I), h0 (N, H) or None (zeros), w_ih (3H, I),
    w_hh (3H, H), biases (3H,) or None. Returns (y (T, N, H), h_T)."""
    (h0,), (b_ih, b_hh) = _recurrent_args("gru_layer", 3, x, w_ih, w_hh, b_ih, b_hh,
                                          {"h0": h0})
    return _gru_jit(x, h0, w_ih, w_hh, b_ih, b_hh, bool(reverse))
