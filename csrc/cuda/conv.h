// 2-D convolution on the GPU, float32, NCHW, the contract of lg::cpu's conv
// kernels (csrc/cpu/conv.h): cross-correlation, stride, padding, dilation,
// groups (depthwise included), optional bias, zero-size dimensions.
//
//   x  (N, C, H, W)      w  (K, C/groups, R, S)      bias (K,)
//   y  (N, K, OH, OW)    OH = (H + 2*pad_h - dil_h*(R-1) - 1) / stride_h + 1 (likewise OW)
//
// Pointers are device pointers; `stream` is a cudaStream_t (CuPy's current).
// The shape must have been validated (the bindings do it) with OH, OW filled
// in; the launchers check again the limits their index maths rely on
// (per-image sizes below 2^31) and throw std::invalid_argument otherwise.
// See conv.cu for the kernels and their blocking.
#pragma once
#include <cstdint>

#include "common/conv_shape.h"

namespace lg {
namespace cuda {

// The shape struct shared with the CPU kernels (common/conv_shape.h).
using lg::Conv2dShape;

// y = conv(x, w) + bias; bias may be null.
void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y, void* stream);

// dx = conv_transpose(dy, w), overwritten.
void conv2d_backward_data(const Conv2dShape& s, const float* dy, const float* w, float* dx,
                          void* stream);

// Floats of workspace conv2d_backward_weight needs on the current device
// (0: none; the caller may then pass a null workspace).
int64_t conv2d_backward_weight_workspace(const Conv2dShape& s);

// dw = sum over images of dy ⋆ x, overwritten. `workspace` holds at least
// conv2d_backward_weight_workspace(s) floats (the split-K partial sums).
void conv2d_backward_weight(const Conv2dShape& s, const float* dy, const float* x, float* dw,
                            float* workspace, int64_t workspace_elems, void* stream);

// db[k] = sum over n, oh, ow of dy[n, k, oh, ow], overwritten.
void conv2d_backward_bias(const Conv2dShape& s, const float* dy, float* db, void* stream);

}  // namespace cuda
}  // namespace lg
