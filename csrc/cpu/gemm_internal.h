// Shared between the GEMM driver (gemm.cpp) and the per-ISA microkernel files.
//
// Packed layouts the microkernels read (both 64-byte aligned, zero-padded):
//   A micro-panel: kc steps of MR values, element (r, k) at a[k * MR + r];
//   B micro-panel: kc steps of NR values, element (k, c) at b[k * NR + c].
// A microkernel computes the full MR x NR tile acc = A_panel * B_panel and
// writes C = alpha * acc + beta * C (beta == 0: C is not read). The driver
// passes a scratch tile for partial edge tiles, so kernels never mask.
//
// The portable helpers (GEMV loops, transposing pack) are templates in an
// anonymous namespace so that each ISA file compiles its own copy under its
// own -m flags without an ODR clash; the driver only reaches them through the
// function pointers.
#pragma once
#include <cstdint>
#include <cstring>

namespace lg {
namespace cpu {
namespace detail {

template <typename T>
using MicroKernelFn = void (*)(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, T alpha,
                               T beta);

// Skinny products (one side of C has S <= kSkinnyMax rows or columns), with
// no packing: the big operand streams from memory once.
//   axpy: Y[r*ldy + j] = sum_k X[r*ldx + k] * B[k*ldb + j]   (B's rows stream)
//   dot:  Y[r*ldy + j] = sum_k X[r*ldx + k] * B[j*ldb + k]   (B's rows are dotted)
// for r < S, j < n. Y is written, not read.
constexpr int kSkinnyMax = 4;
// Skinny products that stream the big operand's rows (axpy) with K at least
// twice this are computed as partial products over fixed blocks of this many
// rows of K, one thread per block (see run_skinny in gemm.cpp).
constexpr int64_t kSkinnyKBlock = 512;
template <typename T>
using SkinnyFn = void (*)(int64_t k, int64_t n, const T* X, int64_t ldx, const T* B, int64_t ldb,
                          T* Y, int64_t ldy);

// Transposing pack of `cols` (<= w) strided rows of length kc into one
// w-wide micro-panel: dst[k*w + c] = src[c*ld + k], zero for cols <= c < w.
template <typename T>
using PackTransFn = void (*)(int64_t kc, int64_t cols, int w, const T* src, int64_t ld, T* dst);

// FMA-throughput probe of the set's vectors: runs `iters` rounds of
// independent FMA chains, stores one vector (<= 64 bytes) to sink, returns
// the flops done. The machine probe (machine_probe.cpp) times it.
template <typename T>
using FmaLoopFn = int64_t (*)(int64_t iters, T* sink);

// Non-transposing pack of a kc x len region (element (k, c) at src[k*ld + c])
// into w-wide micro-panels of kc x w, zero-padded: the layout above.
template <typename T>
using PackRowsFn = void (*)(int64_t kc, int64_t len, const T* src, int64_t ld, int w, T* dst);

constexpr int kMaxMR = 12;
template <typename T>
struct KernelSet {
  int mr = 0, nr = 0;
  MicroKernelFn<T> micro = nullptr;
  // micro_edge[r - 1]: the same tile with only r < mr real rows (the A panel
  // keeps its mr stride), storing r rows of C; null where a set has none
  // (the driver then runs micro into a scratch tile and copies).
  MicroKernelFn<T> micro_edge[kMaxMR - 1] = {};
  SkinnyFn<T> axpy[kSkinnyMax] = {};  // [S - 1]
  SkinnyFn<T> dot[kSkinnyMax] = {};
  PackTransFn<T> pack_trans = nullptr;
  PackRowsFn<T> pack_rows = nullptr;
  FmaLoopFn<T> fma_loop = nullptr;
};

// Each returns a set with micro == nullptr when that ISA was not compiled
// (non-x86 builds); only call the AVX ones after a CPU feature check.
KernelSet<float> kernels_generic_f32();
KernelSet<double> kernels_generic_f64();
KernelSet<float> kernels_avx2_f32();
KernelSet<double> kernels_avx2_f64();
KernelSet<float> kernels_avx512_f32();
KernelSet<double> kernels_avx512_f64();
// The set of the GEMM path in use (gemm_isa(); LOOMGRAD_GEMM_ISA applied).
template <typename T>
KernelSet<T> active_kernel_set();
// 8x8 (float) / 4x4 (double) register transposes; need AVX2, also used by the
// AVX-512 set (every AVX-512 CPU has AVX2). Null when AVX2 was not compiled.
PackTransFn<float> pack_trans_avx2_f32();
PackTransFn<double> pack_trans_avx2_f64();

namespace {  // NOLINT: one copy per ISA translation unit, on purpose (see header comment)

// Eight rows of B per pass keep eight load streams in flight and cut the
// traffic on y eightfold; the chunk of y (8 KiB for float) stays in L1 while
// all of K streams through. (Measured on Zen 3: 8 rows x 2048 beat 4 rows and
// narrower chunks by 10-40%.)
template <typename T>
void axpy_rows_portable(int64_t k, int64_t n, const T* x, const T* B, int64_t ldb, T* y) {
  constexpr int64_t kChunk = 8192 / sizeof(T);
  for (int64_t j0 = 0; j0 < n; j0 += kChunk) {
    const int64_t w = n - j0 < kChunk ? n - j0 : kChunk;
    T* __restrict yy = y + j0;
    for (int64_t j = 0; j < w; ++j) yy[j] = T(0);
    int64_t p = 0;
    for (; p + 8 <= k; p += 8) {
      const T x0 = x[p], x1 = x[p + 1], x2 = x[p + 2], x3 = x[p + 3];
      const T x4 = x[p + 4], x5 = x[p + 5], x6 = x[p + 6], x7 = x[p + 7];
      const T* __restrict b0 = B + p * ldb + j0;
      const T* __restrict b1 = b0 + ldb;
      const T* __restrict b2 = b1 + ldb;
      const T* __restrict b3 = b2 + ldb;
      const T* __restrict b4 = b3 + ldb;
      const T* __restrict b5 = b4 + ldb;
      const T* __restrict b6 = b5 + ldb;
      const T* __restrict b7 = b6 + ldb;
      for (int64_t j = 0; j < w; ++j)
        yy[j] += ((x0 * b0[j] + x1 * b1[j]) + (x2 * b2[j] + x3 * b3[j])) +
                 ((x4 * b4[j] + x5 * b5[j]) + (x6 * b6[j] + x7 * b7[j]));
    }
    for (; p < k; ++p) {
      const T x0 = x[p];
      const T* __restrict b0 = B + p * ldb + j0;
      for (int64_t j = 0; j < w; ++j) yy[j] += x0 * b0[j];
    }
  }
}

// Lane-wise partial sums (kLanes per row) vectorise without reassociating a
// reduction, which the compiler may not do on its own without -ffast-math.
template <typename T>
void dot_rows_portable(int64_t k, int64_t n, const T* x, const T* B, int64_t ldb, T* y) {
  constexpr int kLanes = 64 / sizeof(T);
  constexpr int kRows = 4;
  int64_t j = 0;
  for (; j + kRows <= n; j += kRows) {
    T acc[kRows][kLanes] = {};
    const T* __restrict r0 = B + j * ldb;
    const T* __restrict r1 = r0 + ldb;
    const T* __restrict r2 = r1 + ldb;
    const T* __restrict r3 = r2 + ldb;
    int64_t p = 0;
    for (; p + kLanes <= k; p += kLanes) {
      for (int l = 0; l < kLanes; ++l) {
        const T xv = x[p + l];
        acc[0][l] += xv * r0[p + l];
        acc[1][l] += xv * r1[p + l];
        acc[2][l] += xv * r2[p + l];
        acc[3][l] += xv * r3[p + l];
      }
    }
    T s[kRows] = {};
    for (int r = 0; r < kRows; ++r)
      for (int l = 0; l < kLanes; ++l) s[r] += acc[r][l];
    for (; p < k; ++p) {
      s[0] += x[p] * r0[p];
      s[1] += x[p] * r1[p];
      s[2] += x[p] * r2[p];
      s[3] += x[p] * r3[p];
    }
    for (int r = 0; r < kRows; ++r) y[j + r] = s[r];
  }
  for (; j < n; ++j) {
    const T* __restrict r0 = B + j * ldb;
    T acc[kLanes] = {};
    int64_t p = 0;
    for (; p + kLanes <= k; p += kLanes)
      for (int l = 0; l < kLanes; ++l) acc[l] += x[p + l] * r0[p + l];
    T s = T(0);
    for (int l = 0; l < kLanes; ++l) s += acc[l];
    for (; p < k; ++p) s += x[p] * r0[p];
    y[j] = s;
  }
}

// S = 2..4 rows of X at once: each streamed element of B feeds S products.
// The S rows of the y chunk (S x 4 KiB) stay in L1.
template <typename T, int S>
void axpy_multi_portable(int64_t k, int64_t n, const T* X, int64_t ldx, const T* B, int64_t ldb,
                         T* Y, int64_t ldy) {
  constexpr int64_t kChunk = 4096 / sizeof(T);
  alignas(64) T acc[S][kChunk];
  for (int64_t j0 = 0; j0 < n; j0 += kChunk) {
    const int64_t w = n - j0 < kChunk ? n - j0 : kChunk;
    for (int r = 0; r < S; ++r)
      for (int64_t j = 0; j < w; ++j) acc[r][j] = T(0);
    int64_t p = 0;
    for (; p + 4 <= k; p += 4) {
      T xs[S][4];
      for (int r = 0; r < S; ++r)
        for (int q = 0; q < 4; ++q) xs[r][q] = X[r * ldx + p + q];
      const T* __restrict b0 = B + p * ldb + j0;
      const T* __restrict b1 = b0 + ldb;
      const T* __restrict b2 = b1 + ldb;
      const T* __restrict b3 = b2 + ldb;
      for (int64_t j = 0; j < w; ++j) {
        const T v0 = b0[j], v1 = b1[j], v2 = b2[j], v3 = b3[j];
        for (int r = 0; r < S; ++r)
          acc[r][j] += (xs[r][0] * v0 + xs[r][1] * v1) + (xs[r][2] * v2 + xs[r][3] * v3);
      }
    }
    for (; p < k; ++p) {
      const T* __restrict b0 = B + p * ldb + j0;
      for (int r = 0; r < S; ++r) {
        const T x0 = X[r * ldx + p];
        for (int64_t j = 0; j < w; ++j) acc[r][j] += x0 * b0[j];
      }
    }
    for (int r = 0; r < S; ++r)
      for (int64_t j = 0; j < w; ++j) Y[r * ldy + j0 + j] = acc[r][j];
  }
}

// S = 2..4 vectors dotted with each row of B, which is loaded once for all.
template <typename T, int S>
void dot_multi_portable(int64_t k, int64_t n, const T* X, int64_t ldx, const T* B, int64_t ldb,
                        T* Y, int64_t ldy) {
  constexpr int kLanes = 64 / sizeof(T);
  for (int64_t j = 0; j < n; ++j) {
    const T* __restrict row = B + j * ldb;
    T acc[S][kLanes] = {};
    int64_t p = 0;
    for (; p + kLanes <= k; p += kLanes)
      for (int l = 0; l < kLanes; ++l) {
        const T bv = row[p + l];
        for (int r = 0; r < S; ++r) acc[r][l] += X[r * ldx + p + l] * bv;
      }
    for (int r = 0; r < S; ++r) {
      T sum = T(0);
      for (int l = 0; l < kLanes; ++l) sum += acc[r][l];
      for (int64_t q = p; q < k; ++q) sum += X[r * ldx + q] * row[q];
      Y[r * ldy + j] = sum;
    }
  }
}

template <typename T, int S>
void axpy_skinny(int64_t k, int64_t n, const T* X, int64_t ldx, const T* B, int64_t ldb, T* Y,
                 int64_t ldy) {
  if constexpr (S == 1) {
    (void)ldx;
    (void)ldy;
    axpy_rows_portable<T>(k, n, X, B, ldb, Y);
  } else {
    axpy_multi_portable<T, S>(k, n, X, ldx, B, ldb, Y, ldy);
  }
}

template <typename T, int S>
void dot_skinny(int64_t k, int64_t n, const T* X, int64_t ldx, const T* B, int64_t ldb, T* Y,
                int64_t ldy) {
  if constexpr (S == 1) {
    (void)ldx;
    (void)ldy;
    dot_rows_portable<T>(k, n, X, B, ldb, Y);
  } else {
    dot_multi_portable<T, S>(k, n, X, ldx, B, ldb, Y, ldy);
  }
}

template <typename T, int W>
void pack_rows_fixed(int64_t kc, int64_t len, const T* src, int64_t ld, T* dst) {
  const int64_t full = len / W, rest = len - full * W;
  for (int64_t k = 0; k < kc; ++k) {
    const T* s = src + k * ld;
    T* d = dst + k * W;
    // memcpy of a constant size: whole-vector moves (a plain loop may be
    // scalar, since src and dst could alias as far as the compiler knows).
    for (int64_t p = 0; p < full; ++p, s += W, d += W * kc) std::memcpy(d, s, W * sizeof(T));
    if (rest) {
      for (int64_t c = 0; c < rest; ++c) d[c] = s[c];
      for (int64_t c = rest; c < W; ++c) d[c] = T(0);
    }
  }
}

template <typename T>
void pack_rows_portable(int64_t kc, int64_t len, const T* src, int64_t ld, int w, T* dst) {
  switch (w) {  // every MR and NR of the kernel sets
    case 4: return pack_rows_fixed<T, 4>(kc, len, src, ld, dst);
    case 6: return pack_rows_fixed<T, 6>(kc, len, src, ld, dst);
    case 8: return pack_rows_fixed<T, 8>(kc, len, src, ld, dst);
    case 12: return pack_rows_fixed<T, 12>(kc, len, src, ld, dst);
    case 16: return pack_rows_fixed<T, 16>(kc, len, src, ld, dst);
    case 32: return pack_rows_fixed<T, 32>(kc, len, src, ld, dst);
    default:
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t c = 0; c < (len + w - 1) / w * w; ++c)
          dst[(c / w) * w * kc + k * w + c % w] = c < len ? src[k * ld + c] : T(0);
  }
}

// Points a kernel set at this translation unit's copies of the portable
// kernels (skinny products, row packing), compiled with its ISA flags.
template <typename T>
void set_portable_kernels(KernelSet<T>& s) {
  s.pack_rows = &pack_rows_portable<T>;
  s.axpy[0] = &axpy_skinny<T, 1>;
  s.axpy[1] = &axpy_skinny<T, 2>;
  s.axpy[2] = &axpy_skinny<T, 3>;
  s.axpy[3] = &axpy_skinny<T, 4>;
  s.dot[0] = &dot_skinny<T, 1>;
  s.dot[1] = &dot_skinny<T, 2>;
  s.dot[2] = &dot_skinny<T, 3>;
  s.dot[3] = &dot_skinny<T, 4>;
}

template <typename T>
void pack_trans_portable(int64_t kc, int64_t cols, int w, const T* src, int64_t ld, T* dst) {
  for (int64_t c = 0; c < cols; ++c) {
    const T* s = src + c * ld;
    for (int64_t k = 0; k < kc; ++k) dst[k * w + c] = s[k];
  }
  for (int64_t c = cols; c < w; ++c)
    for (int64_t k = 0; k < kc; ++k) dst[k * w + c] = T(0);
}

}  // namespace
}  // namespace detail
}  // namespace cpu
}  // namespace lg
