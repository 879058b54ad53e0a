"""GPU half of the raw conv kernels: :func:`loomgrad.kernels.conv2d` and
:func:`~loomgrad.kernels.conv2d_backward` on GPU arrays (CuPy, or anything
with ``__cuda_array_interface__`` / DLPack), through ``loomgrad._cuda``
(csrc/cuda/conv.cu: implicit-GEMM forward, backward-data and split-K
backward-weight, direct kernels for depthwise convs).

Same arguments, shapes, semantics and errors as the CPU functions in
kernels/conv.py, pool.py and xent.py (the arguments go through the same parsers and
``_cpu.conv2d_output_shape``), float32 only. Results are new CuPy arrays on
the current device; kernels run on CuPy's current stream.
"""
from __future__ import annotations

from ... import _cpu
from .._types import GpuArray
from .. import _args
from . import arrays


def _geometry(x_shape, w_shape, stride, padding, dilation, groups) -> tuple[tuple, tuple[int, ...]]:
    """Parsed (stride, padding, dilation, groups) and the output shape; the
    CPU kernels' checks and messages."""
    stride, padding, dilation = (_args.pair("stride", stride), _args.pair("padding", padding),
                                 _args.pair("dilation", dilation))
    groups = _args.to_int("groups", groups)
    out_shape = _cpu.conv2d_output_shape(tuple(x_shape), tuple(w_shape), stride, padding,
                                         dilation, groups)
    return (stride, padding, dilation, groups), tuple(out_shape)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> GpuArray:
    """:func:`loomgrad.kernels.conv2d` on GPU arrays (float32)."""
    cuda, _ = arrays.require()
    x = arrays.float_array("conv2d", "x", x)
    weight = arrays.float_array("conv2d", "weight", weight)
    bias = arrays.float_array("conv2d", "bias", bias)
    x4, added = _args.batched("x", x)
    geo, shape = _geometry(x4.shape, weight.shape, stride, padding, dilation, groups)
    if bias is not None and tuple(bias.shape) != (shape[1],):
        raise ValueError(f"bias: expected shape ({shape[1]},) (one per output channel), "
                         f"got shape {tuple(bias.shape)}")
    out = arrays.empty(shape)
    if out.size:
        cuda.conv2d_forward(arrays.ptr(x4), arrays.ptr(weight), arrays.ptr(bias), arrays.ptr(out),
                            x4.shape, weight.shape, *geo, arrays.stream())
    return out[0] if added else out


def conv2d_backward(grad_out, x, weight, stride=1, padding=0, dilation=1, groups=1,
                    need=(True, True, True)) -> tuple[GpuArray | None, GpuArray | None,
                                                      GpuArray | None]:
    """:func:`loomgrad.kernels.conv2d_backward` on GPU arrays (float32):
    ``(grad_x, grad_weight, grad_bias)``, None where ``need`` is False."""
    cuda, _ = arrays.require()
    fn = "conv2d_backward"
    x = arrays.float_array(fn, "x", x)
    grad_out = arrays.float_array(fn, "grad_out", grad_out)
    weight = arrays.float_array(fn, "weight", weight)
    x4, added = _args.batched("x", x)
    g4, _ = _args.batched("grad_out", grad_out)
    need_x, need_w, need_b = (bool(n) for n in need)
    dx = dw = db = None
    if need_x or need_w:
        geo, shape = _geometry(x4.shape, weight.shape, stride, padding, dilation, groups)
        if tuple(g4.shape) != shape:
            raise ValueError(f"grad_out: expected shape {shape} (the conv2d output for this "
                             f"input), got shape {tuple(grad_out.shape)}")
        args = (x4.shape, weight.shape) + geo
    if need_x:
        dx = arrays.empty(x4.shape)
        if dx.size:
            cuda.conv2d_backward_data(arrays.ptr(g4), arrays.ptr(weight), arrays.ptr(dx), *args,
                                      arrays.stream())
        if added:
            dx = dx[0]
    if need_w:
        dw = arrays.empty(weight.shape)
        if dw.size:
            elems = cuda.conv2d_backward_weight_workspace(*args)
            ws = arrays.empty((elems,)) if elems else None  # split-K partial sums
            cuda.conv2d_backward_weight(arrays.ptr(g4), arrays.ptr(x4), arrays.ptr(dw), arrays.ptr(ws),
                                        elems, *args, arrays.stream())
    if need_b:
        if g4.shape[1] != weight.shape[0]:
            raise ValueError(f"grad_out: expected {weight.shape[0]} channels (weight "
                             f"{tuple(weight.shape)}), got shape {tuple(grad_out.shape)}")
        db = arrays.empty((weight.shape[0],))
        if db.size:
            cuda.conv2d_backward_bias(arrays.ptr(g4), arrays.ptr(db), g4.shape, arrays.stream())
    return dx, dw, db
