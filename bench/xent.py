"""Softmax cross-entropy benchmark: loomgrad vs PyTorch (CPU), forward and forward+backward.
See loomgrad/benchmarks/xent.py.

    python bench/xent.py [--threads 2] [--dtype float32|float64] [--quick]
"""
import sys

from loomgrad.benchmarks.xent import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
