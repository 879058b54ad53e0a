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

namespace lg {
namespace cpu {
namespace detail {

template <typename T>
using MicroKernelFn = void (*)(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, T alpha,
                               T beta);

// y[0:n] = sum_k x[k] * B[k*ldb + 0:n]   (rows of B streamed, y written, not read).
template <typename T>
using AxpyRowsFn = void (*)(int64_t k, int64_t n, const T* x, const T* B, int64_t ldb, T* y);

// y[j] = dot(x[0:k], B[j*ldb + 0:k]) for j < n.
template <typename T>
using DotRowsFn = void (*)(int64_t k, int64_t n, const T* x, const T* B, int64_t ldb, T* y);

// Transposing pack of `cols` (<= w) strided rows of length kc into one
// w-wide micro-panel: dst[k*w + c] = src[c*ld + k], zero for cols <= c < w.
template <typename T>
using PackTransFn = void (*)(int64_t kc, int64_t cols, int w, const T* src, int64_t ld, T* dst);

template <typename T>
struct KernelSet {
  int mr = 0, nr = 0;
  MicroKernelFn<T> micro = nullptr;
  AxpyRowsFn<T> axpy_rows = nullptr;
  DotRowsFn<T> dot_rows = nullptr;
  PackTransFn<T> pack_trans = nullptr;
};

// Each returns a set with micro == nullptr when that ISA was not compiled
// (non-x86 builds); only call the AVX ones after a CPU feature check.
KernelSet<float> kernels_generic_f32();
KernelSet<double> kernels_generic_f64();
KernelSet<float> kernels_avx2_f32();
KernelSet<double> kernels_avx2_f64();
KernelSet<float> kernels_avx512_f32();
KernelSet<double> kernels_avx512_f64();
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
