// 2-D convolution: forward, backward-data, backward-weight, bias gradient.
//
// Layout: NCHW activations, (K, C/groups, R, S) weights, row-major, 64-bit
// index math throughout. One work item is one (image n, group g) pair; per
// item, with CKK = C/groups * R * S and P = OH * OW:
//   forward      y[n,g]  (Kg x P)   = w[g] (Kg x CKK) * col (CKK x P)
//   backward-dx  col     (CKK x P)  = w[g]ᵀ * dy[n,g];  dx[n,g] = col2im(col)
//   backward-dw  dw[g]   (Kg x CKK) += dy[n,g] * colᵀ
// where col = im2col(x[n,g]) is lowered in tiles of output pixels so that the
// scratch is at most kColBudgetBytes per thread whatever the batch or image
// size (never a lowering of the whole batch). A 1x1, stride-1, unpadded conv
// is already a GEMM on the NCHW planes and skips the lowering entirely.
//
// Threading: when there are enough items (N * groups) to share out evenly,
// items are split over the threads and each calls our GEMM, which sees that it
// is inside a parallel region and runs on its own thread (gemm.cpp
// call_threads) -- no nested regions. Otherwise the items run one after
// another and each GEMM threads itself. Backward-weight gives each thread its
// own dw accumulator (K x CKK), summed at the end: deterministic for a given
// thread count, no atomics.
//
// Stride-1 forward and backward-data (not 1x1 unpadded, which is a plain
// GEMM here) go to the direct kernel of conv_direct.cpp when the CPU has
// AVX2+FMA and the geometry fits it; everything below is the general path.
//
// Limits: no direct depthwise kernel (a depthwise conv is a run of M=1 GEMMs,
// i.e. GEMV; correct, not fast); the lowering makes a stride-1 3x3 conv read
// its input 9 times, which the GEMM's flops hide for C >= ~16.
#include "cpu/conv.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "common/check.h"
#include "common/parallel.h"
#include "cpu/conv_direct.h"
#include "cpu/gemm.h"

namespace lg {
namespace cpu {

namespace {

constexpr int64_t kColBudgetBytes = int64_t(1) << 20;

struct Geometry {
  int64_t Cg, Kg, CKK, HW, P;
  bool direct;  // 1x1, stride 1, no padding: x's planes are the GEMM operand
  int64_t tile;  // output pixels per lowered tile
};

template <typename T>
Geometry geometry(const Conv2dShape& s) {
  Geometry g;
  g.Cg = s.C / s.groups;
  g.Kg = s.K / s.groups;
  g.CKK = g.Cg * s.R * s.S;
  g.HW = s.H * s.W;
  g.P = s.OH * s.OW;
  g.direct = s.R == 1 && s.S == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 &&
             s.pad_w == 0;
  const int64_t budget = kColBudgetBytes / int64_t(sizeof(T));
  g.tile = g.CKK * g.P <= budget ? g.P : std::max<int64_t>(1, budget / std::max<int64_t>(g.CKK, 1));
  g.tile = std::min(g.tile, std::max<int64_t>(g.P, 1));
  return g;
}

// Threads for the item loop; 1 means "items in sequence, GEMMs thread
// themselves". Items are shared out only when they split evenly enough.
int item_threads(int64_t items, double flops) {
  const int nt = threads_for(flops >= 9e18 ? INT64_MAX : static_cast<int64_t>(flops),
                             int64_t(1) << 21);  // no out-of-range cast (UB)
  if (nt <= 1 || items < nt) return 1;
  if (items % nt != 0 && items < 4 * nt) return 1;
  return static_cast<int>(std::min<int64_t>(nt, items));
}

// Output columns ow in [lo, hi) read input column ow*stride + off inside [0, len).
inline void valid_range(int64_t off, int64_t stride, int64_t len, int64_t out, int64_t& lo,
                        int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
  hi = len - off <= 0 ? 0 : (len - 1 - off) / stride + 1;
  hi = std::min(hi, out);
  lo = std::min(lo, hi);
}

// Walks the (row c*R*S + r*S + s, output pixels [p0, p1)) entries of the
// lowered matrix one output-row segment at a time, calling
// body(dst, src, lead, valid, trail): the segment's entries are dst[0 :
// lead + valid + trail]; the first `lead` and the last `trail` fall in the
// padding, the `valid` ones in between map to src[j * stride_w]. Pointers are
// only formed to elements that exist.
template <typename T, typename Body>
void walk_lowered(const Conv2dShape& s, const Geometry& g, T* xg, T* col, int64_t p0, int64_t p1,
                  Body body) {
  const int64_t tl = p1 - p0;
  for (int64_t c = 0; c < g.Cg; ++c) {
    T* xc = xg + c * g.HW;
    for (int64_t r = 0; r < s.R; ++r) {
      const int64_t off_h = r * s.dil_h - s.pad_h;
      for (int64_t q = 0; q < s.S; ++q) {
        T* row = col + ((c * s.R + r) * s.S + q) * tl;
        const int64_t off_w = q * s.dil_w - s.pad_w;
        int64_t lo, hi;
        valid_range(off_w, s.stride_w, s.W, s.OW, lo, hi);
        int64_t p = p0;
        while (p < p1) {
          const int64_t oh = p / s.OW, ow0 = p - oh * s.OW;
          const int64_t ow1 = std::min(s.OW, ow0 + (p1 - p));
          T* dst = row + (p - p0);
          const int64_t ih = oh * s.stride_h + off_h;
          if (ih < 0 || ih >= s.H) {
            body(dst, xc, ow1 - ow0, int64_t(0), int64_t(0));
          } else {
            const int64_t a = std::clamp(lo, ow0, ow1), b = std::clamp(hi, a, ow1);
            T* src = a < b ? xc + ih * s.W + a * s.stride_w + off_w : xc;
            body(dst, src, a - ow0, b - a, ow1 - b);
          }
          p += ow1 - ow0;
        }
      }
    }
  }
}

template <typename T>
void im2col(const Conv2dShape& s, const Geometry& g, const T* xg, T* col, int64_t p0, int64_t p1) {
  const int64_t sw = s.stride_w;
  walk_lowered(s, g, const_cast<T*>(xg), col, p0, p1,
               [sw](T* dst, const T* src, int64_t lead, int64_t valid, int64_t trail) {
                 for (int64_t j = 0; j < lead; ++j) dst[j] = T(0);
                 dst += lead;
                 if (sw == 1) {
                   for (int64_t j = 0; j < valid; ++j) dst[j] = src[j];
                 } else {
                   for (int64_t j = 0; j < valid; ++j) dst[j] = src[j * sw];
                 }
                 dst += valid;
                 for (int64_t j = 0; j < trail; ++j) dst[j] = T(0);
               });
}

// dxg += col2im(col) for output pixels [p0, p1).
template <typename T>
void col2im_add(const Conv2dShape& s, const Geometry& g, T* col, T* dxg, int64_t p0, int64_t p1) {
  const int64_t sw = s.stride_w;
  walk_lowered(s, g, dxg, col, p0, p1,
               [sw](const T* dst, T* src, int64_t lead, int64_t valid, int64_t) {
                 dst += lead;
                 if (sw == 1) {
                   for (int64_t j = 0; j < valid; ++j) src[j] += dst[j];
                 } else {
                   for (int64_t j = 0; j < valid; ++j) src[j * sw] += dst[j];
                 }
               });
}

template <typename T>
std::unique_ptr<T[]> scratch(int64_t n) {
  return std::unique_ptr<T[]>(new T[static_cast<size_t>(std::max<int64_t>(n, 1))]);
}

// Runs item(i, thread_col) for i in [0, items): in parallel with a GEMM per
// thread, or in sequence with threaded GEMMs (see the header comment).
template <typename T, typename Item>
void for_items(int nt, int64_t items, int64_t col_elems, Item item) {
  auto cols = scratch<T>(col_elems * nt);
  if (nt <= 1) {
    for (int64_t i = 0; i < items; ++i) item(i, 0, cols.get());
    return;
  }
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t i = 0; i < items; ++i) {
#ifdef _OPENMP
    const int t = omp_get_thread_num();
#else
    const int t = 0;
#endif
    item(i, t, cols.get() + col_elems * t);
  }
}

}  // namespace

template <typename T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y) {
  const Geometry g = geometry<T>(s);
  if (s.N == 0 || s.K == 0 || g.P == 0) return;
  if (!g.direct && conv_direct_available() && conv_direct_fits_forward(s)) {
    conv2d_direct_forward(s, x, w, bias, y);
    return;
  }
  const int64_t items = s.N * s.groups;
  const int nt = item_threads(items, 2.0 * s.N * s.K * g.CKK * g.P);
  const int64_t col_elems = g.direct ? 0 : g.CKK * g.tile;
  for_items<T>(nt, items, col_elems, [&](int64_t i, int, T* col) {
    const int64_t n = i / s.groups, gr = i % s.groups;
    const T* xg = x + (n * s.C + gr * g.Cg) * g.HW;
    const T* wg = w + gr * g.Kg * g.CKK;
    T* yg = y + (n * s.K + gr * g.Kg) * g.P;
    for (int64_t p0 = 0; p0 < g.P; p0 += g.tile) {
      const int64_t p1 = std::min(g.P, p0 + g.tile), tl = p1 - p0;
      if (g.direct) {
        gemm<T>(false, false, g.Kg, tl, g.Cg, T(1), wg, g.CKK, xg + p0, g.HW, T(0), yg + p0, g.P);
      } else {
        im2col(s, g, xg, col, p0, p1);
        gemm<T>(false, false, g.Kg, tl, g.CKK, T(1), wg, g.CKK, col, tl, T(0), yg + p0, g.P);
      }
      if (bias) {  // while the tile is still in cache
        for (int64_t k = 0; k < g.Kg; ++k) {
          const T b = bias[gr * g.Kg + k];
          T* yr = yg + k * g.P;
          for (int64_t p = p0; p < p1; ++p) yr[p] += b;
        }
      }
    }
  });
}

template <typename T>
void conv2d_backward_data(const Conv2dShape& s, const T* dy, const T* w, T* dx) {
  const Geometry g = geometry<T>(s);
  if (s.N == 0 || s.C == 0 || g.HW == 0) return;
  const int64_t items = s.N * s.groups;
  if (g.P == 0 || g.Kg == 0) {
    std::memset(dx, 0, sizeof(T) * static_cast<size_t>(s.N * s.C * g.HW));
    return;
  }
  if (!g.direct && conv_direct_available() && conv_direct_fits_backward_data(s)) {
    conv2d_direct_backward_data(s, dy, w, dx);
    return;
  }
  const int nt = item_threads(items, 2.0 * s.N * s.K * g.CKK * g.P);
  const int64_t col_elems = g.direct ? 0 : g.CKK * g.tile;
  for_items<T>(nt, items, col_elems, [&](int64_t i, int, T* col) {
    const int64_t n = i / s.groups, gr = i % s.groups;
    const T* dyg = dy + (n * s.K + gr * g.Kg) * g.P;
    const T* wg = w + gr * g.Kg * g.CKK;
    T* dxg = dx + (n * s.C + gr * g.Cg) * g.HW;
    if (g.direct) {
      gemm<T>(true, false, g.Cg, g.P, g.Kg, T(1), wg, g.CKK, dyg, g.P, T(0), dxg, g.HW);
      return;
    }
    std::memset(dxg, 0, sizeof(T) * static_cast<size_t>(g.Cg * g.HW));
    for (int64_t p0 = 0; p0 < g.P; p0 += g.tile) {
      const int64_t p1 = std::min(g.P, p0 + g.tile), tl = p1 - p0;
      gemm<T>(true, false, g.CKK, tl, g.Kg, T(1), wg, g.CKK, dyg + p0, g.P, T(0), col, tl);
      col2im_add(s, g, col, dxg, p0, p1);
    }
  });
}

template <typename T>
void conv2d_backward_weight(const Conv2dShape& s, const T* dy, const T* x, T* dw) {
  const Geometry g = geometry<T>(s);
  const int64_t wsize = s.K * g.CKK;
  if (wsize == 0) return;
  std::memset(dw, 0, sizeof(T) * static_cast<size_t>(wsize));
  if (s.N == 0 || g.P == 0) return;
  const int64_t items = s.N * s.groups;
  const int nt = item_threads(items, 2.0 * s.N * s.K * g.CKK * g.P);
  // Thread 0 accumulates into dw itself, the others into their own copies.
  auto acc = scratch<T>(wsize * (nt - 1));
  if (nt > 1) std::memset(acc.get(), 0, sizeof(T) * static_cast<size_t>(wsize * (nt - 1)));
  const int64_t col_elems = g.direct ? 0 : g.CKK * g.tile;
  for_items<T>(nt, items, col_elems, [&](int64_t i, int t, T* col) {
    const int64_t n = i / s.groups, gr = i % s.groups;
    const T* dyg = dy + (n * s.K + gr * g.Kg) * g.P;
    const T* xg = x + (n * s.C + gr * g.Cg) * g.HW;
    T* dwg = (t == 0 ? dw : acc.get() + wsize * (t - 1)) + gr * g.Kg * g.CKK;
    for (int64_t p0 = 0; p0 < g.P; p0 += g.tile) {
      const int64_t p1 = std::min(g.P, p0 + g.tile), tl = p1 - p0;
      if (g.direct) {
        gemm<T>(false, true, g.Kg, g.Cg, tl, T(1), dyg + p0, g.P, xg + p0, g.HW, T(1), dwg,
                g.CKK);
      } else {
        im2col(s, g, xg, col, p0, p1);
        gemm<T>(false, true, g.Kg, g.CKK, tl, T(1), dyg + p0, g.P, col, tl, T(1), dwg, g.CKK);
      }
    }
  });
  for (int t = 1; t < nt; ++t) {
    const T* a = acc.get() + wsize * (t - 1);
    for (int64_t j = 0; j < wsize; ++j) dw[j] += a[j];
  }
}

template <typename T>
void conv2d_backward_bias(const Conv2dShape& s, const T* dy, T* db) {
  const int64_t P = s.OH * s.OW;
  if (s.K == 0) return;
  const int nt = threads_for(s.N * s.K * P, int64_t(1) << 16);
  // Accumulate in double: a channel sums N * P values.
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t k = 0; k < s.K; ++k) {
    double total = 0;
    for (int64_t n = 0; n < s.N; ++n) {
      const T* row = dy + (n * s.K + k) * P;
      T part = 0;  // vectorised: lanes summed in a fixed order (no thread dependence)
#pragma omp simd reduction(+ : part)
      for (int64_t p = 0; p < P; ++p) part += row[p];
      total += part;
    }
    db[k] = static_cast<T>(total);
  }
}

#define LG_CONV_INSTANTIATE(T)                                                              \
  template void conv2d_forward<T>(const Conv2dShape&, const T*, const T*, const T*, T*);     \
  template void conv2d_backward_data<T>(const Conv2dShape&, const T*, const T*, T*);         \
  template void conv2d_backward_weight<T>(const Conv2dShape&, const T*, const T*, T*);       \
  template void conv2d_backward_bias<T>(const Conv2dShape&, const T*, T*);
LG_CONV_INSTANTIATE(float)
LG_CONV_INSTANTIATE(double)
#undef LG_CONV_INSTANTIATE

}  // namespace cpu
}  // namespace lg
