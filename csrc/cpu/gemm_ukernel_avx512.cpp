// AVX-512F GEMM kernel set (compiled with -mavx512f -mavx512dq -mfma; called
// only after a run-time CPU check): 512-bit vector traits for the shared
// microkernel template (cpu/gemm_ukernel_tile.h), instantiated as 12 x 32
// floats / 12 x 16 doubles: 24 zmm accumulators, two B loads and one A
// broadcast per k step = 27 of the 32 zmm registers (the row-major form of
// BLIS's SkylakeX 32 x 12 kernel). Transposed operands pack through the AVX2
// register transposes (every AVX-512 CPU has AVX2).
// NOTE: only compiled, never executed, on the AVX2-only development machine;
// the tests run it where the CPU has it (LOOMGRAD_GEMM_ISA=avx512).
#include "cpu/gemm_internal.h"

#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__FMA__)
#include <immintrin.h>

#include "cpu/gemm_ukernel_tile.h"

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

}  // namespace

KernelSet<float> kernels_avx512_f32() {
  KernelSet<float> s;
  s.mr = kMR;
  s.nr = 32;
  s.micro = &micro_tile<VecF32, kMR>;
  set_edge_kernels<VecF32, kMR>(s.micro_edge);
  set_portable_kernels(s);
  s.pack_trans = pack_trans_avx2_f32();
  s.fma_loop = &fma_peak_loop<VecF32>;
  return s;
}

KernelSet<double> kernels_avx512_f64() {
  KernelSet<double> s;
  s.mr = kMR;
  s.nr = 16;
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
