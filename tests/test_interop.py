"""Any array in, the caller's kind out (kernels/_interop.py): every
``lg.kernels.*`` entry point fed NumPy, torch and (when installed) JAX arrays,
contiguous and strided, float32 and float64, returns arrays of the caller's
library with the values of the NumPy call; zero-copy input and ``out=``;
the requires-grad refusal, mixed libraries, unknown DLPack providers, and
``import loomgrad`` importing neither torch nor jax."""
import subprocess
import sys

import numpy as np
import pytest

from loomgrad import kernels as K

torch = pytest.importorskip("torch")
try:
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
except ImportError:  # JAX is optional: its rows are skipped
    jax = None

DTYPES = [np.float32, np.float64]


def _xent_pair(K, logits, target, g):
    return (K.softmax_cross_entropy(logits, target, reduction="none"),
            K.softmax_cross_entropy_backward(g, logits, target, reduction="none"))


def _lstm_cell_pair(K, x, h, c, w_ih, w_hh, b, dh):
    h1, c1, saved = K.lstm_cell(x, h, c, w_ih, w_hh, b, b)
    return (h1, c1) + K.lstm_cell_backward(dh, None, saved)


def _lstm_seq_pair(K, x, h0, c0, w_ih, w_hh, b, dy):
    y, h, c, saved = K.lstm_sequence(x, h0, c0, w_ih, w_hh, b, b)
    return (y, h, c) + K.lstm_sequence_backward(dy, None, None, saved)


def _gru_pair(K, x, h0, w_ih, w_hh, b, dy):
    y, h, saved = K.gru_sequence(x, h0, w_ih, w_hh, b, b)
    return (y, h) + K.gru_sequence_backward(dy, None, saved)


def _max_pair(K, x, g):
    out, idx = K.max_pool2d(x, 3, 2, 1)
    return out, idx, K.max_pool2d_backward(g, idx, x.shape, 3, 2, 1)


def _layer_norm_pair(K, x, w, b, g):
    out, mean, rstd = K.layer_norm(x, (6,), w, b)
    return (out, mean, rstd) + K.layer_norm_backward(g, x, (6,), mean, rstd, w)


def _group_norm_pair(K, x, w, b, g):
    out, mean, rstd = K.group_norm(x, 2, w, b)
    return (out, mean, rstd) + K.group_norm_backward(g, x, 2, mean, rstd, w)


def _batch_norm_pair(K, x, w, b, g):
    out, mean, var, rstd = K.batch_norm(x, w, b)
    return (out, mean, var, rstd) + K.batch_norm_backward(g, x, mean, rstd, w)


# name -> (shapes of the float inputs (ints: an int64 array of that shape), the call)
CASES = {
    "gemm": ([(5, 7), (7, 3)], lambda K, a, b: K.gemm(a, b)),
    "gemm trans batched": ([(2, 7, 5), (3, 7)], lambda K, a, b: K.gemm(a, b, trans_a=True,
                                                                        trans_b=True, alpha=2)),
    "matmul": ([(4, 6), (6, 5)], lambda K, a, b: K.matmul(a, b)),
    "pack_gemm_b": ([(5, 7), (3, 7)], lambda K, a, w: K.gemm(a, K.pack_gemm_b(w, trans_b=True))),
    "conv2d": ([(2, 3, 8, 8), (4, 3, 3, 3), (4,)],
               lambda K, x, w, b: K.conv2d(x, w, b, stride=2, padding=1)),
    "conv2d_backward": ([(2, 4, 4, 4), (2, 3, 8, 8), (4, 3, 3, 3)],
                        lambda K, g, x, w: K.conv2d_backward(g, x, w, stride=2, padding=1)),
    "max_pool2d+backward": ([(2, 3, 9, 9), (2, 3, 5, 5)], _max_pair),
    "avg_pool2d": ([(2, 3, 8, 8)], lambda K, x: K.avg_pool2d(x, 2)),
    "avg_pool2d_backward": ([(2, 3, 4, 4)],
                            lambda K, g: K.avg_pool2d_backward(g, (2, 3, 8, 8), 2)),
    "adaptive_avg_pool2d": ([(2, 3, 7, 9)], lambda K, x: K.adaptive_avg_pool2d(x, (3, 4))),
    "adaptive_avg_pool2d_backward": ([(2, 3, 3, 4)], lambda K, g: K.adaptive_avg_pool2d_backward(
        g, (2, 3, 7, 9))),
    "softmax": ([(4, 6)], lambda K, x: K.softmax(x)),
    "log_softmax": ([(3, 4, 6)], lambda K, x: K.log_softmax(x)),
    "softmax_backward": ([(4, 6), (4, 6)], lambda K, g, y: K.softmax_backward(g, y)),
    "log_softmax_backward": ([(4, 6), (4, 6)], lambda K, g, y: K.log_softmax_backward(g, y)),
    "softmax_cross_entropy+backward": ([(5, 7), 5, (5,)], _xent_pair),
    "lstm_cell+backward": ([(3, 4), (3, 5), (3, 5), (20, 4), (20, 5), (20,), (3, 5)],
                           _lstm_cell_pair),
    "lstm_sequence+backward": ([(6, 3, 4), (3, 5), (3, 5), (20, 4), (20, 5), (20,), (6, 3, 5)],
                               _lstm_seq_pair),
    "gru_sequence+backward": ([(6, 3, 4), (3, 5), (15, 4), (15, 5), (15,), (6, 3, 5)],
                              _gru_pair),
    "layer_norm+backward": ([(3, 4, 6), (6,), (6,), (3, 4, 6)], _layer_norm_pair),
    "group_norm+backward": ([(2, 4, 3, 3), (4,), (4,), (2, 4, 3, 3)], _group_norm_pair),
    "batch_norm+backward": ([(2, 4, 3, 3), (4,), (4,), (2, 4, 3, 3)], _batch_norm_pair),
    "upsample_nearest2d": ([(2, 3, 4, 5)], lambda K, x: K.upsample_nearest2d(x, (7, 9))),
    "upsample_nearest2d_backward": ([(2, 3, 7, 9)], lambda K, g: K.upsample_nearest2d_backward(
        g, (2, 3, 4, 5))),
    "upsample_bilinear2d": ([(2, 3, 4, 5)], lambda K, x: K.upsample_bilinear2d(x, (7, 9), True)),
    "upsample_bilinear2d_backward": ([(2, 3, 7, 9)],
                                     lambda K, g: K.upsample_bilinear2d_backward(
                                         g, (2, 3, 4, 5), False, (1.75, 1.8))),
}


def test_every_entry_point_is_covered():
    covered = set()
    for name in CASES:
        base, _, pair = name.partition("+")
        covered |= {base, f"{base}_backward"} if pair else {base}
    covered.add("gemm")
    entry_points = [n for n in K.__all__ if not isinstance(getattr(K, n), type)]  # not classes
    missing = [n for n in entry_points if n not in covered]
    assert not missing, f"entry points without an interop case: {missing}"
    undecorated = [n for n in entry_points if not hasattr(getattr(K, n), "__wrapped__")]
    assert not undecorated, f"entry points not behind kernels/_interop.any_array: {undecorated}"


def _inputs(shapes, dtype, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for s in shapes:
        if isinstance(s, int):   # class indices / argmax-like int64 operand
            out.append(rng.integers(0, 7, size=s).astype(np.int64))
        else:
            out.append(rng.standard_normal(s).astype(dtype))
    return out


def _strided(a):
    """(a twice as wide, the ::2 view of it equal to a): a non-contiguous operand."""
    if a.ndim == 0:
        return a, a
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    big[..., ::2] = a
    return big, big[..., ::2]


def _as_kind(kind, a, strided):
    if kind == "numpy":
        return _strided(a)[1] if strided else a
    if kind == "torch":
        return torch.from_numpy(_strided(a)[0])[..., ::2] if strided else torch.from_numpy(a)
    return jnp.asarray(a)  # jax arrays have no strided views


def _arrays(result):
    """The arrays in a result (saved objects and None dropped)."""
    items = result if isinstance(result, tuple) else (result,)
    return [r for r in items if r is not None and hasattr(r, "shape")]


KINDS = [("numpy", False), ("numpy", True), ("torch", False), ("torch", True),
         pytest.param("jax", False, marks=pytest.mark.skipif(jax is None,
                                                              reason="jax not installed"))]


@pytest.mark.parametrize("kind,strided", KINDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(CASES))
def test_caller_kind_out_same_values(case, dtype, kind, strided):
    shapes, call = CASES[case]
    xs = _inputs(shapes, dtype)
    want = [np.asarray(r) for r in _arrays(call(K, *xs))]
    got = _arrays(call(K, *(_as_kind(kind, a, strided) for a in xs)))
    assert len(got) == len(want)
    types = {"numpy": np.ndarray, "torch": torch.Tensor,
             "jax": getattr(jax, "Array", None)}
    for g, w in zip(got, want):
        assert isinstance(g, types[kind]), f"{case}: got a {type(g)} for {kind} input"
        gn = g.numpy() if kind == "torch" else np.asarray(g)
        assert gn.dtype == w.dtype and gn.shape == w.shape
        np.testing.assert_array_equal(gn, w)


def test_torch_input_is_not_copied():
    x = torch.randn(6, 3, 4, dtype=torch.float64)
    w_ih, w_hh = torch.randn(20, 4, dtype=torch.float64), torch.randn(20, 5, dtype=torch.float64)
    *_, saved = K.lstm_sequence(x, None, None, w_ih, w_hh)
    assert saved.x.ctypes.data == x.data_ptr()       # the kernel read the tensor's own memory
    assert saved.w_hh.ctypes.data == w_hh.data_ptr()
    xs = torch.randn(6, 3, 8, dtype=torch.float64)[..., ::2]   # strided: copied, as for NumPy
    *_, saved = K.lstm_sequence(xs, None, None, w_ih, w_hh)
    assert saved.x.ctypes.data != xs.data_ptr() and saved.x.flags.c_contiguous


def test_torch_output_is_a_view_of_the_kernel_output():
    y = K.softmax(torch.randn(3, 4))
    assert isinstance(y, torch.Tensor) and y.is_contiguous()
    assert torch.allclose(y.sum(-1), torch.ones(3))


def test_out_argument_comes_back_as_the_callers_object():
    a, b = torch.randn(4, 3), torch.randn(3, 5)
    out = torch.ones(4, 5)
    r = K.gemm(a, b, beta=1.0, out=out)
    assert r is out
    torch.testing.assert_close(out, a @ b + 1)


def test_requires_grad_is_refused_with_a_pointer_to_the_bridge():
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    with pytest.raises(TypeError, match=r"conv2d: x .*requires grad.*loomgrad\.interop\.torch"):
        K.conv2d(x, torch.randn(4, 3, 3, 3))
    with pytest.raises(TypeError, match="b is a torch tensor that requires grad"):
        K.gemm(torch.randn(2, 3), torch.randn(3, 2, requires_grad=True))


def test_mixed_libraries_are_a_type_error():
    with pytest.raises(TypeError, match=r"different libraries.*x is a torch.*weight is a numpy"):
        K.conv2d(torch.randn(1, 3, 8, 8), np.zeros((4, 3, 3, 3), np.float32))
    with pytest.raises(TypeError, match="different libraries"):
        K.softmax_cross_entropy(torch.randn(3, 5), np.array([0, 1, 2]))
    y, h, saved = K.gru_sequence(torch.randn(2, 1, 3), None, torch.randn(6, 3),
                                 torch.randn(6, 2))
    with pytest.raises(TypeError, match=r"dy is a numpy array, saved is a torch array"):
        K.gru_sequence_backward(np.ones((2, 1, 2), np.float32), None, saved)


def test_backward_of_a_torch_forward_answers_in_torch_without_array_arguments():
    y, h, saved = K.gru_sequence(torch.randn(2, 1, 3), None, torch.randn(6, 3),
                                 torch.randn(6, 2))
    grads = K.gru_sequence_backward(None, None, saved)
    assert all(isinstance(g, torch.Tensor) for g in grads if g is not None)


def test_numpy_scalars_and_wrong_dtypes():
    a = torch.randn(3, 3, dtype=torch.float64)
    r = K.gemm(a, a, alpha=np.float64(2.0))
    torch.testing.assert_close(r, 2 * a @ a)
    with pytest.raises(TypeError, match="float32 or float64"):
        K.softmax(torch.ones(2, 3, dtype=torch.float16))
    with pytest.raises(TypeError, match="x: cannot view this torch.Tensor"):
        K.softmax(torch.ones(2, 3, dtype=torch.bfloat16))


class _DLPackOnly:
    """A foreign CPU array known only through the DLPack protocol."""

    def __init__(self, a):
        self._a = a

    def __dlpack__(self, **kw):
        return self._a.__dlpack__(**kw)

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()


def test_unknown_dlpack_provider_gives_numpy():
    a = np.random.default_rng(0).standard_normal((3, 4))
    r = K.softmax(_DLPackOnly(a))
    assert type(r) is np.ndarray
    np.testing.assert_array_equal(r, K.softmax(a))


def test_import_loomgrad_imports_neither_torch_nor_jax():
    code = ("import sys, loomgrad, loomgrad.kernels, loomgrad.interop; "
            "assert 'torch' not in sys.modules and 'jax' not in sys.modules, "
            "[m for m in ('torch', 'jax') if m in sys.modules]")
    subprocess.run([sys.executable, "-c", code], check=True)
