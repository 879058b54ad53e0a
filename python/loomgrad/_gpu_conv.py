"""GPU half of the raw conv kernels: :func:`loomgrad.kernels.conv2d` and
:func:`~loomgrad.kernels.conv2d_backward` on GPU arrays (CuPy, or anything
with ``__cuda_array_interface__`` / DLPack), through ``loomgrad._cuda``
(csrc/cuda/conv.cu: implicit-GEMM forward, backward-data and split-K
backward-weight, direct kernels for depthwise convs).

Same arguments, shapes, semantics and errors as the CPU functions in
:mod:`loomgrad._nn_kernels` (the arguments go through the same parsers and
``_cpu.conv2d_output_shape``), float32 only. Results are new CuPy arrays on
the current device; kernels run on CuPy's current stream.
"""
from __future__ import annotations

from . import _cpu, _gpu


def _geometry(x_shape, w_shape, stride, padding, dilation, groups):
    """Parsed (stride, padding, dilation, groups) and the output shape; the
    CPU kernels' checks and messages."""
    from . import _nn_kernels as nk

    stride, padding, dilation = (nk._pair("stride", stride), nk._pair("padding", padding),
                                 nk._pair("dilation", dilation))
    groups = nk._int("groups", groups)
    out_shape = _cpu.conv2d_output_shape(tuple(x_shape), tuple(w_shape), stride, padding,
                                         dilation, groups)
    return (stride, padding, dilation, groups), tuple(out_shape)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """:func:`loomgrad.kernels.conv2d` on GPU arrays (float32)."""
    from . import _nn_kernels as nk

    cuda, _ = _gpu.require()
    x = _gpu.float_array("conv2d", "x", x)
    weight = _gpu.float_array("conv2d", "weight", weight)
    bias = _gpu.float_array("conv2d", "bias", bias)
    x4, added = nk._batched("x", x)
    geo, shape = _geometry(x4.shape, weight.shape, stride, padding, dilation, groups)
    if bias is not None and tuple(bias.shape) != (shape[1],):
        raise ValueError(f"bias: expected shape ({shape[1]},) (one per output channel), "
                         f"got shape {tuple(bias.shape)}")
    out = _gpu.empty(shape)
    if out.size:
        cuda.conv2d_forward(_gpu.ptr(x4), _gpu.ptr(weight), _gpu.ptr(bias), _gpu.ptr(out),
                            x4.shape, weight.shape, *geo, _gpu.stream())
    return out[0] if added else out


def conv2d_backward(grad_out, x, weight, stride=1, padding=0, dilation=1, groups=1,
                    need=(True, True, True)):
    """:func:`loomgrad.kernels.conv2d_backward` on GPU arrays (float32):
    ``(grad_x, grad_weight, grad_bias)``, None where ``need`` is False."""
    from . import _nn_kernels as nk

    cuda, _ = _gpu.require()
    fn = "conv2d_backward"
    x = _gpu.float_array(fn, "x", x)
    grad_out = _gpu.float_array(fn, "grad_out", grad_out)
    weight = _gpu.float_array(fn, "weight", weight)
    x4, added = nk._batched("x", x)
    g4, _ = nk._batched("grad_out", grad_out)
    need_x, need_w, need_b = (bool(n) for n in need)
    dx = dw = db = None
    if need_x or need_w:
        geo, shape = _geometry(x4.shape, weight.shape, stride, padding, dilation, groups)
        if tuple(g4.shape) != shape:
            raise ValueError(f"grad_out: expected shape {shape} (the conv2d output for this "
                             f"input), got shape {tuple(grad_out.shape)}")
        args = (x4.shape, weight.shape) + geo
    if need_x:
        dx = _gpu.empty(x4.shape)
        if dx.size:
            cuda.conv2d_backward_data(_gpu.ptr(g4), _gpu.ptr(weight), _gpu.ptr(dx), *args,
                                      _gpu.stream())
        if added:
            dx = dx[0]
    if need_w:
        dw = _gpu.empty(weight.shape)
        if dw.size:
            elems = cuda.conv2d_backward_weight_workspace(*args)
            ws = _gpu.empty((elems,)) if elems else None  # split-K partial sums
            cuda.conv2d_backward_weight(_gpu.ptr(g4), _gpu.ptr(x4), _gpu.ptr(dw), _gpu.ptr(ws),
                                        elems, *args, _gpu.stream())
    if need_b:
        if g4.shape[1] != weight.shape[0]:
            raise ValueError(f"grad_out: expected {weight.shape[0]} channels (weight "
                             f"{tuple(weight.shape)}), got shape {tuple(grad_out.shape)}")
        db = _gpu.empty((weight.shape[0],))
        if db.size:
            cuda.conv2d_backward_bias(_gpu.ptr(g4), _gpu.ptr(db), g4.shape, _gpu.stream())
    return dx, dw, db
