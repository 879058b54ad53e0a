// 2-D upsampling: nearest and bilinear, forward and backward (torch's upsample_nearest2d /
// upsample_bilinear2d on NCHW).
//
// Layout: (planes = N*C, H, W) row-major in, (planes, OH, OW) out.
// Algorithm: the source rows and columns (and, for bilinear, the two weights) of every
// output row and column are computed once per call into small tables, with torch's formulas
// in torch's arithmetic (float for float data: the nearest index is floorf(o * (1/scale)), the
// bilinear source is scale * (o + 0.5) - 0.5 clamped at 0, or scale * o with align_corners),
// so the results match torch's CPU kernels to rounding. Planes are independent: OpenMP splits
// them (threads_for keeps small inputs on one thread) and every backward owns the dx planes it
// writes (zeroed, then each dy added into its 1 or 4 sources) -- no atomics, no scratch beyond
// the tables. The forward's inner loop over a row reads x through the column table; a
// bilinear output is (x[h0,w0]*lw0 + x[h0,w1]*lw1)*lh0 + (x[h1,w0]*lw0 + x[h1,w1]*lw1)*lh1,
// torch's order of operations.
// Limits: all sizes < 2^31; memory-bound (no blocking needed: a row pair of x stays in cache).
#include "cpu/upsample.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/check.h"
#include "common/parallel.h"

namespace lg {
namespace cpu {

void upsample2d_check(const Upsample2dShape& s, const char* op) {
  constexpr int64_t kMax = int64_t(1) << 31;
  LG_CHECK(s.planes >= 0, op, ": negative number of planes");
  LG_CHECK(s.H >= 1 && s.W >= 1 && s.OH >= 1 && s.OW >= 1 && s.H < kMax && s.W < kMax &&
               s.OH < kMax && s.OW < kMax,
           op, ": input (", s.H, ", ", s.W, ") and output (", s.OH, ", ", s.OW,
           ") sizes must be in [1, 2^31)");
  LG_CHECK(std::isfinite(s.scale_h) && std::isfinite(s.scale_w), op,
           ": scale factors must be finite, got (", s.scale_h, ", ", s.scale_w, ")");
}

namespace {

constexpr int64_t kMinWorkPerThread = 1 << 15;  // output elements

// torch's compute_scales_value: 1/scale when a scale was given, else in/out.
template <typename A>
A scales_value(double scale, int64_t in, int64_t out) {
  return scale > 0.0 ? static_cast<A>(1.0 / scale) : static_cast<A>(in) / static_cast<A>(out);
}

// torch's nearest_idx (float arithmetic whatever the data type).
std::vector<int64_t> nearest_table(int64_t in, int64_t out, double scale) {
  std::vector<int64_t> idx(static_cast<size_t>(out));
  const float sc = scales_value<float>(scale, in, out);
  for (int64_t o = 0; o < out; ++o) {
    if (out == in) idx[o] = o;
    else if (out == 2 * in) idx[o] = o >> 1;
    else idx[o] = std::min(static_cast<int64_t>(std::floor(static_cast<float>(o) * sc)), in - 1);
  }
  return idx;
}

template <typename T>
struct Linear {
  std::vector<int64_t> i0, i1;
  std::vector<T> l0, l1;
};

// torch's compute_source_index_and_lambda over one dim (opmath = T for float and double).
template <typename T>
Linear<T> linear_table(int64_t in, int64_t out, double scale, bool align_corners) {
  Linear<T> t;
  t.i0.resize(out); t.i1.resize(out); t.l0.resize(out); t.l1.resize(out);
  const T ratio = align_corners ? (out > 1 ? static_cast<T>(in - 1) / static_cast<T>(out - 1)
                                           : T(0))
                                : scales_value<T>(scale, in, out);
  for (int64_t o = 0; o < out; ++o) {
    if (out == in) {
      t.i0[o] = t.i1[o] = o;
      t.l0[o] = T(1);
      t.l1[o] = T(0);
      continue;
    }
    T src;
    if (align_corners) {
      src = ratio * static_cast<T>(o);
    } else {
      src = ratio * (static_cast<T>(o) + T(0.5)) - T(0.5);
      if (src < T(0)) src = T(0);
    }
    const int64_t i = std::min(static_cast<int64_t>(std::floor(src)), in - 1);
    const T lam = std::min(std::max(src - static_cast<T>(i), T(0)), T(1));
    t.i0[o] = i;
    t.i1[o] = i + (i < in - 1 ? 1 : 0);
    t.l1[o] = lam;
    t.l0[o] = T(1) - lam;
  }
  return t;
}

// body(p) for every plane p, planes split over the threads (small inputs on one thread).
template <typename Body>
void over_planes(const Upsample2dShape& s, Body body) {
  const int nt = threads_for(s.planes * s.OH * s.OW, kMinWorkPerThread);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t p = 0; p < s.planes; ++p) body(p);
}

}  // namespace

template <typename T>
void upsample_nearest2d_forward(const Upsample2dShape& s, const T* x, T* y) {
  const auto hi = nearest_table(s.H, s.OH, s.scale_h);
  const auto wi = nearest_table(s.W, s.OW, s.scale_w);
  over_planes(s, [&](int64_t p) {
    const T* xp = x + p * s.H * s.W;
    T* yp = y + p * s.OH * s.OW;
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      const T* xr = xp + hi[oh] * s.W;
      T* yr = yp + oh * s.OW;
      for (int64_t ow = 0; ow < s.OW; ++ow) yr[ow] = xr[wi[ow]];
    }
  });
}

template <typename T>
void upsample_nearest2d_backward(const Upsample2dShape& s, const T* dy, T* dx) {
  const auto hi = nearest_table(s.H, s.OH, s.scale_h);
  const auto wi = nearest_table(s.W, s.OW, s.scale_w);
  over_planes(s, [&](int64_t p) {
    T* dxp = dx + p * s.H * s.W;
    const T* dyp = dy + p * s.OH * s.OW;
    std::memset(dxp, 0, sizeof(T) * static_cast<size_t>(s.H * s.W));
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      T* dr = dxp + hi[oh] * s.W;
      const T* gr = dyp + oh * s.OW;
      for (int64_t ow = 0; ow < s.OW; ++ow) dr[wi[ow]] += gr[ow];
    }
  });
}

template <typename T>
void upsample_bilinear2d_forward(const Upsample2dShape& s, const T* x, T* y) {
  const auto th = linear_table<T>(s.H, s.OH, s.scale_h, s.align_corners);
  const auto tw = linear_table<T>(s.W, s.OW, s.scale_w, s.align_corners);
  over_planes(s, [&](int64_t p) {
    const T* xp = x + p * s.H * s.W;
    T* yp = y + p * s.OH * s.OW;
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      const T* r0 = xp + th.i0[oh] * s.W;
      const T* r1 = xp + th.i1[oh] * s.W;
      const T h0 = th.l0[oh], h1 = th.l1[oh];
      T* yr = yp + oh * s.OW;
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const int64_t a = tw.i0[ow], b = tw.i1[ow];
        const T w0 = tw.l0[ow], w1 = tw.l1[ow];
        yr[ow] = (r0[a] * w0 + r0[b] * w1) * h0 + (r1[a] * w0 + r1[b] * w1) * h1;
      }
    }
  });
}

template <typename T>
void upsample_bilinear2d_backward(const Upsample2dShape& s, const T* dy, T* dx) {
  const auto th = linear_table<T>(s.H, s.OH, s.scale_h, s.align_corners);
  const auto tw = linear_table<T>(s.W, s.OW, s.scale_w, s.align_corners);
  over_planes(s, [&](int64_t p) {
    T* dxp = dx + p * s.H * s.W;
    const T* dyp = dy + p * s.OH * s.OW;
    std::memset(dxp, 0, sizeof(T) * static_cast<size_t>(s.H * s.W));
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      T* r0 = dxp + th.i0[oh] * s.W;
      T* r1 = dxp + th.i1[oh] * s.W;
      const T h0 = th.l0[oh], h1 = th.l1[oh];
      const T* gr = dyp + oh * s.OW;
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const int64_t a = tw.i0[ow], b = tw.i1[ow];
        const T w0 = tw.l0[ow], w1 = tw.l1[ow], g = gr[ow];
        r0[a] += h0 * w0 * g;
        r0[b] += h0 * w1 * g;
        r1[a] += h1 * w0 * g;
        r1[b] += h1 * w1 * g;
      }
    }
  });
}

#define LG_UPSAMPLE_INSTANTIATE(T)                                                          \
  template void upsample_nearest2d_forward<T>(const Upsample2dShape&, const T*, T*);       \
  template void upsample_nearest2d_backward<T>(const Upsample2dShape&, const T*, T*);      \
  template void upsample_bilinear2d_forward<T>(const Upsample2dShape&, const T*, T*);      \
  template void upsample_bilinear2d_backward<T>(const Upsample2dShape&, const T*, T*);
LG_UPSAMPLE_INSTANTIATE(float)
LG_UPSAMPLE_INSTANTIATE(double)
#undef LG_UPSAMPLE_INSTANTIATE

}  // namespace cpu
}  // namespace lg
