// 2-D convolution on the CPU (cross-correlation, as in PyTorch), NCHW, row-major.
//
//   x  (N, C, H, W)      w  (K, C/groups, R, S)      bias (K,)
//   y  (N, K, OH, OW)    OH = (H + 2*pad_h - dil_h*(R-1) - 1) / stride_h + 1 (likewise OW)
//
// See conv.cpp for the algorithm (tiled im2col + our GEMM) and its threading.
#pragma once
#include <cstdint>

#include "common/conv_shape.h"

namespace lg {
namespace cpu {

// The shape struct and its one check live in common/conv_shape.h (shared
// with the CUDA kernels).
using lg::Conv2dShape;
using lg::conv2d_check;

// y = conv(x, w) + bias; bias may be null.
template <typename T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y);

// dx = conv_transpose(dy, w): the gradient with respect to x (overwritten).
template <typename T>
void conv2d_backward_data(const Conv2dShape& s, const T* dy, const T* w, T* dx);

// dw = sum over images of dy ⋆ x: the gradient with respect to w (overwritten).
template <typename T>
void conv2d_backward_weight(const Conv2dShape& s, const T* dy, const T* x, T* dw);

// db[k] = sum over n, oh, ow of dy[n, k, oh, ow] (overwritten).
template <typename T>
void conv2d_backward_bias(const Conv2dShape& s, const T* dy, T* db);

}  // namespace cpu
}  // namespace lg
