"""Types of ``loomgrad._cpu``, the compiled CPU kernels (csrc/bindings/cpu_*.cpp).

Written from pybind11-stubgen's output and reviewed by hand against the bindings;
tests/test_typing.py keeps the names and parameters equal to the built module's.
Use :mod:`loomgrad.kernels` for the public API: these functions write into outputs
the caller allocated.

Every array is a NumPy array the binding checks (TypeError/ValueError naming it):
float32 or float64 unless said otherwise, one dtype per call, C-contiguous;
outputs writable and not overlapping an input. ``None`` marks an optional input
(zero bias, no weight) or an output that is not wanted.
"""
from collections.abc import Sequence
from typing import Any, SupportsFloat, SupportsIndex, TypedDict

import numpy as np
from numpy.typing import NDArray

_Floats = NDArray[np.float32 | np.float64]
_Int64s = NDArray[np.int64]
_Shape = Sequence[SupportsIndex]  # an array's shape
_Pair = Sequence[SupportsIndex]  # exactly two ints: (h, w)

class _CpuFeatures(TypedDict):
    avx2: bool
    fma: bool
    avx512f: bool
    avx512dq: bool

class _Caches(TypedDict):
    l1d: int
    l2: int
    l3: int

class _BuildInfo(TypedDict):
    version: str
    compiler: str
    openmp: bool
    openmp_version: int | None
    num_threads: int
    gemm_isa: str
    cpu_features: _CpuFeatures
    caches: _Caches

class _StreamBandwidth(TypedDict):
    copy_gbs: float
    triad_gbs: float
    bytes_per_array: int

# ------------------------------------------------------------------ threads, build, machine
def set_num_threads(n: SupportsIndex) -> None:
    """The number of OpenMP threads every kernel uses (>= 1)."""
def get_num_threads() -> int:
    """The number of OpenMP threads every kernel uses."""
def build_info() -> _BuildInfo:
    """Version, compiler, OpenMP, GEMM path, CPU flags and cache sizes of this build."""
def measure_fma_peak(dtype: str, threads: SupportsIndex, seconds: SupportsFloat = 1.0,
                     warmup: SupportsFloat = 0.3) -> float:
    """GFLOP/s of `threads` threads running the GEMM path's FMA loop at once (wall clock);
    dtype "float32" or "float64"."""
def measure_stream_bandwidth(threads: SupportsIndex, bytes_per_array: SupportsIndex,
                             reps: SupportsIndex = 5) -> _StreamBandwidth:
    """STREAM copy and triad GB/s (bytes read + written) over three float64 arrays."""

# ------------------------------------------------------------------ gemm (cpu_gemm.cpp)
class PackedGemmB:
    """op(b) packed once for many GEMMs (loomgrad.kernels.pack_gemm_b)."""
    @property
    def k(self) -> int:
        """rows of op(b) (the inner dimension)"""
    @property
    def n(self) -> int:
        """columns of op(b)"""
    @property
    def shape(self) -> tuple[int, int]:
        """(K, N) of op(b)"""
    @property
    def dtype(self) -> np.dtype[Any]:
        """float32 or float64"""
    @property
    def trans_b(self) -> bool:
        """whether b was read transposed when packed"""
    @property
    def nbytes(self) -> int:
        """bytes of the packed panels"""
    @property
    def isa(self) -> str:
        """the GEMM path the panels are laid out for"""

def gemm(a: _Floats, b: _Floats, out: _Floats, trans_a: bool = False, trans_b: bool = False,
         alpha: SupportsFloat = 1.0, beta: SupportsFloat = 0.0) -> None:
    """out = alpha * op(a) @ op(b) + beta * out; 2-D or 3-D (batched, batch 1 broadcasts)."""
def pack_gemm_b(b: _Floats, trans_b: bool = False) -> PackedGemmB:
    """Pack op(b) (2-D, C-contiguous float32/float64) for gemm_packed_b."""
def gemm_packed_b(a: _Floats, b: PackedGemmB, out: _Floats, trans_a: bool = False,
                  alpha: SupportsFloat = 1.0, beta: SupportsFloat = 0.0) -> None:
    """out = alpha * op(a) @ b + beta * out, b a PackedGemmB."""

# ------------------------------------------------------------------ conv2d (cpu_conv.cpp)
def conv2d_output_shape(x_shape: _Shape, w_shape: _Shape, stride: _Pair, padding: _Pair,
                        dilation: _Pair, groups: SupportsIndex) -> tuple[int, int, int, int]:
    """(N, K, OH, OW) of conv2d, validating every parameter."""
def conv2d_forward(x: _Floats, weight: _Floats, bias: _Floats | None, out: _Floats,
                   stride: _Pair, padding: _Pair, dilation: _Pair,
                   groups: SupportsIndex) -> None:
    """out (N, K, OH, OW) = conv2d(x (N, C, H, W), weight (K, C/groups, R, S)) + bias (K,)."""
def conv2d_backward_data(grad_out: _Floats, weight: _Floats, grad_input: _Floats,
                         stride: _Pair, padding: _Pair, dilation: _Pair,
                         groups: SupportsIndex) -> None:
    """grad_input (N, C, H, W) of conv2d."""
def conv2d_backward_weight(grad_out: _Floats, x: _Floats, grad_weight: _Floats,
                           stride: _Pair, padding: _Pair, dilation: _Pair,
                           groups: SupportsIndex) -> None:
    """grad_weight (K, C/groups, R, S) of conv2d."""
def conv2d_backward_bias(grad_out: _Floats, grad_bias: _Floats) -> None:
    """grad_bias (K,): grad_out summed over N, OH, OW."""

# ------------------------------------------------------------------ pooling (cpu_pool.cpp)
def pool2d_output_shape(op: str, x_shape: _Shape, kernel: _Pair, stride: _Pair,
                        padding: _Pair, dilation: _Pair,
                        ceil_mode: bool) -> tuple[int, int, int, int]:
    """(N, C, OH, OW) of max/avg pooling, validating every parameter."""
def max_pool2d_forward(x: _Floats, out: _Floats, indices: _Int64s, kernel: _Pair,
                       stride: _Pair, padding: _Pair, dilation: _Pair,
                       ceil_mode: bool) -> None:
    """out and int64 argmax indices (flat within each H x W plane), NCHW."""
def max_pool2d_backward(grad_out: _Floats, indices: _Int64s, grad_input: _Floats,
                        kernel: _Pair, stride: _Pair, padding: _Pair, dilation: _Pair,
                        ceil_mode: bool) -> None:
    """grad_input of max pooling, scattered through the forward's indices."""
def avg_pool2d_forward(x: _Floats, out: _Floats, kernel: _Pair, stride: _Pair,
                       padding: _Pair, ceil_mode: bool, count_include_pad: bool,
                       divisor_override: SupportsIndex) -> None:
    """Average pooling, NCHW; divisor_override 0 means none (the window size)."""
def avg_pool2d_backward(grad_out: _Floats, grad_input: _Floats, kernel: _Pair, stride: _Pair,
                        padding: _Pair, ceil_mode: bool, count_include_pad: bool,
                        divisor_override: SupportsIndex) -> None:
    """grad_input of average pooling."""
def adaptive_avg_pool2d_forward(x: _Floats, out: _Floats) -> None:
    """Adaptive average pooling of x (N, C, H, W) to out's (OH, OW)."""
def adaptive_avg_pool2d_backward(grad_out: _Floats, grad_input: _Floats) -> None:
    """grad_input of adaptive average pooling."""

# ------------------------------------------------------------------ softmax, xent (cpu_xent.cpp)
def softmax_forward(x: _Floats, out: _Floats) -> None:
    """Row softmax of x (rows, C)."""
def softmax_backward(out: _Floats, grad_out: _Floats, grad_input: _Floats) -> None:
    """grad_input of the row softmax, from its output."""
def log_softmax_forward(x: _Floats, out: _Floats) -> None:
    """Row log-softmax of x (rows, C)."""
def log_softmax_backward(out: _Floats, grad_out: _Floats, grad_input: _Floats) -> None:
    """grad_input of the row log-softmax, from its output."""
def softmax_xent_forward(logits: _Floats, target: _Int64s | _Floats, weight: _Floats | None,
                         loss: _Floats, ignore_index: SupportsIndex, reduction: str,
                         label_smoothing: SupportsFloat) -> None:
    """Fused softmax cross-entropy of logits (N, C); target int64 class indices (N,) or
    probabilities like logits; reduction "mean", "sum" or "none" (loss (N,), else 0-d)."""
def softmax_xent_backward(grad_loss: _Floats, logits: _Floats, target: _Int64s | _Floats,
                          weight: _Floats | None, grad_logits: _Floats,
                          ignore_index: SupportsIndex, reduction: str,
                          label_smoothing: SupportsFloat) -> None:
    """grad_logits of softmax_xent_forward (the softmax is recomputed)."""

# ------------------------------------------------------------------ LSTM, GRU (cpu_rnn.cpp)
def lstm_cell_forward(x: _Floats, h: _Floats, c: _Floats, w_ih: _Floats, w_hh: _Floats,
                      b_ih: _Floats | None, b_hh: _Floats | None, h_out: _Floats,
                      c_out: _Floats, gates: _Floats) -> None:
    """One LSTM step: x (N, I), h, c (N, H) -> h_out, c_out (N, H); gates (N, 4H) receives
    the activations (i, f, g, o) for backward."""
def lstm_cell_backward(dh_out: _Floats | None, dc_out: _Floats | None, x: _Floats, h: _Floats,
                       c: _Floats, w_ih: _Floats, w_hh: _Floats, gates: _Floats,
                       c_out: _Floats, dgates: _Floats, dx: _Floats | None,
                       dh: _Floats | None, dc: _Floats | None, dw_ih: _Floats | None,
                       dw_hh: _Floats | None, db: _Floats | None) -> None:
    """Backward of lstm_cell_forward; None outputs are skipped, db is the gradient of both
    biases."""
def lstm_sequence_forward(x: _Floats, h0: _Floats, c0: _Floats, w_ih: _Floats, w_hh: _Floats,
                          b_ih: _Floats | None, b_hh: _Floats | None, y: _Floats,
                          h_n: _Floats, c_n: _Floats, gates: _Floats, cs: _Floats,
                          reverse: bool = False) -> None:
    """One LSTM layer over x (T, N, I) in one direction: y (T, N, H), h_n, c_n (N, H);
    gates (T, N, 4H) and cs (T, N, H) are saved for backward."""
def lstm_sequence_backward(dy: _Floats | None, dh_n: _Floats | None, dc_n: _Floats | None,
                           x: _Floats, h0: _Floats, c0: _Floats, w_ih: _Floats,
                           w_hh: _Floats, y: _Floats, gates: _Floats, cs: _Floats,
                           dgates: _Floats, dx: _Floats | None, dh0: _Floats, dc0: _Floats,
                           dw_ih: _Floats | None, dw_hh: _Floats | None,
                           db: _Floats | None, reverse: bool = False) -> None:
    """Backward of lstm_sequence_forward; None outputs are skipped, db is the gradient of
    both biases."""
def gru_sequence_forward(x: _Floats, h0: _Floats, w_ih: _Floats, w_hh: _Floats,
                         b_ih: _Floats | None, b_hh: _Floats | None, y: _Floats,
                         h_n: _Floats, acts: _Floats, reverse: bool = False) -> None:
    """One GRU layer over x (T, N, I) in one direction: y (T, N, H), h_n (N, H);
    acts (T, N, 4H) = r, z, n, hn per step, saved for backward."""
def gru_sequence_backward(dy: _Floats | None, dh_n: _Floats | None, x: _Floats, h0: _Floats,
                          w_ih: _Floats, w_hh: _Floats, y: _Floats, acts: _Floats,
                          dgx: _Floats, dgh: _Floats, dx: _Floats | None, dh0: _Floats,
                          dw_ih: _Floats | None, dw_hh: _Floats | None,
                          db_ih: _Floats | None, db_hh: _Floats | None,
                          reverse: bool = False) -> None:
    """Backward of gru_sequence_forward; None outputs are skipped."""

# ------------------------------------------------------------------ norms (cpu_norm.cpp)
def layer_norm_forward(x: _Floats, weight: _Floats | None, bias: _Floats | None,
                       eps: SupportsFloat, out: _Floats, mean: _Floats,
                       rstd: _Floats) -> None:
    """LayerNorm over the rows of x (M, N); mean and rstd (M,) are saved for backward."""
def layer_norm_backward(grad_out: _Floats, x: _Floats, mean: _Floats, rstd: _Floats,
                        weight: _Floats | None, grad_input: _Floats | None,
                        grad_weight: _Floats | None, grad_bias: _Floats | None) -> None:
    """Gradients of layer_norm_forward; None outputs are skipped."""
def group_norm_forward(x: _Floats, weight: _Floats | None, bias: _Floats | None,
                       num_groups: SupportsIndex, eps: SupportsFloat, out: _Floats,
                       mean: _Floats, rstd: _Floats) -> None:
    """GroupNorm of x (N, C, HW); mean and rstd (N, num_groups) are saved for backward."""
def group_norm_backward(grad_out: _Floats, x: _Floats, mean: _Floats, rstd: _Floats,
                        weight: _Floats | None, num_groups: SupportsIndex,
                        grad_input: _Floats | None, grad_weight: _Floats | None,
                        grad_bias: _Floats | None) -> None:
    """Gradients of group_norm_forward; None outputs are skipped."""
def batch_norm_forward(x: _Floats, weight: _Floats | None, bias: _Floats | None,
                       eps: SupportsFloat, out: _Floats, mean: _Floats, var: _Floats,
                       rstd: _Floats) -> None:
    """Training-mode BatchNorm of x (N, C, HW) with the batch's statistics; mean, the biased
    var and rstd (C,) are written for the caller and for backward."""
def batch_norm_backward(grad_out: _Floats, x: _Floats, mean: _Floats, rstd: _Floats,
                        weight: _Floats | None, grad_input: _Floats | None,
                        grad_weight: _Floats | None, grad_bias: _Floats | None) -> None:
    """Gradients of batch_norm_forward; None outputs are skipped."""

# ------------------------------------------------------------------ resizing (cpu_upsample.cpp)
def upsample_nearest2d_forward(x: _Floats, out: _Floats, scale_h: SupportsFloat,
                               scale_w: SupportsFloat) -> None:
    """Nearest resize of x (N, C, H, W) to out's (OH, OW); scale 0 means in/out sizes."""
def upsample_nearest2d_backward(grad_out: _Floats, grad_input: _Floats,
                                scale_h: SupportsFloat, scale_w: SupportsFloat) -> None:
    """grad_input of the nearest resize."""
def upsample_bilinear2d_forward(x: _Floats, out: _Floats, align_corners: bool,
                                scale_h: SupportsFloat, scale_w: SupportsFloat) -> None:
    """Bilinear resize of x (N, C, H, W) to out's (OH, OW)."""
def upsample_bilinear2d_backward(grad_out: _Floats, grad_input: _Floats, align_corners: bool,
                                 scale_h: SupportsFloat, scale_w: SupportsFloat) -> None:
    """grad_input of the bilinear resize."""
