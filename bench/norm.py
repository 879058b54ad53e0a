"""Normalisation benchmark: loomgrad vs PyTorch (CPU), LayerNorm and GroupNorm, forward and
forward+backward. See loomgrad/benchmarks/norm.py.

    python bench/norm.py [--threads 2] [--dtype float32|float64] [--quick]
"""
import sys

from loomgrad.benchmarks.norm import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
