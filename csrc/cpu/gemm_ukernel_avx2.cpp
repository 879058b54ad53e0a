// AVX2+FMA GEMM microkernels (compiled with -mavx2 -mfma; called only after a
// run-time CPU check). Tile 6 x 16 floats / 6 x 8 doubles: 12 ymm accumulators,
// two B loads and one A broadcast per k step = 15 of the 16 ymm registers, and
// 12 FMAs per 8 loads keeps both FMA pipes of a Zen 3 / Haswell core busy.
// Packed layout and the C update contract are in gemm_internal.h; the packed
// B panel is 64-byte aligned so its loads are aligned. K is unrolled by 4 and
// the next lines of the A micro-panel (streamed from L2) are prefetched.
#include "cpu/gemm_internal.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

namespace lg {
namespace cpu {
namespace detail {
namespace {

struct VecF32 {
  using T = float;
  using V = __m256;
  static constexpr int kLanes = 8;
  static V load(const T* p) { return _mm256_load_ps(p); }
  static V loadu(const T* p) { return _mm256_loadu_ps(p); }
  static void storeu(T* p, V v) { _mm256_storeu_ps(p, v); }
  static V bcast(const T* p) { return _mm256_broadcast_ss(p); }
  static V set1(T x) { return _mm256_set1_ps(x); }
  static V zero() { return _mm256_setzero_ps(); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
};

struct VecF64 {
  using T = double;
  using V = __m256d;
  static constexpr int kLanes = 4;
  static V load(const T* p) { return _mm256_load_pd(p); }
  static V loadu(const T* p) { return _mm256_loadu_pd(p); }
  static void storeu(T* p, V v) { _mm256_storeu_pd(p, v); }
  static V bcast(const T* p) { return _mm256_broadcast_sd(p); }
  static V set1(T x) { return _mm256_set1_pd(x); }
  static V zero() { return _mm256_setzero_pd(); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_pd(a, b); }
};

constexpr int kMR = 6;

template <class S>
inline __attribute__((always_inline)) void step(const typename S::T* a,
                                                const typename S::T* b,
                                                typename S::V (&acc)[kMR][2]) {
  const typename S::V b0 = S::load(b), b1 = S::load(b + S::kLanes);
#pragma GCC unroll 6
  for (int r = 0; r < kMR; ++r) {
    const typename S::V ar = S::bcast(a + r);
    acc[r][0] = S::fma(ar, b0, acc[r][0]);
    acc[r][1] = S::fma(ar, b1, acc[r][1]);
  }
}

template <class S>
void micro_avx2(int64_t kc, const typename S::T* __restrict a, const typename S::T* __restrict b,
                typename S::T* __restrict c, int64_t ldc, typename S::T alpha,
                typename S::T beta) {
  using T = typename S::T;
  using V = typename S::V;
  constexpr int NR = 2 * S::kLanes;
  V acc[kMR][2];
#pragma GCC unroll 6
  for (int r = 0; r < kMR; ++r) {
    acc[r][0] = S::zero();
    acc[r][1] = S::zero();
    // The tile of C is needed at the end; start bringing it in now.
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + NR - 1), _MM_HINT_T0);
  }
  int64_t p = 0;
  for (; p + 4 <= kc; p += 4) {
    // One prefetch per cache line of A these four steps consume, 16 steps ahead.
    constexpr int kLines = (4 * kMR * int(sizeof(T)) + 63) / 64;
#pragma GCC unroll 8
    for (int l = 0; l < kLines; ++l)
      _mm_prefetch(reinterpret_cast<const char*>(a + 16 * kMR) + 64 * l, _MM_HINT_T0);
    step<S>(a, b, acc);
    step<S>(a + kMR, b + NR, acc);
    step<S>(a + 2 * kMR, b + 2 * NR, acc);
    step<S>(a + 3 * kMR, b + 3 * NR, acc);
    a += 4 * kMR;
    b += 4 * NR;
  }
  for (; p < kc; ++p) {
    step<S>(a, b, acc);
    a += kMR;
    b += NR;
  }
  const V va = S::set1(alpha);
  if (beta == T(0)) {
#pragma GCC unroll 6
    for (int r = 0; r < kMR; ++r) {
      S::storeu(c + r * ldc, S::mul(va, acc[r][0]));
      S::storeu(c + r * ldc + S::kLanes, S::mul(va, acc[r][1]));
    }
  } else {
    const V vb = S::set1(beta);
#pragma GCC unroll 6
    for (int r = 0; r < kMR; ++r) {
      T* cr = c + r * ldc;
      S::storeu(cr, S::fma(va, acc[r][0], S::mul(vb, S::loadu(cr))));
      S::storeu(cr + S::kLanes, S::fma(va, acc[r][1], S::mul(vb, S::loadu(cr + S::kLanes))));
    }
  }
}

void axpy_f32(int64_t k, int64_t n, const float* x, const float* B, int64_t ldb, float* y) {
  axpy_rows_portable<float>(k, n, x, B, ldb, y);
}
void axpy_f64(int64_t k, int64_t n, const double* x, const double* B, int64_t ldb, double* y) {
  axpy_rows_portable<double>(k, n, x, B, ldb, y);
}
void dot_f32(int64_t k, int64_t n, const float* x, const float* B, int64_t ldb, float* y) {
  dot_rows_portable<float>(k, n, x, B, ldb, y);
}
void dot_f64(int64_t k, int64_t n, const double* x, const double* B, int64_t ldb, double* y) {
  dot_rows_portable<double>(k, n, x, B, ldb, y);
}

// Whole 8 x 8 (float) or 4 x 4 (double) blocks go through registers; the
// ragged rest (cols or kc not a multiple of the block) is done element-wise.
inline void transpose8x8_store(const float* src, int64_t ld, float* dst, int w) {
  __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + ld);
  __m256 r2 = _mm256_loadu_ps(src + 2 * ld), r3 = _mm256_loadu_ps(src + 3 * ld);
  __m256 r4 = _mm256_loadu_ps(src + 4 * ld), r5 = _mm256_loadu_ps(src + 5 * ld);
  __m256 r6 = _mm256_loadu_ps(src + 6 * ld), r7 = _mm256_loadu_ps(src + 7 * ld);
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  _mm256_storeu_ps(dst + 0 * w, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(dst + 1 * w, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(dst + 2 * w, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(dst + 3 * w, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(dst + 4 * w, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(dst + 5 * w, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(dst + 6 * w, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(dst + 7 * w, _mm256_permute2f128_ps(u3, u7, 0x31));
}

inline void transpose4x4_store(const double* src, int64_t ld, double* dst, int w) {
  __m256d r0 = _mm256_loadu_pd(src), r1 = _mm256_loadu_pd(src + ld);
  __m256d r2 = _mm256_loadu_pd(src + 2 * ld), r3 = _mm256_loadu_pd(src + 3 * ld);
  __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
  __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
  _mm256_storeu_pd(dst + 0 * w, _mm256_permute2f128_pd(t0, t2, 0x20));
  _mm256_storeu_pd(dst + 1 * w, _mm256_permute2f128_pd(t1, t3, 0x20));
  _mm256_storeu_pd(dst + 2 * w, _mm256_permute2f128_pd(t0, t2, 0x31));
  _mm256_storeu_pd(dst + 3 * w, _mm256_permute2f128_pd(t1, t3, 0x31));
}

template <typename T, int B, void (*Tile)(const T*, int64_t, T*, int)>
void pack_trans_blocked(int64_t kc, int64_t cols, int w, const T* src, int64_t ld, T* dst) {
  const int64_t cfull = cols / B * B, kfull = kc / B * B;
  for (int64_t c = 0; c < cfull; c += B) {
    const T* s = src + c * ld;
    for (int64_t k = 0; k < kfull; k += B) Tile(s + k, ld, dst + k * w + c, w);
    for (int64_t cc = c; cc < c + B; ++cc)
      for (int64_t k = kfull; k < kc; ++k) dst[k * w + cc] = src[cc * ld + k];
  }
  for (int64_t c = cfull; c < cols; ++c)
    for (int64_t k = 0; k < kc; ++k) dst[k * w + c] = src[c * ld + k];
  for (int64_t c = cols; c < w; ++c)
    for (int64_t k = 0; k < kc; ++k) dst[k * w + c] = T(0);
}

}  // namespace

PackTransFn<float> pack_trans_avx2_f32() {
  return &pack_trans_blocked<float, 8, transpose8x8_store>;
}
PackTransFn<double> pack_trans_avx2_f64() {
  return &pack_trans_blocked<double, 4, transpose4x4_store>;
}

KernelSet<float> kernels_avx2_f32() {
  KernelSet<float> s;
  s.mr = kMR;
  s.nr = 16;
  s.micro = &micro_avx2<VecF32>;
  s.axpy_rows = &axpy_f32;
  s.dot_rows = &dot_f32;
  s.pack_trans = pack_trans_avx2_f32();
  return s;
}

KernelSet<double> kernels_avx2_f64() {
  KernelSet<double> s;
  s.mr = kMR;
  s.nr = 8;
  s.micro = &micro_avx2<VecF64>;
  s.axpy_rows = &axpy_f64;
  s.dot_rows = &dot_f64;
  s.pack_trans = pack_trans_avx2_f64();
  return s;
}

}  // namespace detail
}  // namespace cpu
}  // namespace lg

#else  // built without AVX2 flags (non-x86): the driver never selects these

namespace lg {
namespace cpu {
namespace detail {
KernelSet<float> kernels_avx2_f32() { return {}; }
KernelSet<double> kernels_avx2_f64() { return {}; }
PackTransFn<float> pack_trans_avx2_f32() { return nullptr; }
PackTransFn<double> pack_trans_avx2_f64() { return nullptr; }
}  // namespace detail
}  // namespace cpu
}  // namespace lg

#endif
