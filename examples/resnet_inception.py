"""A residual block and an Inception block, written as Modules, in one small CNN on the digits.

    python examples/resnet_inception.py [--quick]
"""
import argparse

import loomgrad as lg
from loomgrad import nn


class ResidualBlock(nn.Module):
    """x + F(x), F = conv-BN-ReLU-conv-BN (He et al.): the identity path lets gradients
    through deep stacks."""

    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1),
                                  nn.BatchNorm2d(channels), nn.ReLU(),
                                  nn.Conv2d(channels, channels, 3, padding=1),
                                  nn.BatchNorm2d(channels))
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(x + self.body(x))


class InceptionBlock(nn.Module):
    """Parallel 1x1, 3x3 and 5x5 convolutions and a pooled path, concatenated on the
    channels (Szegedy et al.): the network picks its receptive field per feature."""

    def __init__(self, cin, c):
        super().__init__()
        self.b1 = nn.Conv2d(cin, c, 1)
        self.b3 = nn.Sequential(nn.Conv2d(cin, c, 1), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1))
        self.b5 = nn.Sequential(nn.Conv2d(cin, c, 1), nn.ReLU(), nn.Conv2d(c, c, 5, padding=2))
        self.bp = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(cin, c, 1))

    def forward(self, x):
        return lg.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], dim=1).relu()


p = argparse.ArgumentParser()
p.add_argument("--quick", action="store_true", help="1 epoch (what CI runs)")
args = p.parse_args()

lg.manual_seed(0)
X, y = lg.data.load_digits_arrays("train", flatten=False)
X_test, y_test = lg.data.load_digits_arrays("test", flatten=False)
model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), ResidualBlock(16),
                      InceptionBlock(16, 8), nn.MaxPool2d(2),       # 32 x 4 x 4
                      nn.Flatten(), nn.Linear(32 * 4 * 4, 10))
model.summary((1, 8, 8))
model.compile("adam", metrics=["accuracy"], lr=3e-3)
model.fit(X, y, batch_size=64, epochs=1 if args.quick else 10, validation_data=(X_test, y_test),
          verbose=2)
