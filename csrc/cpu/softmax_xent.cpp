// Softmax, log-softmax and fused softmax cross-entropy, forward and backward.
//
// Layout: row-major (rows, C), one row per sample; the class dimension is
// contiguous. Algorithm: two passes over a row that stays in L1/L2 (max,
// then sum of exp(x - max)); the cross-entropy forward keeps only each
// row's loss, never the probabilities, and its backward recomputes
// p = exp(x - max) / sum straight into dlogits -- one read of the logits per
// pass and one write in the backward, against torch's log_softmax +
// nll_loss + their two backwards. exp is a branch-free polynomial that vectorises
// (common/fast_exp.h), the rows compiled for SSE2 and, behind a CPU check at
// first use, AVX2+FMA or AVX-512.
// Threads: rows are split over threads in contiguous blocks; reductions
// over rows (mean/sum) add the per-row losses in row order in double, so the
// result does not depend on the thread count.
// Limits: C must fit a row in memory (no split of a row across threads).
#include "cpu/softmax_xent.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "common/check.h"
#include "common/cpu_features.h"
#include "common/fast_exp.h"
#include "common/parallel.h"

namespace lg {
namespace cpu {
namespace rows_generic {
#include "cpu/softmax_xent_rows.h"
}  // namespace rows_generic

#if defined(LG_X86) && defined(__GNUC__)
#define LG_XENT_HAVE_AVX2 1
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace rows_avx2 {
#include "cpu/softmax_xent_rows.h"
}  // namespace rows_avx2
#pragma GCC pop_options
// AVX-512 rows: the same loops on 16-float zmm vectors. Picked at load time
// when the CPU has AVX-512F/DQ; not measured (no AVX-512 machine here).
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx2,fma,prefer-vector-width=512")
namespace rows_avx512 {
#include "cpu/softmax_xent_rows.h"
}  // namespace rows_avx512
#pragma GCC pop_options
#endif

namespace {

template <typename T>
struct RowFns {
  void (*softmax)(int64_t, int64_t, int64_t, const T*, T*);
  void (*log_softmax)(int64_t, int64_t, int64_t, const T*, T*);
  void (*softmax_backward)(int64_t, int64_t, int64_t, const T*, const T*, T*);
  void (*log_softmax_backward)(int64_t, int64_t, int64_t, const T*, const T*, T*);
  void (*xent_forward)(const XentArgs&, int64_t, int64_t, const T*, double*);
  void (*xent_backward)(const XentArgs&, int64_t, int64_t, const T*, const T*, bool, T, T, T*);
};

#define LG_ROW_FNS(ns, T)                                                                 \
  RowFns<T> {                                                                             \
    &ns::softmax_rows<T>, &ns::log_softmax_rows<T>, &ns::softmax_backward_rows<T>,        \
        &ns::log_softmax_backward_rows<T>, &ns::xent_forward_rows<T>,                     \
        &ns::xent_backward_rows<T>                                                        \
  }

template <typename T>
RowFns<T> pick_row_fns() {
#ifdef LG_XENT_HAVE_AVX2
  const CpuFeatures& f = cpu_features();
  if (f.avx512f && f.avx512dq && f.avx2 && f.fma) return LG_ROW_FNS(rows_avx512, T);
  if (f.avx2 && f.fma) return LG_ROW_FNS(rows_avx2, T);
#endif
  return LG_ROW_FNS(rows_generic, T);
}

template <typename T>
const RowFns<T>& row_fns() {
  static const RowFns<T> fns = pick_row_fns<T>();  // read-only after first use
  return fns;
}

// Calls f(r0, r1) over contiguous row blocks, on as many threads as the
// work (rows * C elements) is worth.
template <typename F>
void for_row_blocks(int64_t rows, int64_t C, F f) {
  if (rows <= 0) return;
  const int nt = std::min<int64_t>(rows, threads_for(rows * std::max<int64_t>(C, 1),
                                                     int64_t(1) << 15));
  if (nt <= 1) {
    f(int64_t(0), rows);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
#ifdef _OPENMP
    const int64_t t = omp_get_thread_num(), n = omp_get_num_threads();
#else
    const int64_t t = 0, n = 1;
#endif
    const int64_t r0 = rows * t / n, r1 = rows * (t + 1) / n;
    if (r0 < r1) f(r0, r1);
  }
}

}  // namespace

template <typename T>
void softmax_forward(int64_t rows, int64_t C, const T* x, T* y) {
  if (C == 0) return;
  auto fn = row_fns<T>().softmax;
  for_row_blocks(rows, C, [&](int64_t r0, int64_t r1) { fn(r0, r1, C, x, y); });
}

template <typename T>
void log_softmax_forward(int64_t rows, int64_t C, const T* x, T* y) {
  if (C == 0) return;
  auto fn = row_fns<T>().log_softmax;
  for_row_blocks(rows, C, [&](int64_t r0, int64_t r1) { fn(r0, r1, C, x, y); });
}

template <typename T>
void softmax_backward(int64_t rows, int64_t C, const T* y, const T* dy, T* dx) {
  if (C == 0) return;
  auto fn = row_fns<T>().softmax_backward;
  for_row_blocks(rows, C, [&](int64_t r0, int64_t r1) { fn(r0, r1, C, y, dy, dx); });
}

template <typename T>
void log_softmax_backward(int64_t rows, int64_t C, const T* y, const T* dy, T* dx) {
  if (C == 0) return;
  auto fn = row_fns<T>().log_softmax_backward;
  for_row_blocks(rows, C, [&](int64_t r0, int64_t r1) { fn(r0, r1, C, y, dy, dx); });
}

void xent_check(const XentArgs& a) {
  LG_CHECK(a.N >= 0 && a.C >= 0, "softmax_cross_entropy: sizes must be non-negative");
  LG_CHECK((a.target != nullptr) != (a.target_prob != nullptr),
           "softmax_cross_entropy: give exactly one of class-index or probability targets");
  LG_CHECK(a.label_smoothing >= 0.0 && a.label_smoothing <= 1.0,
           "softmax_cross_entropy: label_smoothing must be in [0, 1], got ", a.label_smoothing);
  if (a.target) {
    for (int64_t i = 0; i < a.N; ++i) {
      const int64_t y = a.target[i];
      LG_CHECK((y >= 0 && y < a.C) || y == a.ignore_index, "softmax_cross_entropy: target[", i,
               "] = ", y, " is out of range for ", a.C, " classes (and is not ignore_index = ",
               a.ignore_index, ")");
    }
  }
}

namespace {
// Summed weight of the non-ignored targets: the divisor of a weighted mean.
template <typename T>
double index_weight_total(const XentArgs& a) {
  const T* w = static_cast<const T*>(a.weight);
  double total = 0;
  for (int64_t i = 0; i < a.N; ++i) {
    const int64_t y = a.target[i];
    if (y != a.ignore_index) total += w ? double(w[y]) : 1.0;
  }
  return total;
}
}  // namespace

template <typename T>
void softmax_xent_forward(const XentArgs& a, const T* logits, T* loss) {
  xent_check(a);
  if (a.reduction != Reduction::none) loss[0] = T(0);
  if (a.N == 0 || a.C == 0) {
    if (a.reduction == Reduction::mean) loss[0] = std::numeric_limits<T>::quiet_NaN();
    // No classes (index targets were all refused by xent_check unless
    // ignored): every row's loss is an empty sum.
    if (a.reduction == Reduction::none)
      for (int64_t i = 0; i < a.N; ++i) loss[i] = T(0);
    return;
  }
  std::unique_ptr<double[]> row_loss(new double[static_cast<size_t>(a.N)]);
  auto fn = row_fns<T>().xent_forward;
  double* rl = row_loss.get();
  for_row_blocks(a.N, a.C, [&](int64_t r0, int64_t r1) { fn(a, r0, r1, logits, rl); });
  if (a.reduction == Reduction::none) {
    for (int64_t i = 0; i < a.N; ++i) loss[i] = static_cast<T>(rl[i]);
    return;
  }
  double total = 0;
  for (int64_t i = 0; i < a.N; ++i) total += rl[i];
  if (a.reduction == Reduction::mean)
    total /= a.target ? index_weight_total<T>(a) : static_cast<double>(a.N);
  loss[0] = static_cast<T>(total);
}

template <typename T>
void softmax_xent_backward(const XentArgs& a, const T* logits, const T* grad_loss, T* dlogits) {
  xent_check(a);
  if (a.N == 0 || a.C == 0) return;
  T scale = 1;
  if (a.reduction == Reduction::mean)
    scale = static_cast<T>(1.0 / (a.target ? index_weight_total<T>(a) : double(a.N)));
  const T* w = static_cast<const T*>(a.weight);
  double w_total = double(a.C);
  if (w) {
    w_total = 0;
    for (int64_t c = 0; c < a.C; ++c) w_total += double(w[c]);
  }
  const bool per_row = a.reduction == Reduction::none;
  auto fn = row_fns<T>().xent_backward;
  const T wt = static_cast<T>(w_total);
  for_row_blocks(a.N, a.C, [&](int64_t r0, int64_t r1) {
    fn(a, r0, r1, logits, grad_loss, per_row, scale, wt, dlogits);
  });
}

#define LG_XENT_INSTANTIATE(T)                                                                \
  template void softmax_forward<T>(int64_t, int64_t, const T*, T*);                            \
  template void log_softmax_forward<T>(int64_t, int64_t, const T*, T*);                        \
  template void softmax_backward<T>(int64_t, int64_t, const T*, const T*, T*);                 \
  template void log_softmax_backward<T>(int64_t, int64_t, const T*, const T*, T*);             \
  template void softmax_xent_forward<T>(const XentArgs&, const T*, T*);                        \
  template void softmax_xent_backward<T>(const XentArgs&, const T*, const T*, T*);
LG_XENT_INSTANTIATE(float)
LG_XENT_INSTANTIATE(double)
#undef LG_XENT_INSTANTIATE

}  // namespace cpu
}  // namespace lg
