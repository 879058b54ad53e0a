"""The CUDA side: lazy import of ``loomgrad._cuda`` and CuPy.

Nothing here is imported until asked for, so ``import loomgrad`` works on a
machine with no GPU, no driver, no CuPy, or a build without the CUDA module.
``is_available()`` answers False there and ``unavailable_reason()`` says why.
"""
from __future__ import annotations

import functools

__all__ = ["is_available", "unavailable_reason", "device_count", "build_info"]


@functools.lru_cache(maxsize=1)
def _probe():
    """(module or None, cupy or None, device count, reason when unusable)."""
    try:
        from . import _cuda
    except ImportError as e:
        return None, None, 0, f"loomgrad was built without its CUDA module ({e})"
    n, why = _cuda.device_count()
    if n == 0:
        return _cuda, None, 0, f"no usable CUDA device: {why}"
    try:
        import cupy
    except ImportError as e:
        return _cuda, None, n, f"CuPy is not installed (pip install loomgrad[cuda]): {e}"
    return _cuda, cupy, n, ""


def is_available() -> bool:
    """True when the CUDA module is built, a GPU is visible and CuPy imports."""
    return _probe()[3] == ""


def unavailable_reason() -> str:
    """Why :func:`is_available` is False ('' when it is True)."""
    return _probe()[3]


def device_count() -> int:
    return _probe()[2]


def build_info() -> dict | None:
    """Architectures, compiler and runtime of the CUDA module, or None if not built."""
    mod = _probe()[0]
    return None if mod is None else dict(mod.build_info())


def _require():
    mod, cupy, _, why = _probe()
    if why:
        raise RuntimeError(f"CUDA is not available: {why}")
    return mod, cupy


def _gemm(a, b, trans_a, trans_b, alpha, beta, out):
    """gemm on GPU arrays (float32, 2-D) on CuPy's current stream."""
    mod, cupy = _require()
    a = cupy.asarray(a)
    b = cupy.asarray(b)
    if a.dtype != cupy.float32 or b.dtype != cupy.float32:
        raise TypeError(f"gemm on the GPU takes float32, got {a.dtype} and {b.dtype}")
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"gemm on the GPU takes 2-D arrays for now, got {a.shape} and {b.shape}")
    a = cupy.ascontiguousarray(a)
    b = cupy.ascontiguousarray(b)
    M, ka = (a.shape[1], a.shape[0]) if trans_a else a.shape
    kb, N = (b.shape[1], b.shape[0]) if trans_b else b.shape
    if ka != kb:
        raise ValueError(f"gemm: inner dimensions differ: a {a.shape}, b {b.shape}")
    if out is None:
        out = cupy.empty((M, N), dtype=cupy.float32)
        beta = 0.0
    elif out.shape != (M, N) or out.dtype != cupy.float32 or not out.flags.c_contiguous:
        raise ValueError(f"gemm: out must be a C-contiguous float32 array of shape {(M, N)}, "
                         f"got {out.dtype} {out.shape}")
    stream = cupy.cuda.get_current_stream().ptr
    mod.sgemm(bool(trans_a), bool(trans_b), M, N, ka, float(alpha), a.data.ptr, a.shape[1],
              b.data.ptr, b.shape[1], float(beta), out.data.ptr, N, stream)
    return out
