// The one register-tiled GEMM microkernel, shared by the AVX2 and AVX-512
// files: each defines a vector-traits struct S (T, V, kLanes, load, loadu,
// storeu, bcast, set1, zero, fma, mul) under its own -m flags and
// instantiates micro_tile<S, MR> (AVX2: 6 x 16 floats / 6 x 8 doubles in 12
// ymm accumulators; AVX-512: 12 x 32 / 12 x 16 in 24 zmm). An AVX2-only
// machine therefore runs exactly the logic the AVX-512 path runs.
//
// Tile: MR rows x NR = 2 vectors of C. Per k step: two aligned B loads (the
// packed B micro-panel is 64-byte aligned and stays in L1), MR broadcasts of
// A, 2 * MR FMAs into independent accumulators. K is unrolled by 2 so the
// loop control costs half as much; the A micro-panel, streamed from L2, is
// prefetched kPrefetchA bytes ahead, and the C tile is prefetched before the
// k loop so the final update does not wait on memory.
//
// Packed layouts and the C update contract (C = alpha * acc + beta * C,
// beta == 0 never reads C) are in gemm_internal.h. fma_peak_loop<S> is the
// FMA-throughput probe for the same vectors (see cpu/machine_probe.cpp).
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <utility>

namespace lg {
namespace cpu {
namespace detail {
namespace {  // NOLINT: instantiated once per ISA translation unit, on purpose

constexpr int kPrefetchA = 1024;  // bytes of A ahead: ~16 k steps of a 6-row float panel

template <class S, int ROWS>
inline __attribute__((always_inline)) void tile_step(const typename S::T* a,
                                                     const typename S::T* b,
                                                     typename S::V (&acc)[ROWS][2]) {
  const typename S::V b0 = S::load(b), b1 = S::load(b + S::kLanes);
#pragma GCC unroll 16
  for (int r = 0; r < ROWS; ++r) {
    const typename S::V ar = S::bcast(a + r);
    acc[r][0] = S::fma(ar, b0, acc[r][0]);
    acc[r][1] = S::fma(ar, b1, acc[r][1]);
  }
}

// ROWS < MR: the edge tile of a panel with only ROWS real rows (the A panel
// keeps its MR stride), computed and stored directly, with ROWS / MR of the
// FMAs instead of a full tile into scratch and a copy.
template <class S, int MR, int ROWS = MR>
void micro_tile(int64_t kc, const typename S::T* __restrict a, const typename S::T* __restrict b,
                typename S::T* __restrict c, int64_t ldc, typename S::T alpha,
                typename S::T beta) {
  static_assert(ROWS >= 1 && ROWS <= MR, "a tile has 1 to MR rows");
  using T = typename S::T;
  using V = typename S::V;
  constexpr int NR = 2 * S::kLanes;
  V acc[ROWS][2];
#pragma GCC unroll 16
  for (int r = 0; r < ROWS; ++r) {
    acc[r][0] = S::zero();
    acc[r][1] = S::zero();
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + NR - 1), _MM_HINT_T0);
  }
  const char* pa = reinterpret_cast<const char*>(a) + kPrefetchA;
  int64_t p = 0;
#pragma GCC unroll 1
  for (; p + 2 <= kc; p += 2) {
    _mm_prefetch(pa, _MM_HINT_T0);
    tile_step<S, ROWS>(a, b, acc);
    tile_step<S, ROWS>(a + MR, b + NR, acc);
    a += 2 * MR;
    b += 2 * NR;
    pa += 2 * MR * sizeof(T);
  }
  if (p < kc) tile_step<S, ROWS>(a, b, acc);
  const V va = S::set1(alpha);
  if (beta == T(0)) {
#pragma GCC unroll 16
    for (int r = 0; r < ROWS; ++r) {
      S::storeu(c + r * ldc, S::mul(va, acc[r][0]));
      S::storeu(c + r * ldc + S::kLanes, S::mul(va, acc[r][1]));
    }
  } else {
    const V vb = S::set1(beta);
#pragma GCC unroll 16
    for (int r = 0; r < ROWS; ++r) {
      T* cr = c + r * ldc;
      S::storeu(cr, S::fma(va, acc[r][0], S::mul(vb, S::loadu(cr))));
      S::storeu(cr + S::kLanes, S::fma(va, acc[r][1], S::mul(vb, S::loadu(cr + S::kLanes))));
    }
  }
}

// micro_tile<S, MR, 1> ... <S, MR, MR - 1>, indexed by rows - 1: the edge
// kernels a KernelSet offers for panels with fewer than MR real rows.
template <class S, int MR, int... R>
constexpr void fill_edge_kernels(MicroKernelFn<typename S::T>* out,
                                 std::integer_sequence<int, R...>) {
  ((out[R] = &micro_tile<S, MR, R + 1>), ...);
}
template <class S, int MR>
void set_edge_kernels(MicroKernelFn<typename S::T>* out) {
  fill_edge_kernels<S, MR>(out, std::make_integer_sequence<int, MR - 1>{});
}

// FMA throughput probe: kChains independent accumulator chains (more than
// FMA latency x pipes, e.g. 4 cycles x 2 pipes = 8 on Zen 3 / Skylake), so
// the loop is bound by FMA issue only. Returns the flops performed; the
// result is stored through `sink` so the compiler cannot drop the loop.
template <class S>
int64_t fma_peak_loop(int64_t iters, typename S::T* sink) {
  constexpr int kChains = 12;
  using V = typename S::V;
  using T = typename S::T;
  V acc[kChains];
  const V x = S::set1(T(0.999999)), y = S::set1(T(1e-7));
#pragma GCC unroll 16
  for (int i = 0; i < kChains; ++i) acc[i] = S::set1(T(i));
#pragma GCC unroll 1
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = S::fma(acc[i], x, y);
  }
  V sum = acc[0];
#pragma GCC unroll 16
  for (int i = 1; i < kChains; ++i) sum = S::fma(acc[i], x, sum);
  S::storeu(sink, sum);
  return iters * kChains * S::kLanes * 2;
}

}  // namespace
}  // namespace detail
}  // namespace cpu
}  // namespace lg
