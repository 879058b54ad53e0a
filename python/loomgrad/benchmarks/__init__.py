"""Benchmarks that put each loomgrad kernel family beside its yardsticks
(NumPy/OpenBLAS, PyTorch, CuPy). One module per family, each with
``main(argv=None)``; ``python -m loomgrad bench NAME`` calls it. The shared
timing, table and peak-FLOP helpers are in :mod:`loomgrad.benchmarks.harness`."""
