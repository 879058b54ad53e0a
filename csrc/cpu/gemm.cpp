// PLACEHOLDER: straightforward, correct GEMM (to be replaced by the packed,
// blocked implementation).
#include "cpu/gemm.h"

#include "common/cpu_features.h"
#include "common/parallel.h"

namespace lg {
namespace cpu {

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha,
          const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  const int nt = threads_for(M * N * (K + 1), 1 << 16);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    for (int64_t j = 0; j < N; ++j) c[j] = beta == T(0) ? T(0) : beta * c[j];
    for (int64_t k = 0; k < K; ++k) {
      const T a = alpha * (trans_a ? A[k * lda + i] : A[i * lda + k]);
      if (trans_b) {
        for (int64_t j = 0; j < N; ++j) c[j] += a * B[j * ldb + k];
      } else {
        const T* b = B + k * ldb;
        for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
      }
    }
  }
}

template <typename T>
void gemm_strided_batched(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N,
                          int64_t K, T alpha, const T* A, int64_t lda, int64_t stride_a,
                          const T* B, int64_t ldb, int64_t stride_b, T beta, T* C,
                          int64_t ldc, int64_t stride_c) {
  for (int64_t b = 0; b < batch; ++b)
    gemm<T>(trans_a, trans_b, M, N, K, alpha, A + b * stride_a, lda, B + b * stride_b, ldb, beta,
            C + b * stride_c, ldc);
}

const char* gemm_isa() {
  const CpuFeatures& f = cpu_features();
  if (f.avx512f && f.avx512dq) return "avx512";
  if (f.avx2 && f.fma) return "avx2+fma";
  return "generic";
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t);
template void gemm_strided_batched<float>(bool, bool, int64_t, int64_t, int64_t, int64_t, float,
                                          const float*, int64_t, int64_t, const float*, int64_t,
                                          int64_t, float, float*, int64_t, int64_t);
template void gemm_strided_batched<double>(bool, bool, int64_t, int64_t, int64_t, int64_t, double,
                                           const double*, int64_t, int64_t, const double*,
                                           int64_t, int64_t, double, double*, int64_t, int64_t);
}  // namespace cpu
}  // namespace lg
