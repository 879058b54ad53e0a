"""A convolutional autoencoder: the digits squeezed to 16 numbers and drawn back; the target
is the input itself (fit(X, X)) and the loss the mean squared error.

    python examples/conv_autoencoder.py [--quick]
"""
import argparse

import numpy as np

import loomgrad as lg
from loomgrad import nn


class Unflatten(nn.Module):
    def __init__(self, *shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


p = argparse.ArgumentParser()
p.add_argument("--quick", action="store_true", help="2 epochs (what CI runs)")
args = p.parse_args()

lg.manual_seed(0)
X, _ = lg.data.load_digits_arrays("train", flatten=False)    # (N, 1, 8, 8) in [0, 1]
X_test, _ = lg.data.load_digits_arrays("test", flatten=False)
encoder = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 8x4x4
                        nn.Conv2d(8, 4, 3, padding=1), nn.ReLU(),                   # 4x4x4
                        nn.Flatten(), nn.Linear(64, 16))                            # the code
decoder = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), Unflatten(1, 8, 8),
                        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(8, 1, 3, padding=1), nn.Sigmoid())                # pixels
autoencoder = nn.Sequential(encoder, decoder)
autoencoder.compile("adam", loss="mse", lr=3e-3)
h = autoencoder.fit(X, X, batch_size=64, epochs=2 if args.quick else 40,
                    validation_data=(X_test, X_test), verbose=2)
codes = encoder.predict(X_test)                              # (N, 16) features
print("codes", codes.shape, "test mse", h.history["val_loss"][-1],
      "vs the mean image", float(np.mean((X_test - X.mean(0)) ** 2)))
