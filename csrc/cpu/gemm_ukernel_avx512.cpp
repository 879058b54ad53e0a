// AVX-512F GEMM microkernels (compiled with -mavx512f -mavx512dq -mfma; called
// only after a run-time CPU check). Tile 12 x 32 floats / 12 x 16 doubles: 24
// zmm accumulators, two B loads and one A broadcast per k step = 27 of the 32
// zmm registers (the row-major form of BLIS's SkylakeX 32 x 12 kernel).
// Packed layout and the C update contract are in gemm_internal.h; the packed
// B panel is 64-byte aligned, so every B load is an aligned full-line load.
// The A micro-panel (streamed from L2) is prefetched 16 k steps ahead.
// NOTE: written for AVX-512 hardware but only compiled, never executed, on
// the AVX2-only development machine; the tests run it where the CPU has it.
#include "cpu/gemm_internal.h"

#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__FMA__)
#include <immintrin.h>

namespace lg {
namespace cpu {
namespace detail {
namespace {

struct VecF32 {
  using T = float;
  using V = __m512;
  static constexpr int kLanes = 16;
  static V load(const T* p) { return _mm512_load_ps(p); }
  static V loadu(const T* p) { return _mm512_loadu_ps(p); }
  static void storeu(T* p, V v) { _mm512_storeu_ps(p, v); }
  static V bcast(const T* p) { return _mm512_set1_ps(*p); }
  static V set1(T x) { return _mm512_set1_ps(x); }
  static V zero() { return _mm512_setzero_ps(); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
};

struct VecF64 {
  using T = double;
  using V = __m512d;
  static constexpr int kLanes = 8;
  static V load(const T* p) { return _mm512_load_pd(p); }
  static V loadu(const T* p) { return _mm512_loadu_pd(p); }
  static void storeu(T* p, V v) { _mm512_storeu_pd(p, v); }
  static V bcast(const T* p) { return _mm512_set1_pd(*p); }
  static V set1(T x) { return _mm512_set1_pd(x); }
  static V zero() { return _mm512_setzero_pd(); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_pd(a, b); }
};

constexpr int kMR = 12;

template <class S>
inline __attribute__((always_inline)) void step(const typename S::T* a,
                                                const typename S::T* b,
                                                typename S::V (&acc)[kMR][2]) {
  const typename S::V b0 = S::load(b), b1 = S::load(b + S::kLanes);
#pragma GCC unroll 12
  for (int r = 0; r < kMR; ++r) {
    const typename S::V ar = S::bcast(a + r);
    acc[r][0] = S::fma(ar, b0, acc[r][0]);
    acc[r][1] = S::fma(ar, b1, acc[r][1]);
  }
}

template <class S>
void micro_avx512(int64_t kc, const typename S::T* __restrict a, const typename S::T* __restrict b,
                typename S::T* __restrict c, int64_t ldc, typename S::T alpha,
                typename S::T beta) {
  using T = typename S::T;
  using V = typename S::V;
  constexpr int NR = 2 * S::kLanes;
  V acc[kMR][2];
#pragma GCC unroll 12
  for (int r = 0; r < kMR; ++r) {
    acc[r][0] = S::zero();
    acc[r][1] = S::zero();
    // The tile of C is needed at the end; start bringing it in now.
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + NR - 1), _MM_HINT_T0);
  }
  // One k step per iteration: with GCC, manual unrolling let the scheduler
  // hoist the next step's loads and spill accumulators (measured ~15% slower).
#pragma GCC unroll 1
  for (int64_t p = 0; p < kc; ++p) {
    _mm_prefetch(reinterpret_cast<const char*>(a + 16 * kMR), _MM_HINT_T0);
    step<S>(a, b, acc);
    a += kMR;
    b += NR;
  }
  const V va = S::set1(alpha);
  if (beta == T(0)) {
#pragma GCC unroll 12
    for (int r = 0; r < kMR; ++r) {
      S::storeu(c + r * ldc, S::mul(va, acc[r][0]));
      S::storeu(c + r * ldc + S::kLanes, S::mul(va, acc[r][1]));
    }
  } else {
    const V vb = S::set1(beta);
#pragma GCC unroll 12
    for (int r = 0; r < kMR; ++r) {
      T* cr = c + r * ldc;
      S::storeu(cr, S::fma(va, acc[r][0], S::mul(vb, S::loadu(cr))));
      S::storeu(cr + S::kLanes, S::fma(va, acc[r][1], S::mul(vb, S::loadu(cr + S::kLanes))));
    }
  }
}

}  // namespace

KernelSet<float> kernels_avx512_f32() {
  KernelSet<float> s;
  s.mr = kMR;
  s.nr = 32;
  s.micro = &micro_avx512<VecF32>;
  set_skinny_kernels(s);
  s.pack_trans = pack_trans_avx2_f32();
  return s;
}

KernelSet<double> kernels_avx512_f64() {
  KernelSet<double> s;
  s.mr = kMR;
  s.nr = 16;
  s.micro = &micro_avx512<VecF64>;
  set_skinny_kernels(s);
  s.pack_trans = pack_trans_avx2_f64();
  return s;
}

}  // namespace detail
}  // namespace cpu
}  // namespace lg

#else  // built without AVX-512 flags (non-x86): the driver never selects these

namespace lg {
namespace cpu {
namespace detail {
KernelSet<float> kernels_avx512_f32() { return {}; }
KernelSet<double> kernels_avx512_f64() { return {}; }
}  // namespace detail
}  // namespace cpu
}  // namespace lg

#endif
