// 2-D convolution on the CPU (cross-correlation, as in PyTorch), NCHW, row-major.
//
//   x  (N, C, H, W)      w  (K, C/groups, R, S)      bias (K,)
//   y  (N, K, OH, OW)    OH = (H + 2*pad_h - dil_h*(R-1) - 1) / stride_h + 1 (likewise OW)
//
// See conv.cpp for the algorithm (tiled im2col + our GEMM) and its threading.
#pragma once
#include <cstdint>

namespace lg {
namespace cpu {

struct Conv2dShape {
  int64_t N = 0, C = 0, H = 0, W = 0;  // input
  int64_t K = 0, R = 0, S = 0;          // output channels, kernel height, width
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  int64_t groups = 1;
  int64_t OH = 0, OW = 0;               // filled in by conv2d_check
};

// Validates the parameters (LG_CHECK: std::invalid_argument naming what is
// wrong) and fills in OH, OW. Every kernel below expects a checked shape.
void conv2d_check(Conv2dShape& s);

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
