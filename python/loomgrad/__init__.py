"""loomgrad: a deep-learning library on hand-written C++/OpenMP and CUDA kernels.

    import loomgrad as lg
    x = lg.randn(64, 128, requires_grad=True)
    y = (x @ lg.randn(128, 10)).relu().sum()
    y.backward()
"""
import builtins as _builtins

from . import _cpu
from .random import manual_seed, get_rng_state, set_rng_state
from .tensor import (Tensor, DimError, device, no_grad, enable_grad, set_grad_enabled,
                     is_grad_enabled)
from .ops import *  # noqa: F401,F403  (tensor, zeros, exp, cat, dtypes, ...: see ops.__all__)
from . import kernels, cuda, backends, random, nn, optim, data, utils, models
from . import accelerator, multiprocessing, onnx  # onnx imports the onnx package lazily
from .ops import SHORT_DTYPE_NAMES as _SHORT_DTYPE_NAMES
from . import metrics, callbacks, plot
from . import distributed  # imports no mpi4py/CuPy; init_process_group() does
from .serialization import save, load, LoadError

__version__ = "0.1.0"


def set_num_threads(n: int) -> None:
    """Threads used by the CPU kernels (like ``torch.set_num_threads``)."""
    # lg.bool (a dtype) shadows the builtin here, hence _builtins.
    if isinstance(n, _builtins.bool) or not isinstance(n, _builtins.int):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    if n > 1 and multiprocessing.in_forked_child():
        raise RuntimeError("set_num_threads: this process was forked from one using OpenMP, "
                           "whose thread pool does not survive fork (more than one thread "
                           "hangs); start it with the 'spawn' method to use several threads")
    _cpu.set_num_threads(n)


def get_num_threads() -> int:
    """Threads the CPU kernels use (``OMP_NUM_THREADS`` at start-up by default)."""
    return _cpu.get_num_threads()


def __getattr__(name):
    """torch's dtype names that are Python builtins (``lg.float``, ``lg.int``,
    ``lg.short``): served here so that no module of ours binds them as globals; and
    ``lg.sklearn``, imported on first use (scikit-learn's estimator machinery takes ~1 s)."""
    if name == "sklearn":
        import importlib

        return importlib.import_module(".sklearn", __name__)
    try:
        return _SHORT_DTYPE_NAMES[name]
    except KeyError:
        raise AttributeError(f"module 'loomgrad' has no attribute {name!r}") from None
