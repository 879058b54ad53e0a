// 2-D pooling on the GPU: max (+ argmax), average, adaptive average;
// forward and backward. Same rules as csrc/cpu/pool.cpp (torch's).
//
// Layout: (planes = N*C, H, W) row-major; indices are int64 flat offsets
// ih*W + iw within a plane.
// Forwards: one thread per output element, the flat output index ordered
// (plane, oh, ow) so a warp writes consecutive ow (coalesced) and reads
// x at stride sw along one input row. Each thread visits its window in
// torch's order (row by row, left to right): ties keep the first maximum,
// a NaN wins (`v > m || isnan(v)`).
// Backwards are gathers, one thread per input element: it walks the
// windows whose span covers it and sums their contributions in output
// order. No atomics, so the result is deterministic, and dx is written
// once (no memset). For max pooling a window contributes when its index
// is this element; indices outside the plane are reported through a flag
// (the CPU kernel's error) and never dereferenced. An index inside the
// plane but outside its window's span is ignored (the CPU kernel would
// scatter it; torch's CUDA gather ignores it too): max_pool2d produces one
// only for a dilated window lying wholly in the padding (output -inf).
// Index maths: int32 when every flat offset and window coordinate stays
// below 2^30 (64-bit division is several times slower on the GPU), int64
// otherwise; grid-stride loops, so any size fits the grid limits.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "cuda/launch.h"
#include "cuda/pool.h"

namespace lg {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t(1) << 20;  // grid stride <= 2^28 threads

template <typename I>
struct Geom {
  I planes, H, W, OH, OW, kh, kw, sh, sw, ph, pw, dh, dw;
};

template <typename I>
Geom<I> geom(const Pool2dShape& s) {
  return {I(s.planes), I(s.H), I(s.W), I(s.OH), I(s.OW), I(s.kh), I(s.kw),
          I(s.sh),     I(s.sw), I(s.ph), I(s.pw), I(s.dh), I(s.dw)};
}

// True when int32 index maths cannot overflow: flat offsets, window ends,
// the grid stride added to a flat index, and window sizes stay below 2^30.
bool fits_int32(const Pool2dShape& s) {
  constexpr int64_t lim = int64_t(1) << 30;
  auto ok = [&](int64_t v) { return v >= 0 && v < lim; };
  return ok(s.planes * s.H * s.W) && ok(s.planes * s.OH * s.OW) &&
         ok(s.OH * s.sh + s.ph + (s.kh - 1) * s.dh + 1) &&
         ok(s.OW * s.sw + s.pw + (s.kw - 1) * s.dw + 1) && ok(s.H + s.ph + s.kh) &&
         ok(s.W + s.pw + s.kw) && ok(s.OH * s.H) && ok(s.OW * s.W);
}

// Runs f(I{}) with I = int32_t when fits_int32, else int64_t.
template <typename F>
void with_index_type(const Pool2dShape& s, F f) {
  if (fits_int32(s)) f(int32_t(0));
  else f(int64_t(0));
}

unsigned grid_for(int64_t total) {
  return static_cast<unsigned>(std::min<int64_t>((total + kThreads - 1) / kThreads, kMaxBlocks));
}

cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }

#define LG_GRID_STRIDE(I, i, total)                                              \
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < (total);       \
       i += I(gridDim.x) * I(blockDim.x))

// First window (output row/column) whose span [o*s - p, o*s - p + span)
// contains input position i; the last one is (i + p) / s.
template <typename I>
__device__ __forceinline__ I first_window(I i, I pad, I span, I stride) {
  return i + pad < span ? I(0) : (i + pad - span) / stride + 1;
}

template <typename I>
__device__ __forceinline__ I last_window_end(I i, I pad, I stride, I n_out) {
  const I e = (i + pad) / stride + 1;
  return e < n_out ? e : n_out;
}

template <typename I>
__global__ void max_pool2d_forward_kernel(Geom<I> g, I total, const float* __restrict__ x,
                                          float* __restrict__ y, int64_t* __restrict__ idx) {
  LG_GRID_STRIDE(I, o, total) {
    const I ow = o % g.OW, t = o / g.OW, oh = t % g.OH, p = t / g.OH;
    I h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
    const I h1 = min(h0 + (g.kh - 1) * g.dh + 1, g.H), w1 = min(w0 + (g.kw - 1) * g.dw + 1, g.W);
    if (h0 < 0) h0 += (-h0 + g.dh - 1) / g.dh * g.dh;  // first tap inside the input
    if (w0 < 0) w0 += (-w0 + g.dw - 1) / g.dw * g.dw;
    const float* xp = x + static_cast<int64_t>(p) * g.H * g.W;
    float m = -INFINITY;
    // torch's index for a window that is all padding; its first tap h0 may
    // lie below the input, past what fits_int32 bounds: int64.
    int64_t mi = static_cast<int64_t>(h0) * g.W + w0;
    for (I ih = h0; ih < h1; ih += g.dh)
      for (I iw = w0; iw < w1; iw += g.dw) {
        const float v = __ldg(xp + ih * g.W + iw);
        if (v > m || isnan(v)) {
          m = v;
          mi = ih * g.W + iw;
        }
      }
    y[o] = m;
    idx[o] = mi;
  }
}

template <typename I>
__global__ void max_pool2d_backward_kernel(Geom<I> g, I total, const float* __restrict__ dy,
                                           const int64_t* __restrict__ idx,
                                           float* __restrict__ dx, int* __restrict__ bad) {
  const I span_h = (g.kh - 1) * g.dh + 1, span_w = (g.kw - 1) * g.dw + 1;
  const int64_t plane = static_cast<int64_t>(g.H) * g.W;
  LG_GRID_STRIDE(I, i, total) {
    const I iw = i % g.W, t = i / g.W, ih = t % g.H, p = t / g.H;
    const I oh0 = first_window(ih, g.ph, span_h, g.sh), oh1 = last_window_end(ih, g.ph, g.sh, g.OH);
    const I ow0 = first_window(iw, g.pw, span_w, g.sw), ow1 = last_window_end(iw, g.pw, g.sw, g.OW);
    const int64_t me = static_cast<int64_t>(ih) * g.W + iw;
    const int64_t base = static_cast<int64_t>(p) * g.OH * g.OW;
    float acc = 0.0f;
    for (I oh = oh0; oh < oh1; ++oh)
      for (I ow = ow0; ow < ow1; ++ow) {
        const int64_t o = base + static_cast<int64_t>(oh) * g.OW + ow;
        const int64_t k = __ldg(idx + o);
        if (k == me) acc += __ldg(dy + o);
        else if (k < 0 || k >= plane) *bad = 1;  // same value from every writer: no race
      }
    dx[i] = acc;
  }
}

// Sum of the plane's rows [h0, h1) x columns [w0, w1), row by row (the CPU
// kernel's order).
template <typename I>
__device__ __forceinline__ float window_sum(const float* __restrict__ xp, I W, I h0, I h1, I w0,
                                            I w1) {
  float sum = 0.0f;
  for (I ih = h0; ih < h1; ++ih)
    for (I iw = w0; iw < w1; ++iw) sum += __ldg(xp + ih * W + iw);
  return sum;
}

// torch's average-pool window (clipped to the input) and divisor for
// output (oh, ow); h0 >= h1 or w0 >= w1 when the window is all padding.
template <typename I>
__device__ __forceinline__ float avg_window(const Geom<I>& g, bool include_pad,
                                            int64_t divisor_override, I oh, I ow, I& h0, I& h1,
                                            I& w0, I& w1) {
  h0 = oh * g.sh - g.ph;
  w0 = ow * g.sw - g.pw;
  h1 = min(h0 + g.kh, g.H + g.ph);
  w1 = min(w0 + g.kw, g.W + g.pw);
  const int64_t pool_size = static_cast<int64_t>(h1 - h0) * (w1 - w0);
  h0 = max(h0, I(0));
  w0 = max(w0, I(0));
  h1 = min(h1, g.H);
  w1 = min(w1, g.W);
  if (divisor_override > 0) return static_cast<float>(divisor_override);
  if (include_pad) return static_cast<float>(pool_size);
  return static_cast<float>(static_cast<int64_t>(h1 - h0) * (w1 - w0));
}

template <typename I>
__global__ void avg_pool2d_forward_kernel(Geom<I> g, I total, bool include_pad,
                                          int64_t divisor_override, const float* __restrict__ x,
                                          float* __restrict__ y) {
  LG_GRID_STRIDE(I, o, total) {
    const I ow = o % g.OW, t = o / g.OW, oh = t % g.OH, p = t / g.OH;
    I h0, h1, w0, w1;
    const float div = avg_window(g, include_pad, divisor_override, oh, ow, h0, h1, w0, w1);
    if (h0 >= h1 || w0 >= w1) {
      y[o] = 0.0f;
      continue;
    }
    y[o] = window_sum(x + static_cast<int64_t>(p) * g.H * g.W, g.W, h0, h1, w0, w1) / div;
  }
}

template <typename I>
__global__ void avg_pool2d_backward_kernel(Geom<I> g, I total, bool include_pad,
                                           int64_t divisor_override, const float* __restrict__ dy,
                                           float* __restrict__ dx) {
  LG_GRID_STRIDE(I, i, total) {
    const I iw = i % g.W, t = i / g.W, ih = t % g.H, p = t / g.H;
    // A clipped window [max(start, 0), min(start + k, H + pad, H)) holds ih
    // exactly when the unclipped [start, start + k) does.
    const I oh0 = first_window(ih, g.ph, g.kh, g.sh), oh1 = last_window_end(ih, g.ph, g.sh, g.OH);
    const I ow0 = first_window(iw, g.pw, g.kw, g.sw), ow1 = last_window_end(iw, g.pw, g.sw, g.OW);
    const float* gp = dy + static_cast<int64_t>(p) * g.OH * g.OW;
    float acc = 0.0f;
    for (I oh = oh0; oh < oh1; ++oh)
      for (I ow = ow0; ow < ow1; ++ow) {
        I h0, h1, w0, w1;
        const float div = avg_window(g, include_pad, divisor_override, oh, ow, h0, h1, w0, w1);
        acc += __ldg(gp + static_cast<int64_t>(oh) * g.OW + ow) / div;
      }
    dx[i] = acc;
  }
}

// Adaptive window of output o over `in` inputs: [floor(o*in/out), ceil((o+1)*in/out)).
template <typename I>
__device__ __forceinline__ I adaptive_start(I o, I in, I out) {
  return static_cast<I>(static_cast<int64_t>(o) * in / out);
}
template <typename I>
__device__ __forceinline__ I adaptive_end(I o, I in, I out) {
  return static_cast<I>((static_cast<int64_t>(o + 1) * in + out - 1) / out);
}

template <typename I>
__global__ void adaptive_avg_pool2d_forward_kernel(Geom<I> g, I total,
                                                   const float* __restrict__ x,
                                                   float* __restrict__ y) {
  LG_GRID_STRIDE(I, o, total) {
    const I ow = o % g.OW, t = o / g.OW, oh = t % g.OH, p = t / g.OH;
    const I h0 = adaptive_start(oh, g.H, g.OH), h1 = adaptive_end(oh, g.H, g.OH);
    const I w0 = adaptive_start(ow, g.W, g.OW), w1 = adaptive_end(ow, g.W, g.OW);
    y[o] = window_sum(x + static_cast<int64_t>(p) * g.H * g.W, g.W, h0, h1, w0, w1) /
           static_cast<float>(static_cast<int64_t>(h1 - h0) * (w1 - w0));
  }
}

template <typename I>
__global__ void adaptive_avg_pool2d_backward_kernel(Geom<I> g, I total,
                                                    const float* __restrict__ dy,
                                                    float* __restrict__ dx) {
  LG_GRID_STRIDE(I, i, total) {
    const I iw = i % g.W, t = i / g.W, ih = t % g.H, p = t / g.H;
    // Outputs whose window holds ih: [floor(ih*OH/H), ceil((ih+1)*OH/H)),
    // each re-checked against its window (cheap, and exact by construction).
    const I oh0 = static_cast<I>(static_cast<int64_t>(ih) * g.OH / g.H);
    const I oh1 = min(static_cast<I>((static_cast<int64_t>(ih + 1) * g.OH + g.H - 1) / g.H), g.OH);
    const I ow0 = static_cast<I>(static_cast<int64_t>(iw) * g.OW / g.W);
    const I ow1 = min(static_cast<I>((static_cast<int64_t>(iw + 1) * g.OW + g.W - 1) / g.W), g.OW);
    const float* gp = dy + static_cast<int64_t>(p) * g.OH * g.OW;
    float acc = 0.0f;
    for (I oh = oh0; oh < oh1; ++oh) {
      const I h0 = adaptive_start(oh, g.H, g.OH), h1 = adaptive_end(oh, g.H, g.OH);
      if (ih < h0 || ih >= h1) continue;
      for (I ow = ow0; ow < ow1; ++ow) {
        const I w0 = adaptive_start(ow, g.W, g.OW), w1 = adaptive_end(ow, g.W, g.OW);
        if (iw < w0 || iw >= w1) continue;
        const float cnt = static_cast<float>(static_cast<int64_t>(h1 - h0) * (w1 - w0));
        acc += __ldg(gp + static_cast<int64_t>(oh) * g.OW + ow) / cnt;
      }
    }
    dx[i] = acc;
  }
}

#undef LG_GRID_STRIDE

Pool2dShape adaptive_shape(int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW) {
  Pool2dShape s;
  s.planes = planes;
  s.H = H;
  s.W = W;
  s.OH = OH;
  s.OW = OW;
  return s;
}

// kernel<I>(geom<I>(s), I(total), ...) on `total` threads (a grid-stride
// loop), int32 or int64 indexing as fits_int32 decides, then the check.
#define LG_LAUNCH_POOL(kernel, s, total, stream, ...)                                     \
  do {                                                                                    \
    if ((total) == 0) return;                                                             \
    with_index_type(s, [&](auto tag) {                                                    \
      using I = decltype(tag);                                                            \
      kernel<I><<<grid_for(total), kThreads, 0, as_stream(stream)>>>(geom<I>(s), I(total), \
                                                                     __VA_ARGS__);        \
    });                                                                                   \
    check_launch(#kernel);                                                                \
  } while (0)

}  // namespace

void max_pool2d_forward(const Pool2dShape& s, const float* x, float* y, int64_t* idx,
                        void* stream) {
  LG_LAUNCH_POOL(max_pool2d_forward_kernel, s, s.planes * s.OH * s.OW, stream, x, y, idx);
}

void max_pool2d_backward(const Pool2dShape& s, const float* dy, const int64_t* idx, float* dx,
                         int* bad, void* stream) {
  LG_LAUNCH_POOL(max_pool2d_backward_kernel, s, s.planes * s.H * s.W, stream, dy, idx, dx, bad);
}

void avg_pool2d_forward(const Pool2dShape& s, bool count_include_pad, int64_t divisor_override,
                        const float* x, float* y, void* stream) {
  LG_LAUNCH_POOL(avg_pool2d_forward_kernel, s, s.planes * s.OH * s.OW, stream,
                 count_include_pad, divisor_override, x, y);
}

void avg_pool2d_backward(const Pool2dShape& s, bool count_include_pad, int64_t divisor_override,
                         const float* dy, float* dx, void* stream) {
  LG_LAUNCH_POOL(avg_pool2d_backward_kernel, s, s.planes * s.H * s.W, stream, count_include_pad,
                 divisor_override, dy, dx);
}

void adaptive_avg_pool2d_forward(int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                 const float* x, float* y, void* stream) {
  const Pool2dShape s = adaptive_shape(planes, H, W, OH, OW);
  LG_LAUNCH_POOL(adaptive_avg_pool2d_forward_kernel, s, planes * OH * OW, stream, x, y);
}

void adaptive_avg_pool2d_backward(int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                  const float* dy, float* dx, void* stream) {
  const Pool2dShape s = adaptive_shape(planes, H, W, OH, OW);
  LG_LAUNCH_POOL(adaptive_avg_pool2d_backward_kernel, s, planes * H * W, stream, dy, dx);
}

#undef LG_LAUNCH_POOL

}  // namespace cuda
}  // namespace lg
