"""GPU half of :func:`loomgrad.kernels.gemm`: our CUDA SGEMM (csrc/cuda/gemm.cu) on
CuPy's current stream, with the CPU path's shapes, batching/broadcast rules and errors."""
from __future__ import annotations

from .._args import gemm_out_shape
from .._types import GpuArray
from . import arrays


def _operand(name: str, x, trans: bool) -> tuple[GpuArray, bool]:
    """A float32 CuPy operand for the kernel: a Fortran-ordered 2-D array
    (e.g. ``a.T``) is passed transposed without a copy, as on the CPU; other
    non-contiguous arrays are copied."""
    x = arrays.as_cupy("gemm", name, x)
    if x.ndim == 2 and not x.flags.c_contiguous and x.flags.f_contiguous:
        x, trans = x.T, not trans
    x = arrays.float_array("gemm", name, x)
    if x.ndim not in (2, 3):
        raise ValueError(f"gemm: {name} must be 2-D or 3-D, got shape {tuple(x.shape)}")
    return x, trans


def gemm(a, b, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, out=None,
        allow_tf32=False) -> GpuArray:
    """:func:`loomgrad.kernels.gemm` on GPU arrays (float32), on CuPy's current
    stream: same shapes, batching/broadcast rules and errors as the CPU path.
    ``allow_tf32``: may use the TF32 tensor cores (``lg.backends.cuda.matmul``)."""
    mod, cp = arrays.require()
    a, trans_a = _operand("a", a, bool(trans_a))
    b, trans_b = _operand("b", b, bool(trans_b))
    out_shape = gemm_out_shape(a, b, trans_a, trans_b)
    M, N = out_shape[-2:]
    if out is None:
        out = arrays.empty(out_shape)
        beta = 0.0
    else:
        arrays.check_out("gemm", out, out_shape)
        if cp.may_share_memory(out, a) or cp.may_share_memory(out, b):
            raise ValueError("gemm: out must not share memory with a or b")
    nbatch = out_shape[0] if len(out_shape) == 3 else 1
    K = a.shape[-2] if trans_a else a.shape[-1]

    def stride(x):  # elements between batch entries; 0 broadcasts
        return x.shape[-2] * x.shape[-1] if x.ndim == 3 and x.shape[0] > 1 else 0

    splits = mod.sgemm_split_k_count(M, N, K) if nbatch == 1 else 1
    if splits > 1:  # too few output tiles for the GPU: partial products over k ranges
        ws = arrays.empty((splits, M, N))
        mod.sgemm_split_k(trans_a, trans_b, M, N, K, float(alpha), arrays.ptr(a), a.shape[-1],
                          arrays.ptr(b), b.shape[-1], float(beta), arrays.ptr(out), N,
                          arrays.ptr(ws), ws.size, splits, arrays.stream(), bool(allow_tf32))
        return out
    mod.sgemm_strided_batched(trans_a, trans_b, nbatch, M, N, K, float(alpha),
                              arrays.ptr(a), a.shape[-1], stride(a), arrays.ptr(b), b.shape[-1],
                              stride(b), float(beta), arrays.ptr(out), N, M * N, arrays.stream(),
                              bool(allow_tf32))
    return out
