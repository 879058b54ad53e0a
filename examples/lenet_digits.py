"""A LeNet-style CNN with dropout on the digits, stopped early on the validation loss; ends
with the confusion matrix.

    python examples/lenet_digits.py [--quick] [--plot cm.png]
"""
import argparse

import loomgrad as lg

p = argparse.ArgumentParser()
p.add_argument("--quick", action="store_true", help="2 epochs (what CI runs)")
p.add_argument("--plot", help="save the confusion matrix here (needs matplotlib)")
args = p.parse_args()

lg.manual_seed(0)
X, y = lg.data.load_digits_arrays("train", flatten=False)    # images (N, 1, 8, 8)
X_test, y_test = lg.data.load_digits_arrays("test", flatten=False)

# conv-relu-pool twice, then Linear-ReLU-Dropout(0.5)-Linear; dropout is on only in fit
model = lg.models.lenet(in_channels=1, num_classes=10, image_size=(8, 8), dropout=0.5)
model.compile("sgd", "cross_entropy", metrics=["accuracy", "f1"], lr=0.05, momentum=0.9)
stop = lg.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
model.fit(X, y, batch_size=64, epochs=2 if args.quick else 30, validation_data=(X_test, y_test),
          callbacks=[stop], verbose=2)
pred = model.predict(X_test).argmax(1)                        # eval mode: no dropout
print(lg.metrics.confusion_matrix(y_test, pred))
if args.plot:
    lg.plot.confusion_matrix(y_test, pred, path=args.plot)
