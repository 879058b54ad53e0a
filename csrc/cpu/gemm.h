// GEMM on the CPU: C = alpha * op(A) * op(B) + beta * C, row-major.
// op(A) is M x K: A is stored M x K (row stride lda >= K) or, when trans_a,
// K x M (lda >= M); likewise op(B) is K x N. beta == 0 means C is written
// without being read (NaN/Inf already in C do not propagate), as in BLAS.
#pragma once
#include <cstdint>

namespace lg {
namespace cpu {

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha,
          const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// `batch` independent GEMMs; matrix i uses A + i*stride_a, B + i*stride_b,
// C + i*stride_c (a stride of 0 broadcasts one operand across the batch).
template <typename T>
void gemm_strided_batched(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N,
                          int64_t K, T alpha, const T* A, int64_t lda, int64_t stride_a,
                          const T* B, int64_t ldb, int64_t stride_b, T beta, T* C,
                          int64_t ldc, int64_t stride_c);

// The microkernel family chosen at run time: "avx512", "avx2+fma" or "generic".
const char* gemm_isa();

}  // namespace cpu
}  // namespace lg
