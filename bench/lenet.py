"""One LeNet training step: loomgrad vs the same model in PyTorch (CPU).
See loomgrad/benchmarks/lenet.py.

    python bench/lenet.py [--threads 2] [--batch 64] [--quick]
"""
import sys

from loomgrad.benchmarks.lenet import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
