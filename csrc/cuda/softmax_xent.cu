// Softmax, log-softmax and fused softmax cross-entropy on the GPU, forward
// and backward; the semantics of csrc/cpu/softmax_xent.cpp.
//
// Layout: row-major (rows, C), the class dimension contiguous.
// Blocking: a "row group" of kGroupWarps warps owns a row. C <= 1024: one
// warp per row, 8 rows per 256-thread block, reductions are warp shuffles
// (__shfl_xor_sync) only. Larger C: one block of 4, 16 or 32 warps per row;
// each warp reduces with shuffles, then the warps' partials go through
// shared memory and every thread combines them in warp order. Threads walk
// the row at a stride of the group size, so each warp load is one coalesced
// 128-byte line.
// Statistics: one pass keeps an online (max, sum of exp(x - max)) pair per
// thread, rescaling the sum when the max grows, so a row is read once for
// its log-sum-exp; outputs take a second pass (served from L1/L2 for the
// row just read). The cross-entropy forward with class-index targets and no
// smoothing needs only the first pass plus x[y].
// Extremes follow the CPU kernel: -inf entries add 0 to the sum, a row of
// all -inf (or any +inf or NaN) gives NaN.
// Determinism: every reduction combines in a fixed order (butterfly within
// a warp, warp order across warps); mean/sum over rows add per-row losses
// in double in one block (no float atomics).
// Class indices are checked in the kernels (a kernel cannot raise): one
// outside [0, C) that is not ignore_index is never used to read; it sets
// the caller's flag (the caller raises the CPU kernel's ValueError) and
// makes that row's loss NaN and its gradient 0.
// Limits: C < 2^30 (checked by the binding; the class loop counts in int);
// rows any size (grid-stride).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "cuda/launch.h"
#include "cuda/softmax_xent.h"

namespace lg {
namespace cuda {
namespace {

constexpr unsigned kFullMask = 0xffffffffu;
constexpr int64_t kMaxBlocks = int64_t(1) << 20;
constexpr int kReduceThreads = 1024;  // the one-block row reductions

// Kernel arguments on the device side (XentArgs holds void*/double).
struct XentDev {
  int64_t N, C;
  const int64_t* target;  // null: probability targets
  const float* prob;
  const float* weight;  // null: all ones
  int64_t ignore_index;
  float ls;     // label smoothing
  bool smooth;  // ls > 0 (tested in double, as the CPU kernel does)
  int* bad;     // set to 1 on a class index outside [0, C) (not ignore_index)
};

__device__ __forceinline__ bool out_of_range(const XentDev& a, int64_t y) {
  return y != a.ignore_index && (y < 0 || y >= a.C);
}

XentDev device_args(const XentArgs& a, int* bad) {
  return {a.N,
          a.C,
          a.target,
          static_cast<const float*>(a.target_prob),
          static_cast<const float*>(a.weight),
          a.ignore_index,
          static_cast<float>(a.label_smoothing),
          a.label_smoothing > 0.0,
          bad};
}

// Running max m and sum s of exp(x - m).
struct MaxSum {
  float m, s;
};

__device__ __forceinline__ void push(MaxSum& a, float v) {
  if (v > a.m) {
    // A +inf maximum makes the row NaN (exp(inf - inf)), as on the CPU.
    a.s = a.s * expf(a.m - v) + (v == INFINITY ? NAN : 1.0f);
    a.m = v;
  } else {
    a.s += v == -INFINITY ? 0.0f : expf(v - a.m);  // NaN v: NaN sum
  }
}

// A part whose max is -inf holds only -inf entries (sum 0) or NaN (kept by 0 * NaN).
__device__ __forceinline__ float rescale(const MaxSum& a, float m) {
  return a.m == -INFINITY ? a.s * 0.0f : a.s * expf(a.m - m);
}

struct CombineMaxSum {
  __device__ MaxSum operator()(const MaxSum& a, const MaxSum& b) const {
    const float m = fmaxf(a.m, b.m);
    return {m, rescale(a, m) + rescale(b, m)};
  }
};
struct Add {
  template <typename T>
  __device__ T operator()(T a, T b) const { return a + b; }
};

__device__ __forceinline__ float shfl_xor(float v, int o) {
  return __shfl_xor_sync(kFullMask, v, o);
}
__device__ __forceinline__ MaxSum shfl_xor(MaxSum v, int o) {
  return {__shfl_xor_sync(kFullMask, v.m, o), __shfl_xor_sync(kFullMask, v.s, o)};
}

// Reduction over the row group; every thread of the group gets the same
// value (a xor butterfly is symmetric: both partners compute op(a, b) with
// a commutative op, so the lanes never diverge).
template <int kGroupWarps, typename T, typename Op>
__device__ __forceinline__ T group_reduce(T v, Op op) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = op(v, shfl_xor(v, o));
  if constexpr (kGroupWarps > 1) {
    __shared__ T part[kGroupWarps];
    const int warp = threadIdx.x / 32;
    if (threadIdx.x % 32 == 0) part[warp] = v;
    __syncthreads();
    v = part[0];
#pragma unroll
    for (int w = 1; w < kGroupWarps; ++w) v = op(v, part[w]);
    __syncthreads();  // part is reused by the group's next reduction
  }
  return v;
}

template <int kGroupWarps>
struct Group {
  static constexpr int kThreads = kGroupWarps * 32;
  static constexpr int kRowsPerBlock = kGroupWarps == 1 ? 8 : 1;
  static constexpr int kBlockThreads = kThreads * kRowsPerBlock;
};

// Row loop of a group: `row` and the thread's `lane` in its group. With one
// row per block (kGroupWarps > 1) every thread of the block runs the same
// iterations, so the __syncthreads in group_reduce are reached uniformly.
#define LG_FOR_ROWS(kGW, row, lane, rows)                                            \
  const int lane = static_cast<int>(threadIdx.x) % Group<kGW>::kThreads;              \
  for (int64_t row = int64_t(blockIdx.x) * Group<kGW>::kRowsPerBlock +                \
                     threadIdx.x / Group<kGW>::kThreads;                              \
       row < (rows); row += int64_t(gridDim.x) * Group<kGW>::kRowsPerBlock)

template <int kGW>
__device__ __forceinline__ MaxSum row_stats(const float* __restrict__ xr, int C, int lane) {
  MaxSum a{-INFINITY, 0.0f};
  for (int c = lane; c < C; c += Group<kGW>::kThreads) push(a, __ldg(xr + c));
  return group_reduce<kGW>(a, CombineMaxSum());
}

template <int kGW, bool kLog>
__global__ void __launch_bounds__(Group<kGW>::kBlockThreads)
    softmax_forward_kernel(int64_t rows, int C, const float* __restrict__ x,
                           float* __restrict__ y) {
  LG_FOR_ROWS(kGW, row, lane, rows) {
    const float* xr = x + row * C;
    float* yr = y + row * C;
    const MaxSum st = row_stats<kGW>(xr, C, lane);
    if (kLog) {
      const float lsum = logf(st.s);
      for (int c = lane; c < C; c += Group<kGW>::kThreads) yr[c] = (__ldg(xr + c) - st.m) - lsum;
    } else {
      const float inv = 1.0f / st.s;
      for (int c = lane; c < C; c += Group<kGW>::kThreads)
        yr[c] = expf(__ldg(xr + c) - st.m) * inv;
    }
  }
}

template <int kGW, bool kLog>
__global__ void __launch_bounds__(Group<kGW>::kBlockThreads)
    softmax_backward_kernel(int64_t rows, int C, const float* __restrict__ y,
                            const float* __restrict__ dy, float* __restrict__ dx) {
  LG_FOR_ROWS(kGW, row, lane, rows) {
    const float *yr = y + row * C, *gr = dy + row * C;
    float* dr = dx + row * C;
    float s = 0.0f;
    for (int c = lane; c < C; c += Group<kGW>::kThreads)
      s += kLog ? __ldg(gr + c) : __ldg(gr + c) * __ldg(yr + c);
    s = group_reduce<kGW>(s, Add());
    for (int c = lane; c < C; c += Group<kGW>::kThreads) {
      const float g = __ldg(gr + c), v = __ldg(yr + c);
      dr[c] = kLog ? g - expf(v) * s : v * (g - s);
    }
  }
}

__device__ __forceinline__ float class_weight(const XentDev& a, int64_t c) {
  return a.weight ? __ldg(a.weight + c) : 1.0f;
}

// Smoothed probability target t'_c times the class weight.
__device__ __forceinline__ float prob_coef(const XentDev& a, const float* tr, int c,
                                           float keep, float spread) {
  const float t = __ldg(tr + c);
  return (a.smooth ? t * keep + spread : t) * class_weight(a, c);
}

// Per-row loss (before the reduction): straight into `loss` for 'none',
// else into row_loss with the row's target weight (0 if ignored).
template <int kGW>
__global__ void __launch_bounds__(Group<kGW>::kBlockThreads)
    xent_forward_kernel(XentDev a, const float* __restrict__ x, float* __restrict__ loss,
                        double* __restrict__ row_loss, double* __restrict__ row_weight) {
  const int C = static_cast<int>(a.C);
  LG_FOR_ROWS(kGW, row, lane, a.N) {
    const float* xr = x + row * C;
    float l = 0.0f, wrow = 0.0f;
    const int64_t y = a.target ? __ldg(a.target + row) : 0;
    if (a.target && out_of_range(a, y)) {
      l = NAN;
      if (lane == 0) *a.bad = 1;
    } else if (!a.target || y != a.ignore_index) {  // uniform over the group
      const MaxSum st = row_stats<kGW>(xr, C, lane);
      const float lsum = logf(st.s);
      if (a.target) {
        wrow = class_weight(a, y);
        l = wrow * ((st.m - __ldg(xr + y)) + lsum);
        if (a.smooth) {
          // torch: -(log_softmax * weight).sum(), mixed in with ls / C.
          float s = 0.0f;
          for (int c = lane; c < C; c += Group<kGW>::kThreads)
            s += ((__ldg(xr + c) - st.m) - lsum) * class_weight(a, c);
          s = group_reduce<kGW>(s, Add());
          l = (1.0f - a.ls) * l + (-s) * (a.ls / static_cast<float>(C));
        }
      } else {
        const float* tr = a.prob + row * C;
        const float keep = 1.0f - a.ls, spread = a.ls / static_cast<float>(C);
        float s = 0.0f;
        for (int c = lane; c < C; c += Group<kGW>::kThreads)
          s += ((__ldg(xr + c) - st.m) - lsum) * prob_coef(a, tr, c, keep, spread);
        l = -group_reduce<kGW>(s, Add());
      }
    }
    if (lane == 0) {
      if (loss) {
        loss[row] = l;
      } else {
        row_loss[row] = l;
        row_weight[row] = wrow;
      }
    }
  }
}

// Tree sum of one double per thread over a kReduceThreads block; thread 0
// gets the total. Fixed pairing: deterministic.
__device__ double block_sum(double v, double* buf) {
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int o = kReduceThreads / 2; o > 0; o >>= 1) {
    if (static_cast<int>(threadIdx.x) < o) buf[threadIdx.x] += buf[threadIdx.x + o];
    __syncthreads();
  }
  const double total = buf[0];
  __syncthreads();  // buf may be reused
  return total;
}

// loss[0] = sum of row losses, divided for 'mean' by the summed target
// weight (index targets) or N (probability targets).
__global__ void __launch_bounds__(kReduceThreads)
    xent_reduce_kernel(int64_t N, const double* __restrict__ row_loss,
                       const double* __restrict__ row_weight, bool mean, bool by_weight,
                       float* __restrict__ loss) {
  __shared__ double buf[kReduceThreads];
  double s = 0.0, w = 0.0;
  for (int64_t i = threadIdx.x; i < N; i += kReduceThreads) {
    s += row_loss[i];
    w += row_weight[i];
  }
  s = block_sum(s, buf);
  w = block_sum(w, buf);
  if (threadIdx.x == 0) {
    if (mean) s /= by_weight ? w : static_cast<double>(N);
    loss[0] = static_cast<float>(s);
  }
}

// scalars[0]: the gradient scale (1 / the mean's divisor, else 1);
// scalars[1]: the summed class weight (C without weights).
__global__ void __launch_bounds__(kReduceThreads)
    xent_backward_scalars_kernel(XentDev a, bool mean, float* __restrict__ scalars) {
  __shared__ double buf[kReduceThreads];
  double tw = 0.0, wt = 0.0;
  if (mean && a.target)
    for (int64_t i = threadIdx.x; i < a.N; i += kReduceThreads) {
      const int64_t y = a.target[i];
      if (y != a.ignore_index && !out_of_range(a, y))
        tw += a.weight ? double(a.weight[y]) : 1.0;
    }
  if (a.weight)
    for (int64_t c = threadIdx.x; c < a.C; c += kReduceThreads) wt += double(a.weight[c]);
  tw = block_sum(tw, buf);
  wt = block_sum(wt, buf);
  if (threadIdx.x == 0) {
    scalars[0] = !mean ? 1.0f
                       : static_cast<float>(1.0 / (a.target ? tw : static_cast<double>(a.N)));
    scalars[1] = static_cast<float>(a.weight ? wt : static_cast<double>(a.C));
  }
}

// dlogits: p = exp(x - m) / sum recomputed (nothing saved by the forward).
template <int kGW>
__global__ void __launch_bounds__(Group<kGW>::kBlockThreads)
    xent_backward_kernel(XentDev a, const float* __restrict__ x, const float* __restrict__ grad,
                         bool per_row, const float* __restrict__ scalars,
                         float* __restrict__ dx) {
  const int C = static_cast<int>(a.C);
  const float scale = scalars[0], w_total = scalars[1];
  const float spread = a.ls / static_cast<float>(C), keep = 1.0f - a.ls;
  LG_FOR_ROWS(kGW, row, lane, a.N) {
    const float* xr = x + row * C;
    float* dr = dx + row * C;
    const float g = __ldg(grad + (per_row ? row : 0)) * scale;
    if (a.target) {
      const int64_t y = __ldg(a.target + row);
      if (y == a.ignore_index || out_of_range(a, y)) {
        if (lane == 0 && y != a.ignore_index) *a.bad = 1;
        for (int c = lane; c < C; c += Group<kGW>::kThreads) dr[c] = 0.0f;
        continue;
      }
      // d/dx_j of (1-ls) w_y (l - x_y) + ls/C sum_c w_c (l - x_c)
      //   = [(1-ls) w_y + ls/C W] p_j - (1-ls) w_y [j == y] - ls/C w_j
      const MaxSum st = row_stats<kGW>(xr, C, lane);
      const float wy = class_weight(a, y);
      const float ci = g * (keep * wy + spread * w_total) * (1.0f / st.s);
      const float gs = g * spread, gy = g * keep * wy;
      for (int c = lane; c < C; c += Group<kGW>::kThreads) {
        float d = expf(__ldg(xr + c) - st.m) * ci;
        if (a.smooth) d -= gs * class_weight(a, c);
        if (c == y) d -= gy;
        dr[c] = d;
      }
    } else {
      // loss = -sum_c a_c (x_c - l) with a_c = t'_c w_c: grad = (sum a) p_j - a_j.
      const float* tr = a.prob + row * C;
      MaxSum st{-INFINITY, 0.0f};
      float sa = 0.0f;
      for (int c = lane; c < C; c += Group<kGW>::kThreads) {
        push(st, __ldg(xr + c));
        sa += prob_coef(a, tr, c, keep, spread);
      }
      st = group_reduce<kGW>(st, CombineMaxSum());
      sa = group_reduce<kGW>(sa, Add());
      const float inv = 1.0f / st.s;
      for (int c = lane; c < C; c += Group<kGW>::kThreads)
        dr[c] = g * (sa * (expf(__ldg(xr + c) - st.m) * inv) - prob_coef(a, tr, c, keep, spread));
    }
  }
}

#undef LG_FOR_ROWS

// Calls f(std::integral_constant<int, warps per row>) for a row length C.
template <typename F>
void with_group(int64_t C, F f) {
  if (C <= 1024) f(std::integral_constant<int, 1>());
  else if (C <= 4096) f(std::integral_constant<int, 4>());
  else if (C <= 16384) f(std::integral_constant<int, 16>());
  else f(std::integral_constant<int, 32>());
}

template <int kGW>
unsigned row_blocks(int64_t rows) {
  constexpr int64_t rpb = Group<kGW>::kRowsPerBlock;
  return static_cast<unsigned>(std::min<int64_t>((rows + rpb - 1) / rpb, kMaxBlocks));
}

cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }

template <bool kLog>
void softmax_forward_impl(int64_t rows, int64_t C, const float* x, float* y, void* stream,
                          const char* name) {
  if (rows == 0 || C == 0) return;
  with_group(C, [&](auto tag) {
    constexpr int kGW = decltype(tag)::value;
    softmax_forward_kernel<kGW, kLog>
        <<<row_blocks<kGW>(rows), Group<kGW>::kBlockThreads, 0, as_stream(stream)>>>(
            rows, static_cast<int>(C), x, y);
  });
  check_launch(name);
}

template <bool kLog>
void softmax_backward_impl(int64_t rows, int64_t C, const float* y, const float* dy, float* dx,
                           void* stream, const char* name) {
  if (rows == 0 || C == 0) return;
  with_group(C, [&](auto tag) {
    constexpr int kGW = decltype(tag)::value;
    softmax_backward_kernel<kGW, kLog>
        <<<row_blocks<kGW>(rows), Group<kGW>::kBlockThreads, 0, as_stream(stream)>>>(
            rows, static_cast<int>(C), y, dy, dx);
  });
  check_launch(name);
}

}  // namespace

void softmax_forward(int64_t rows, int64_t C, const float* x, float* y, void* stream) {
  softmax_forward_impl<false>(rows, C, x, y, stream, "softmax_forward_kernel");
}
void log_softmax_forward(int64_t rows, int64_t C, const float* x, float* y, void* stream) {
  softmax_forward_impl<true>(rows, C, x, y, stream, "log_softmax_forward_kernel");
}
void softmax_backward(int64_t rows, int64_t C, const float* y, const float* dy, float* dx,
                      void* stream) {
  softmax_backward_impl<false>(rows, C, y, dy, dx, stream, "softmax_backward_kernel");
}
void log_softmax_backward(int64_t rows, int64_t C, const float* y, const float* dy, float* dx,
                          void* stream) {
  softmax_backward_impl<true>(rows, C, y, dy, dx, stream, "log_softmax_backward_kernel");
}

namespace {
// Zeroes the caller's error flag on the stream (cheaper than a Python-side
// cupy.zeros per call).
void clear_flag(int* bad, void* stream, const char* name) {
  const cudaError_t err = cudaMemsetAsync(bad, 0, sizeof(int), as_stream(stream));
  if (err != cudaSuccess) {
    cudaGetLastError();  // do not leave it for the next check_launch
    throw std::runtime_error(std::string(name) + ": " + cudaGetErrorName(err) + ": " +
                             cudaGetErrorString(err));
  }
}
}  // namespace

void softmax_xent_forward(const XentArgs& a, const float* logits, float* loss, double* row_loss,
                          double* row_weight, int* bad, void* stream) {
  if (a.N == 0 || a.C == 0) return;
  clear_flag(bad, stream, "xent_forward (clearing the error flag)");
  const XentDev d = device_args(a, bad);
  const bool none = a.reduction == Reduction::none;
  with_group(a.C, [&](auto tag) {
    constexpr int kGW = decltype(tag)::value;
    xent_forward_kernel<kGW>
        <<<row_blocks<kGW>(a.N), Group<kGW>::kBlockThreads, 0, as_stream(stream)>>>(
            d, logits, none ? loss : nullptr, row_loss, row_weight);
  });
  check_launch("xent_forward_kernel");
  if (none) return;
  xent_reduce_kernel<<<1, kReduceThreads, 0, as_stream(stream)>>>(
      a.N, row_loss, row_weight, a.reduction == Reduction::mean, a.target != nullptr, loss);
  check_launch("xent_reduce_kernel");
}

void softmax_xent_backward(const XentArgs& a, const float* logits, const float* grad_loss,
                           float* dlogits, float* scalars, int* bad, void* stream) {
  if (a.N == 0 || a.C == 0) return;
  clear_flag(bad, stream, "xent_backward (clearing the error flag)");
  const XentDev d = device_args(a, bad);
  xent_backward_scalars_kernel<<<1, kReduceThreads, 0, as_stream(stream)>>>(
      d, a.reduction == Reduction::mean, scalars);
  check_launch("xent_backward_scalars_kernel");
  with_group(a.C, [&](auto tag) {
    constexpr int kGW = decltype(tag)::value;
    xent_backward_kernel<kGW>
        <<<row_blocks<kGW>(a.N), Group<kGW>::kBlockThreads, 0, as_stream(stream)>>>(
            d, logits, grad_loss, a.reduction == Reduction::none, scalars, dlogits);
  });
  check_launch("xent_backward_kernel");
}

}  // namespace cuda
}  // namespace lg
