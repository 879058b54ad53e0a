"""conv2d benchmark: loomgrad vs PyTorch (CPU), forward and forward+backward.
See loomgrad/benchmarks/conv.py.

    python bench/conv.py [--threads 2] [--dtype float32|float64] [--quick]
"""
import sys

from loomgrad.benchmarks.conv import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
