"""Backend switches, named as in ``torch.backends``.

    lg.backends.cuda.matmul.allow_tf32 = True   # GEMMs on GPU arrays may use TF32

``allow_tf32`` (default False, as in torch): :func:`loomgrad.kernels.gemm`
on GPU arrays may run on the TF32 tensor cores (sm_80+): inputs rounded to
10-bit mantissas, FP32 accumulation; several times faster, relative error
~1e-3 instead of ~1e-6. The flag is read on each call and passed to the
kernel; the C++ side keeps no state. Plain attributes; a misspelt one is an
AttributeError rather than a silently ignored setting.

``lg.backends.cudnn`` accepts torch's flags (``enabled``, ``benchmark``,
``deterministic``, ``allow_tf32``) so scripts that set them run unchanged; they have **no
effect**: loomgrad uses no cuDNN (its kernels are its own and already deterministic), and
``cudnn.is_available()`` is False.
"""
from __future__ import annotations

__all__ = ["cuda", "cudnn"]


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


class _CudnnSettings:
    """torch.backends.cudnn's flags, accepted and ignored (no cuDNN here)."""

    __slots__ = ("enabled", "benchmark", "deterministic", "allow_tf32")

    def __init__(self):
        self.enabled = True
        self.benchmark = False
        self.deterministic = False
        self.allow_tf32 = True

    @staticmethod
    def is_available() -> bool:
        return False

    @staticmethod
    def version():
        return None

    def __repr__(self):
        return (f"lg.backends.cudnn(enabled={self.enabled!r}, benchmark={self.benchmark!r}, "
                f"deterministic={self.deterministic!r}; no effect: loomgrad uses no cuDNN)")


cudnn = _CudnnSettings()
