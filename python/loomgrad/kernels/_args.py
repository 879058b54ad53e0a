"""The one set of argument parsers of the raw-kernel layer, for the CPU and GPU halves alike.

Everything here works on shapes, scalars and array metadata (no kernel
calls), so every family module and every GPU glue module imports it from
below. :func:`float_array` is the CPU operands' one door (a size-checked
contiguous copy only where needed). Errors are ValueError/TypeError naming the argument
and its shape, as torch words them where torch has a word for it.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import _alloc
from ._types import Array, Pair

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
REDUCTIONS = ("mean", "sum", "none")

def to_int(name: str, v) -> int:
    """``v`` as an int (bools and floats are refused)."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {type(v).__name__} {v!r}")
    return int(v)


def pair(name: str, v, lo: int | None = None, fn: str | None = None) -> tuple[int, int]:
    """An int or a pair of ints (a 1-tuple counts as both), as torch's ``_pair``;
    each must be >= ``lo`` when given. ``fn`` prefixes the messages. The 2**31
    bounds on geometry are checked by the bindings, next to the index maths."""
    where = f"{fn}: {name}" if fn else name
    vals = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if len(vals) == 1:
        vals = vals * 2
    if len(vals) != 2:
        raise ValueError(f"{where}: expected an int or a pair of ints, got {v!r}")
    out = to_int(where, vals[0]), to_int(where, vals[1])
    if lo is not None and min(out) < lo:
        raise ValueError(f"{where} must be >= {lo}, got {v!r}")
    return out


def check_float(name: str, x) -> None:
    """TypeError unless ``x`` is an array of float32 or float64."""
    if not hasattr(x, "dtype") or not hasattr(x, "shape"):
        raise TypeError(f"{name}: expected a numpy or cupy array, got {type(x).__name__}")
    if np.dtype(x.dtype) not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected float32 or float64, got dtype {x.dtype} "
                        f"with shape {tuple(x.shape)}")


def check_dtype_like(name: str, x, dtype) -> None:
    """TypeError unless ``x`` has ``dtype`` (the other operands' dtype)."""
    if dtype is not None and np.dtype(x.dtype) != np.dtype(dtype):
        raise TypeError(f"{name}: dtype must be {np.dtype(dtype)} (like the other operands), "
                        f"got {x.dtype} with shape {tuple(x.shape)}")


def float_array(name: str, x, dtype=None) -> np.ndarray | None:
    """``x`` as a C-contiguous float32/float64 NumPy array (of ``dtype`` when
    given: the other operands' dtype); None stays None."""
    if x is None:
        return None
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array, got {type(x).__name__}")
    check_float(name, x)
    check_dtype_like(name, x, dtype)
    return _alloc.contiguous(name, x)


def prefixed_float_array(fn, name, a, dtype=None) -> np.ndarray | None:
    """``a`` as a C-contiguous float32/float64 array of ``dtype`` (None stays None)."""
    return float_array(f"{fn}: {name}", a, dtype)


def recurrent_weights(fn, x, w_ih, w_hh, b_ih, b_hh,
                      gates=4) -> tuple[np.ndarray, np.ndarray, np.ndarray | None,
                                        np.ndarray | None]:
    """LSTM (gates=4) / GRU (gates=3) weights and biases, dtype-matched to x."""
    w_ih = prefixed_float_array(fn, "w_ih", w_ih, x.dtype)
    w_hh = prefixed_float_array(fn, "w_hh", w_hh, x.dtype)
    if w_hh.ndim != 2 or w_hh.shape[0] != gates * w_hh.shape[1]:
        raise ValueError(f"{fn}: w_hh must have shape ({gates}*hidden, hidden), got "
                         f"{w_hh.shape}")
    return w_ih, w_hh, prefixed_float_array(fn, "b_ih", b_ih, x.dtype), prefixed_float_array(fn, "b_hh", b_hh, x.dtype)


def recurrent_state(fn, name, s, N, H, dtype) -> np.ndarray:
    """An (N, H) initial state; None means zeros."""
    if s is None:
        return np.zeros((N, H), dtype)
    return prefixed_float_array(fn, name, s, dtype)


def batched(name: str, x) -> tuple[Array, bool]:
    """(N, C, H, W) view of a 4-D or unbatched 3-D image array, and whether
    a batch dimension was added."""
    if x.ndim == 3:
        return x[None], True
    if x.ndim != 4:
        raise ValueError(f"{name}: expected a 4-D (N, C, H, W) or 3-D (C, H, W) array, "
                         f"got shape {tuple(x.shape)}")
    return x, False


def shape4(name: str, shape) -> tuple[tuple[int, ...], bool]:
    """A 4-D shape from a 4-D or 3-D shape (or an array's shape), and whether a
    batch dimension was added."""
    shape = tuple(int(s) for s in (shape.shape if hasattr(shape, "shape") else shape))
    if len(shape) == 3:
        return (1,) + shape, True
    if len(shape) != 4:
        raise ValueError(f"{name}: expected a 4-D (N, C, H, W) or 3-D (C, H, W) shape, "
                         f"got {shape}")
    return shape, False


def conv_geometry(stride, padding, dilation, groups) -> tuple[Pair, Pair, Pair, int]:
    """Parsed (stride, padding, dilation, groups) of a convolution; the C++
    shape check (csrc/common/conv_shape.h) checks them against the shapes."""
    return (pair("stride", stride), pair("padding", padding), pair("dilation", dilation),
            to_int("groups", groups))


def pool_args(kernel_size, stride, padding, dilation) -> tuple[Pair, Pair, Pair, Pair]:
    """(kernel, stride, padding, dilation) pairs; stride defaults to the kernel."""
    k = pair("kernel_size", kernel_size)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) \
        else pair("stride", stride)
    return k, s, pair("padding", padding), pair("dilation", dilation)


def divisor(divisor_override) -> int:
    """avg_pool2d's divisor_override as the bindings take it (0: not given)."""
    if divisor_override is None:
        return 0
    v = to_int("divisor_override", divisor_override)
    if v <= 0:
        raise ValueError(f"divisor_override must be a positive int, got {v}")
    return v


def adaptive_size(output_size, H: int, W: int) -> tuple[int, int]:
    """adaptive_avg_pool2d's (OH, OW): an int, or a pair where None keeps that input size."""
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        oh = H if output_size[0] is None else to_int("output_size", output_size[0])
        ow = W if output_size[1] is None else to_int("output_size", output_size[1])
    else:
        oh, ow = pair("output_size", output_size)
    if oh < 1 or ow < 1:
        raise ValueError(f"output_size must be >= 1, got {(oh, ow)}")
    return oh, ow


def rows(name: str, x) -> Array:
    """A (rows, C) view of an (..., C) array: softmax works on the last dimension."""
    if x.ndim < 1:
        raise ValueError(f"{name}: expected at least 1 dimension, got a 0-d array")
    return x.reshape(-1, x.shape[-1]) if x.shape[-1] else x.reshape(-1, 0)


def xent_options(reduction, label_smoothing, ignore_index) -> tuple[str, float, int]:
    """Cross-entropy's scalar options, checked: (reduction, label_smoothing, ignore_index)."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    ls = float(label_smoothing)
    if not 0.0 <= ls <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    return reduction, ls, to_int("ignore_index", ignore_index)


def gemm_out_shape(a, b, trans_a: bool, trans_b: bool) -> tuple:
    """(M, N) or (batch, M, N) for op(a) @ op(b) on 2-D/3-D operands (CPU and
    GPU alike), or a ValueError naming both shapes."""
    M = a.shape[-1] if trans_a else a.shape[-2]
    N = b.shape[-2] if trans_b else b.shape[-1]
    ka = a.shape[-2] if trans_a else a.shape[-1]
    kb = b.shape[-1] if trans_b else b.shape[-2]
    if ka != kb:
        raise ValueError(f"gemm: inner dimensions differ: op(a) is {M}x{ka}, op(b) is {kb}x{N} "
                         f"(a {tuple(a.shape)}{'ᵀ' if trans_a else ''}, "
                         f"b {tuple(b.shape)}{'ᵀ' if trans_b else ''})")
    batch = [x.shape[0] for x in (a, b) if x.ndim == 3]
    if batch and len(set(batch) - {1}) > 1:
        raise ValueError(f"gemm: batch sizes differ: a {tuple(a.shape)}, b {tuple(b.shape)}")
    return (M, N) if not batch else (max(batch), M, N)
