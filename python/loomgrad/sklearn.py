"""lg.sklearn: scikit-learn estimators around any lg.nn.Module, in the manner of skorch.

    from sklearn.model_selection import cross_val_score
    net = lg.sklearn.NeuralNetClassifier(lg.models.MLP, module__hidden=(64,), max_epochs=20,
                                         lr=3e-3, random_state=0)
    cross_val_score(net, X, y, cv=5)

``module`` is a Module class (built at each ``fit`` with the ``module__<arg>`` parameters; the
arguments ``in_features`` and ``num_classes``/``out_features``, where its constructor has
them and they are not given, are filled from the data) or a Module instance (deep-copied at
each ``fit``, so every fit starts from the same weights). Training is ``Module.compile`` +
``Module.fit``: ``optimizer`` (a name or an Optimizer class) with ``lr`` and the
``optimizer__<arg>`` parameters, ``criterion`` (a loss name or function), ``max_epochs``,
``batch_size``; ``random_state`` re-seeds the library generator (``lg.manual_seed``) before the
module is built, so a fit repeats exactly. Inputs are converted to float32.
"""
from __future__ import annotations

import copy
import inspect

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from . import random as _random
from .nn.module import Module
from .optim.optimizer import Optimizer

__all__ = ["NeuralNetClassifier", "NeuralNetRegressor"]

_PREFIXES = ("module__", "optimizer__")


class _NeuralNet(BaseEstimator):
    """What the classifier and regressor share: parameters, building, training."""

    _default_criterion = "cross_entropy"

    def __init__(self, module, criterion=None, optimizer="adam", lr=0.01, max_epochs=10,
                 batch_size=128, verbose=0, random_state=None, **kwargs):
        self.module = module
        self.criterion = criterion
        self.optimizer = optimizer
        self.lr = lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.verbose = verbose
        self.random_state = random_state
        for key, value in kwargs.items():  # checked in fit (sklearn: __init__ never raises)
            setattr(self, key, value)

    # sklearn's get_params reads __init__'s signature; the prefixed ones are added here
    def get_params(self, deep: bool = True) -> dict:
        params = super().get_params(deep=deep)
        params.update({k: v for k, v in vars(self).items() if k.startswith(_PREFIXES)})
        return params

    def set_params(self, **params):
        for key in [k for k in params if k.startswith(_PREFIXES)]:
            setattr(self, key, params.pop(key))
        return super().set_params(**params)

    def _prefixed(self, prefix: str) -> dict:
        return {k[len(prefix):]: v for k, v in vars(self).items() if k.startswith(prefix)}

    def _build(self, n_features: int, n_outputs: int) -> Module:
        if self.random_state is not None:
            _random.manual_seed(int(self.random_state))
        if isinstance(self.module, Module):
            if self._prefixed("module__"):
                raise ValueError(f"{type(self).__name__}: module__ arguments need a module "
                                 f"class, not an instance")
            return copy.deepcopy(self.module)
        if not (inspect.isclass(self.module) and issubclass(self.module, Module)) and \
                not callable(self.module):
            raise TypeError(f"{type(self).__name__}: module must be an lg.nn.Module class or "
                            f"instance, got {type(self.module).__name__}")
        kwargs = self._prefixed("module__")
        try:
            accepted = inspect.signature(self.module).parameters
        except (TypeError, ValueError):
            accepted = {}
        if "in_features" in accepted and "in_features" not in kwargs:
            kwargs["in_features"] = n_features
        for name in ("num_classes", "out_features"):
            if name in accepted and name not in kwargs:
                kwargs[name] = n_outputs
                break
        module = self.module(**kwargs)
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: module(...) returned "
                            f"{type(module).__name__}, not an lg.nn.Module")
        return module

    def _train(self, X, y, n_outputs: int):
        init = inspect.signature(_NeuralNet.__init__).parameters
        bad = [k for k in vars(self) if not k.startswith(_PREFIXES) and not k.endswith("_")
               and not k.startswith("_") and k not in init]
        if bad:
            raise TypeError(f"{type(self).__name__}: unexpected argument(s) {bad} (module and "
                            f"optimizer arguments take the prefixes module__ and optimizer__)")
        for name in ("max_epochs", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{type(self).__name__}: {name} must be an int >= 1, got "
                                 f"{v!r}")
        model = self._build(X.shape[1], n_outputs)
        optimizer = self.optimizer
        opt_kwargs = self._prefixed("optimizer__")
        if inspect.isclass(optimizer) and issubclass(optimizer, Optimizer):
            optimizer = optimizer(model.parameters(), lr=self.lr, **opt_kwargs)
            opt_kwargs = {}
        model.compile(optimizer=optimizer, loss=self.criterion or self._default_criterion,
                      lr=self.lr, **opt_kwargs)
        history = model.fit(X, y, batch_size=int(self.batch_size), epochs=int(self.max_epochs),
                            verbose=self.verbose)
        self.module_ = model
        self.history_ = history.history
        return self

    def _outputs(self, X) -> np.ndarray:
        check_is_fitted(self, "module_")
        X = validate_data(self, X, reset=False, dtype=np.float32)
        return self.module_.predict(X, batch_size=max(int(self.batch_size), 256))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags


class NeuralNetClassifier(ClassifierMixin, _NeuralNet):
    """A classifier: the module maps (N, n_features) float32 inputs to (N, n_classes) logits,
    trained with ``criterion`` (default cross-entropy). ``classes_`` holds the labels (any
    sortable values); ``predict_proba`` is the softmax of the logits; ``score`` the
    accuracy."""

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        return self._train(X, codes.astype(np.int64), max(len(self.classes_), 2))

    def predict_proba(self, X) -> np.ndarray:
        z = self._outputs(X).astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        scores = self._outputs(X)
        return self.classes_[scores.argmax(axis=1)]


class NeuralNetRegressor(RegressorMixin, _NeuralNet):
    """A regressor: the module maps (N, n_features) float32 inputs to (N, n_targets) outputs
    ((N, 1) for a 1-D y; predict then returns (N,), as float64), trained with ``criterion`` (default
    mse); ``score`` is R^2."""

    _default_criterion = "mse"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float32, multi_output=True, y_numeric=True)
        y = np.asarray(y, dtype=np.float32)
        self._y_ndim = y.ndim
        return self._train(X, y.reshape(len(y), -1), 1 if y.ndim == 1 else y.shape[1])

    def predict(self, X) -> np.ndarray:
        out = self._outputs(X).astype(np.float64)  # scikit-learn's regressors give float64
        return out.reshape(-1) if self._y_ndim == 1 and out.ndim == 2 and out.shape[1] == 1 \
            else out
