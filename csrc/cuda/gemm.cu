// SGEMM, first version: 64x64 block tile, BK = 16, 256 threads each owning a
// 4x4 register block; operands staged through shared memory (op(A) tile
// stored k-major so the inner loop reads rows of both tiles). Handles both
// transposes in the global loads and any M, N, K by bounds checks. The fast
// (vectorized, double-buffered, tensor-core) kernels are a later issue.
#include <cuda_runtime.h>

#include "common/check.h"
#include "cuda/gemm.h"
#include "cuda/launch.h"

namespace lg {
namespace cuda {
namespace {

constexpr int BM = 64, BN = 64, BK = 16, TM = 4, TN = 4;
constexpr int THREADS = (BM / TM) * (BN / TN);  // 256

__global__ void __launch_bounds__(THREADS)
sgemm_tiled_kernel(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* __restrict__ A, int64_t lda, const float* __restrict__ B,
                   int64_t ldb, float beta, float* __restrict__ C, int64_t ldc) {
  __shared__ float As[BK][BM + 4];  // As[k][m] = op(A)[m0 + m][k0 + k]
  __shared__ float Bs[BK][BN + 4];  // Bs[k][n] = op(B)[k0 + k][n0 + n]
  const int tid = threadIdx.x;
  const int tx = tid % (BN / TN), ty = tid / (BN / TN);
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * BM;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * BN;

  float acc[TM][TN] = {};
  for (int64_t k0 = 0; k0 < K; k0 += BK) {
    for (int e = tid; e < BM * BK; e += THREADS) {
      int m = e / BK, k = e % BK;
      int64_t gm = m0 + m, gk = k0 + k;
      float v = 0.f;
      if (gm < M && gk < K) v = trans_a ? A[gk * lda + gm] : A[gm * lda + gk];
      As[k][m] = v;
    }
    for (int e = tid; e < BN * BK; e += THREADS) {
      int k = e / BN, n = e % BN;
      int64_t gk = k0 + k, gn = n0 + n;
      float v = 0.f;
      if (gk < K && gn < N) v = trans_b ? B[gn * ldb + gk] : B[gk * ldb + gn];
      Bs[k][n] = v;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < BK; ++k) {
      float a[TM], b[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) a[i] = As[k][ty * TM + i];
#pragma unroll
      for (int j = 0; j < TN; ++j) b[j] = Bs[k][tx * TN + j];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    int64_t gm = m0 + ty * TM + i;
    if (gm >= M) continue;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      int64_t gn = n0 + tx * TN + j;
      if (gn >= N) continue;
      float* c = C + gm * ldc + gn;
      *c = beta == 0.f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * *c;
    }
  }
}

}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc, void* stream) {
  LG_CHECK(M >= 0 && N >= 0 && K >= 0, "sgemm: negative size M=", M, " N=", N, " K=", K);
  if (M == 0 || N == 0) return;
  const int64_t gx = (N + BN - 1) / BN, gy = (M + BM - 1) / BM;
  LG_CHECK(gy <= 65535 && gx <= 2147483647LL, "sgemm: M=", M, " too large for the grid");
  dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(gy));
  sgemm_tiled_kernel<<<grid, THREADS, 0, static_cast<cudaStream_t>(stream)>>>(
      trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  check_launch("sgemm_tiled_kernel");
}

}  // namespace cuda
}  // namespace lg
