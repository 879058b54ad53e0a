"""LSTM benchmark: loomgrad nn.LSTM vs torch.nn.LSTM on the CPU. See bench/README.md.

    python bench/lstm.py [--threads 2] [--dtype float32|float64] [--quick]
"""
import sys

from loomgrad.benchmarks.lstm import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
