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


def _gemm_operand(name: str, x, trans: bool):
    """A float32 CuPy operand for the kernel: a Fortran-ordered 2-D array
    (e.g. ``a.T``) is passed transposed without a copy, as on the CPU; other
    non-contiguous arrays are copied."""
    from . import _gpu

    x = _gpu._as_cupy("gemm", name, x)
    if x.ndim == 2 and not x.flags.c_contiguous and x.flags.f_contiguous:
        x, trans = x.T, not trans
    x = _gpu.float_array("gemm", name, x)
    if x.ndim not in (2, 3):
        raise ValueError(f"gemm: {name} must be 2-D or 3-D, got shape {tuple(x.shape)}")
    return x, trans


def _gemm(a, b, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, out=None,
          allow_tf32=False):
    """:func:`loomgrad.kernels.gemm` on GPU arrays (float32), on CuPy's current
    stream: same shapes, batching/broadcast rules and errors as the CPU path.
    ``allow_tf32``: may use the TF32 tensor cores (``lg.backends.cuda.matmul``)."""
    from . import _gpu
    from .kernels import _gemm_out_shape

    mod, cp = _gpu.require()
    a, trans_a = _gemm_operand("a", a, bool(trans_a))
    b, trans_b = _gemm_operand("b", b, bool(trans_b))
    out_shape = _gemm_out_shape(a, b, trans_a, trans_b)
    M, N = out_shape[-2:]
    if out is None:
        out = _gpu.empty(out_shape)
        beta = 0.0
    else:
        _gpu.check_out("gemm", out, out_shape)
        if cp.may_share_memory(out, a) or cp.may_share_memory(out, b):
            raise ValueError("gemm: out must not share memory with a or b")
    nbatch = out_shape[0] if len(out_shape) == 3 else 1
    K = a.shape[-2] if trans_a else a.shape[-1]

    def stride(x):  # elements between batch entries; 0 broadcasts
        return x.shape[-2] * x.shape[-1] if x.ndim == 3 and x.shape[0] > 1 else 0

    splits = mod.sgemm_split_k_count(M, N, K) if nbatch == 1 else 1
    if splits > 1:  # too few output tiles for the GPU: partial products over k ranges
        ws = _gpu.empty((splits, M, N))
        mod.sgemm_split_k(trans_a, trans_b, M, N, K, float(alpha), _gpu.ptr(a), a.shape[-1],
                          _gpu.ptr(b), b.shape[-1], float(beta), _gpu.ptr(out), N,
                          _gpu.ptr(ws), ws.size, splits, _gpu.stream(), bool(allow_tf32))
        return out
    mod.sgemm_strided_batched(trans_a, trans_b, nbatch, M, N, K, float(alpha),
                              _gpu.ptr(a), a.shape[-1], stride(a), _gpu.ptr(b), b.shape[-1],
                              stride(b), float(beta), _gpu.ptr(out), N, M * N, _gpu.stream(),
                              bool(allow_tf32))
    return out
