"""Stand-ins that run the GPU glue (``loomgrad._gpu_*``) on the CPU, where no
GPU exists: NumPy plays CuPy and a double plays ``loomgrad._cuda``. They test
the Python side only -- argument order against the binding source, sizes,
allocations, None handling, error paths -- never the CUDA kernels."""
from __future__ import annotations

import pathlib
import re
import types

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def binding_source(name: str) -> str:
    """The text of csrc/bindings/<name>; skips the test outside a source tree."""
    src = ROOT / "csrc" / "bindings" / name
    if not src.exists():
        pytest.skip(f"needs the source tree (csrc/bindings/{name})")
    return src.read_text()


class BindingDouble:
    """Stands in for a family of loomgrad._cuda bindings: each call's
    arguments are matched, in order, to the names the binding source declares
    (``py::arg("...")``), and "pointers" (ids handed out by :meth:`ptr`) are
    turned back into the NumPy arrays they name. Subclasses implement the
    bindings by running the CPU kernels."""

    def __init__(self, source: str):
        defs = source.split('m.def("')[1:]  # one chunk per binding: name, then its args
        self.order = {d.split('"')[0]: re.findall(r'arg\("(\w+)"\)', d) for d in defs}
        self.arrays, self.modes = {}, []

    def ptr(self, a):
        if a is None:
            return 0
        self.arrays[id(a)] = a
        return id(a)

    def _args(self, fn, args):
        names = self.order[fn]
        assert len(args) == len(names), (fn, len(args), names)
        a = dict(zip(names, args))
        arr = lambda k: self.arrays[a[k]] if a[k] else None  # noqa: E731
        return a, arr


def _float_array(fn, name, x, ndim=None):
    if x is None:
        return None
    if x.dtype != np.float32:
        raise TypeError(f"{fn}: {name}: the CUDA kernels take float32, got {x.dtype}")
    return np.ascontiguousarray(x)


def fake_gpu_module(double: BindingDouble):
    """A stand-in for loomgrad._gpu whose module is ``double`` and whose
    arrays are NumPy (fresh outputs are NaN-filled, so unwritten ones show)."""
    return types.SimpleNamespace(require=lambda: (double, np), float_array=_float_array,
                                 empty=lambda shape: np.full(shape, np.nan, np.float32),
                                 ptr=double.ptr, stream=lambda: 0)


def install_numpy_gpu(monkeypatch, kernels):
    """loomgrad._gpu treats NumPy arrays as GPU arrays (NumPy stands in for
    CuPy, pointers are the arrays) and ``kernels`` as the ``_cuda`` module,
    so the GPU glue runs without a GPU (undone by monkeypatch)."""
    from loomgrad.kernels.gpu import arrays as _gpu

    monkeypatch.setattr(_gpu, "require", lambda: (kernels, np))
    monkeypatch.setattr(_gpu, "_on_current_device", lambda *args: None)
    monkeypatch.setattr(_gpu, "ptr", lambda x: 0 if x is None else x)
    monkeypatch.setattr(_gpu, "stream", lambda: 0)
