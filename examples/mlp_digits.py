"""An MLP on the 8x8 digits, Keras-style: compile, fit with a validation split, evaluate.

    python examples/mlp_digits.py [--quick] [--plot curves.png]
"""
import argparse

import loomgrad as lg

p = argparse.ArgumentParser()
p.add_argument("--quick", action="store_true", help="2 epochs (what CI runs)")
p.add_argument("--plot", help="save the training curves here (needs matplotlib)")
args = p.parse_args()

lg.manual_seed(0)
X, y = lg.data.load_digits_arrays("train", flatten=True)     # (1437, 64) float32, labels 0..9
X_test, y_test = lg.data.load_digits_arrays("test", flatten=True)

model = lg.models.mlp(64, hidden=(128,), num_classes=10)      # Flatten, Linear, ReLU, Linear
model.summary((64,))                                          # layers and parameter counts
model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"], lr=3e-3)
history = model.fit(X, y, batch_size=64, epochs=2 if args.quick else 20,
                    validation_split=0.2, verbose=2)          # the last 20% held out
print("test:", model.evaluate(X_test, y_test))
if args.plot:
    history.plot(args.plot)
