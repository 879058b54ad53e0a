"""GEMM on NumPy arrays (our C++ kernels) and GPU arrays (our CUDA SGEMM, kernels/gpu/gemm.py)."""
from __future__ import annotations

import numpy as np

from .. import _cpu, backends
from . import _alloc
from ._args import check_float, gemm_out_shape
from .gpu import gemm as gpu_gemm
from .gpu.arrays import any_gpu

__all__ = ["gemm", "matmul"]


def _matrix_operand(name: str, x: np.ndarray, trans: bool):
    """Contiguous 2-D/3-D operand for the kernel, flipping `trans` instead of
    copying when a 2-D array is Fortran-ordered (e.g. ``a.T``)."""
    if x.flags.c_contiguous:
        return x, trans
    if x.ndim == 2 and x.flags.f_contiguous:
        return x.T, not trans
    return _alloc.contiguous(name, x), trans



def gemm(a, b, trans_a: bool = False, trans_b: bool = False, alpha: float = 1.0,
         beta: float = 0.0, out=None):
    """General matrix multiply: ``out = alpha * op(a) @ op(b) + beta * out``.

    Shapes: ``op(a)`` is (M, K) and ``op(b)`` is (K, N); with ``trans_a=True``
    ``a`` is stored as (K, M) and used transposed (likewise ``trans_b``).
    Either operand may also carry a leading batch dimension, (B, ., .), and
    a batch of 1 or a 2-D operand is broadcast; the result is (M, N) or
    (B, M, N). float32 or float64, both operands the same dtype.

    GPU arrays (CuPy, or any ``__cuda_array_interface__``/DLPack provider
    such as a ``torch.cuda`` tensor, zero-copy) run our CUDA SGEMM on CuPy's
    current stream: float32 only, ``out`` a CuPy array; with
    ``lg.backends.cuda.matmul.allow_tf32 = True`` it may use TF32 tensor cores.

    ``beta`` is only used with ``out``: ``beta == 0`` overwrites ``out``
    without reading it.
    """
    if any_gpu(a, b):  # CuPy, __cuda_array_interface__ or DLPack (torch.cuda): our CUDA kernels
        return gpu_gemm.gemm(a, b, trans_a, trans_b, alpha, beta, out,
                             allow_tf32=backends.cuda.matmul.allow_tf32)
    check_float("a", a)
    check_float("b", b)
    if a.dtype != b.dtype:
        raise TypeError(f"gemm: a and b must have the same dtype, got {a.dtype} "
                        f"{tuple(a.shape)} and {b.dtype} {tuple(b.shape)}")
    for name, x in (("a", a), ("b", b)):
        if x.ndim not in (2, 3):
            raise ValueError(f"gemm: {name} must be 2-D or 3-D, got shape {tuple(x.shape)}")
    if not isinstance(a, np.ndarray) or not isinstance(b, np.ndarray):
        raise TypeError(f"gemm: a and b must both be numpy arrays (or both GPU arrays), got "
                        f"{type(a).__name__} and {type(b).__name__}")
    a, trans_a = _matrix_operand("a", a, bool(trans_a))
    b, trans_b = _matrix_operand("b", b, bool(trans_b))
    out_shape = gemm_out_shape(a, b, trans_a, trans_b)
    if out is None:
        out = _alloc.empty("out", out_shape, a.dtype)
        beta = 0.0
    else:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"gemm: out must be a numpy array, got {type(out).__name__}")
        if out.dtype != a.dtype:
            raise TypeError(f"gemm: out must have dtype {a.dtype}, got {out.dtype}")
        if tuple(out.shape) != out_shape:
            raise ValueError(f"gemm: out must have shape {out_shape}, got {tuple(out.shape)}")
        if not out.flags.c_contiguous:
            raise ValueError(f"gemm: out must be C-contiguous, got strides {out.strides}")
        if not out.flags.writeable:
            raise ValueError("gemm: out is read-only")
        if np.may_share_memory(out, a) or np.may_share_memory(out, b):
            raise ValueError("gemm: out must not share memory with a or b")
    _cpu.gemm(a, b, out, trans_a, trans_b, float(alpha), float(beta))
    return out


def matmul(a, b, out=None):
    """``a @ b`` for 2-D or 3-D arrays on our GEMM (see :func:`gemm`)."""
    return gemm(a, b, out=out)
