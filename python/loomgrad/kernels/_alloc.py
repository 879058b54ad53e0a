"""Size checks before the raw-kernel layer allocates or copies an array.

A shape can describe far more memory than exists (a zero-stride
``broadcast_to`` / ``as_strided`` view, or an output whose size follows from
huge parameters): allocating it would raise MemoryError or, with overcommit,
get the process killed when the pages are touched. :func:`empty` and
:func:`contiguous` refuse such requests up front with a ValueError naming the
argument, and otherwise behave as ``numpy.empty`` / ``numpy.ascontiguousarray``.
"""
from __future__ import annotations

import os

import numpy as np


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):  # not POSIX: only refuse the absurd
        return 1 << 48


LIMIT_BYTES = _physical_memory()


def check_size(name: str, shape, dtype, what: str = "array") -> None:
    """ValueError naming ``name`` when ``shape`` x ``dtype`` exceeds physical memory."""
    n = np.dtype(dtype).itemsize
    for s in shape:
        if int(s) < 0:
            raise ValueError(f"{name}: negative dimension in shape {tuple(shape)}")
        n *= int(s)
    if n > LIMIT_BYTES:
        raise ValueError(f"{name}: {what} of shape {tuple(int(s) for s in shape)} and dtype "
                         f"{np.dtype(dtype)} would need {n / 2**30:,.1f} GiB, more than this "
                         f"machine's {LIMIT_BYTES / 2**30:,.1f} GiB of memory")


def empty(name: str, shape, dtype) -> np.ndarray:
    """``numpy.empty(shape, dtype)`` for output ``name``, after :func:`check_size`."""
    check_size(name, shape, dtype, "output")
    return np.empty(shape, dtype)


def contiguous(name: str, x, dtype=None) -> np.ndarray:
    """``numpy.ascontiguousarray(x, dtype)``, refusing a copy that cannot fit."""
    if not (isinstance(x, np.ndarray) and x.flags.c_contiguous
            and (dtype is None or x.dtype == dtype)):
        if isinstance(x, np.ndarray):
            check_size(name, x.shape, x.dtype if dtype is None else dtype, "contiguous copy")
    return np.ascontiguousarray(x, dtype=dtype)
