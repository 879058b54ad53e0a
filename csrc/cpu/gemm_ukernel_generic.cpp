// Portable GEMM microkernels: 16-byte GCC/Clang vectors (plain loops for other
// compilers) on the baseline ISA (SSE2 on x86-64, NEON on arm64). Tiles: float
// 4 x 8, double 4 x 4, i.e. eight 128-bit accumulators, which leaves room in
// the 16 SSE registers for the B row, the A broadcast and a product (no FMA).
// Packed layout and the C update contract are in gemm_internal.h. This is the
// fallback for CPUs without AVX2+FMA and the reference the fast paths are
// tested against (LOOMGRAD_GEMM_ISA=generic).
#include "cpu/gemm_internal.h"

namespace lg {
namespace cpu {
namespace detail {
namespace {

// GCC/Clang vector extensions give 16-byte vectors on every target (SSE2,
// NEON, ...) without intrinsics; plain loops let GCC's SLP vectoriser
// shuffle and spill (measured 16 GFLOP/s vs 30 on one Zen 3 core).
#if defined(__GNUC__) || defined(__clang__)
template <typename T, int MR, int NR>
void micro_generic(int64_t kc, const T* __restrict a, const T* __restrict b, T* __restrict c,
                   int64_t ldc, T alpha, T beta) {
  constexpr int L = 16 / sizeof(T);  // lanes per 16-byte vector
  constexpr int NV = NR / L;
  typedef T V __attribute__((vector_size(16)));
  V acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = V{};
  for (int64_t p = 0; p < kc; ++p) {
    V bv[NV];
    for (int v = 0; v < NV; ++v) __builtin_memcpy(&bv[v], b + p * NR + v * L, 16);
    for (int r = 0; r < MR; ++r) {
      const T ar = a[p * MR + r];
      for (int v = 0; v < NV; ++v) acc[r][v] += ar * bv[v];
    }
  }
  for (int r = 0; r < MR; ++r) {
    T* cr = c + r * ldc;
    for (int v = 0; v < NV; ++v) {
      V out = alpha * acc[r][v];
      if (beta != T(0)) {
        V old;
        __builtin_memcpy(&old, cr + v * L, 16);
        out += beta * old;
      }
      __builtin_memcpy(cr + v * L, &out, 16);
    }
  }
}
#else
template <typename T, int MR, int NR>
void micro_generic(int64_t kc, const T* __restrict a, const T* __restrict b, T* __restrict c,
                   int64_t ldc, T alpha, T beta) {
  T acc[MR][NR] = {};
  for (int64_t p = 0; p < kc; ++p)
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < NR; ++j) acc[r][j] += a[p * MR + r] * b[p * NR + j];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NR; ++j)
      c[r * ldc + j] = alpha * acc[r][j] + (beta == T(0) ? T(0) : beta * c[r * ldc + j]);
}
#endif

// Multiply-add throughput probe for the baseline ISA (no FMA: a multiply and
// an add per lane, counted as 2 flops), 12 independent 16-byte chains.
template <typename T>
int64_t fma_loop_generic(int64_t iters, T* sink) {
  constexpr int kChains = 12, L = 16 / sizeof(T);
#if defined(__GNUC__) || defined(__clang__)
  typedef T V __attribute__((vector_size(16)));
  V acc[kChains];
  V x, y;
  for (int l = 0; l < L; ++l) x[l] = T(0.999999), y[l] = T(1e-7);
  for (int i = 0; i < kChains; ++i) acc[i] = x * T(i);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = acc[i] * x + y;
  for (int i = 1; i < kChains; ++i) acc[0] += acc[i];
  __builtin_memcpy(sink, &acc[0], 16);
#else
  T acc[kChains][L] = {};
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < kChains; ++i)
      for (int l = 0; l < L; ++l) acc[i][l] = acc[i][l] * T(0.999999) + T(1e-7);
  for (int l = 0; l < L; ++l) sink[l] = acc[0][l];
#endif
  return iters * kChains * L * 2;
}

void pack_trans_f32(int64_t kc, int64_t cols, int w, const float* src, int64_t ld, float* dst) {
  pack_trans_portable<float>(kc, cols, w, src, ld, dst);
}
void pack_trans_f64(int64_t kc, int64_t cols, int w, const double* src, int64_t ld, double* dst) {
  pack_trans_portable<double>(kc, cols, w, src, ld, dst);
}

}  // namespace

KernelSet<float> kernels_generic_f32() {
  KernelSet<float> s;
  s.mr = 4;
  s.nr = 8;
  s.micro = &micro_generic<float, 4, 8>;
  set_portable_kernels(s);
  s.pack_trans = &pack_trans_f32;
  s.fma_loop = &fma_loop_generic<float>;
  return s;
}

KernelSet<double> kernels_generic_f64() {
  KernelSet<double> s;
  s.mr = 4;
  s.nr = 4;
  s.micro = &micro_generic<double, 4, 4>;
  set_portable_kernels(s);
  s.pack_trans = &pack_trans_f64;
  s.fma_loop = &fma_loop_generic<double>;
  return s;
}

}  // namespace detail
}  // namespace cpu
}  // namespace lg
