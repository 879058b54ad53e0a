// SGEMM on the GPU, row-major, same contract as lg::cpu::gemm:
// C = alpha * op(A) * op(B) + beta * C (beta == 0: C is not read; alpha == 0:
// A and B are not read). op(A) is M x K: A is stored M x K (lda >= K) or,
// when trans_a, K x M (lda >= M); likewise op(B) is K x N. Any M, N, K >= 0.
// Pointers are device pointers, C must not overlap A or B (they are read
// through the read-only cache); `stream` is a cudaStream_t (CuPy's current).
// allow_tf32: run on the TF32 tensor cores (inputs rounded to 10-bit
// mantissas, FP32 accumulation) on sm_80+; plain FP32 otherwise.
#pragma once
#include <cstdint>

namespace lg {
namespace cuda {
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc, void* stream, bool allow_tf32 = false);

// `batch` independent GEMMs; matrix i uses A + i*stride_a, B + i*stride_b,
// C + i*stride_c (a stride of 0 broadcasts A or B across the batch; the C
// matrices must not overlap).
void sgemm_strided_batched(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N,
                           int64_t K, float alpha, const float* A, int64_t lda,
                           int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b,
                           float beta, float* C, int64_t ldc, int64_t stride_c, void* stream,
                           bool allow_tf32 = false);

// Split-K for outputs too small to fill the GPU (e.g. 64 x 1024 with K = 3136):
// the k range is cut into `splits` pieces whose partial products go to
// `workspace` (splits * M * N floats, from the caller's allocator) and are
// then summed in a fixed order (deterministic) into C. sgemm_split_k_count
// says how many splits pay off on the current device for this shape (1: none).
int64_t sgemm_split_k_count(int64_t M, int64_t N, int64_t K);
void sgemm_split_k(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                   float* C, int64_t ldc, float* workspace, int64_t splits, void* stream,
                   bool allow_tf32 = false);
}  // namespace cuda
}  // namespace lg
