"""GEMM benchmark: loomgrad vs NumPy (OpenBLAS) vs PyTorch. See bench/README.md.

    python bench/gemm.py [--threads 2] [--dtype float32|float64] [--quick]
"""
import sys

from loomgrad.benchmarks.gemm import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
