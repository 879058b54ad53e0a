// 2-D pooling on the CPU over NCHW planes, row-major: max (with argmax
// indices), average and adaptive average, forward and backward, with
// PyTorch's output-size, padding, divisor, tie and NaN rules.
#pragma once
#include <cstdint>

namespace lg {
namespace cpu {

struct Pool2dShape {
  int64_t planes = 0, H = 0, W = 0;  // planes = N * C
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  bool ceil_mode = false;
  int64_t OH = 0, OW = 0;            // filled in by pool2d_check
};

// PyTorch's pooling output size: floor (or ceil) of
// (in + 2*pad - dil*(k-1) - 1) / stride + 1, where with ceil_mode the last
// window must start inside the input or the left padding.
int64_t pool_output_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil,
                         bool ceil_mode);

// Validates (kernel/stride/dilation >= 1, pad <= kernel/2, output >= 1) and
// fills in OH, OW; `op` names the operation in errors.
void pool2d_check(Pool2dShape& s, const char* op);

// y = max over each window; idx = flat index ih*W + iw of the maximum in its
// plane (the first maximum on ties; a NaN wins, like torch).
template <typename T>
void max_pool2d_forward(const Pool2dShape& s, const T* x, T* y, int64_t* idx);

// dx = 0, then dx[plane][idx] += dy (overwrites dx). Throws if an index is
// outside the plane.
template <typename T>
void max_pool2d_backward(const Pool2dShape& s, const T* dy, const int64_t* idx, T* dx);

// divisor_override <= 0 means none.
template <typename T>
void avg_pool2d_forward(const Pool2dShape& s, bool count_include_pad, int64_t divisor_override,
                        const T* x, T* y);
template <typename T>
void avg_pool2d_backward(const Pool2dShape& s, bool count_include_pad, int64_t divisor_override,
                         const T* dy, T* dx);

// Window of output o over an input of `in`: [floor(o*in/out), ceil((o+1)*in/out)).
template <typename T>
void adaptive_avg_pool2d_forward(int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                 const T* x, T* y);
template <typename T>
void adaptive_avg_pool2d_backward(int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                  const T* dy, T* dx);

}  // namespace cpu
}  // namespace lg
