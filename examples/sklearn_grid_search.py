"""scikit-learn's cross-validation and grid search over a loomgrad network, after a scaler.

    python examples/sklearn_grid_search.py [--quick]
"""
import argparse

from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import loomgrad as lg

p = argparse.ArgumentParser()
p.add_argument("--quick", action="store_true", help="few epochs, small grid (what CI runs)")
args = p.parse_args()

X, y = lg.data.load_digits_arrays("all", flatten=True)
if args.quick:
    X, y = X[:600], y[:600]
pipe = Pipeline([("scale", StandardScaler()),
                 ("net", lg.sklearn.NeuralNetClassifier(
                     lg.models.MLP, module__hidden=(32,), max_epochs=3 if args.quick else 20,
                     lr=3e-3, batch_size=64, random_state=0))])
scores = cross_val_score(pipe, X, y, cv=3 if args.quick else 5)
print(f"cross-validated accuracy: {scores.mean():.3f} +- {scores.std():.3f}")
grid = GridSearchCV(pipe, {"net__module__hidden": [(16,), (64,)],
                           "net__lr": [1e-3, 3e-3] if not args.quick else [3e-3]}, cv=3)
grid.fit(X, y)
print("best:", grid.best_params_, f"{grid.best_score_:.3f}")
