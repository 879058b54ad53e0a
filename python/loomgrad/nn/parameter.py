"""nn.Parameter: a Tensor that a Module registers as learnable."""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A leaf Tensor with ``requires_grad=True`` by default.

    Assigning one to a Module attribute registers it (it then appears in
    ``parameters()`` and ``state_dict()``). ``data`` may be a Tensor (its
    array is shared, not copied), a NumPy array or anything ``lg.tensor``
    takes; ``None`` gives an empty float32 parameter.
    """

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = np.empty((0,), dtype=np.float32)
        elif isinstance(data, Tensor):
            data = data.array
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        out = Parameter(self.array.copy(), requires_grad=self.requires_grad)
        memo[id(self)] = out
        return out

    def __reduce_ex__(self, protocol):
        return (Parameter, (self.array, self.requires_grad))
