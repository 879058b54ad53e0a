"""Raw kernels on arrays, without the Tensor type.

NumPy arrays run on the C++/OpenMP kernels (``loomgrad._cpu``); CuPy arrays
(or any GPU array exposing ``__cuda_array_interface__``) run on the CUDA
kernels (``loomgrad._cuda``) on CuPy's current stream. Outputs are allocated
here with ``numpy.empty`` / ``cupy.empty`` unless ``out=`` is given.

Inputs that are not C-contiguous are copied to contiguous memory first
(a Fortran-ordered matrix is instead passed transposed, without a copy);
an ``out=`` array must be C-contiguous, writeable and of the right dtype
and shape, or a ValueError/TypeError says what is wrong.

One module per kernel family (gemm, conv, pool, xent, lstm, gru, norm, upsample): its
argument checks, the CPU call and a one-line branch to its GPU glue in
``kernels/gpu/``; ``_args`` holds the parsers both halves share.
"""
from .conv import conv2d, conv2d_backward
from .gemm import PackedGemmB, gemm, matmul, pack_gemm_b
from .gru import gru_sequence, gru_sequence_backward
from .lstm import lstm_cell, lstm_cell_backward, lstm_sequence, lstm_sequence_backward
from .norm import (batch_norm, batch_norm_backward, group_norm, group_norm_backward, layer_norm,
                   layer_norm_backward)
from .pool import (adaptive_avg_pool2d, adaptive_avg_pool2d_backward, avg_pool2d,
                   avg_pool2d_backward, max_pool2d, max_pool2d_backward)
from .upsample import (upsample_bilinear2d, upsample_bilinear2d_backward, upsample_nearest2d,
                       upsample_nearest2d_backward)
from .xent import (log_softmax, log_softmax_backward, softmax, softmax_backward,
                   softmax_cross_entropy, softmax_cross_entropy_backward)

__all__ = ["gemm", "matmul", "pack_gemm_b", "PackedGemmB", "conv2d", "conv2d_backward",
           "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
           "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward",
           "softmax", "softmax_backward", "log_softmax", "log_softmax_backward",
           "softmax_cross_entropy", "softmax_cross_entropy_backward",
           "lstm_cell", "lstm_cell_backward", "lstm_sequence", "lstm_sequence_backward",
           "gru_sequence", "gru_sequence_backward",
           "layer_norm", "layer_norm_backward", "group_norm", "group_norm_backward",
           "batch_norm", "batch_norm_backward", "upsample_nearest2d", "upsample_nearest2d_backward", "upsample_bilinear2d",
           "upsample_bilinear2d_backward"]
