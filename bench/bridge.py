"""PyTorch bridge benchmark: torch models with torch's layers vs loomgrad's
swapped in (loomgrad.interop.torch), and the bridge's per-call overhead.
See loomgrad/benchmarks/bridge.py.

    python bench/bridge.py [--threads 2] [--dtype float32|float64] [--quick]
"""
import sys

from loomgrad.benchmarks.bridge import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
