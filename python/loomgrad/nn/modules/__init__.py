"""``lg.nn.modules``: torch's paths to the layers (``nn.modules.linear.Linear``,
``nn.modules.module.Module``, ``nn.modules.loss.MSELoss`` ...). The classes live in
loomgrad.nn's own files; this package names those files under torch's submodule names
and serves every class of ``lg.nn`` as an attribute (``nn.modules.Conv2d``)."""
import sys

from .. import (activation, batchnorm, container, conv, linear, loss, module, normalization,
               pooling, rnn, sparse, transformer, upsampling)

_SUBMODULES = {"activation": activation, "batchnorm": batchnorm, "container": container,
               "conv": conv, "linear": linear, "loss": loss, "module": module,
               "normalization": normalization, "pooling": pooling, "rnn": rnn,
               "sparse": sparse, "transformer": transformer, "upsampling": upsampling}
for _name, _mod in _SUBMODULES.items():  # `import loomgrad.nn.modules.linear` works too
    sys.modules.setdefault(f"{__name__}.{_name}", _mod)


def __getattr__(name):
    parent = sys.modules[__name__.rpartition(".")[0]]
    value = getattr(parent, name, None)
    if value is None or name.startswith("_"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return value
