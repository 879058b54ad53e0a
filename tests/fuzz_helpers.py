"""Shared pieces of the fuzz tests (test_fuzz_kernels.py, test_fuzz_functional.py).

Every fuzzed call must either return the reference's answer or raise
ValueError/TypeError whose message names one of the arguments -- never crash,
never MemoryError, never a silent wrong answer. ``clean_call`` enforces the
error half; the tests compare results with NumPy (and torch) references.
"""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, settings, strategies as st

# Bounded and reproducible: CI runs the same examples every time.
FUZZ = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
FUZZ_FEW = settings(FUZZ, max_examples=30)

FLOATS = (np.float32, np.float64)
BAD_DTYPES = (np.float16, np.int32, np.int64, np.bool_, object, np.complex64)
# Small sizes with the interesting ones: 0, 1, primes, a power of two, just past one.
SIZES = st.sampled_from([0, 1, 1, 2, 3, 5, 7, 8, 13, 17, 31, 33])
POS_SIZES = st.sampled_from([1, 1, 2, 3, 5, 7, 8, 13])


def clean_call(fn, *args, names=(), errors=(ValueError, TypeError), **kwargs):
    """``fn(*args, **kwargs)``, or None when it raised ValueError/TypeError
    (or one of ``errors``) naming one of ``names`` (any other exception fails
    the test)."""
    try:
        return fn(*args, **kwargs)
    except errors as e:
        msg = str(e)
        assert any(n in msg for n in names), f"error names none of {names}: {msg!r}"
        return None


def make_array(rng, shape, dtype=np.float64, layout="c", special=0.0):
    """Random array of ``shape`` in a given memory layout: "c" contiguous,
    "f" Fortran order, "neg" negative strides, "step" a strided slice.
    ``special`` is the fraction of entries made NaN/+Inf/-Inf."""
    shape = tuple(shape)
    a = rng.standard_normal(shape)
    if special and a.size:
        mask = rng.random(shape) < special
        a[mask] = rng.choice([np.nan, np.inf, -np.inf], size=int(mask.sum()))
    if np.dtype(dtype) == np.dtype(object):
        a = a.astype(object)
    elif np.dtype(dtype).kind == "b":
        a = a > 0
    else:
        with np.errstate(all="ignore"):
            a = a.astype(dtype) if np.dtype(dtype).kind in "fc" else \
                np.nan_to_num(a).astype(dtype)
    if layout == "f":
        return np.asfortranarray(a)
    if layout == "neg" and a.ndim:
        return np.ascontiguousarray(a[(slice(None, None, -1),) * a.ndim])[
            (slice(None, None, -1),) * a.ndim]
    if layout == "step" and a.ndim:
        big = np.repeat(a, 2, axis=-1)
        return big[..., ::2]
    return a


LAYOUTS = st.sampled_from(["c", "c", "f", "neg", "step"])


def assert_close_ieee(got, want, rtol, atol, what=""):
    """Finite entries close; NaN and +-Inf exactly where the reference has them."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} vs reference {want.shape}"
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: NaN pattern")
    fin = np.isfinite(want)
    np.testing.assert_array_equal(got[~fin & ~np.isnan(want)], want[~fin & ~np.isnan(want)],
                                  err_msg=f"{what}: Inf entries")
    np.testing.assert_allclose(got[fin], want[fin], rtol=rtol, atol=atol, err_msg=what)


def huge_view(shape, dtype=np.float32):
    """A read-only zero-stride view of one element with a huge ``shape``: no
    memory behind it, so only a check before allocating keeps a kernel sane."""
    return np.lib.stride_tricks.as_strided(np.zeros(1, dtype), shape, (0,) * len(shape),
                                           writeable=False)
