// Direct stride-1 convolution on the CPU (AVX2+FMA; see conv_direct.cpp for
// the algorithm): the forward pass and, as a stride-1 correlation of dy with
// the flipped, transposed weights, the backward-data pass. conv.cpp calls
// these when conv_direct_fits_*() say so, and keeps the im2col + GEMM path for
// everything else (strides > 1, CPUs without AVX2, degenerate geometries).
#pragma once
#include "cpu/conv.h"

namespace lg {
namespace cpu {

// True when this build and CPU have the kernel (x86-64 with AVX2 and FMA).
bool conv_direct_available();

// True when the direct kernels handle `s` well: stride 1, and a padded band
// of input rows small enough for the cache (no huge dilation or padding).
bool conv_direct_fits_forward(const Conv2dShape& s);
bool conv_direct_fits_backward_data(const Conv2dShape& s);

// The contracts of conv2d_forward / conv2d_backward_data (conv.h); call only
// when conv_direct_available() and the matching conv_direct_fits_*().
template <typename T>
void conv2d_direct_forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y);
template <typename T>
void conv2d_direct_backward_data(const Conv2dShape& s, const T* dy, const T* w, T* dx);

}  // namespace cpu
}  // namespace lg
