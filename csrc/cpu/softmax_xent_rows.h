// Row kernels of softmax_xent.cpp. Included twice by it, in two namespaces:
// once plain (any x86-64) and once under `#pragma GCC target("avx2,fma")`
// (called after a run-time CPU check), so the same loops vectorise to SSE2
// or AVX2 without a separate ISA-flagged file. Every function handles rows
// [r0, r1) of a row-major (rows, C) array; no OpenMP here (the caller splits
// the rows), only `omp simd` reductions.
// Not a standalone header: it relies on softmax_xent.cpp's includes.

// exp(x) for x <= 0, the only arguments softmax needs (x - max, x - lse),
// on common/fast_exp.h's polynomial: inputs below -87.3 give 0, NaN stays
// NaN. Doubles use std::exp.
inline float exp_nonpos(float x) {
  const float lo = -87.3365447504f;
  float xc = x >= lo ? x : lo;  // NaN clamps to lo (its result is replaced below)
  xc = xc > 0.0f ? 0.0f : xc;
  float e = lg::exp_cephes(xc);
  e = x < lo ? 0.0f : e;
  return x != x ? x : e;
}
inline double exp_nonpos(double x) { return std::exp(x); }

template <typename T>
inline T row_max(const T* x, int64_t C) {
  T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t c = 0; c < C; ++c) m = x[c] > m ? x[c] : m;
  return m;
}

// m = max(x), returns log(sum(exp(x - m))): log-sum-exp = m + result, kept
// apart so that x - lse = (x - m) - result loses nothing to the rounding of
// a large lse. An all -inf row gives NaN (as torch).
template <typename T>
inline T row_log_sum(const T* x, int64_t C, T& m) {
  m = row_max(x, C);
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t c = 0; c < C; ++c) s += exp_nonpos(x[c] - m);
  return std::log(s);
}

template <typename T>
void softmax_rows(int64_t r0, int64_t r1, int64_t C, const T* x, T* y) {
  for (int64_t i = r0; i < r1; ++i) {
    const T* xr = x + i * C;
    T* yr = y + i * C;
    const T m = row_max(xr, C);
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < C; ++c) {
      yr[c] = exp_nonpos(xr[c] - m);
      s += yr[c];
    }
    const T inv = T(1) / s;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) yr[c] *= inv;
  }
}

template <typename T>
void log_softmax_rows(int64_t r0, int64_t r1, int64_t C, const T* x, T* y) {
  for (int64_t i = r0; i < r1; ++i) {
    const T* xr = x + i * C;
    T* yr = y + i * C;
    T m;
    const T ls = row_log_sum(xr, C, m);
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) yr[c] = (xr[c] - m) - ls;
  }
}

template <typename T>
void softmax_backward_rows(int64_t r0, int64_t r1, int64_t C, const T* y, const T* dy, T* dx) {
  for (int64_t i = r0; i < r1; ++i) {
    const T *yr = y + i * C, *gr = dy + i * C;
    T* dr = dx + i * C;
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < C; ++c) s += gr[c] * yr[c];
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) dr[c] = yr[c] * (gr[c] - s);
  }
}

template <typename T>
void log_softmax_backward_rows(int64_t r0, int64_t r1, int64_t C, const T* y, const T* dy,
                               T* dx) {
  for (int64_t i = r0; i < r1; ++i) {
    const T *yr = y + i * C, *gr = dy + i * C;
    T* dr = dx + i * C;
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < C; ++c) s += gr[c];
    // std::exp, not exp_nonpos: y is the caller's array and need not be <= 0.
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) dr[c] = gr[c] - std::exp(yr[c]) * s;
  }
}

// row_loss[i] (before reduction) for rows [r0, r1); log p_c = (x_c - m) - lsum.
template <typename T>
void xent_forward_rows(const XentArgs& a, int64_t r0, int64_t r1, const T* x, double* row_loss) {
  const int64_t C = a.C;
  const T* w = static_cast<const T*>(a.weight);
  const T* tp = static_cast<const T*>(a.target_prob);
  const T ls = static_cast<T>(a.label_smoothing);
  for (int64_t i = r0; i < r1; ++i) {
    const T* xr = x + i * C;
    T m;
    const T lsum = row_log_sum(xr, C, m);
    if (a.target) {
      const int64_t y = a.target[i];
      if (y == a.ignore_index) {
        row_loss[i] = 0;
        continue;
      }
      const T wy = w ? w[y] : T(1);
      T loss = wy * ((m - xr[y]) + lsum);
      if (a.label_smoothing > 0) {
        // torch: -(log_softmax * weight).sum(), mixed in with ls / C.
        T s = 0;
        if (w) {
#pragma omp simd reduction(+ : s)
          for (int64_t c = 0; c < C; ++c) s += ((xr[c] - m) - lsum) * w[c];
        } else {
#pragma omp simd reduction(+ : s)
          for (int64_t c = 0; c < C; ++c) s += (xr[c] - m) - lsum;
        }
        loss = (T(1) - ls) * loss + (-s) * (ls / T(C));
      }
      row_loss[i] = loss;
    } else {
      const T* tr = tp + i * C;
      const T keep = T(1) - ls, spread = ls / T(C);
      const bool smooth = a.label_smoothing > 0;
      T s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t c = 0; c < C; ++c) {
        const T t = smooth ? tr[c] * keep + spread : tr[c];
        s += ((xr[c] - m) - lsum) * t * (w ? w[c] : T(1));
      }
      row_loss[i] = -s;
    }
  }
}

// dlogits rows [r0, r1): grad of row i's loss is g_i = grad[per_row ? i : 0] * scale.
// p is recomputed as exp(x - m) / sum (written into the output row, then
// scaled), not as exp(x - lse): a stored float lse of a row with logits near
// 1e4 is off by 1e-3, which exp would turn into a 1e-3 relative error.
template <typename T>
void xent_backward_rows(const XentArgs& a, int64_t r0, int64_t r1, const T* x, const T* grad,
                        bool per_row, T scale, T w_total, T* dx) {
  const int64_t C = a.C;
  const T* w = static_cast<const T*>(a.weight);
  const T* tp = static_cast<const T*>(a.target_prob);
  const T ls = static_cast<T>(a.label_smoothing);
  const T spread = ls / T(C);
  for (int64_t i = r0; i < r1; ++i) {
    const T* xr = x + i * C;
    T* dr = dx + i * C;
    const T g = (per_row ? grad[i] : grad[0]) * scale;
    if (a.target && a.target[i] == a.ignore_index) {
      std::memset(dr, 0, sizeof(T) * static_cast<size_t>(C));
      continue;
    }
    const T m = row_max(xr, C);
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < C; ++c) {
      dr[c] = exp_nonpos(xr[c] - m);
      sum += dr[c];
    }
    const T inv = T(1) / sum;
    if (a.target) {
      // d/dx_j of (1-ls) w_y (l - x_y) + ls/C sum_c w_c (l - x_c)
      //   = [(1-ls) w_y + ls/C W] p_j - (1-ls) w_y [j == y] - ls/C w_j
      const int64_t y = a.target[i];
      const T wy = w ? w[y] : T(1);
      const T coef = g * ((T(1) - ls) * wy + spread * w_total);
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) dr[c] *= coef * inv;
      if (a.label_smoothing > 0) {
        const T gs = g * spread;
        if (w) {
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) dr[c] -= gs * w[c];
        } else {
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) dr[c] -= gs;
        }
      }
      dr[y] -= g * (T(1) - ls) * wy;
    } else {
      // loss = -sum_c a_c (x_c - l) with a_c = t'_c w_c: grad = (sum a) p_j - a_j.
      const T* tr = tp + i * C;
      const T keep = T(1) - ls;
      const bool smooth = a.label_smoothing > 0;
      T sa = 0;
#pragma omp simd reduction(+ : sa)
      for (int64_t c = 0; c < C; ++c)
        sa += (smooth ? tr[c] * keep + spread : tr[c]) * (w ? w[c] : T(1));
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) {
        const T ac = (smooth ? tr[c] * keep + spread : tr[c]) * (w ? w[c] : T(1));
        dr[c] = g * (sa * (dr[c] * inv) - ac);
      }
    }
  }
}
