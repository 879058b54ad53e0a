// Shared by the recurrent kernels (lstm.cpp, gru.cpp); internal, not part of
// the kernel API. It holds:
//  - the float activations (common/fast_exp.h's polynomial, so loops vectorise) and the
//    double ones (std::exp / std::tanh, for gradcheck and reference work);
//  - UnitRecurrence, the per-step product h · Wᵀ (forward) or dgates · W
//    (backward) of a whole sequence, run inside ONE parallel region with the
//    hidden units split over the threads (see its comment), and the few-row
//    register kernel it uses for batches of <= 4 rows;
//  - small helpers (column sums, copy-or-zero, thread id).
// Everything is in an anonymous namespace: each kernel file compiles its own
// copy, including its own target_clones (AVX-512 / AVX2+FMA / generic) entry
// points; the AVX-512 clone is picked on AVX-512 CPUs, not measured here.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "common/check.h"
#include "common/parallel.h"
#include "cpu/gemm.h"
#include "cpu/gemm_internal.h"

// Every including file wants this: without it GCC keeps the clamps in
// exp_approx as branches (a compare may raise FE_INVALID) and the activation
// loops stay scalar; nothing here reads floating-point exception flags.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

// The helpers below must inline into the target_clones entry points, or
// the clones would just call the generic-ISA code.
#if defined(__GNUC__)
#define LG_RNN_INLINE inline __attribute__((always_inline))
#else
#define LG_RNN_INLINE inline
#endif

// After the pragma above, so the polynomial is compiled under it too.
#include "common/fast_exp.h"

namespace lg {
namespace cpu {
namespace {

// ------------------------------------------------------------------ activations
// Clamped so 2^n stays a normal float; NaN passes both compares unchanged.
LG_RNN_INLINE float exp_approx(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  return exp_cephes(x);
}

LG_RNN_INLINE float sigmoid_of(float x) { return 1.0f / (1.0f + exp_approx(-x)); }
// 1 - 2/(e^{2x}+1): saturates cleanly to ±1; absolute error ~1e-7 near 0.
LG_RNN_INLINE float tanh_of(float x) { return 1.0f - 2.0f / (exp_approx(2.0f * x) + 1.0f); }
LG_RNN_INLINE double sigmoid_of(double x) { return 1.0 / (1.0 + std::exp(-x)); }
LG_RNN_INLINE double tanh_of(double x) { return std::tanh(x); }

#if defined(LG_X86) && defined(__GNUC__) && !defined(__clang__)
#define LG_RNN_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LG_RNN_CLONES
#endif

// Few-row products for the recurrence: R <= 4 rows of the left operand
// times NP consecutive packed weight panels (the layout of UnitRecurrence
// below: kc-row blocks, each panel kcur x NR, k-major), accumulated over all
// of K in registers: y[r * kFewRowsLd + p * NR + c] = sum_k a(r, k) *
// panel_{p0 + p}(k, c). Every accumulator is its own FMA chain, and there
// are no horizontal sums. A batch of 1..4 rows runs only this; larger
// batches use it for a tail of 1..4 rows that would waste most of an
// MR-row microkernel tile.
constexpr int kFewRows = 4;
constexpr int kFewRowsLd = 128;  // >= the widest NP * NR (4 x 32)

// Where a(r, k) lives: the K block at k0 (kcur columns wide) starts at
// a + k0 * blk + kcur * off, and (r, k) is at r * rs + k * ks inside it.
// Plain rows of stride ld: {a, 1, 0, ld, 1}; MR-row packed panel ip of the
// GEMM's layout: {a, mps * MR, ip * MR, 1, MR}.
template <typename T>
struct RowsView {
  const T* a;
  int64_t blk, off, rs, ks;
};

// Panels per call that keep R x NP accumulators within 12 vector registers.
// (Every kernel set's NR is at least one 32-byte vector wide.)
constexpr int few_rows_max_panels(int nr, int elem_size, int rows) {
  const int np = 12 / (rows * (nr * elem_size / 32));
  return np < 1 ? 1 : np > 4 ? 4 : np;
}

template <typename T, int NR, int R, int NP>
LG_RNN_INLINE void few_rows_fixed(int64_t K, int64_t kc, int64_t P, int64_t p0,
                                   const T* bpack, RowsView<T> A, T* y) {
  // 32-byte vectors: one ymm register each in the AVX2 clone (wider generic
  // vectors made GCC spill every accumulator to the stack).
  typedef T V __attribute__((vector_size(32)));
  constexpr int L = 32 / sizeof(T), NV = NR / L;
  static_assert(NR % L == 0, "NR must be a multiple of the vector width");
  V acc[R][NP][NV];
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < NP; ++p)
      for (int v = 0; v < NV; ++v) acc[r][p][v] = V{};
  for (int64_t k0 = 0; k0 < K; k0 += kc) {
    const int64_t kcur = std::min(kc, K - k0);
    const T* base = bpack + (k0 * P + p0 * kcur) * NR;
    const T* ab = A.a + k0 * A.blk + kcur * A.off;
    for (int64_t k = 0; k < kcur; ++k) {
      T xv[R];
      for (int r = 0; r < R; ++r) xv[r] = ab[r * A.rs + k * A.ks];
      for (int p = 0; p < NP; ++p)
        for (int v = 0; v < NV; ++v) {
          V w;
          std::memcpy(&w, base + (p * kcur + k) * NR + v * L, sizeof w);
          for (int r = 0; r < R; ++r) acc[r][p][v] += xv[r] * w;
        }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < NP; ++p)
      for (int v = 0; v < NV; ++v)
        std::memcpy(y + r * kFewRowsLd + p * NR + v * L, &acc[r][p][v], sizeof(V));
}

template <typename T, int NR, int R>
LG_RNN_INLINE void few_rows_np(int np, int64_t K, int64_t kc, int64_t P, int64_t p0,
                                const T* bpack, RowsView<T> A, T* y) {
  constexpr int kMax = few_rows_max_panels(NR, sizeof(T), R);
  switch (np) {
    case 1: few_rows_fixed<T, NR, R, 1>(K, kc, P, p0, bpack, A, y); break;
    case 2: if constexpr (kMax >= 2) few_rows_fixed<T, NR, R, 2>(K, kc, P, p0, bpack, A, y); break;
    case 3: if constexpr (kMax >= 3) few_rows_fixed<T, NR, R, 3>(K, kc, P, p0, bpack, A, y); break;
    default: if constexpr (kMax >= 4) few_rows_fixed<T, NR, R, 4>(K, kc, P, p0, bpack, A, y); break;
  }
}

template <typename T, int NR>
LG_RNN_INLINE void few_rows_r(int rows, int np, int64_t K, int64_t kc, int64_t P, int64_t p0,
                               const T* bpack, RowsView<T> A, T* y) {
  switch (rows) {
    case 1: few_rows_np<T, NR, 1>(np, K, kc, P, p0, bpack, A, y); break;
    case 2: few_rows_np<T, NR, 2>(np, K, kc, P, p0, bpack, A, y); break;
    case 3: few_rows_np<T, NR, 3>(np, K, kc, P, p0, bpack, A, y); break;
    default: few_rows_np<T, NR, 4>(np, K, kc, P, p0, bpack, A, y); break;
  }
}

// nr is the GEMM kernel set's NR: 8, 16 or 32 floats, 4, 8 or 16 doubles;
// 1 <= rows <= kFewRows; 1 <= np <= few_rows_max_panels(nr, sizeof(T), rows).
template <typename T>
LG_RNN_INLINE void few_rows(int nr, int rows, int np, int64_t K, int64_t kc, int64_t P,
                             int64_t p0, const T* bpack, RowsView<T> A, T* y) {
  constexpr int L = 32 / sizeof(T);
  switch (nr / L) {
    case 1: few_rows_r<T, L>(rows, np, K, kc, P, p0, bpack, A, y); break;
    case 2: few_rows_r<T, 2 * L>(rows, np, K, kc, P, p0, bpack, A, y); break;
    default: few_rows_r<T, 4 * L>(rows, np, K, kc, P, p0, bpack, A, y); break;
  }
}

LG_RNN_CLONES void few_rows_f32(int nr, int rows, int np, int64_t K, int64_t kc, int64_t P,
                                 int64_t p0, const float* bpack, RowsView<float> A, float* y) {
  few_rows<float>(nr, rows, np, K, kc, P, p0, bpack, A, y);
}
LG_RNN_CLONES void few_rows_f64(int nr, int rows, int np, int64_t K, int64_t kc, int64_t P,
                                 int64_t p0, const double* bpack, RowsView<double> A, double* y) {
  few_rows<double>(nr, rows, np, K, kc, P, p0, bpack, A, y);
}

void few_rows_any(int nr, int rows, int np, int64_t K, int64_t kc, int64_t P, int64_t p0,
                  const float* bpack, RowsView<float> A, float* y) {
  few_rows_f32(nr, rows, np, K, kc, P, p0, bpack, A, y);
}
void few_rows_any(int nr, int rows, int np, int64_t K, int64_t kc, int64_t P, int64_t p0,
                  const double* bpack, RowsView<double> A, double* y) {
  few_rows_f64(nr, rows, np, K, kc, P, p0, bpack, A, y);
}

// db[j] = Σ_r dg[r, j] over `rows` rows of width W (= 4H).
template <typename T>
void column_sum(int64_t rows, int64_t W, const T* dg, T* db) {
  std::fill(db, db + W, T(0));
  if (rows == 0 || W == 0) return;
  const int nt = std::min<int64_t>(threads_for(rows * W, 1 << 16), (W + 15) / 16);
  const int64_t chunk = ((W + nt - 1) / nt + 15) / 16 * 16;
#pragma omp parallel for num_threads(std::max(nt, 1)) schedule(static)
  for (int64_t j0 = 0; j0 < W; j0 += chunk) {
    const int64_t j1 = std::min(W, j0 + chunk);
    T* out = db + j0;
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = dg + r * W + j0;
#pragma omp simd
      for (int64_t j = 0; j < j1 - j0; ++j) out[j] += row[j];
    }
  }
}

template <typename T>
void copy_or_zero(T* dst, const T* src, int64_t n) {
  if (src) std::copy(src, src + n, dst);
  else std::fill(dst, dst + n, T(0));
}

// ------------------------------------------------------------------ recurrence
// The per-step products of the recurrence, with the SAME weights at every
// step: forward gates_t += h_{t-1} · w_hhᵀ (K = H, the 4H gate columns in
// four groups i, f, g, o), backward dh_{t-1} = dgates_t · w_hh (K = 4H, the
// H unit columns in one group). The whole sequence runs in ONE parallel
// region (see lstm_sequence_forward/backward): thread θ owns a fixed range
// of hidden units, i.e. the same columns of every gate group, so it can run
// the pointwise pass of its units right after its own product, with no
// barrier in between, and it keeps its slice of the packed weights (packed
// once, by its owner, before the first step) hot in its own cache for all T
// steps. One barrier per step remains: the next product reads all of h_t
// (or dgates_t).
//
// Packed B (the weights): NR-wide column panels, unit block b (units
// b·NR .. b·NR+NR of every group, zero past H) of group q is panel
// p = b·groups + q, so a thread's panels are contiguous; K is cut into kc-row
// blocks (kc <= 256: a kc x NR micro-panel stays in L1); block k0 holds the P
// panels of kcur x NR at bpack + k0·P·NR + p·kcur·NR, element (k, c) at
// k·NR + c. Packed A (h_{t-1} or dgates_t, M x K): the GEMM's MR-row
// micro-panels in the same kc blocks; each thread packs the columns it has
// just produced into the buffer the next product reads (double-buffered, so
// a slow thread can still read step t while a fast one writes step t+1).
// Batches of up to kFewRows rows skip packing A: the few-row kernel reads h
// or dgates straight from the sequence buffers. Larger batches whose last
// MR-row panel would hold only 1..kFewRows rows run that tail with the
// few-row kernel too (reading the packed panel), not a mostly empty tile.
struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
template <typename T>
std::unique_ptr<T[], FreeDeleter> alloc_aligned(int64_t elems) {
  const size_t bytes = (static_cast<size_t>(std::max<int64_t>(elems, 1)) * sizeof(T) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  return std::unique_ptr<T[], FreeDeleter>(static_cast<T*>(p));
}

template <typename T>
class UnitRecurrence {
  static constexpr int kMaxTile = 12 * 32;  // the largest MR x NR of any kernel set

 public:
  // C (M x groups·H) = A (M x K) · B. B = Wᵀ (W stored groups·H x K) when
  // trans_w, else B = W (stored K x H, groups == 1).
  UnitRecurrence(int64_t M, int64_t H, int64_t K, int groups, bool trans_w, const T* W)
      : M_(M), H_(H), K_(K), groups_(groups), trans_w_(trans_w), W_(W),
        ks_(detail::active_kernel_set<T>()) {
    mr_ = ks_.mr;
    nr_ = ks_.nr;
    LG_CHECK(mr_ * nr_ <= kMaxTile, "UnitRecurrence: kernel tile ", mr_, "x", nr_, " too large");
    const int64_t blocks = (K + 255) / 256;
    kc_ = std::max<int64_t>(1, (K + blocks - 1) / blocks);
    ub_ = (H + nr_ - 1) / nr_;
    P_ = ub_ * groups;
    mps_ = (M + mr_ - 1) / mr_;
    nt_ = std::max(1, std::min<int>(threads_for(M * groups * H * K, int64_t(1) << 16),
                                    static_cast<int>(ub_)));
    bpack_ = alloc_aligned<T>(K * P_ * nr_);
    if (!few_rows()) {
      apack_[0] = alloc_aligned<T>(K * mps_ * mr_);
      apack_[1] = alloc_aligned<T>(K * mps_ * mr_);
    }
  }

  int threads() const { return nt_; }
  // Batches this small read A in place (no packed A; see multiply).
  bool few_rows() const { return M_ <= kFewRows; }

  // What thread tid owns: unit blocks [b0, b1), i.e. hidden units [u0, u1).
  struct Slice {
    int64_t b0, b1, u0, u1;
  };
  // Thread tid's slice, its weight panels packed (by the thread that reads them).
  Slice claim(int tid) {
    const int64_t b0 = ub_ * tid / nt_, b1 = ub_ * (tid + 1) / nt_;
    pack_b(b0, b1);
    return {b0, b1, std::min(H_, b0 * nr_), std::min(H_, b1 * nr_)};
  }
  T* apack(int64_t step) { return apack_[step & 1].get(); }

 private:
  // Packs the panels of unit blocks [b0, b1).
  void pack_b(int64_t b0, int64_t b1) {
    for (int64_t k0 = 0; k0 < K_; k0 += kc_) {
      const int64_t kcur = std::min(kc_, K_ - k0);
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t u = b * nr_, cols = std::min<int64_t>(nr_, H_ - u);
        for (int q = 0; q < groups_; ++q) {
          T* dst = bpack_.get() + k0 * P_ * nr_ + (b * groups_ + q) * kcur * nr_;
          if (trans_w_) {
            ks_.pack_trans(kcur, cols, nr_, W_ + (q * H_ + u) * K_ + k0, K_, dst);
            continue;
          }
          for (int64_t k = 0; k < kcur; ++k) {
            const T* src = W_ + (k0 + k) * H_ + u;
            for (int64_t c = 0; c < nr_; ++c) dst[k * nr_ + c] = c < cols ? src[c] : T(0);
          }
        }
      }
    }
  }

 public:
  // Packs columns [ka, kb) of A (M x K, row stride K) into dst.
  void pack_a(const T* A, int64_t ka, int64_t kb, T* dst) const {
    while (ka < kb) {
      const int64_t k0 = ka / kc_ * kc_, kcur = std::min(kc_, K_ - k0);
      const int64_t kend = std::min(kb, k0 + kcur);
      T* block = dst + k0 * mps_ * mr_;
      for (int64_t ip = 0; ip < mps_; ++ip) {
        const int64_t i0 = ip * mr_;
        ks_.pack_trans(kend - ka, std::min<int64_t>(mr_, M_ - i0), mr_, A + i0 * K_ + ka, K_,
                       block + ip * kcur * mr_ + (ka - k0) * mr_);
      }
      ka = kend;
    }
  }

  // C[:, columns of unit blocks b0..b1 in every group] = A · B + beta·C.
  // A is the packed buffer, or the rows themselves when few_rows().
  void multiply(int64_t b0, int64_t b1, const T* A, T* C, int64_t ldc, T beta) const {
    alignas(64) T tile[kMaxTile];  // partial MR x NR tiles go through here
    const int64_t full = few_rows() ? 0 : M_ / mr_, tail = M_ - full * mr_;
    const bool tail_few = tail > 0 && tail <= kFewRows;
    const int64_t micro_panels = tail_few ? full : mps_;
    for (int64_t b = b0; b < b1 && micro_panels > 0; ++b) {
      const int64_t u = b * nr_, cols = std::min<int64_t>(nr_, H_ - u);
      for (int q = 0; q < groups_; ++q) {
        const int64_t p = b * groups_ + q;
        for (int64_t k0 = 0; k0 < K_; k0 += kc_) {
          const int64_t kcur = std::min(kc_, K_ - k0);
          const T bk = k0 == 0 ? beta : T(1);
          const T* bp = bpack_.get() + k0 * P_ * nr_ + p * kcur * nr_;
          for (int64_t ip = 0; ip < micro_panels; ++ip) {
            const int64_t i0 = ip * mr_, rows = std::min<int64_t>(mr_, M_ - i0);
            const T* ap = A + k0 * mps_ * mr_ + ip * kcur * mr_;
            T* c = C + i0 * ldc + q * H_ + u;
            if (rows == mr_ && cols == nr_) {
              ks_.micro(kcur, ap, bp, c, ldc, T(1), bk);
              continue;
            }
            ks_.micro(kcur, ap, bp, tile, nr_, T(1), T(0));  // edge tile via scratch
            for (int64_t r = 0; r < rows; ++r)
              for (int64_t j = 0; j < cols; ++j)
                c[r * ldc + j] = bk == T(0) ? tile[r * nr_ + j]
                                            : tile[r * nr_ + j] + bk * c[r * ldc + j];
          }
        }
      }
    }
    if (!tail_few) return;
    const int rows = static_cast<int>(tail);
    const RowsView<T> view = few_rows() ? RowsView<T>{A, 1, 0, K_, 1}
                                        : RowsView<T>{A, mps_ * mr_, full * mr_, 1, mr_};
    const int64_t chunk = few_rows_max_panels(static_cast<int>(nr_), sizeof(T), rows);
    alignas(64) T y[kFewRows * kFewRowsLd];
    for (int64_t p = b0 * groups_; p < b1 * groups_; p += chunk) {
      const int np = static_cast<int>(std::min<int64_t>(chunk, b1 * groups_ - p));
      few_rows_any(static_cast<int>(nr_), rows, np, K_, kc_, P_, p, bpack_.get(), view, y);
      for (int i = 0; i < np; ++i) {
        const int64_t b = (p + i) / groups_, q = (p + i) % groups_;
        const int64_t u = b * nr_, cols = std::min<int64_t>(nr_, H_ - u);
        for (int r = 0; r < rows; ++r) {
          T* c = C + (full * mr_ + r) * ldc + q * H_ + u;
          const T* yr = y + r * kFewRowsLd + i * nr_;
          for (int64_t j = 0; j < cols; ++j) c[j] = beta == T(0) ? yr[j] : yr[j] + beta * c[j];
        }
      }
    }
  }

 private:
  int64_t M_, H_, K_;
  int groups_;
  bool trans_w_;
  const T* W_;
  detail::KernelSet<T> ks_;
  int64_t mr_ = 0, nr_ = 0, kc_ = 0, ub_ = 0, P_ = 0, mps_ = 0;
  int nt_ = 1;
  std::unique_ptr<T[], FreeDeleter> bpack_, apack_[2];
};

inline int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// ------------------------------------------------------------------ sequence drivers
// Forward recurrence of a sequence of T_ steps, N rows, H units, with `rec`
// built for h · w_hhᵀ (K = H). Step s (time t, in processing order): each
// thread forms its columns of out(t) = h_{t-1} · w_hhᵀ + beta·out(t)
// (row stride ldc), then runs pointwise(u0, u1, t, prev) for its units
// (prev: the step before t in processing order, -1 at the first step), which
// must write those units of y_t = y + t·N·H; one barrier per step.
template <typename T, typename Out, typename Pointwise>
void run_forward(UnitRecurrence<T>& rec, int64_t T_, int64_t N, int64_t H, bool reverse,
                 const T* h0, const T* y, Out out, int64_t ldc, T beta, Pointwise pointwise) {
  const int64_t NH = N * H;
#pragma omp parallel num_threads(rec.threads()) if (rec.threads() > 1)
  {
    const auto [b0, b1, u0, u1] = rec.claim(thread_id());
    if (!rec.few_rows()) rec.pack_a(h0, u0, u1, rec.apack(0));
#pragma omp barrier
    for (int64_t s = 0; s < T_; ++s) {
      const int64_t t = reverse ? T_ - 1 - s : s;
      const int64_t prev = s == 0 ? -1 : reverse ? t + 1 : t - 1;
      const T* h_prev = prev < 0 ? h0 : y + prev * NH;
      rec.multiply(b0, b1, rec.few_rows() ? h_prev : rec.apack(s), out(t), ldc, beta);
      pointwise(u0, u1, t, prev);
      if (!rec.few_rows() && s + 1 < T_) rec.pack_a(y + t * NH, u0, u1, rec.apack(s + 1));
#pragma omp barrier
    }
  }
}

// Backward recurrence, steps in the reverse of the forward order, with
// `rec` built for dgates · w_hh (K = groups·H). Step s (time t): each thread
// runs pointwise(u0, u1, t, prev) for its units (prev: the step before t in
// the forward pass, -1 for its first step), which returns the step's gate
// gradients (N x groups·H,
// its units' columns written) and must leave its units of the carried dh in
// carry; after one barrier each thread forms its units of
// carry = dgates_t · w_hh + beta·carry.
template <typename T, typename Pointwise>
void run_backward(UnitRecurrence<T>& rec, int64_t T_, int64_t H, int groups, bool reverse,
                  T* carry, T beta, Pointwise pointwise) {
#pragma omp parallel num_threads(rec.threads()) if (rec.threads() > 1)
  {
    const auto [b0, b1, u0, u1] = rec.claim(thread_id());
    for (int64_t s = 0; s < T_; ++s) {
      const int64_t t = reverse ? s : T_ - 1 - s;
      const int64_t prev = t == (reverse ? T_ - 1 : 0) ? -1 : reverse ? t + 1 : t - 1;
      const T* dg = pointwise(u0, u1, t, prev);
      if (!rec.few_rows())
        for (int64_t q = 0; q < groups; ++q)
          rec.pack_a(dg, q * H + u0, q * H + u1, rec.apack(s));
#pragma omp barrier
      rec.multiply(b0, b1, rec.few_rows() ? dg : rec.apack(s), carry, H, beta);
    }
  }
}

// dw_hh (G x H) = Σ_t dg_tᵀ · h_{t-1} over the sequence: h_{t-1} is h0 for
// the forward pass's first step and y of the neighbouring step otherwise,
// so the other T-1 steps are one GEMM over contiguous slabs of dg and y.
template <typename T>
void recurrent_weight_grad(int64_t T_, int64_t N, int64_t H, int64_t G, bool reverse,
                           const T* dg, const T* h0, const T* y, T* dw_hh) {
  const int64_t first = reverse ? T_ - 1 : 0, NH = N * H;
  gemm<T>(true, false, G, H, N, T(1), dg + first * N * G, G, h0, H, T(0), dw_hh, H);
  if (T_ > 1) {
    const T* dg_rest = reverse ? dg : dg + N * G;
    const T* h_rest = reverse ? y + NH : y;
    gemm<T>(true, false, G, H, (T_ - 1) * N, T(1), dg_rest, G, h_rest, H, T(1), dw_hh, H);
  }
}

}  // namespace
}  // namespace cpu
}  // namespace lg
