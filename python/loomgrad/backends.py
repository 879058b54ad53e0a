"""Backend switches, named as in ``torch.backends``.

    lg.backends.cuda.matmul.allow_tf32 = True   # GEMMs on GPU arrays may use TF32

``allow_tf32`` (default False, as in torch): :func:`loomgrad.kernels.gemm`
on GPU arrays may run on the TF32 tensor cores (sm_80+): inputs rounded to
10-bit mantissas, FP32 accumulation; several times faster, relative error
~1e-3 instead of ~1e-6. The flag is read on each call and passed to the
kernel; the C++ side keeps no state. Plain attributes; a misspelt one is an
AttributeError rather than a silently ignored setting.
"""
from __future__ import annotations

__all__ = ["cuda"]


class _MatmulSettings:
    __slots__ = ("allow_tf32",)

    def __init__(self):
        self.allow_tf32 = False

    def __repr__(self):
        return f"lg.backends.cuda.matmul(allow_tf32={self.allow_tf32!r})"


class _CudaSettings:
    __slots__ = ("matmul",)

    def __init__(self):
        self.matmul = _MatmulSettings()

    def __repr__(self):
        return f"lg.backends.cuda(matmul={self.matmul!r})"


cuda = _CudaSettings()
