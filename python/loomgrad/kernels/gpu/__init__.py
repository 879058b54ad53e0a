"""The GPU halves of the kernel families: CUDA launches through ``loomgrad._cuda``.

``arrays`` is the one door for GPU arrays (CuPy, ``__cuda_array_interface__``,
DLPack); gemm, conv, pool, xent and lstm take the CPU family's arguments
(parsed by ``kernels._args``) and launch on CuPy's current stream.
"""
