"""``Module.summary(input_size)``: the layer table Keras' model.summary() and torchinfo print."""
from __future__ import annotations

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor

__all__ = ["summary"]


def _shape(out):
    if isinstance(out, Tensor):
        return "(-1, " + ", ".join(map(str, out.shape[1:])) + ")" if out.ndim > 1 else \
            f"({-1 if out.ndim == 1 else ''})"
    if isinstance(out, (tuple, list)):
        return "[" + ", ".join(_shape(o) for o in out if o is not None) + "]"
    return type(out).__name__


def _sizes(input_size) -> list[tuple[int, ...]]:
    if isinstance(input_size, (int, np.integer)):
        return [(int(input_size),)]
    sizes = list(input_size)
    if sizes and all(isinstance(s, (tuple, list)) for s in sizes):
        return [tuple(int(d) for d in s) for s in sizes]
    if all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 1
           for d in sizes):
        return [tuple(int(d) for d in sizes)]
    raise ValueError(f"summary: input_size must be one sample's shape like (1, 8, 8), or a "
                     f"list of shapes, got {input_size!r}")


def summary(model, input_size, dtype=None) -> str:
    """The table as text (see Trainer.summary)."""
    params = list(model.parameters())
    device = str(params[0].device) if params else "cpu"
    if dtype is None:
        floats = [p.array.dtype for p in params if p.array.dtype.kind == "f"]
        dtype = floats[0] if floats else np.float32
    inputs = [Tensor(np.zeros((2, *s), dtype=dtype)).to(device) for s in _sizes(input_size)]
    rows, handles = [], []
    names = {id(m): n for n, m in model.named_modules()}

    def record(module, args, out):
        rows.append((names.get(id(module), "?"), module, _shape(out)))

    for _, m in model.named_modules():
        if m is not model:
            handles.append(m.register_forward_hook(record))
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            out = model(*inputs)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    # hooks fire on the way out (children before parents): order rows by the modules' order
    order = {id(m): i for i, (_, m) in enumerate(model.named_modules())}
    rows.sort(key=lambda r: order.get(id(r[1]), 0))
    table = [("Layer (type)", "Output Shape", "Param #")]
    seen_modules = set()
    for name, module, shape in rows:
        if id(module) in seen_modules:  # a module called twice: its first call's row
            continue
        seen_modules.add(id(module))
        depth = name.count(".")
        own = sum(p.numel() for p in module.parameters(recurse=False))
        has_children = any(True for _ in module.children())
        count = f"{own:,}" if own or not has_children else "--"
        table.append(("  " * depth + f"{name} ({type(module).__name__})", shape, count))
    table.append((f"{type(model).__name__} (output)", _shape(out), ""))
    widths = [max(len(r[i]) for r in table) + 2 for i in range(3)]
    line = "=" * sum(widths)

    def fmt(r):
        return r[0].ljust(widths[0]) + r[1].ljust(widths[1]) + r[2].rjust(widths[2] - 2)

    unique = {id(p): p for p in params}.values()
    total = sum(p.numel() for p in unique)
    trainable = sum(p.numel() for p in unique if p.requires_grad)
    n_bytes = sum(p.numel() * p.array.dtype.itemsize for p in unique)
    lines = [f'Model: "{type(model).__name__}"', line, fmt(table[0]), line]
    lines += [fmt(r) for r in table[1:]]
    lines += [line, f"Total params: {total:,} ({n_bytes / 1024:.1f} KiB)",
              f"Trainable params: {trainable:,}", f"Non-trainable params: {total - trainable:,}",
              line]
    return "\n".join(lines)
