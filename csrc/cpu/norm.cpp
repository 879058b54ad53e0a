// LayerNorm, GroupNorm and training-mode BatchNorm, forward and backward, fused (PyTorch's
// semantics: biased variance, rstd = 1/sqrt(var + eps), optional per-element / per-channel
// affine).
//
// Layout: LayerNorm sees x as (M, N) row-major (N = the normalised size); GroupNorm sees x as
// (N, C, HW) and normalises rows of D = C/G * HW contiguous values, one per (n, g); BatchNorm
// sees x as (N, C, HW) and normalises each channel over its N planes of HW values.
// Algorithm: one pass per row for the statistics (sums of x - x[0] and its square, in double:
// the shift keeps E[x^2] - E[x]^2 free of cancellation when |mean| >> std), one pass for the
// output (LayerNorm: (x - mean) * rstd [* w + b]; GroupNorm: x * a + c with a, c per channel).
// Only mean and rstd are saved; backward recomputes x-hat from them:
//   LayerNorm: row sums of g = dy*w and g*x-hat (double), then dx = rstd*(g - mean(g) -
//     x-hat*mean(g*x-hat)) in a second pass that also accumulates dw, db into per-thread
//     double buffers (summed after the parallel region: results do not depend on timing).
//   GroupNorm: per (n, c) plane the sums of dy and dy*x (pass 1, planes over threads); dw, db
//     and the per-group coefficients follow from those in O(N*C); pass 2 writes
//     dx = k1*dy + k2*x + k3 (k1 per channel, k2, k3 per group).
//   BatchNorm: forward takes per (n, c) plane the sums of x - x[0, c, 0] and its square (pass 1,
//     planes over threads), combines them per channel in O(N*C) in a fixed order, and writes
//     y = x * a_c + b_c (pass 2); backward takes the plane sums of dy and dy*x (GroupNorm's
//     pass 1), dw = rstd*(sum dy*x - mean*sum dy), db = sum dy, and writes
//     dx = k1_c*dy + k2_c*x + k3_c. Two reads of x forward, two of (dy, x) backward; no
//     temporaries of x's size, and the results do not depend on the thread count.
// Rows (LayerNorm) and groups / planes (GroupNorm) are split over the threads (threads_for
// keeps small problems on one thread). The row loops are `omp simd` and compiled twice
// (x86-64-v3 and generic, target_clones), so they vectorise to AVX2 where the CPU has it.
// Limits: sizes are int64; a row of length 0 gives mean = rstd = NaN (as torch).
#include "cpu/norm.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "common/parallel.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define LG_NORM_INLINE inline __attribute__((always_inline))
#if defined(LG_X86) && defined(__GNUC__) && !defined(__clang__)
#define LG_NORM_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define LG_NORM_CLONES
#endif

namespace lg {
namespace cpu {
namespace {

constexpr int64_t kMinWorkPerThread = 1 << 15;  // elements: below this one thread is faster

int thread_index() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// [begin, end) of `n` items for thread t of nt (static split).
LG_NORM_INLINE void split(int64_t n, int t, int nt, int64_t& begin, int64_t& end) {
  begin = n * t / nt;
  end = n * (t + 1) / nt;
}

struct Moments {
  double mean, rstd;
};

template <typename T>
LG_NORM_INLINE Moments row_moments(const T* x, int64_t n, double eps) {
  if (n == 0) return {std::numeric_limits<double>::quiet_NaN(),
                      std::numeric_limits<double>::quiet_NaN()};
  const double k = static_cast<double>(x[0]);
  double s1 = 0.0, s2 = 0.0;
#pragma omp simd reduction(+ : s1, s2)
  for (int64_t j = 0; j < n; ++j) {
    const double d = static_cast<double>(x[j]) - k;
    s1 += d;
    s2 += d * d;
  }
  const double m1 = s1 / static_cast<double>(n);
  const double var = std::max(s2 / static_cast<double>(n) - m1 * m1, 0.0);
  return {k + m1, 1.0 / std::sqrt(var + eps)};
}

// y = x * a + c over n values.
template <typename T>
LG_NORM_INLINE void scale_shift(const T* x, int64_t n, T a, T c, T* y) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) y[j] = x[j] * a + c;
}

// ---------------------------------------------------------------- LayerNorm rows
template <typename T>
LG_NORM_INLINE void ln_forward_rows(int64_t r0, int64_t r1, int64_t N, const T* x, const T* w,
                                    const T* b, double eps, T* y, T* mean, T* rstd) {
  for (int64_t r = r0; r < r1; ++r) {
    const T* xr = x + r * N;
    T* yr = y + r * N;
    const Moments mo = row_moments(xr, N, eps);
    mean[r] = static_cast<T>(mo.mean);
    rstd[r] = static_cast<T>(mo.rstd);
    const T m = static_cast<T>(mo.mean), s = static_cast<T>(mo.rstd);
    if (w && b) {
#pragma omp simd
      for (int64_t j = 0; j < N; ++j) yr[j] = (xr[j] - m) * s * w[j] + b[j];
    } else if (w) {
#pragma omp simd
      for (int64_t j = 0; j < N; ++j) yr[j] = (xr[j] - m) * s * w[j];
    } else if (b) {
#pragma omp simd
      for (int64_t j = 0; j < N; ++j) yr[j] = (xr[j] - m) * s + b[j];
    } else {
#pragma omp simd
      for (int64_t j = 0; j < N; ++j) yr[j] = (xr[j] - m) * s;
    }
  }
}

// dx for rows [r0, r1); dw/db partial sums (double, N each) added into pw / pb when non-null.
template <typename T>
LG_NORM_INLINE void ln_backward_rows(int64_t r0, int64_t r1, int64_t N, const T* dy, const T* x,
                                     const T* mean, const T* rstd, const T* w, T* dx, double* pw,
                                     double* pb) {
  const double inv_n = N ? 1.0 / static_cast<double>(N) : 0.0;
  for (int64_t r = r0; r < r1; ++r) {
    const T* xr = x + r * N;
    const T* gr = dy + r * N;
    const T m = mean[r], s = rstd[r];
    if (dx) {
      double sg = 0.0, sgx = 0.0;  // sums of g = dy*w and g*x-hat
#pragma omp simd reduction(+ : sg, sgx)
      for (int64_t j = 0; j < N; ++j) {
        const double g = w ? static_cast<double>(gr[j]) * w[j] : static_cast<double>(gr[j]);
        sg += g;
        sgx += g * static_cast<double>((xr[j] - m) * s);
      }
      const T a = static_cast<T>(sg * inv_n), c = static_cast<T>(sgx * inv_n);
      T* dr = dx + r * N;
      if (w) {
#pragma omp simd
        for (int64_t j = 0; j < N; ++j) dr[j] = s * (gr[j] * w[j] - a - (xr[j] - m) * s * c);
      } else {
#pragma omp simd
        for (int64_t j = 0; j < N; ++j) dr[j] = s * (gr[j] - a - (xr[j] - m) * s * c);
      }
    }
    if (pw) {
#pragma omp simd
      for (int64_t j = 0; j < N; ++j)
        pw[j] += static_cast<double>(gr[j]) * static_cast<double>((xr[j] - m) * s);
    }
    if (pb) {
#pragma omp simd
      for (int64_t j = 0; j < N; ++j) pb[j] += static_cast<double>(gr[j]);
    }
  }
}

// ---------------------------------------------------------------- GroupNorm pieces
// Forward of groups [q0, q1) (q = n*G + g).
template <typename T>
LG_NORM_INLINE void gn_forward_groups(int64_t q0, int64_t q1, int64_t C, int64_t HW, int64_t G,
                                      const T* x, const T* w, const T* b, double eps, T* y,
                                      T* mean, T* rstd) {
  const int64_t Cg = C / G, D = Cg * HW;
  for (int64_t q = q0; q < q1; ++q) {
    const Moments mo = row_moments(x + q * D, D, eps);
    mean[q] = static_cast<T>(mo.mean);
    rstd[q] = static_cast<T>(mo.rstd);
    const int64_t c0 = (q % G) * Cg;
    for (int64_t i = 0; i < Cg; ++i) {
      const double a = mo.rstd * (w ? static_cast<double>(w[c0 + i]) : 1.0);
      const double c = (b ? static_cast<double>(b[c0 + i]) : 0.0) - mo.mean * a;
      const int64_t off = q * D + i * HW;
      scale_shift(x + off, HW, static_cast<T>(a), static_cast<T>(c), y + off);
    }
  }
}

// Per-plane sums of dy and dy*x for planes [p0, p1) (p = n*C + c).
template <typename T>
LG_NORM_INLINE void gn_plane_sums(int64_t p0, int64_t p1, int64_t HW, const T* dy, const T* x,
                                  double* sdy, double* sdyx) {
  for (int64_t p = p0; p < p1; ++p) {
    const T* gp = dy + p * HW;
    const T* xp = x + p * HW;
    double s = 0.0, sx = 0.0;
#pragma omp simd reduction(+ : s, sx)
    for (int64_t j = 0; j < HW; ++j) {
      s += static_cast<double>(gp[j]);
      sx += static_cast<double>(gp[j]) * static_cast<double>(xp[j]);
    }
    sdy[p] = s;
    sdyx[p] = sx;
  }
}

// dx of groups [q0, q1) from the plane sums.
template <typename T>
LG_NORM_INLINE void gn_backward_groups(int64_t q0, int64_t q1, int64_t C, int64_t HW, int64_t G,
                                       const T* dy, const T* x, const T* mean, const T* rstd,
                                       const T* w, const double* sdy, const double* sdyx,
                                       T* dx) {
  const int64_t Cg = C / G, D = Cg * HW;
  const double inv_d = D ? 1.0 / static_cast<double>(D) : 0.0;
  for (int64_t q = q0; q < q1; ++q) {
    const int64_t n = q / G, c0 = (q % G) * Cg;
    const double m = mean[q], s = rstd[q];
    double sg = 0.0, sgx = 0.0;  // sums over the group of g = w*dy and g*x-hat
    for (int64_t i = 0; i < Cg; ++i) {
      const int64_t p = n * C + c0 + i;
      const double wc = w ? static_cast<double>(w[c0 + i]) : 1.0;
      sg += wc * sdy[p];
      sgx += wc * s * (sdyx[p] - m * sdy[p]);
    }
    const double A = sg * inv_d, B = sgx * inv_d;
    const T k2 = static_cast<T>(-s * s * B), k3 = static_cast<T>(s * s * B * m - s * A);
    for (int64_t i = 0; i < Cg; ++i) {
      const T k1 = static_cast<T>(s * (w ? static_cast<double>(w[c0 + i]) : 1.0));
      const int64_t off = q * D + i * HW;
      const T* gp = dy + off;
      const T* xp = x + off;
      T* dp = dx + off;
#pragma omp simd
      for (int64_t j = 0; j < HW; ++j) dp[j] = k1 * gp[j] + k2 * xp[j] + k3;
    }
  }
}

// ---------------------------------------------------------------- BatchNorm pieces
// Per-plane sums of x - shift[c] and its square for planes [p0, p1) (p = n*C + c).
template <typename T>
LG_NORM_INLINE void bn_plane_moments(int64_t p0, int64_t p1, int64_t C, int64_t HW, const T* x,
                                     const double* shift, double* s1, double* s2) {
  for (int64_t p = p0; p < p1; ++p) {
    const T* xp = x + p * HW;
    const double k = shift[p % C];
    double a = 0.0, b = 0.0;
#pragma omp simd reduction(+ : a, b)
    for (int64_t j = 0; j < HW; ++j) {
      const double d = static_cast<double>(xp[j]) - k;
      a += d;
      b += d * d;
    }
    s1[p] = a;
    s2[p] = b;
  }
}

// out = x * k1[c] + k3[c] (+ k2[c] * dy when dy is non-null) for planes [p0, p1).
template <typename T>
LG_NORM_INLINE void bn_plane_affine(int64_t p0, int64_t p1, int64_t C, int64_t HW, const T* x,
                                    const T* dy, const T* k1, const T* k2, const T* k3, T* out) {
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t c = p % C, off = p * HW;
    const T a = k1[c], b = k3[c];
    const T* xp = x + off;
    T* op = out + off;
    if (dy) {
      const T g = k2[c];
      const T* gp = dy + off;
#pragma omp simd
      for (int64_t j = 0; j < HW; ++j) op[j] = g * gp[j] + a * xp[j] + b;
    } else {
#pragma omp simd
      for (int64_t j = 0; j < HW; ++j) op[j] = xp[j] * a + b;
    }
  }
}

// ---------------------------------------------------------------- per-dtype clones
// Non-template entry points so the loops can carry target_clones.
#define LG_NORM_DTYPE(T, SUF)                                                                   \
  LG_NORM_CLONES void ln_fwd_##SUF(int64_t r0, int64_t r1, int64_t N, const T* x, const T* w,  \
                                   const T* b, double eps, T* y, T* mean, T* rstd) {           \
    ln_forward_rows(r0, r1, N, x, w, b, eps, y, mean, rstd);                                    \
  }                                                                                             \
  LG_NORM_CLONES void ln_bwd_##SUF(int64_t r0, int64_t r1, int64_t N, const T* dy, const T* x, \
                                   const T* mean, const T* rstd, const T* w, T* dx,            \
                                   double* pw, double* pb) {                                    \
    ln_backward_rows(r0, r1, N, dy, x, mean, rstd, w, dx, pw, pb);                              \
  }                                                                                             \
  LG_NORM_CLONES void gn_fwd_##SUF(int64_t q0, int64_t q1, int64_t C, int64_t HW, int64_t G,   \
                                   const T* x, const T* w, const T* b, double eps, T* y,       \
                                   T* mean, T* rstd) {                                          \
    gn_forward_groups(q0, q1, C, HW, G, x, w, b, eps, y, mean, rstd);                           \
  }                                                                                             \
  LG_NORM_CLONES void gn_sums_##SUF(int64_t p0, int64_t p1, int64_t HW, const T* dy,           \
                                    const T* x, double* sdy, double* sdyx) {                    \
    gn_plane_sums(p0, p1, HW, dy, x, sdy, sdyx);                                                \
  }                                                                                             \
  LG_NORM_CLONES void gn_bwd_##SUF(int64_t q0, int64_t q1, int64_t C, int64_t HW, int64_t G,   \
                                   const T* dy, const T* x, const T* mean, const T* rstd,      \
                                   const T* w, const double* sdy, const double* sdyx, T* dx) {  \
    gn_backward_groups(q0, q1, C, HW, G, dy, x, mean, rstd, w, sdy, sdyx, dx);                  \
  }                                                                                             \
  LG_NORM_CLONES void bn_moments_##SUF(int64_t p0, int64_t p1, int64_t C, int64_t HW,          \
                                       const T* x, const double* shift, double* s1,            \
                                       double* s2) {                                            \
    bn_plane_moments(p0, p1, C, HW, x, shift, s1, s2);                                          \
  }                                                                                             \
  LG_NORM_CLONES void bn_affine_##SUF(int64_t p0, int64_t p1, int64_t C, int64_t HW,           \
                                      const T* x, const T* dy, const T* k1, const T* k2,       \
                                      const T* k3, T* out) {                                    \
    bn_plane_affine(p0, p1, C, HW, x, dy, k1, k2, k3, out);                                     \
  }

LG_NORM_DTYPE(float, f32)
LG_NORM_DTYPE(double, f64)
#undef LG_NORM_DTYPE

// The clone for T: fn_f32 or fn_f64.
#define LG_NORM_CALL(T, fn, ...)                        \
  do {                                                  \
    if constexpr (std::is_same<T, float>::value)        \
      fn##_f32(__VA_ARGS__);                            \
    else                                                \
      fn##_f64(__VA_ARGS__);                            \
  } while (0)

}  // namespace

// ---------------------------------------------------------------- entry points
template <typename T>
void layer_norm_forward(int64_t M, int64_t N, const T* x, const T* weight, const T* bias,
                        double eps, T* y, T* mean, T* rstd) {
  if (M == 0) return;
  const int nt = std::max<int64_t>(1, std::min<int64_t>(threads_for(M * std::max<int64_t>(N, 1),
                                                                    kMinWorkPerThread), M));
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    int64_t r0, r1;
    split(M, thread_index(), nt, r0, r1);
    LG_NORM_CALL(T, ln_fwd, r0, r1, N, x, weight, bias, eps, y, mean, rstd);
  }
}

template <typename T>
void layer_norm_backward(int64_t M, int64_t N, const T* dy, const T* x, const T* mean,
                         const T* rstd, const T* weight, T* dx, T* dw, T* db) {
  const int nt = std::max<int64_t>(1, std::min<int64_t>(threads_for(M * std::max<int64_t>(N, 1),
                                                                    kMinWorkPerThread),
                                                        std::max<int64_t>(M, 1)));
  const int64_t width = (dw ? N : 0) + (db ? N : 0);
  std::vector<double> part(static_cast<size_t>(nt * width), 0.0);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int t = thread_index();
    int64_t r0, r1;
    split(M, t, nt, r0, r1);
    double* pw = dw ? part.data() + t * width : nullptr;
    double* pb = db ? part.data() + t * width + (dw ? N : 0) : nullptr;
    LG_NORM_CALL(T, ln_bwd, r0, r1, N, dy, x, mean, rstd, weight, dx, pw, pb);
  }
  for (int64_t j = 0; j < N; ++j) {
    double sw = 0.0, sb = 0.0;
    for (int t = 0; t < nt; ++t) {
      const double* p = part.data() + t * width;
      if (dw) sw += p[j];
      if (db) sb += p[(dw ? N : 0) + j];
    }
    if (dw) dw[j] = static_cast<T>(sw);
    if (db) db[j] = static_cast<T>(sb);
  }
}

template <typename T>
void group_norm_forward(int64_t N, int64_t C, int64_t HW, int64_t G, const T* x,
                        const T* weight, const T* bias, double eps, T* y, T* mean, T* rstd) {
  const int64_t groups = N * G;
  if (groups == 0) return;
  const int nt = std::max<int64_t>(
      1, std::min<int64_t>(threads_for(N * C * std::max<int64_t>(HW, 1), kMinWorkPerThread),
                           groups));
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    int64_t q0, q1;
    split(groups, thread_index(), nt, q0, q1);
    LG_NORM_CALL(T, gn_fwd, q0, q1, C, HW, G, x, weight, bias, eps, y, mean, rstd);
  }
}

template <typename T>
void group_norm_backward(int64_t N, int64_t C, int64_t HW, int64_t G, const T* dy, const T* x,
                         const T* mean, const T* rstd, const T* weight, T* dx, T* dw, T* db) {
  const int64_t planes = N * C, groups = N * G, Cg = G ? C / G : 0;
  std::vector<double> sdy(static_cast<size_t>(planes)), sdyx(static_cast<size_t>(planes));
  const int nt = std::max<int64_t>(
      1, std::min<int64_t>(threads_for(planes * std::max<int64_t>(HW, 1), kMinWorkPerThread),
                           std::max<int64_t>(planes, 1)));
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    int64_t p0, p1;
    split(planes, thread_index(), nt, p0, p1);
    LG_NORM_CALL(T, gn_sums, p0, p1, HW, dy, x, sdy.data(), sdyx.data());
  }
  for (int64_t c = 0; c < C && (dw || db); ++c) {
    double sw = 0.0, sb = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      const int64_t p = n * C + c, q = n * G + c / Cg;
      sw += (sdyx[p] - static_cast<double>(mean[q]) * sdy[p]) * static_cast<double>(rstd[q]);
      sb += sdy[p];
    }
    if (dw) dw[c] = static_cast<T>(sw);
    if (db) db[c] = static_cast<T>(sb);
  }
  if (!dx || groups == 0) return;
  const int ntg = std::max(1, std::min<int>(nt, static_cast<int>(std::min<int64_t>(groups, nt))));
#pragma omp parallel num_threads(ntg) if (ntg > 1)
  {
    int64_t q0, q1;
    split(groups, thread_index(), ntg, q0, q1);
    LG_NORM_CALL(T, gn_bwd, q0, q1, C, HW, G, dy, x, mean, rstd, weight, sdy.data(),
                 sdyx.data(), dx);
  }
}

namespace {

// Threads for a pass over `planes` planes of HW values.
int plane_threads(int64_t planes, int64_t HW) {
  return std::max<int64_t>(
      1, std::min<int64_t>(threads_for(planes * std::max<int64_t>(HW, 1), kMinWorkPerThread),
                           std::max<int64_t>(planes, 1)));
}

}  // namespace

template <typename T>
void batch_norm_forward(int64_t N, int64_t C, int64_t HW, const T* x, const T* weight,
                        const T* bias, double eps, T* y, T* mean, T* var, T* rstd) {
  const int64_t planes = N * C, count = N * HW;
  if (C == 0) return;
  std::vector<double> shift(static_cast<size_t>(C), 0.0);
  if (count > 0)
    for (int64_t c = 0; c < C; ++c) shift[c] = static_cast<double>(x[c * HW]);
  std::vector<double> s1(static_cast<size_t>(planes)), s2(static_cast<size_t>(planes));
  const int nt = plane_threads(planes, HW);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    int64_t p0, p1;
    split(planes, thread_index(), nt, p0, p1);
    LG_NORM_CALL(T, bn_moments, p0, p1, C, HW, x, shift.data(), s1.data(), s2.data());
  }
  std::vector<T> k1(static_cast<size_t>(C)), k3(static_cast<size_t>(C));
  const double inv = count ? 1.0 / static_cast<double>(count)
                           : std::numeric_limits<double>::quiet_NaN();
  for (int64_t c = 0; c < C; ++c) {
    double a = 0.0, b = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      a += s1[n * C + c];
      b += s2[n * C + c];
    }
    const double m1 = a * inv, v = std::max(b * inv - m1 * m1, 0.0);
    const double m = shift[c] + m1, r = 1.0 / std::sqrt(v + eps);
    mean[c] = static_cast<T>(m);
    var[c] = static_cast<T>(count ? v : std::numeric_limits<double>::quiet_NaN());
    rstd[c] = static_cast<T>(count ? r : std::numeric_limits<double>::quiet_NaN());
    const double sc = r * (weight ? static_cast<double>(weight[c]) : 1.0);
    k1[c] = static_cast<T>(sc);
    k3[c] = static_cast<T>((bias ? static_cast<double>(bias[c]) : 0.0) - m * sc);
  }
  if (count == 0) return;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    int64_t p0, p1;
    split(planes, thread_index(), nt, p0, p1);
    LG_NORM_CALL(T, bn_affine, p0, p1, C, HW, x, static_cast<const T*>(nullptr), k1.data(),
                 static_cast<const T*>(nullptr), k3.data(), y);
  }
}

template <typename T>
void batch_norm_backward(int64_t N, int64_t C, int64_t HW, const T* dy, const T* x,
                         const T* mean, const T* rstd, const T* weight, T* dx, T* dw, T* db) {
  const int64_t planes = N * C, count = N * HW;
  if (C == 0) return;
  std::vector<double> sdy(static_cast<size_t>(planes)), sdyx(static_cast<size_t>(planes));
  const int nt = plane_threads(planes, HW);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    int64_t p0, p1;
    split(planes, thread_index(), nt, p0, p1);
    LG_NORM_CALL(T, gn_sums, p0, p1, HW, dy, x, sdy.data(), sdyx.data());
  }
  std::vector<T> k1(static_cast<size_t>(C)), k2(static_cast<size_t>(C)),
      k3(static_cast<size_t>(C));
  const double inv = count ? 1.0 / static_cast<double>(count) : 0.0;
  for (int64_t c = 0; c < C; ++c) {
    double g = 0.0, gx = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      g += sdy[n * C + c];
      gx += sdyx[n * C + c];
    }
    const double m = mean[c], s = rstd[c];
    const double gxhat = s * (gx - m * g);  // sum of dy * x-hat
    if (dw) dw[c] = static_cast<T>(gxhat);
    if (db) db[c] = static_cast<T>(g);
    const double sw = s * (weight ? static_cast<double>(weight[c]) : 1.0);
    const double A = g * inv, B = gxhat * inv;
    // dx = sw * (dy - A - x-hat * B), x-hat = (x - m) * s
    k2[c] = static_cast<T>(sw);
    k1[c] = static_cast<T>(-sw * s * B);
    k3[c] = static_cast<T>(sw * (s * B * m - A));
  }
  if (!dx || count == 0) return;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    int64_t p0, p1;
    split(planes, thread_index(), nt, p0, p1);
    LG_NORM_CALL(T, bn_affine, p0, p1, C, HW, x, dy, k1.data(), k2.data(), k3.data(), dx);
  }
}

#define LG_NORM_INSTANTIATE(T)                                                                 \
  template void layer_norm_forward<T>(int64_t, int64_t, const T*, const T*, const T*, double, \
                                      T*, T*, T*);                                            \
  template void layer_norm_backward<T>(int64_t, int64_t, const T*, const T*, const T*,        \
                                       const T*, const T*, T*, T*, T*);                       \
  template void group_norm_forward<T>(int64_t, int64_t, int64_t, int64_t, const T*, const T*, \
                                      const T*, double, T*, T*, T*);                          \
  template void group_norm_backward<T>(int64_t, int64_t, int64_t, int64_t, const T*,         \
                                       const T*, const T*, const T*, const T*, T*, T*, T*);                                                                              \
  template void batch_norm_forward<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, \
                                      double, T*, T*, T*, T*);                                 \
  template void batch_norm_backward<T>(int64_t, int64_t, int64_t, const T*, const T*,         \
                                       const T*, const T*, const T*, T*, T*, T*);
LG_NORM_INSTANTIATE(float)
LG_NORM_INSTANTIATE(double)
#undef LG_NORM_INSTANTIATE
#undef LG_NORM_CALL

}  // namespace cpu
}  // namespace lg
