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
        if _cuda.build_info()["driver"] == "none":
            # without libcuda the static runtime answers cudaErrorInsufficientDriver ("driver
            # version is insufficient"), which sends people looking for a driver upgrade
            why = "no NVIDIA driver found"
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
