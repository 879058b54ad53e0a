"""``lg.onnx.export(model, example_input, path)``: a model as an ONNX file (opset 17).

The export traces: the model runs once (in eval mode, under no_grad) on
``example_input`` while :data:`loomgrad.autograd.trace_hook` records every autograd
Function applied; each becomes one or a few ONNX nodes (table ``_CONVERTERS``). The
model's parameters and buffers become named initializers, other tensors the forward
made outside autograd (constants, scalars) become constant initializers. Then the
model is traced a second time on a different input of the same shape: a constant
that changed depends on the input through an op that autograd does not see (a
comparison, ``argmax``, an index computed in Python) and could not be exported
faithfully, so it is a ValueError naming it, as is a Function with no converter
(LSTM/GRU layers, the fused losses). Needs the optional ``onnx`` package
(``pip install loomgrad[onnx]``); tests check the file in onnxruntime.
"""
from __future__ import annotations

import numpy as np

from . import autograd
from .tensor import Tensor

__all__ = ["export", "OPSET"]

OPSET = 17


def _onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:
        raise ImportError("lg.onnx.export needs the onnx package: pip install onnx "
                          "(or loomgrad[onnx])") from None
    return onnx, helper, numpy_helper


def _trace(model, x):
    records = []

    def hook(fn, inputs, kwargs, out):
        records.append((fn, inputs, kwargs, out))
    prev = autograd.trace_hook
    autograd.trace_hook = hook
    try:
        with autograd.no_grad():
            out = model(x)
    finally:
        autograd.trace_hook = prev
    return records, out


class _Graph:
    def __init__(self, helper, numpy_helper, named):
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes, self.inits, self.names = [], [], {}
        self.named = named  # id(param or buffer) -> its state_dict name
        self.keep = []  # tensors whose ids are in self.names stay alive
        self.constants = []  # (name, array) of the unnamed constants, in order
        self.by_array = {}  # id(array) -> the named Tensor holding it

    def fresh(self, stem):
        return f"{stem}_{len(self.nodes) + len(self.inits)}"

    def const(self, arr, stem="const"):
        name = self.fresh(stem)
        self.inits.append(self.numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def name_of(self, t: Tensor):
        key = id(t)
        if key in self.names:
            return self.names[key]
        arr = t.array if isinstance(t.array, np.ndarray) else t.array.get()
        if key in self.named:
            name = self.named[key]
            self.inits.append(self.numpy_helper.from_array(np.ascontiguousarray(arr), name))
        else:
            name = self.const(arr)
            self.constants.append((name, np.array(arr)))
        self.names[key] = name
        self.keep.append(t)
        return name

    def array_input(self, arr):
        """A raw array an op took as an argument: the graph value it came from (the
        model's input, say), else a constant checked like the others."""
        t = self.by_array.get(id(arr))
        if t is not None:
            return self.names[id(t)]
        host = arr if isinstance(arr, np.ndarray) else arr.get()
        name = self.const(host)
        self.constants.append((name, np.array(host)))
        return name

    def node(self, op, inputs, outputs=None, **attrs):
        outputs = outputs or [self.fresh(op)]
        self.nodes.append(self.helper.make_node(op, inputs, outputs, **attrs))
        return outputs[0]


def _ints(xs):
    return [int(v) for v in xs]


def _conv(g, fn, ins, kw):
    (sh, sw), (ph, pw), (dh, dw), groups = (kw["stride"], kw["padding"], kw["dilation"],
                                            kw["groups"])
    eb, er = kw.get("extra", (0, 0))
    w = fn.saved[2] if isinstance(fn.saved, tuple) else None
    attrs = dict(strides=[sh, sw], pads=[ph, pw, ph + eb, pw + er], dilations=[dh, dw],
                 group=int(groups))
    if w is not None:
        attrs["kernel_shape"] = _ints(w[2:])
    return g.node("Conv", ins, **attrs)


def _pads(p):
    return [p[0], p[1], p[0], p[1]]


def _maxpool(g, fn, ins, kw):
    return g.node("MaxPool", ins, kernel_shape=_ints(kw["kernel_size"]),
                  strides=_ints(kw["stride"]), pads=_pads(_ints(kw["padding"])),
                  dilations=_ints(kw["dilation"]), ceil_mode=int(kw["ceil_mode"]))


def _avgpool(g, fn, ins, kw):
    if kw["divisor_override"] is not None:
        raise ValueError("onnx.export: avg_pool2d with divisor_override has no ONNX form")
    return g.node("AveragePool", ins, kernel_shape=_ints(kw["kernel_size"]),
                  strides=_ints(kw["stride"]), pads=_pads(_ints(kw["padding"])),
                  ceil_mode=int(kw["ceil_mode"]),
                  count_include_pad=int(kw["count_include_pad"]))


def _adaptive(g, fn, ins, kw):
    H, W = fn.x_shape[2:]
    oh, ow = kw["output_size"]
    if (oh, ow) == (1, 1):
        return g.node("GlobalAveragePool", ins)
    if H % oh or W % ow:
        raise ValueError(f"onnx.export: adaptive_avg_pool2d from {H}x{W} to {oh}x{ow} is not "
                         f"a plain average pool (sizes must divide)")
    k = [H // oh, W // ow]
    return g.node("AveragePool", ins, kernel_shape=k, strides=k)


def _linear(g, fn, ins, kw):
    if len(fn.x_shape) == 2:
        return g.node("Gemm", ins, transB=1)
    wt = g.node("Transpose", [ins[1]], perm=[1, 0])
    y = g.node("MatMul", [ins[0], wt])
    return g.node("Add", [y, ins[2]]) if len(ins) > 2 else y


def _reduce(op):
    def convert(g, fn, ins, kw):
        axes = kw.get("axes")
        keep = int(bool(kw.get("keepdim", False)))
        if op == "ReduceSum":
            extra = [g.const(np.array(axes, np.int64))] if axes is not None else []
            return g.node(op, ins + extra, keepdims=keep)
        if axes is None:
            return g.node(op, ins, keepdims=keep)
        return g.node(op, ins, axes=_ints(axes), keepdims=keep)
    return convert


def _getitem(g, fn, ins, kw):
    index = kw["index"]
    items = index if isinstance(index, tuple) else (index,)
    shape = fn.meta[0]
    if any(i is Ellipsis for i in items):
        at = items.index(Ellipsis)
        items = items[:at] + (slice(None),) * (len(shape) - len(items) + 1) + items[at + 1:]
    starts, ends, axes, steps, squeeze, unsq = [], [], [], [], [], []
    dim = out_dim = 0
    for i in items:
        if i is None:
            unsq.append(out_dim)
            out_dim += 1
            continue
        if isinstance(i, (int, np.integer)):
            n = shape[dim]
            s = int(i) % n
            starts.append(s), ends.append(s + 1), axes.append(dim), steps.append(1)
            squeeze.append(dim)
        elif isinstance(i, slice):
            s, e, st = i.indices(shape[dim])
            if (s, e, st) != (0, shape[dim], 1):
                if st < 0:
                    e = e if e >= 0 else -shape[dim] - 1
                starts.append(s), ends.append(e), axes.append(dim), steps.append(st)
            out_dim += 1
        else:
            raise ValueError("onnx.export: indexing with arrays or masks is not exported "
                             "(only ints, slices and None)")
        dim += 1
    y = ins[0]
    if axes:
        y = g.node("Slice", [y, g.const(np.array(starts, np.int64)),
                             g.const(np.array(ends, np.int64)),
                             g.const(np.array(axes, np.int64)),
                             g.const(np.array(steps, np.int64))])
    if squeeze:
        y = g.node("Squeeze", [y, g.const(np.array(squeeze, np.int64))])
    if unsq:
        y = g.node("Unsqueeze", [y, g.const(np.array(unsq, np.int64))])
    return y if y != ins[0] else g.node("Identity", ins)


def _stack(g, fn, ins, kw):
    ax = g.const(np.array([kw.get("axis", 0)], np.int64))
    return g.node("Concat", [g.node("Unsqueeze", [i, ax]) for i in ins], axis=kw.get("axis", 0))


def _clamp(g, fn, ins, kw):
    dt = fn.out_dtype if hasattr(fn, "out_dtype") else np.float32
    lo, hi = kw.get("lo"), kw.get("hi")
    args = [ins[0], g.const(np.array(lo, dt)) if lo is not None else "",
            g.const(np.array(hi, dt)) if hi is not None else ""]
    while args[-1] == "":
        args.pop()
    return g.node("Clip", args)


def _unary(op):
    return lambda g, fn, ins, kw: g.node(op, ins)


def _embedding(g, fn, ins, kw):
    return g.node("Gather", [ins[0], g.array_input(kw["idx"])], axis=0)


_CONVERTERS = {
    "Add": _unary("Add"), "Sub": _unary("Sub"), "Mul": _unary("Mul"), "Div": _unary("Div"),
    "Neg": _unary("Neg"), "Pow": _unary("Pow"), "Exp": _unary("Exp"), "Log": _unary("Log"),
    "Sqrt": _unary("Sqrt"), "Abs": _unary("Abs"), "Sin": _unary("Sin"), "Cos": _unary("Cos"),
    "Maximum": _unary("Max"), "Minimum": _unary("Min"), "Relu": _unary("Relu"),
    "Sigmoid": _unary("Sigmoid"), "Tanh": _unary("Tanh"), "Softplus": _unary("Softplus"),
    "Matmul": _unary("MatMul"), "Contiguous": _unary("Identity"),
    "Silu": lambda g, fn, ins, kw: g.node("Mul", [ins[0], g.node("Sigmoid", ins)]),
    "PowScalar": lambda g, fn, ins, kw: g.node("Pow", [ins[0], g.const(
        np.array(kw["p"], fn.out_dtype))]),
    "Log1p": lambda g, fn, ins, kw: g.node("Log", [g.node("Add", [ins[0], g.const(
        np.array(1, fn.out_dtype))])]),
    "Expm1": lambda g, fn, ins, kw: g.node("Sub", [g.node("Exp", ins), g.const(
        np.array(1, fn.out_dtype))]),
    "Clamp": _clamp,
    "Copy": lambda g, fn, ins, kw: g.node("Identity", ins) if kw.get("dtype") is None else
    g.node("Cast", ins, to=int(g.helper.np_dtype_to_tensor_dtype(np.dtype(kw["dtype"])))),
    "Where": lambda g, fn, ins, kw: g.node("Where", [g.array_input(kw["cond"]), ins[0], ins[1]]),
    "Reshape": lambda g, fn, ins, kw: g.node("Reshape", [ins[0], g.const(
        np.array(kw["shape"], np.int64))]),
    "Permute": lambda g, fn, ins, kw: g.node("Transpose", ins, perm=_ints(kw["perm"])),
    "Expand": lambda g, fn, ins, kw: g.node("Expand", [ins[0], g.const(
        np.array(kw["shape"], np.int64))]),
    "Cat": lambda g, fn, ins, kw: g.node("Concat", ins, axis=kw.get("axis", 0)),
    "Stack": _stack,
    "Softmax": lambda g, fn, ins, kw: g.node("Softmax", ins, axis=kw["axis"]),
    "LogSoftmax": lambda g, fn, ins, kw: g.node("LogSoftmax", ins, axis=kw["axis"]),
    "Sum": _reduce("ReduceSum"), "Mean": _reduce("ReduceMean"),
    "Getitem": _getitem,
    "_Linear": _linear, "Conv2dFunction": _conv, "MaxPool2dFunction": _maxpool,
    "AvgPool2dFunction": _avgpool, "AdaptiveAvgPool2dFunction": _adaptive,
    "_Embedding": _embedding,
}


def _build(model, x, records, out, helper, numpy_helper):
    named = {id(t): n for n, t in model.state_dict(keep_vars=True).items()}
    g = _Graph(helper, numpy_helper, named)
    g.names[id(x)] = "input"
    g.keep.append(x)
    g.by_array[id(x.array)] = x
    for fn, inputs, kw, result in records:
        name = type(fn).__name__
        conv = _CONVERTERS.get(name)
        if conv is None:
            raise ValueError(f"onnx.export: no ONNX form for {name} (exported: "
                             f"{', '.join(sorted(_CONVERTERS))})")
        ins = [g.name_of(t) for t in inputs]
        g.names[id(result)] = conv(g, fn, ins, kw)
        g.keep.append(result)
        g.by_array[id(result.array)] = result
    if not isinstance(out, Tensor):
        raise ValueError(f"onnx.export: the model must return one Tensor, got "
                         f"{type(out).__name__}")
    out_name = g.name_of(out)
    return g, out_name


def _value_info(helper, name, arr):
    return helper.make_tensor_value_info(
        name, helper.np_dtype_to_tensor_dtype(np.dtype(arr.dtype)), list(arr.shape))


def export(model, example_input, f, *, check=True):
    """Write ``model`` (run on a Tensor like ``example_input``) to ``f`` (a path or a
    binary file object) as an ONNX model: input "input", output "output", opset 17,
    fixed shapes. The model is exported in eval mode (restored afterwards)."""
    onnx, helper, numpy_helper = _onnx()
    if not isinstance(example_input, Tensor):
        raise TypeError(f"onnx.export: example_input must be a Tensor, got "
                        f"{type(example_input).__name__}")
    was_training = model.training
    model.eval()
    try:
        records, out = _trace(model, example_input)
        g, out_name = _build(model, example_input, records, out, helper, numpy_helper)
        _check_constants(model, example_input, g, helper, numpy_helper)
    finally:
        model.train(was_training)
    out_arr = out.array if isinstance(out.array, np.ndarray) else out.array.get()
    g.node("Identity", [out_name], ["output"])
    graph = helper.make_graph(g.nodes, type(model).__name__,
                              [_value_info(helper, "input", example_input.numpy(force=True))],
                              [_value_info(helper, "output", out_arr)], initializer=g.inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="loomgrad")
    proto.ir_version = min(proto.ir_version, 9)
    if check:
        onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    if hasattr(f, "write"):
        f.write(data)
    else:
        with open(f, "wb") as fh:
            fh.write(data)
    return proto


def _check_constants(model, x, g, helper, numpy_helper):
    """Trace again on another input: constants that changed were computed from the
    input outside autograd and would be frozen wrongly in the file."""
    rng = np.random.default_rng(12345)
    arr = x.numpy(force=True)
    if arr.dtype.kind == "f":
        other = (arr + rng.standard_normal(arr.shape) * (np.abs(arr).mean() + 1)).astype(arr.dtype)
    else:
        other = np.roll(arr, 1)
    x2 = Tensor(other).to(x.device)
    records, out = _trace(model, x2)
    g2, _ = _build(model, x2, records, out, helper, numpy_helper)
    if len(g2.constants) != len(g.constants):
        raise ValueError("onnx.export: the traced graph depends on the input values (control "
                         "flow in forward); it cannot be exported as one graph")
    for (name, a), (_, b) in zip(g.constants, g2.constants):
        if a.shape != b.shape or not np.array_equal(a, b):
            raise ValueError(f"onnx.export: constant {name} (shape {a.shape}) depends on the "
                             f"input through an op autograd does not record (a comparison, "
                             f"argmax, a Python-side index): it would be frozen in the file")
