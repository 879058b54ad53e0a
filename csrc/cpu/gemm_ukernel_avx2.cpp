// AVX2+FMA GEMM kernel set (compiled with -mavx2 -mfma; called only after a
// run-time CPU check): 256-bit vector traits for the shared microkernel
// template (cpu/gemm_ukernel_tile.h), instantiated as 6 x 16 floats / 6 x 8
// doubles: 12 ymm accumulators, two B loads and one A broadcast per k step =
// 15 of the 16 ymm registers, and 12 FMAs per 8 loads keep both FMA pipes of
// a Zen 3 / Haswell core busy. Also here: the 8 x 8 / 4 x 4 register
// transposes that pack transposed operands (used by the AVX-512 set too).
#include "cpu/gemm_internal.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#include "cpu/gemm_ukernel_tile.h"

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

// B x B blocks (8 floats / 4 doubles) go through a register transpose; a
// short last block of rows (cols % B) loads zeros for the missing rows and
// stores only the lanes that exist, so it never reads or writes out of
// bounds. The kc % B leftover columns are copied element-wise.
inline void store_lanes(float* p, __m256 v, int n) {
  __m128 x = _mm256_castps256_ps128(v);
  if (n >= 4) {
    _mm_storeu_ps(p, x);
    x = _mm256_extractf128_ps(v, 1);
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    _mm_storel_pi(reinterpret_cast<__m64*>(p), x);
    x = _mm_movehl_ps(x, x);
    p += 2;
    n -= 2;
  }
  if (n >= 1) _mm_store_ss(p, x);
}

inline void store_lanes(double* p, __m256d v, int n) {
  __m128d x = _mm256_castpd256_pd128(v);
  if (n >= 2) {
    _mm_storeu_pd(p, x);
    x = _mm256_extractf128_pd(v, 1);
    p += 2;
    n -= 2;
  }
  if (n >= 1) _mm_store_sd(p, x);
}

// Rows r < `rows` of the 8 x 8 block at src (row stride ld) become lanes r of
// eight consecutive w-wide rows of dst.
inline void transpose8x8(const float* src, int64_t ld, float* dst, int w, int rows) {
  __m256 r[8];
  for (int i = 0; i < 8; ++i) r[i] = i < rows ? _mm256_loadu_ps(src + i * ld) : _mm256_setzero_ps();
  __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  const __m256 o[8] = {
      _mm256_permute2f128_ps(u0, u4, 0x20), _mm256_permute2f128_ps(u1, u5, 0x20),
      _mm256_permute2f128_ps(u2, u6, 0x20), _mm256_permute2f128_ps(u3, u7, 0x20),
      _mm256_permute2f128_ps(u0, u4, 0x31), _mm256_permute2f128_ps(u1, u5, 0x31),
      _mm256_permute2f128_ps(u2, u6, 0x31), _mm256_permute2f128_ps(u3, u7, 0x31)};
  if (rows == 8) {
    for (int i = 0; i < 8; ++i) _mm256_storeu_ps(dst + i * w, o[i]);
  } else {
    for (int i = 0; i < 8; ++i) store_lanes(dst + i * w, o[i], rows);
  }
}

inline void transpose4x4(const double* src, int64_t ld, double* dst, int w, int rows) {
  __m256d r[4];
  for (int i = 0; i < 4; ++i) r[i] = i < rows ? _mm256_loadu_pd(src + i * ld) : _mm256_setzero_pd();
  __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
  __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
  const __m256d o[4] = {
      _mm256_permute2f128_pd(t0, t2, 0x20), _mm256_permute2f128_pd(t1, t3, 0x20),
      _mm256_permute2f128_pd(t0, t2, 0x31), _mm256_permute2f128_pd(t1, t3, 0x31)};
  if (rows == 4) {
    for (int i = 0; i < 4; ++i) _mm256_storeu_pd(dst + i * w, o[i]);
  } else {
    for (int i = 0; i < 4; ++i) store_lanes(dst + i * w, o[i], rows);
  }
}

template <typename T, int B, void (*Tile)(const T*, int64_t, T*, int, int)>
void pack_trans_blocked(int64_t kc, int64_t cols, int w, const T* src, int64_t ld, T* dst) {
  const int64_t kfull = kc / B * B;
  for (int64_t c = 0; c < cols; c += B) {
    const int rows = static_cast<int>(cols - c < B ? cols - c : B);
    const T* s = src + c * ld;
    for (int64_t k = 0; k < kfull; k += B) Tile(s + k, ld, dst + k * w + c, w, rows);
    for (int64_t cc = c; cc < c + rows; ++cc)
      for (int64_t k = kfull; k < kc; ++k) dst[k * w + cc] = src[cc * ld + k];
  }
  for (int64_t c = cols; c < w; ++c)
    for (int64_t k = 0; k < kc; ++k) dst[k * w + c] = T(0);
}

}  // namespace

PackTransFn<float> pack_trans_avx2_f32() {
  return &pack_trans_blocked<float, 8, transpose8x8>;
}
PackTransFn<double> pack_trans_avx2_f64() {
  return &pack_trans_blocked<double, 4, transpose4x4>;
}

KernelSet<float> kernels_avx2_f32() {
  KernelSet<float> s;
  s.mr = kMR;
  s.nr = 16;
  s.micro = &micro_tile<VecF32, kMR>;
  set_edge_kernels<VecF32, kMR>(s.micro_edge);
  set_portable_kernels(s);
  s.pack_trans = pack_trans_avx2_f32();
  s.fma_loop = &fma_peak_loop<VecF32>;
  return s;
}

KernelSet<double> kernels_avx2_f64() {
  KernelSet<double> s;
  s.mr = kMR;
  s.nr = 8;
  s.micro = &micro_tile<VecF64, kMR>;
  set_edge_kernels<VecF64, kMR>(s.micro_edge);
  set_portable_kernels(s);
  s.pack_trans = pack_trans_avx2_f64();
  s.fma_loop = &fma_peak_loop<VecF64>;
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
