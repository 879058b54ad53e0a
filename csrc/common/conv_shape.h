// The one shape check of 2-D convolution, for the CPU kernels (cpu/conv.h,
// bindings/cpu_conv.cpp) and the CUDA ones (cuda/conv.h,
// bindings/cuda_conv.cpp). No pybind11 and nothing to link, so nvcc-compiled
// code can include it.
//
//   x  (N, C, H, W)      w  (K, C/groups, R, S)      bias (K,)
//   y  (N, K, OH, OW)    OH = (H + 2*pad_h - dil_h*(R-1) - 1) / stride_h + 1 (likewise OW)
//
// Errors are std::invalid_argument (ValueError in Python) naming the
// argument and the shapes. Every size and parameter is bounded by 2^31, so
// products of a few of them stay below 2^63.
#pragma once
#include <array>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "common/check.h"

namespace lg {

struct Conv2dShape {
  int64_t N = 0, C = 0, H = 0, W = 0;  // input
  int64_t K = 0, R = 0, S = 0;          // output channels, kernel height, width
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  int64_t groups = 1;
  int64_t OH = 0, OW = 0;               // filled in by conv2d_check
};

// Validates the parameters and fills in OH, OW. Every kernel expects a
// checked shape.
inline void conv2d_check(Conv2dShape& s) {
  constexpr int64_t kMax = int64_t(1) << 31;
  for (int64_t v : {s.N, s.C, s.H, s.W, s.K})
    LG_CHECK(v >= 0 && v <= kMax, "conv2d: sizes must be in [0, 2^31], got x (", s.N, ", ", s.C,
             ", ", s.H, ", ", s.W, ") and ", s.K, " output channels");
  LG_CHECK(s.R >= 1 && s.S >= 1, "conv2d: kernel size must be >= 1, got (", s.R, ", ", s.S, ")");
  LG_CHECK(s.R <= kMax && s.S <= kMax, "conv2d: kernel size must be at most 2^31, got (", s.R,
           ", ", s.S, ")");
  LG_CHECK(s.stride_h >= 1 && s.stride_w >= 1 && s.stride_h <= kMax && s.stride_w <= kMax,
           "conv2d: stride must be in [1, 2^31], got (", s.stride_h, ", ", s.stride_w, ")");
  LG_CHECK(s.pad_h >= 0 && s.pad_w >= 0 && s.pad_h <= kMax && s.pad_w <= kMax,
           "conv2d: padding must be in [0, 2^31], got (", s.pad_h, ", ", s.pad_w, ")");
  LG_CHECK(s.dil_h >= 1 && s.dil_w >= 1 && s.dil_h <= kMax && s.dil_w <= kMax,
           "conv2d: dilation must be in [1, 2^31], got (", s.dil_h, ", ", s.dil_w, ")");
  LG_CHECK(s.groups >= 1, "conv2d: groups must be >= 1, got ", s.groups);
  LG_CHECK(s.C % s.groups == 0, "conv2d: groups (", s.groups, ") must divide the input channels (",
           s.C, ")");
  LG_CHECK(s.K % s.groups == 0, "conv2d: groups (", s.groups,
           ") must divide the output channels (", s.K, ")");
  const int64_t eff_h = s.dil_h * (s.R - 1) + 1, eff_w = s.dil_w * (s.S - 1) + 1;
  LG_CHECK(s.H + 2 * s.pad_h >= eff_h && s.W + 2 * s.pad_w >= eff_w,
           "conv2d: kernel (", s.R, ", ", s.S, ") with dilation (", s.dil_h, ", ", s.dil_w,
           ") spans (", eff_h, ", ", eff_w, "), larger than the padded input (",
           s.H + 2 * s.pad_h, ", ", s.W + 2 * s.pad_w, ")");
  s.OH = (s.H + 2 * s.pad_h - eff_h) / s.stride_h + 1;
  s.OW = (s.W + 2 * s.pad_w - eff_w) / s.stride_w + 1;
}

// The checked shape of a convolution of an x of shape `x` (named `x_name`
// in errors) by a weight of shape `w`.
inline Conv2dShape conv2d_shape(const std::vector<int64_t>& x, const std::vector<int64_t>& w,
                                std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                                std::array<int64_t, 2> dilation, int64_t groups,
                                const char* x_name = "x") {
  LG_CHECK(x.size() == 4, "conv2d: ", x_name, " must be 4-D (N, C, H, W), got shape ",
           shape_str(x));
  LG_CHECK(w.size() == 4, "conv2d: weight must be 4-D (K, C/groups, R, S), got shape ",
           shape_str(w));
  LG_CHECK(groups >= 1, "conv2d: groups must be >= 1, got ", groups);
  // x[1] / groups, not w[1] * groups: a huge groups must not overflow.
  LG_CHECK(x[1] % groups == 0 && w[1] == x[1] / groups, "conv2d: weight ", shape_str(w),
           " with groups=", groups, " does not fit ", x_name, " ", shape_str(x), " (", x[1],
           " input channels must be groups * weight.shape[1])");
  Conv2dShape s;
  s.N = x[0]; s.C = x[1]; s.H = x[2]; s.W = x[3];
  s.K = w[0]; s.R = w[2]; s.S = w[3];
  s.stride_h = stride[0]; s.stride_w = stride[1];
  s.pad_h = padding[0]; s.pad_w = padding[1];
  s.dil_h = dilation[0]; s.dil_w = dilation[1];
  s.groups = groups;
  conv2d_check(s);
  return s;
}

}  // namespace lg
