// SGEMM on the GPU, row-major, same contract as lg::cpu::gemm:
// C = alpha * op(A) * op(B) + beta * C (beta == 0: C is not read).
// Pointers are device pointers; `stream` is a cudaStream_t (CuPy's current).
#pragma once
#include <cstdint>

namespace lg {
namespace cuda {
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc, void* stream);
}  // namespace cuda
}  // namespace lg
