"""Our raw kernels inside a hand-written NumPy training loop: a 2-layer MLP whose forward and
backward are written out with lg.kernels.gemm and the fused softmax cross-entropy -- what
Linear, ReLU, cross_entropy and SGD do underneath.

    python examples/raw_kernels_numpy.py [--quick]
"""
import argparse

import numpy as np

import loomgrad as lg
from loomgrad import kernels as K

p = argparse.ArgumentParser()
p.add_argument("--quick", action="store_true", help="2 epochs (what CI runs)")
args = p.parse_args()

X, y = lg.data.load_digits_arrays("train", flatten=True)
X_test, y_test = lg.data.load_digits_arrays("test", flatten=True)
rng = np.random.default_rng(0)
W1 = (rng.standard_normal((64, 128)) * np.sqrt(2 / 64)).astype(np.float32)   # He init
b1 = np.zeros(128, np.float32)
W2 = (rng.standard_normal((128, 10)) * np.sqrt(1 / 128)).astype(np.float32)
b2 = np.zeros(10, np.float32)
lr = 0.1

for epoch in range(2 if args.quick else 20):
    order = rng.permutation(len(y))
    for i in range(0, len(y), 64):
        xb, yb = X[order[i:i + 64]], y[order[i:i + 64]]
        h_pre = K.gemm(xb, W1) + b1                    # (B, 128) = xb @ W1 + b1
        h = np.maximum(h_pre, 0)                        # ReLU
        logits = K.gemm(h, W2) + b2                     # (B, 10)
        loss = K.softmax_cross_entropy(logits, yb)      # mean over the batch
        g_logits = K.softmax_cross_entropy_backward(np.float32(1), logits, yb)
        gW2 = K.gemm(h, g_logits, trans_a=True)         # h.T @ g
        g_h = K.gemm(g_logits, W2, trans_b=True) * (h_pre > 0)
        gW1 = K.gemm(xb, g_h, trans_a=True)
        for param, grad in ((W1, gW1), (b1, g_h.sum(0)), (W2, gW2), (b2, g_logits.sum(0))):
            param -= lr * grad                          # plain SGD, in place
    test_logits = K.gemm(np.maximum(K.gemm(X_test, W1) + b1, 0), W2) + b2
    print(f"epoch {epoch + 1}: last batch loss {float(loss):.4f}, test accuracy "
          f"{lg.metrics.accuracy_score(y_test, test_logits):.3f}")
