// 2-D pooling: max (+ argmax), average, adaptive average; forward/backward.
//
// Layout: (planes = N*C, H, W) row-major; indices are int64 flat offsets
// ih*W + iw within a plane, as torch returns them.
// Algorithm: planes are independent, so OpenMP splits the planes (static
// schedule; small inputs stay on one thread via threads_for) and every
// backward owns the dx planes it writes -- no atomics, no scratch.
// Max pool walks each output row with the window loops outside and the
// output column loop inside, keeping a row of running maxima: each output
// still visits its window in torch's order (row by row, left to right), so
// ties keep the first maximum and a NaN wins (`v > m || v != v`), while the
// inner loop is a branch-free select over consecutive outputs that the
// compiler can vectorise.
// Limits: windows that fall entirely into padding (possible only with
// dilation) give -inf and the index torch gives.
#include "cpu/pool.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "common/check.h"
#include "common/parallel.h"

namespace lg {
namespace cpu {

int64_t pool_output_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil,
                         bool ceil_mode) {
  const int64_t num = in + 2 * pad - dil * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  // floor division (num may be negative)
  int64_t out = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

void pool2d_check(Pool2dShape& s, const char* op) {
  // Bounded parameters keep every window product below 2^63 (no overflow).
  constexpr int64_t kMax = int64_t(1) << 31;
  LG_CHECK(s.kh >= 1 && s.kw >= 1 && s.kh <= kMax && s.kw <= kMax, op,
           ": kernel_size must be in [1, 2^31], got (", s.kh, ", ", s.kw, ")");
  LG_CHECK(s.sh >= 1 && s.sw >= 1 && s.sh <= kMax && s.sw <= kMax, op,
           ": stride must be in [1, 2^31], got (", s.sh, ", ", s.sw, ")");
  LG_CHECK(s.dh >= 1 && s.dw >= 1 && s.dh <= kMax && s.dw <= kMax, op,
           ": dilation must be in [1, 2^31], got (", s.dh, ", ", s.dw, ")");
  LG_CHECK(s.ph >= 0 && s.pw >= 0 && s.ph <= s.kh / 2 && s.pw <= s.kw / 2, op,
           ": padding (", s.ph, ", ", s.pw,
           ") must be >= 0 and at most half the kernel size (", s.kh, ", ", s.kw, ")");
  LG_CHECK(s.planes >= 0 && s.H >= 1 && s.W >= 1, op,
           ": input height and width must be >= 1, got (", s.H, ", ", s.W, ")");
  s.OH = pool_output_size(s.H, s.kh, s.sh, s.ph, s.dh, s.ceil_mode);
  s.OW = pool_output_size(s.W, s.kw, s.sw, s.pw, s.dw, s.ceil_mode);
  LG_CHECK(s.OH >= 1 && s.OW >= 1, op, ": input (", s.H, ", ", s.W, ") with kernel (", s.kh,
           ", ", s.kw, "), padding (", s.ph, ", ", s.pw, "), dilation (", s.dh, ", ", s.dw,
           ") gives output size (", s.OH, ", ", s.OW, "), which is too small");
}

namespace {

// Work estimates in double: out_plane * kh * kw can pass 2^63 (UBSan) with
// huge windows, and only its order of magnitude matters here.
int plane_threads(const Pool2dShape& s, double per_plane_work) {
  const double work = double(s.planes) * std::max(per_plane_work, 1.0);
  return threads_for(work >= 9e18 ? INT64_MAX : static_cast<int64_t>(work), int64_t(1) << 15);
}

// Output columns ow whose whole window row [ow*sw - pw, ... + (kw-1)*dw] is
// inside [0, W): [lo, hi). Outside it the window is clipped per output.
void interior_cols(const Pool2dShape& s, int64_t& lo, int64_t& hi) {
  lo = (s.pw + s.sw - 1) / s.sw;
  const int64_t last = s.W - 1 + s.pw - (s.kw - 1) * s.dw;  // ow*sw <= last
  hi = last < 0 ? 0 : std::min(s.OW, last / s.sw + 1);
  lo = std::min(lo, hi);
}

template <typename T>
void max_pool_plane(const Pool2dShape& s, const T* x, T* y, int64_t* idx, int64_t lo,
                    int64_t hi, int32_t* kpos) {
  const T neg_inf = -std::numeric_limits<T>::infinity();
  for (int64_t oh = 0; oh < s.OH; ++oh) {
    int64_t ih0 = oh * s.sh - s.ph;
    const int64_t ih1 = std::min(ih0 + (s.kh - 1) * s.dh + 1, s.H);
    if (ih0 < 0) ih0 += (-ih0 + s.dh - 1) / s.dh * s.dh;  // first tap inside (no O(pad) loop)
    T* yr = y + oh * s.OW;
    int64_t* ir = idx + oh * s.OW;
    // Clipped windows at the left and right edges: torch's loop as is.
    auto edge = [&](int64_t ow) {
      int64_t iw0 = ow * s.sw - s.pw;
      const int64_t iw1 = std::min(iw0 + (s.kw - 1) * s.dw + 1, s.W);
      if (iw0 < 0) iw0 += (-iw0 + s.dw - 1) / s.dw * s.dw;
      int64_t mi = ih0 * s.W + iw0;
      T m = neg_inf;
      for (int64_t ih = ih0; ih < ih1; ih += s.dh)
        for (int64_t iw = iw0; iw < iw1; iw += s.dw) {
          const T v = x[ih * s.W + iw];
          if (v > m || v != v) {
            m = v;
            mi = ih * s.W + iw;
          }
        }
      yr[ow] = m;
      ir[ow] = mi;
    };
    for (int64_t ow = 0; ow < lo; ++ow) edge(ow);
    for (int64_t ow = hi; ow < s.OW; ++ow) edge(ow);
    if (lo >= hi) continue;
    // Interior: window loops outside, output columns inside. The running
    // argmax is the window position k (int32, as wide as a float lane, so
    // the select vectorises), turned into a plane offset at the end.
    for (int64_t ow = lo; ow < hi; ++ow) {
      yr[ow] = neg_inf;
      kpos[ow] = 0;
    }
    int32_t k = 0;
    for (int64_t ih = ih0; ih < ih1; ih += s.dh) {
      for (int64_t j = 0; j < s.kw; ++j, ++k) {
        const T* xr = x + ih * s.W + j * s.dw - s.pw + lo * s.sw;
        const int64_t sw = s.sw;
        T* m = yr + lo;
        int32_t* kp = kpos + lo;
        const int64_t n = hi - lo;
        for (int64_t o = 0; o < n; ++o) {
          const T v = xr[o * sw];
          const bool take = v > m[o] || v != v;
          m[o] = take ? v : m[o];
          kp[o] = take ? k : kp[o];
        }
      }
    }
    for (int64_t ow = lo; ow < hi; ++ow) {
      const int64_t r = kpos[ow] / s.kw, c = kpos[ow] - r * s.kw;
      ir[ow] = (ih0 + r * s.dh) * s.W + ow * s.sw - s.pw + c * s.dw;
    }
  }
}

}  // namespace

template <typename T>
void max_pool2d_forward(const Pool2dShape& s, const T* x, T* y, int64_t* idx) {
  const int64_t in_plane = s.H * s.W, out_plane = s.OH * s.OW;
  int64_t lo, hi;
  interior_cols(s, lo, hi);
  const int nt = plane_threads(s, double(out_plane) * s.kh * s.kw);
  LG_CHECK(s.kh * s.kw <= INT32_MAX, "max_pool2d: kernel_size (", s.kh, ", ", s.kw,
           ") has more than 2^31 - 1 window positions");
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    std::vector<int32_t> kpos(static_cast<size_t>(s.OW));  // per thread
#pragma omp for schedule(static)
    for (int64_t p = 0; p < s.planes; ++p)
      max_pool_plane(s, x + p * in_plane, y + p * out_plane, idx + p * out_plane, lo, hi,
                     kpos.data());
  }
}

template <typename T>
void max_pool2d_backward(const Pool2dShape& s, const T* dy, const int64_t* idx, T* dx) {
  const int64_t in_plane = s.H * s.W, out_plane = s.OH * s.OW;
  const int nt = plane_threads(s, double(in_plane) + out_plane);
  int64_t bad = 0;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1) reduction(+ : bad)
  for (int64_t p = 0; p < s.planes; ++p) {
    T* d = dx + p * in_plane;
    std::memset(d, 0, sizeof(T) * static_cast<size_t>(in_plane));
    const T* g = dy + p * out_plane;
    const int64_t* ix = idx + p * out_plane;
    for (int64_t o = 0; o < out_plane; ++o) {
      const int64_t i = ix[o];
      if (i >= 0 && i < in_plane) d[i] += g[o];
      else ++bad;
    }
  }
  LG_CHECK(bad == 0, "max_pool2d_backward: ", bad, " of indices lie outside the ", s.H, "x",
           s.W, " input plane (indices must come from max_pool2d on this input shape)");
}

namespace {

// torch's avg-pool window and divisor for output (oh, ow); false when the
// clipped window is empty (the output is then 0).
struct AvgWindow {
  int64_t h0, h1, w0, w1;
  double div;
};

inline bool avg_window(const Pool2dShape& s, bool include_pad, int64_t divisor_override,
                       int64_t oh, int64_t ow, AvgWindow& a) {
  int64_t h0 = oh * s.sh - s.ph, w0 = ow * s.sw - s.pw;
  int64_t h1 = std::min(h0 + s.kh, s.H + s.ph), w1 = std::min(w0 + s.kw, s.W + s.pw);
  const int64_t pool_size = (h1 - h0) * (w1 - w0);
  h0 = std::max<int64_t>(h0, 0);
  w0 = std::max<int64_t>(w0, 0);
  h1 = std::min(h1, s.H);
  w1 = std::min(w1, s.W);
  if (h0 >= h1 || w0 >= w1) return false;
  a = {h0, h1, w0, w1, 0.0};
  if (divisor_override > 0) a.div = double(divisor_override);
  else if (include_pad) a.div = double(pool_size);
  else a.div = double((h1 - h0) * (w1 - w0));
  return true;
}

}  // namespace

template <typename T>
void avg_pool2d_forward(const Pool2dShape& s, bool count_include_pad, int64_t divisor_override,
                        const T* x, T* y) {
  const int64_t in_plane = s.H * s.W, out_plane = s.OH * s.OW;
  const int nt = plane_threads(s, double(out_plane) * s.kh * s.kw);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t p = 0; p < s.planes; ++p) {
    const T* xp = x + p * in_plane;
    T* yp = y + p * out_plane;
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        AvgWindow a;
        if (!avg_window(s, count_include_pad, divisor_override, oh, ow, a)) {
          yp[oh * s.OW + ow] = T(0);
          continue;
        }
        T sum = 0;
        for (int64_t ih = a.h0; ih < a.h1; ++ih)
          for (int64_t iw = a.w0; iw < a.w1; ++iw) sum += xp[ih * s.W + iw];
        yp[oh * s.OW + ow] = sum / static_cast<T>(a.div);
      }
    }
  }
}

template <typename T>
void avg_pool2d_backward(const Pool2dShape& s, bool count_include_pad, int64_t divisor_override,
                         const T* dy, T* dx) {
  const int64_t in_plane = s.H * s.W, out_plane = s.OH * s.OW;
  const int nt = plane_threads(s, in_plane + double(out_plane) * s.kh * s.kw);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t p = 0; p < s.planes; ++p) {
    T* dp = dx + p * in_plane;
    std::memset(dp, 0, sizeof(T) * static_cast<size_t>(in_plane));
    const T* gp = dy + p * out_plane;
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        AvgWindow a;
        if (!avg_window(s, count_include_pad, divisor_override, oh, ow, a)) continue;
        const T g = gp[oh * s.OW + ow] / static_cast<T>(a.div);
        for (int64_t ih = a.h0; ih < a.h1; ++ih)
          for (int64_t iw = a.w0; iw < a.w1; ++iw) dp[ih * s.W + iw] += g;
      }
    }
  }
}

namespace {
inline int64_t adaptive_start(int64_t o, int64_t in, int64_t out) { return (o * in) / out; }
inline int64_t adaptive_end(int64_t o, int64_t in, int64_t out) {
  return ((o + 1) * in + out - 1) / out;
}
}  // namespace

template <typename T>
void adaptive_avg_pool2d_forward(int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                 const T* x, T* y) {
  const int nt = threads_for(planes * H * W, int64_t(1) << 15);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t p = 0; p < planes; ++p) {
    const T* xp = x + p * H * W;
    T* yp = y + p * OH * OW;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const int64_t h0 = adaptive_start(oh, H, OH), h1 = adaptive_end(oh, H, OH);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t w0 = adaptive_start(ow, W, OW), w1 = adaptive_end(ow, W, OW);
        T sum = 0;
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) sum += xp[ih * W + iw];
        yp[oh * OW + ow] = sum / static_cast<T>((h1 - h0) * (w1 - w0));
      }
    }
  }
}

template <typename T>
void adaptive_avg_pool2d_backward(int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                  const T* dy, T* dx) {
  const int nt = threads_for(planes * H * W, int64_t(1) << 15);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t p = 0; p < planes; ++p) {
    T* dp = dx + p * H * W;
    std::memset(dp, 0, sizeof(T) * static_cast<size_t>(H * W));
    const T* gp = dy + p * OH * OW;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const int64_t h0 = adaptive_start(oh, H, OH), h1 = adaptive_end(oh, H, OH);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t w0 = adaptive_start(ow, W, OW), w1 = adaptive_end(ow, W, OW);
        const T g = gp[oh * OW + ow] / static_cast<T>((h1 - h0) * (w1 - w0));
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) dp[ih * W + iw] += g;
      }
    }
  }
}

#define LG_POOL_INSTANTIATE(T)                                                                \
  template void max_pool2d_forward<T>(const Pool2dShape&, const T*, T*, int64_t*);             \
  template void max_pool2d_backward<T>(const Pool2dShape&, const T*, const int64_t*, T*);      \
  template void avg_pool2d_forward<T>(const Pool2dShape&, bool, int64_t, const T*, T*);        \
  template void avg_pool2d_backward<T>(const Pool2dShape&, bool, int64_t, const T*, T*);       \
  template void adaptive_avg_pool2d_forward<T>(int64_t, int64_t, int64_t, int64_t, int64_t,    \
                                               const T*, T*);                                  \
  template void adaptive_avg_pool2d_backward<T>(int64_t, int64_t, int64_t, int64_t, int64_t,   \
                                                const T*, T*);
LG_POOL_INSTANTIATE(float)
LG_POOL_INSTANTIATE(double)
#undef LG_POOL_INSTANTIATE

}  // namespace cpu
}  // namespace lg
