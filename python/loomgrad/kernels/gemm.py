"""GEMM on NumPy arrays (our C++ kernels) and GPU arrays (our CUDA SGEMM, kernels/gpu/gemm.py),
and the pre-packed B operand (pack_gemm_b) for many CPU GEMMs against one matrix."""
from __future__ import annotations

import numpy as np

from .. import _cpu, backends
from . import _alloc
from ._args import check_float, gemm_out_shape
from .gpu import gemm as gpu_gemm
from ._interop import any_array
from ._types import Array
from .gpu.arrays import any_gpu

__all__ = ["gemm", "matmul", "pack_gemm_b", "PackedGemmB"]

PackedGemmB = _cpu.PackedGemmB


def _matrix_operand(name: str, x: np.ndarray, trans: bool) -> tuple[np.ndarray, bool]:
    """Contiguous 2-D/3-D operand for the kernel, flipping `trans` instead of
    copying when a 2-D array is Fortran-ordered (e.g. ``a.T``)."""
    if x.flags.c_contiguous:
        return x, trans
    if x.ndim == 2 and x.flags.f_contiguous:
        return x.T, not trans
    return _alloc.contiguous(name, x), trans



def _check_out(out, dtype, shape, inputs: dict) -> None:
    """A caller's ``out=`` for a CPU GEMM: a C-contiguous, writeable NumPy
    array of `dtype` and `shape`, sharing no memory with the `inputs`."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"gemm: out must be a numpy array, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"gemm: out must have dtype {dtype}, got {out.dtype}")
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"gemm: out must have shape {tuple(shape)}, got {tuple(out.shape)}")
    if not out.flags.c_contiguous:
        raise ValueError(f"gemm: out must be C-contiguous, got strides {out.strides}")
    if not out.flags.writeable:
        raise ValueError("gemm: out is read-only")
    for name, x in inputs.items():
        if np.may_share_memory(out, x):
            raise ValueError(f"gemm: out must not share memory with {name}")


@any_array
def gemm(a, b, trans_a: bool = False, trans_b: bool = False, alpha: float = 1.0,
         beta: float = 0.0, out=None) -> Array:
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

    ``b`` may also be a :class:`PackedGemmB` from :func:`pack_gemm_b` (CPU
    only): op(b) was fixed when it was packed, so ``trans_b`` must be False;
    ``a`` is (M, K) or (K, M) with ``trans_a``, or 3-D with one GEMM per batch
    entry against the same pack.
    """
    if isinstance(b, PackedGemmB):
        return _gemm_packed(a, b, trans_a, trans_b, alpha, beta, out)
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
        _check_out(out, a.dtype, out_shape, {"a": a, "b": b})
    _cpu.gemm(a, b, out, trans_a, trans_b, float(alpha), float(beta))
    return out


@any_array
def pack_gemm_b(b, trans_b: bool = False) -> PackedGemmB:
    """Pack ``op(b)`` once for many GEMMs against it: ``gemm(a, packed)``
    then skips packing b on every call (a weight used for many images, steps
    or batches). ``b`` is a 2-D float32/float64 NumPy array, (K, N), or (N, K)
    with ``trans_b=True`` (a torch-layout weight for ``x @ w.T``).

    The pack is a copy: later writes to ``b`` do not reach it. It is
    immutable and may be shared by threads; its panels are laid out for the
    GEMM path of this process (``pack.isa``). ``pack.shape`` is (K, N),
    ``pack.nbytes`` its size.

        w = np.random.rand(256, 784).astype(np.float32)     # (out, in)
        pw = lg.kernels.pack_gemm_b(w, trans_b=True)        # op(b) = w.T: 784 x 256
        y = lg.kernels.gemm(x, pw)                          # x @ w.T, x (batch, 784)
    """
    check_float("b", b)
    if not isinstance(b, np.ndarray):
        raise TypeError(f"pack_gemm_b: b must be a numpy array, got {type(b).__name__}")
    if b.ndim != 2:
        raise ValueError(f"pack_gemm_b: b must be 2-D, got shape {tuple(b.shape)}")
    b, trans_b = _matrix_operand("b", b, bool(trans_b))
    return _cpu.pack_gemm_b(b, trans_b)


def _gemm_packed(a, packed: PackedGemmB, trans_a, trans_b, alpha, beta, out) -> np.ndarray:
    """gemm(a, packed): the checks and the call for a pre-packed b."""
    if trans_b:
        raise ValueError("gemm: trans_b must be False with a packed b (the transpose was "
                         f"applied when it was packed: {packed!r})")
    check_float("a", a)
    if not isinstance(a, np.ndarray):
        raise TypeError(f"gemm: a must be a numpy array with a packed b, got {type(a).__name__}")
    if a.dtype != packed.dtype:
        raise TypeError(f"gemm: a must have the packed b's dtype {packed.dtype}, got {a.dtype} "
                        f"{tuple(a.shape)}")
    if a.ndim not in (2, 3):
        raise ValueError(f"gemm: a must be 2-D or 3-D, got shape {tuple(a.shape)}")
    if a.ndim == 2:
        a, trans_a = _matrix_operand("a", a, bool(trans_a))
    else:
        a, trans_a = _alloc.contiguous("a", a), bool(trans_a)
    M, K = (a.shape[-1], a.shape[-2]) if trans_a else (a.shape[-2], a.shape[-1])
    if K != packed.k:
        raise ValueError(f"gemm: inner dimensions differ: op(a) is {M}x{K}, the packed b is "
                         f"{packed.k}x{packed.n} (a {tuple(a.shape)}{'ᵀ' if trans_a else ''})")
    out_shape = a.shape[:-2] + (M, packed.n)
    if out is None:
        out = _alloc.empty("out", out_shape, a.dtype)
        beta = 0.0
    else:
        _check_out(out, a.dtype, out_shape, {"a": a})
    _cpu.gemm_packed_b(a, packed, out, trans_a, float(alpha), float(beta))
    return out


@any_array
def matmul(a, b, out=None) -> Array:
    """``a @ b`` for 2-D or 3-D arrays on our GEMM (see :func:`gemm`)."""
    return gemm(a, b, out=out)
