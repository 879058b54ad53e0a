"""Raw CNN kernels on NumPy or GPU arrays: conv2d, pooling, softmax, cross-entropy.

Part of the public raw-kernel API (re-exported by :mod:`loomgrad.kernels`):
forward and backward kernels that take and return plain arrays, with
PyTorch's argument names, defaults and semantics (``torch.nn.functional``
for the forwards, the ATen ``*_backward`` ops for the backwards). Layout is
NCHW; float32 or float64; every int-or-pair argument (``stride``,
``padding``, ...) takes an int or a pair of ints as in torch. Inputs that are
not C-contiguous are copied; outputs are new arrays. Errors are
ValueError/TypeError naming the argument and its shape.

NumPy arrays run on the CPU kernels (``loomgrad._cpu``, C++/OpenMP,
``lg.set_num_threads`` threads); GPU arrays (CuPy, ``__cuda_array_interface__``
or CUDA DLPack providers such as torch.cuda tensors) run on the CUDA kernels
(``_gpu_conv``, ``_gpu_pool``, ``_gpu_xent``: float32, CuPy's current stream,
outputs from CuPy's memory pool).
"""
from __future__ import annotations

import numbers

import numpy as np

from . import _alloc, _cpu, _gpu, _gpu_conv, _gpu_pool, _gpu_xent

__all__ = [
    "conv2d", "conv2d_backward",
    "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
    "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward",
    "softmax", "softmax_backward", "log_softmax", "log_softmax_backward",
    "softmax_cross_entropy", "softmax_cross_entropy_backward",
]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _int(name: str, v) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {type(v).__name__} {v!r}")
    return int(v)


def _pair(name: str, v) -> tuple[int, int]:
    """An int or a pair of ints, as torch's _pair."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{name}: expected an int or a pair of ints, got {v!r}")
        return _int(name, v[0]), _int(name, v[1])
    v = _int(name, v)
    return v, v


def _float_array(name: str, x, dtype=None) -> np.ndarray:
    """x as a C-contiguous float32/float64 NumPy array (of `dtype` if given)."""
    if not isinstance(x, np.ndarray):
        if hasattr(x, "__cuda_array_interface__"):
            raise TypeError(f"{name}: GPU arrays are not supported by the CNN kernels yet")
        raise TypeError(f"{name}: expected a numpy array, got {type(x).__name__}")
    if x.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{name}: expected float32 or float64, got dtype {x.dtype} "
                        f"with shape {x.shape}")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"{name}: dtype must be {dtype} (like the other operands), got "
                        f"{x.dtype} with shape {x.shape}")
    return _alloc.contiguous(name, x)


def _batched(name: str, x: np.ndarray) -> tuple[np.ndarray, bool]:
    """(N, C, H, W) view of a 4-D or unbatched 3-D image array, and whether
    a batch dimension was added."""
    if x.ndim == 3:
        return x[None], True
    if x.ndim != 4:
        raise ValueError(f"{name}: expected a 4-D (N, C, H, W) or 3-D (C, H, W) array, "
                         f"got shape {x.shape}")
    return x, False


def _shape4(name: str, shape) -> tuple[tuple[int, ...], bool]:
    shape = tuple(int(s) for s in (shape.shape if hasattr(shape, "shape") else shape))
    if len(shape) == 3:
        return (1,) + shape, True
    if len(shape) != 4:
        raise ValueError(f"{name}: expected a 4-D (N, C, H, W) or 3-D (C, H, W) shape, "
                         f"got {shape}")
    return shape, False


# ---------------------------------------------------------------- conv2d
def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation), as ``torch.nn.functional.conv2d``.

    Shapes: x (N, C, H, W) or (C, H, W); weight (K, C // groups, R, S);
    bias (K,) or None; returns (N, K, OH, OW) (or (K, OH, OW)) with
    ``OH = (H + 2*padding[0] - dilation[0]*(R-1) - 1) // stride[0] + 1``.
    ``padding`` is an int or a pair (no 'same'/'valid' strings).
    """
    if _gpu.any_gpu(x, weight, bias):
        return _gpu_conv.conv2d(x, weight, bias, stride, padding, dilation, groups)
    x = _float_array("x", x)
    weight = _float_array("weight", weight, x.dtype)
    if bias is not None:
        bias = _float_array("bias", bias, x.dtype)
    x4, added = _batched("x", x)
    stride, padding, dilation = (_pair("stride", stride), _pair("padding", padding),
                                 _pair("dilation", dilation))
    groups = _int("groups", groups)
    shape = _cpu.conv2d_output_shape(x4.shape, weight.shape, stride, padding, dilation, groups)
    out = _alloc.empty("out", shape, x.dtype)
    _cpu.conv2d_forward(x4, weight, bias, out, stride, padding, dilation, groups)
    return out[0] if added else out


def conv2d_backward(grad_out, x, weight, stride=1, padding=0, dilation=1, groups=1,
                    need=(True, True, True)):
    """Gradients of :func:`conv2d`: returns ``(grad_x, grad_weight, grad_bias)``,
    each None where ``need`` (for x, weight, bias) is False.

    Shapes: grad_out (N, K, OH, OW), x (N, C, H, W), weight (K, C // groups, R, S)
    (3-D unbatched arrays allowed as in :func:`conv2d`); grad_x like x,
    grad_weight like weight, grad_bias (K,).
    """
    if _gpu.any_gpu(grad_out, x, weight):
        return _gpu_conv.conv2d_backward(grad_out, x, weight, stride, padding, dilation, groups, need)
    x = _float_array("x", x)
    grad_out = _float_array("grad_out", grad_out, x.dtype)
    weight = _float_array("weight", weight, x.dtype)
    x4, added = _batched("x", x)
    g4, _ = _batched("grad_out", grad_out)
    stride, padding, dilation = (_pair("stride", stride), _pair("padding", padding),
                                 _pair("dilation", dilation))
    groups = _int("groups", groups)
    need_x, need_w, need_b = (bool(n) for n in need)
    dx = dw = db = None
    if need_x:
        dx = _alloc.empty("grad_input", x4.shape, x.dtype)
        _cpu.conv2d_backward_data(g4, weight, dx, stride, padding, dilation, groups)
        if added:
            dx = dx[0]
    if need_w:
        dw = _alloc.empty("grad_weight", weight.shape, x.dtype)
        _cpu.conv2d_backward_weight(g4, x4, dw, stride, padding, dilation, groups)
    if need_b:
        if g4.shape[1] != weight.shape[0]:
            raise ValueError(f"grad_out: expected {weight.shape[0]} channels (weight "
                             f"{weight.shape}), got shape {grad_out.shape}")
        db = np.empty((weight.shape[0],), x.dtype)
        _cpu.conv2d_backward_bias(g4, db)
    return dx, dw, db


# ---------------------------------------------------------------- pooling
def _pool_args(kernel_size, stride, padding, dilation):
    k = _pair("kernel_size", kernel_size)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) \
        else _pair("stride", stride)
    return k, s, _pair("padding", padding), _pair("dilation", dilation)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Max pooling with argmax, as ``torch.nn.functional.max_pool2d(...,
    return_indices=True)``: returns ``(out, indices)``.

    Shapes: x (N, C, H, W) or (C, H, W); out and indices (N, C, OH, OW) with
    torch's output size (``ceil_mode``: the last window must start inside the
    input or the left padding). indices are int64 flat offsets ``ih * W + iw``
    into each H x W plane; ties keep the first maximum, NaN propagates.
    ``stride`` defaults to ``kernel_size``; padding must be <= kernel_size / 2.
    """
    if _gpu.any_gpu(x):
        return _gpu_pool.max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode)
    x = _float_array("x", x)
    x4, added = _batched("x", x)
    k, s, p, d = _pool_args(kernel_size, stride, padding, dilation)
    shape = _cpu.pool2d_output_shape("max_pool2d", x4.shape, k, s, p, d, bool(ceil_mode))
    out = _alloc.empty("out", shape, x.dtype)
    idx = _alloc.empty("indices", shape, np.int64)
    _cpu.max_pool2d_forward(x4, out, idx, k, s, p, d, bool(ceil_mode))
    return (out[0], idx[0]) if added else (out, idx)


def max_pool2d_backward(grad_out, indices, input_shape, kernel_size, stride=None, padding=0,
                        dilation=1, ceil_mode=False):
    """Gradient of :func:`max_pool2d` with respect to its input, of shape
    ``input_shape`` ((N, C, H, W) or (C, H, W); an array's shape is taken):
    each grad_out value is added at its argmax in ``indices``."""
    if _gpu.any_gpu(grad_out, indices):
        return _gpu_pool.max_pool2d_backward(grad_out, indices, input_shape, kernel_size, stride, padding,
                                                 dilation, ceil_mode)
    grad_out = _float_array("grad_out", grad_out)
    indices = np.asarray(indices)
    if np.issubdtype(indices.dtype, np.integer):  # others: the binding refuses them (no cast)
        indices = _alloc.contiguous("indices", indices, np.int64)
    shape, added = _shape4("input_shape", input_shape)
    g4, _ = _batched("grad_out", grad_out)
    i4 = indices[None] if indices.ndim == 3 else indices
    k, s, p, d = _pool_args(kernel_size, stride, padding, dilation)
    dx = _alloc.empty("grad_input", shape, grad_out.dtype)
    _cpu.max_pool2d_backward(g4, i4, dx, k, s, p, d, bool(ceil_mode))
    return dx[0] if added else dx


def _divisor(divisor_override) -> int:
    if divisor_override is None:
        return 0
    v = _int("divisor_override", divisor_override)
    if v <= 0:
        raise ValueError(f"divisor_override must be a positive int, got {v}")
    return v


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Average pooling, as ``torch.nn.functional.avg_pool2d``.

    Shapes: x (N, C, H, W) or (C, H, W) -> (N, C, OH, OW). The divisor is
    ``divisor_override`` if given, else the window size clipped to the padded
    input (``count_include_pad=True``) or to the input itself (False).
    """
    if _gpu.any_gpu(x):
        return _gpu_pool.avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                        divisor_override)
    x = _float_array("x", x)
    x4, added = _batched("x", x)
    k, s, p, _ = _pool_args(kernel_size, stride, padding, 1)
    div = _divisor(divisor_override)
    shape = _cpu.pool2d_output_shape("avg_pool2d", x4.shape, k, s, p, (1, 1), bool(ceil_mode))
    out = _alloc.empty("out", shape, x.dtype)
    _cpu.avg_pool2d_forward(x4, out, k, s, p, bool(ceil_mode), bool(count_include_pad), div)
    return out[0] if added else out


def avg_pool2d_backward(grad_out, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True, divisor_override=None):
    """Gradient of :func:`avg_pool2d` with respect to its input (shape
    ``input_shape``, (N, C, H, W) or (C, H, W))."""
    if _gpu.any_gpu(grad_out):
        return _gpu_pool.avg_pool2d_backward(grad_out, input_shape, kernel_size, stride, padding,
                                                 ceil_mode, count_include_pad, divisor_override)
    grad_out = _float_array("grad_out", grad_out)
    shape, added = _shape4("input_shape", input_shape)
    g4, _ = _batched("grad_out", grad_out)
    k, s, p, _ = _pool_args(kernel_size, stride, padding, 1)
    div = _divisor(divisor_override)
    dx = _alloc.empty("grad_input", shape, grad_out.dtype)
    _cpu.avg_pool2d_backward(g4, dx, k, s, p, bool(ceil_mode), bool(count_include_pad), div)
    return dx[0] if added else dx


def adaptive_avg_pool2d(x, output_size):
    """Adaptive average pooling, as ``torch.nn.functional.adaptive_avg_pool2d``:
    (N, C, H, W) or (C, H, W) -> (N, C, OH, OW) with ``output_size = (OH, OW)``
    (an int for both; None keeps that input size). Output cell o covers input
    rows ``[floor(o*H/OH), ceil((o+1)*H/OH))``."""
    if _gpu.any_gpu(x):
        return _gpu_pool.adaptive_avg_pool2d(x, output_size)
    x = _float_array("x", x)
    x4, added = _batched("x", x)
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        oh = x4.shape[2] if output_size[0] is None else _int("output_size", output_size[0])
        ow = x4.shape[3] if output_size[1] is None else _int("output_size", output_size[1])
    else:
        oh, ow = _pair("output_size", output_size)
    if oh < 1 or ow < 1:
        raise ValueError(f"output_size must be >= 1, got {(oh, ow)}")
    out = _alloc.empty("out", x4.shape[:2] + (oh, ow), x.dtype)
    _cpu.adaptive_avg_pool2d_forward(x4, out)
    return out[0] if added else out


def adaptive_avg_pool2d_backward(grad_out, input_shape):
    """Gradient of :func:`adaptive_avg_pool2d`: grad_out (N, C, OH, OW) ->
    (N, C, H, W) = ``input_shape`` (3-D shapes allowed)."""
    if _gpu.any_gpu(grad_out):
        return _gpu_pool.adaptive_avg_pool2d_backward(grad_out, input_shape)
    grad_out = _float_array("grad_out", grad_out)
    shape, added = _shape4("input_shape", input_shape)
    g4, _ = _batched("grad_out", grad_out)
    dx = _alloc.empty("grad_input", shape, grad_out.dtype)
    _cpu.adaptive_avg_pool2d_backward(g4, dx)
    return dx[0] if added else dx


# ---------------------------------------------------------------- softmax
def _rows(name: str, x: np.ndarray) -> np.ndarray:
    if x.ndim < 1:
        raise ValueError(f"{name}: expected at least 1 dimension, got a 0-d array")
    return x.reshape(-1, x.shape[-1]) if x.shape[-1] else x.reshape(-1, 0)


def _softmax_fwd(fn, x):
    x = _float_array("x", x)
    out = _alloc.empty("out", x.shape, x.dtype)
    if x.size:
        fn(_rows("x", x), _rows("x", out))
    return out


def softmax(x):
    """Softmax over the last dimension (any shape (..., C); a row of all -inf
    gives NaN, like torch). Returns an array shaped like x."""
    if _gpu.any_gpu(x):
        return _gpu_xent.softmax(x)
    return _softmax_fwd(_cpu.softmax_forward, x)


def log_softmax(x):
    """Log-softmax over the last dimension, computed stably as
    ``x - max - log(sum(exp(x - max)))``. Returns an array shaped like x."""
    if _gpu.any_gpu(x):
        return _gpu_xent.log_softmax(x)
    return _softmax_fwd(_cpu.log_softmax_forward, x)


def _softmax_bwd(fn, grad_out, out):
    out = _float_array("out", out)
    grad_out = _float_array("grad_out", grad_out, out.dtype)
    if grad_out.shape != out.shape:
        raise ValueError(f"grad_out: expected shape {out.shape} (like out), got {grad_out.shape}")
    dx = _alloc.empty("grad_input", out.shape, out.dtype)
    if out.size:
        fn(_rows("out", out), _rows("grad_out", grad_out), _rows("grad_input", dx))
    return dx


def softmax_backward(grad_out, out):
    """Gradient of :func:`softmax` from its output: ``out * (grad_out -
    sum(grad_out * out, -1))``. Shapes (..., C)."""
    if _gpu.any_gpu(grad_out, out):
        return _gpu_xent.softmax_backward(grad_out, out)
    return _softmax_bwd(_cpu.softmax_backward, grad_out, out)


def log_softmax_backward(grad_out, out):
    """Gradient of :func:`log_softmax` from its output: ``grad_out -
    exp(out) * sum(grad_out, -1)``. Shapes (..., C)."""
    if _gpu.any_gpu(grad_out, out):
        return _gpu_xent.log_softmax_backward(grad_out, out)
    return _softmax_bwd(_cpu.log_softmax_backward, grad_out, out)


# ---------------------------------------------------------- cross-entropy
_REDUCTIONS = ("mean", "sum", "none")


def _xent_args(logits, target, weight, reduction, label_smoothing, ignore_index):
    logits = _float_array("logits", logits)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    ls = float(label_smoothing)
    if not 0.0 <= ls <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    ignore_index = _int("ignore_index", ignore_index)
    target = np.asarray(target)
    unbatched = logits.ndim == 1
    if logits.ndim not in (1, 2):
        raise ValueError(f"logits: expected a 2-D (N, C) or 1-D (C,) array, got shape "
                         f"{logits.shape}")
    if unbatched:
        logits, target = logits[None], target[None]
    if np.issubdtype(target.dtype, np.integer):
        target = np.ascontiguousarray(target, dtype=np.int64)
    elif np.issubdtype(target.dtype, np.floating):
        target = _float_array("target", target.astype(logits.dtype, copy=False))
    else:
        raise TypeError(f"target: expected integer class indices or float probabilities, "
                        f"got dtype {target.dtype}")
    if weight is not None:
        weight = _float_array("weight", weight, logits.dtype)
    return logits, target, weight, ls, ignore_index, unbatched


def softmax_cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean",
                          label_smoothing=0.0):
    """Fused softmax cross-entropy, as ``torch.nn.functional.cross_entropy``.

    Shapes: logits (N, C) (or (C,)); target (N,) integer class indices (or a
    0-d index) -- rows equal to ``ignore_index`` contribute nothing -- or
    (N, C) class probabilities; weight (C,) or None. Returns the loss: a 0-d
    array for 'mean'/'sum', (N,) for 'none'. Weighted 'mean' divides by the
    summed weight of the non-ignored targets (by N for probability targets).
    The backward needs only the forward's arguments (nothing is saved).
    """
    if _gpu.any_gpu(logits, target):
        return _gpu_xent.softmax_cross_entropy(logits, target, weight, ignore_index, reduction,
                                                   label_smoothing)
    logits, target, weight, ls, ii, unbatched = _xent_args(
        logits, target, weight, reduction, label_smoothing, ignore_index)
    n = logits.shape[0]
    loss = np.empty((n,) if reduction == "none" else (), logits.dtype)
    _cpu.softmax_xent_forward(logits, target, weight, loss, ii, reduction, ls)
    if unbatched and reduction == "none":
        loss = loss.reshape(())
    return loss


def softmax_cross_entropy_backward(grad_loss, logits, target, weight=None, ignore_index=-100,
                                   reduction="mean", label_smoothing=0.0):
    """Gradient of :func:`softmax_cross_entropy` with respect to the logits.

    grad_loss is the loss's gradient: a scalar for 'mean'/'sum', (N,) for
    'none'. Other arguments as in the forward. Returns grad_logits shaped like
    logits.
    """
    if _gpu.any_gpu(grad_loss, logits, target):
        return _gpu_xent.softmax_cross_entropy_backward(grad_loss, logits, target, weight,
                                                            ignore_index, reduction, label_smoothing)
    shape = np.shape(logits)
    logits, target, weight, ls, ii, unbatched = _xent_args(
        logits, target, weight, reduction, label_smoothing, ignore_index)
    n = logits.shape[0]
    g = np.ascontiguousarray(grad_loss, dtype=logits.dtype)
    if reduction == "none":
        g = g.reshape((n,)) if g.size == n else g
    elif g.shape != ():
        if g.size != 1:
            raise ValueError(f"grad_loss: expected a scalar for reduction={reduction!r}, "
                             f"got shape {g.shape}")
        g = g.reshape(())
    dx = np.empty(logits.shape, logits.dtype)
    _cpu.softmax_xent_backward(g, logits, target, weight, dx, ii, reduction, ls)
    return dx.reshape(shape)
