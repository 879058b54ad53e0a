// 2-D pooling on the GPU, float32, same contracts as csrc/cpu/pool.h: NCHW
// planes (planes = N*C) row-major, max with int64 argmax indices (flat
// ih*W + iw per plane, first maximum on ties, NaN wins), average with
// ceil_mode / count_include_pad / divisor_override, adaptive average.
// `s` must already be validated and carry OH, OW (lg::cpu::pool2d_check's
// rules; the binding re-checks the ranges). Pointers are device pointers,
// `stream` a cudaStream_t. Backwards overwrite dx and are deterministic
// (gathers, no atomics).
#pragma once
#include <cstdint>

#include "cpu/pool.h"  // Pool2dShape (a plain struct; nothing from the CPU module is called)

namespace lg {
namespace cuda {

using Pool2dShape = lg::cpu::Pool2dShape;

void max_pool2d_forward(const Pool2dShape& s, const float* x, float* y, int64_t* idx,
                        void* stream);
// Sets *bad (a device int the caller zeroed) to 1 if an index of a window
// lies outside the H x W plane; such indices are never dereferenced.
void max_pool2d_backward(const Pool2dShape& s, const float* dy, const int64_t* idx, float* dx,
                         int* bad, void* stream);
// divisor_override <= 0 means none.
void avg_pool2d_forward(const Pool2dShape& s, bool count_include_pad, int64_t divisor_override,
                        const float* x, float* y, void* stream);
void avg_pool2d_backward(const Pool2dShape& s, bool count_include_pad, int64_t divisor_override,
                         const float* dy, float* dx, void* stream);
void adaptive_avg_pool2d_forward(int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                 const float* x, float* y, void* stream);
void adaptive_avg_pool2d_backward(int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                  const float* dy, float* dx, void* stream);

}  // namespace cuda
}  // namespace lg
