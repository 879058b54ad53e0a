"""Shared glue for the raw kernels on GPU arrays (``loomgrad._cuda``).

The GPU halves of the kernel families (``kernels/gpu/gemm.py``, ``conv.py``,
``pool.py``, ``xent.py``, ``lstm.py``) take their arrays through here: any GPU array -- a CuPy array, anything with ``__cuda_array_interface__``
(Numba, PyTorch) or a CUDA DLPack capsule provider (``torch.cuda`` tensors,
JAX) -- becomes a CuPy array without a copy; non-contiguous ones are copied to
contiguous memory. Outputs and workspaces come from ``cupy.empty`` (CuPy's
memory pool), and kernels are launched on CuPy's current stream. The CUDA
kernels are float32 only.
"""
from __future__ import annotations

from types import ModuleType

import numpy as np

from ... import cuda
from .._types import GpuArray

__all__ = ["is_gpu_array", "any_gpu", "require", "float_array", "int_array", "empty",
           "stream", "ptr", "check_out", "as_cupy"]

# DLPack device types that live in CUDA device memory: kDLCUDA, kDLCUDAHost,
# kDLCUDAManaged.
_DLPACK_CUDA = (2, 3, 13)


def is_gpu_array(x) -> bool:
    """True for CuPy arrays and any object exposing CUDA memory through
    ``__cuda_array_interface__`` or DLPack; False for NumPy arrays."""
    if x is None or isinstance(x, np.ndarray):
        return False
    if hasattr(x, "__cuda_array_interface__"):
        return True
    dev = getattr(x, "__dlpack_device__", None)
    if dev is None:
        return False
    try:
        return int(dev()[0]) in _DLPACK_CUDA
    except Exception:  # a provider that cannot answer is not a GPU array we can use
        return False


def any_gpu(*arrays) -> bool:
    return any(is_gpu_array(a) for a in arrays)


def require() -> tuple[ModuleType, ModuleType]:
    """(the ``_cuda`` module, cupy), or RuntimeError saying why CUDA is unusable."""
    return cuda._require()


def as_cupy(fn: str, name: str, x) -> GpuArray:
    _, cp = require()
    if isinstance(x, cp.ndarray):
        return x
    if isinstance(x, np.ndarray):
        raise TypeError(f"{fn}: {name} is a NumPy (host) array of shape {x.shape} but the "
                        f"other operands are on the GPU; move it with cupy.asarray")
    if hasattr(x, "__cuda_array_interface__"):
        return cp.asarray(x)  # zero-copy view of the producer's memory
    if hasattr(x, "__dlpack__"):
        return cp.from_dlpack(x)
    raise TypeError(f"{fn}: {name}: expected a GPU array (CuPy, __cuda_array_interface__ or "
                    f"DLPack), got {type(x).__name__}")


def _on_current_device(fn: str, name: str, x, cp) -> None:
    dev = cp.cuda.Device().id
    if x.device.id != dev:
        raise ValueError(f"{fn}: {name} lives on GPU {x.device.id} but the current device is "
                         f"{dev}; use `with cupy.cuda.Device({x.device.id}):`")


def float_array(fn: str, name: str, x, ndim=None) -> GpuArray | None:
    """x as a C-contiguous float32 CuPy array on the current device (None stays None).
    ``ndim``: an int or a tuple of allowed ranks."""
    if x is None:
        return None
    _, cp = require()
    x = as_cupy(fn, name, x)
    if x.dtype != np.float32:
        raise TypeError(f"{fn}: {name}: the CUDA kernels take float32, got dtype {x.dtype} "
                        f"with shape {x.shape}")
    if ndim is not None and x.ndim not in ((ndim,) if isinstance(ndim, int) else ndim):
        raise ValueError(f"{fn}: {name}: expected {ndim}-D, got shape {x.shape}")
    _on_current_device(fn, name, x, cp)
    return cp.ascontiguousarray(x)


def int_array(fn: str, name: str, x, dtype=np.int64) -> GpuArray | None:
    """An integer GPU array as a C-contiguous array of ``dtype`` (cast only
    from other integer dtypes; floats are refused)."""
    if x is None:
        return None
    _, cp = require()
    x = as_cupy(fn, name, x)
    if not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"{fn}: {name}: expected integers, got dtype {x.dtype} with shape "
                        f"{x.shape}")
    _on_current_device(fn, name, x, cp)
    return cp.ascontiguousarray(x, dtype=dtype)


def empty(shape, dtype=np.float32) -> GpuArray:
    """A new array from CuPy's memory pool (outputs and workspaces)."""
    _, cp = require()
    return cp.empty(tuple(int(s) for s in shape), dtype=dtype)


def stream() -> int:
    """CuPy's current stream as an integer cudaStream_t for the bindings."""
    _, cp = require()
    return cp.cuda.get_current_stream().ptr


def ptr(x) -> int:
    """Device address of a CuPy array (0 for None: "not given")."""
    return 0 if x is None else int(x.data.ptr)


def check_out(fn: str, out, shape, dtype=np.float32) -> GpuArray:
    """Validate a caller's ``out=`` GPU array: CuPy, C-contiguous, dtype, shape."""
    _, cp = require()
    if not isinstance(out, cp.ndarray):
        raise TypeError(f"{fn}: out must be a CuPy array, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"{fn}: out must have dtype {np.dtype(dtype)}, got {out.dtype}")
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"{fn}: out must have shape {tuple(shape)}, got {tuple(out.shape)}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{fn}: out must be C-contiguous, got strides {out.strides}")
    _on_current_device(fn, "out", out, cp)
    return out
