"""The names lg.kernels' return annotations give to arrays (type aliases; nothing runs here).

``Array``: what a public ``lg.kernels`` function returns, an array of the caller's library
(NumPy in, NumPy out; torch, JAX and CuPy likewise: see kernels/_interop.py), and inside the
family modules an operand that may be NumPy or CuPy. One signature cannot follow the caller's
library, so to a type checker it is ``Any``.
``GpuArray``: a CuPy array on the current device (kernels/gpu/*). CuPy is imported lazily and
may be absent, so this is ``Any`` as well.
``Pair``: a parsed (h, w) geometry parameter (``_args.pair``).
"""
from typing import Any, TypeAlias

Array: TypeAlias = Any
GpuArray: TypeAlias = Any
Pair: TypeAlias = tuple[int, int]
