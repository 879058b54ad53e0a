"""Types of ``loomgrad._cuda``, the compiled CUDA kernels (csrc/bindings/cuda_*.cpp).

Written from pybind11-stubgen's output and reviewed by hand against the bindings;
tests/test_typing.py keeps the names and parameters equal to the binding sources (and to
the module itself where it imports: it does without a GPU, and reports no device).
Use :mod:`loomgrad.kernels` for the public API: these functions take raw device
addresses that loomgrad.kernels.gpu has checked (dtype, shape, contiguity), and sizes,
which the bindings check again; the GIL is released around each launch.
"""
from collections.abc import Sequence
from typing import SupportsIndex, TypedDict

_Ptr = int  # a device address (CuPy's ``a.data.ptr``); 0 means none where allowed
_Stream = int  # a cudaStream_t as an integer (CuPy's ``stream.ptr``)
_Shape = Sequence[SupportsIndex]  # an array's shape
_Pair = Sequence[SupportsIndex]  # exactly two ints: (h, w)
_Sizes5 = Sequence[SupportsIndex]  # exactly five ints: (planes, H, W, OH, OW)

class _BuildInfo(TypedDict):
    architectures: str
    compiler: str
    runtime: str
    driver: str

def adaptive_avg_pool2d(sizes: _Sizes5, backward: bool, input: _Ptr, output: _Ptr,
                        stream: _Stream) -> None:
    """sizes = (planes, H, W, OH, OW); forward: x -> out, backward: grad_out -> grad_input"""
def avg_pool2d_backward(sizes: _Sizes5, kernel: _Pair, stride: _Pair, padding: _Pair,
                        count_include_pad: bool, divisor_override: int, grad_out: _Ptr,
                        grad_input: _Ptr, stream: _Stream) -> None: ...
def avg_pool2d_forward(sizes: _Sizes5, kernel: _Pair, stride: _Pair, padding: _Pair,
                       count_include_pad: bool, divisor_override: int, x: _Ptr, out: _Ptr,
                       stream: _Stream) -> None: ...
def build_info() -> _BuildInfo:
    """CUDA architectures, nvcc version, runtime and driver versions of this build."""
def conv2d_backward_bias(grad_out: _Ptr, grad_bias: _Ptr, grad_out_shape: _Shape,
                         stream: _Stream) -> None: ...
def conv2d_backward_data(grad_out: _Ptr, weight: _Ptr, grad_input: _Ptr, x_shape: _Shape,
                         w_shape: _Shape, stride: _Pair, padding: _Pair, dilation: _Pair,
                         groups: int, stream: _Stream) -> None: ...
def conv2d_backward_weight(grad_out: _Ptr, x: _Ptr, grad_weight: _Ptr, workspace: _Ptr,
                           workspace_elems: int, x_shape: _Shape, w_shape: _Shape, stride: _Pair,
                           padding: _Pair, dilation: _Pair, groups: int,
                           stream: _Stream) -> None: ...
def conv2d_backward_weight_workspace(x_shape: _Shape, w_shape: _Shape, stride: _Pair,
                                     padding: _Pair, dilation: _Pair, groups: int) -> int:
    """floats of workspace conv2d_backward_weight needs on the current device"""
def conv2d_forward(x: _Ptr, weight: _Ptr, bias: _Ptr, out: _Ptr, x_shape: _Shape, w_shape: _Shape,
                   stride: _Pair, padding: _Pair, dilation: _Pair, groups: int,
                   stream: _Stream) -> None:
    """y = conv2d(x, weight) + bias (bias 0: none); device pointers, NCHW float32"""
def device_count() -> tuple[int, str]:
    """(number of CUDA devices, reason when 0)"""
def lstm_cell_backward(N: int, I: int, H: int, dh_out: _Ptr, dc_out: _Ptr, x: _Ptr, h: _Ptr,
                       c: _Ptr, w_ih: _Ptr, w_hh: _Ptr, gates: _Ptr, c_out: _Ptr, dgates: _Ptr,
                       dx: _Ptr, dh: _Ptr, dc: _Ptr, dw_ih: _Ptr, dw_hh: _Ptr, db: _Ptr,
                       stream: _Stream) -> None:
    """Backward of lstm_cell_forward; 0 pointers are skipped outputs / zero inputs."""
def lstm_cell_forward(N: int, I: int, H: int, x: _Ptr, h: _Ptr, c: _Ptr, w_ih: _Ptr, w_hh: _Ptr,
                      b_ih: _Ptr, b_hh: _Ptr, h_out: _Ptr, c_out: _Ptr, gates: _Ptr,
                      stream: _Stream) -> None:
    """One LSTM step on device pointers; gates (N, 4H) receives the activations."""
def lstm_sequence_backward(T: int, N: int, I: int, H: int, reverse: bool, dy: _Ptr, dh_n: _Ptr,
                           dc_n: _Ptr, x: _Ptr, h0: _Ptr, c0: _Ptr, w_ih: _Ptr, w_hh: _Ptr,
                           y: _Ptr, gates: _Ptr, cs: _Ptr, dgates: _Ptr, dx: _Ptr, dh0: _Ptr,
                           dc0: _Ptr, dw_ih: _Ptr, dw_hh: _Ptr, db: _Ptr, workspace: _Ptr,
                           workspace_size: int, mode: int, stream: _Stream) -> int:
    """Backward of lstm_sequence_forward; db is the gradient of each bias; workspace
    (workspace_size floats, from lstm_sequence_backward_workspace) holds split-K partial
    products; mode as for the forward. Returns the path that ran."""
def lstm_sequence_backward_workspace(T: int, N: int, I: int, H: int) -> int:
    """Floats of workspace lstm_sequence_backward uses on the current device."""
def lstm_sequence_forward(T: int, N: int, I: int, H: int, reverse: bool, x: _Ptr, h0: _Ptr,
                          c0: _Ptr, w_ih: _Ptr, w_hh: _Ptr, b_ih: _Ptr, b_hh: _Ptr, y: _Ptr,
                          h_n: _Ptr, c_n: _Ptr, gates: _Ptr, cs: _Ptr, mode: int,
                          stream: _Stream) -> int:
    """One LSTM layer over (T, N, I) in one direction; mode -1 GEMM driver, 0 auto,
    1 persistent kernel. Returns the path that ran (0 GEMM, 1 persistent)."""
def max_pool2d_backward(sizes: _Sizes5, kernel: _Pair, stride: _Pair, padding: _Pair,
                        dilation: _Pair, grad_out: _Ptr, indices: _Ptr, grad_input: _Ptr,
                        bad: _Ptr, stream: _Stream) -> None:
    """bad: a zeroed device int32, set to 1 when an index lies outside its plane"""
def max_pool2d_forward(sizes: _Sizes5, kernel: _Pair, stride: _Pair, padding: _Pair,
                       dilation: _Pair, x: _Ptr, out: _Ptr, indices: _Ptr,
                       stream: _Stream) -> None:
    """sizes = (planes, H, W, OH, OW); device pointers; int64 indices out"""
def sgemm(trans_a: bool, trans_b: bool, M: int, N: int, K: int, alpha: float, a: _Ptr, lda: int,
          b: _Ptr, ldb: int, beta: float, c: _Ptr, ldc: int, stream: _Stream,
          allow_tf32: bool = False) -> None: ...
def sgemm_split_k(trans_a: bool, trans_b: bool, M: int, N: int, K: int, alpha: float, a: _Ptr,
                  lda: int, b: _Ptr, ldb: int, beta: float, c: _Ptr, ldc: int, workspace: _Ptr,
                  workspace_size: int, splits: int, stream: _Stream,
                  allow_tf32: bool = False) -> None: ...
def sgemm_split_k_count(M: int, N: int, K: int) -> int:
    """K splits worth using for an M x N x K GEMM on this device (1: none)"""
def sgemm_strided_batched(trans_a: bool, trans_b: bool, batch: int, M: int, N: int, K: int,
                          alpha: float, a: _Ptr, lda: int, stride_a: int, b: _Ptr, ldb: int,
                          stride_b: int, beta: float, c: _Ptr, ldc: int, stride_c: int,
                          stream: _Stream, allow_tf32: bool = False) -> None: ...
def softmax_backward(rows: int, C: int, out: _Ptr, grad_out: _Ptr, grad_input: _Ptr, log: bool,
                     stream: _Stream) -> None: ...
def softmax_forward(rows: int, C: int, x: _Ptr, out: _Ptr, log: bool, stream: _Stream) -> None: ...
def softmax_xent_backward(N: int, C: int, grad_loss: _Ptr, logits: _Ptr, target: _Ptr,
                          target_prob: _Ptr, weight: _Ptr, ignore_index: int, reduction: str,
                          label_smoothing: float, grad_logits: _Ptr, scalars: _Ptr, bad: _Ptr,
                          stream: _Stream) -> None:
    """scalars: a 2-float32 workspace; other arguments as softmax_xent_forward"""
def softmax_xent_forward(N: int, C: int, logits: _Ptr, target: _Ptr, target_prob: _Ptr,
                         weight: _Ptr, ignore_index: int, reduction: str, label_smoothing: float,
                         loss: _Ptr, row_loss: _Ptr, row_weight: _Ptr, bad: _Ptr,
                         stream: _Stream) -> None:
    """target (int64) or target_prob (float32) is 0; weight 0 = none; row_loss/row_weight:
    N-double workspaces for mean/sum; bad: a device int32, set to 1 on a class index
    outside [0, C) that is not ignore_index."""

