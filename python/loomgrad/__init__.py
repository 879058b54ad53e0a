"""loomgrad: a deep-learning library on hand-written C++/OpenMP and CUDA kernels."""
from . import _cpu
from . import kernels, cuda

__version__ = "0.1.0"


def set_num_threads(n: int) -> None:
    """Threads used by the CPU kernels (like torch.set_num_threads)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    _cpu.set_num_threads(n)


def get_num_threads() -> int:
    return _cpu.get_num_threads()
