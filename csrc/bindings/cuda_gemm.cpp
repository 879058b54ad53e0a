// loomgrad._cuda GEMM glue: sgemm, sgemm_strided_batched and split-K SGEMM on
// device pointers (row-major), called by loomgrad.cuda._gemm once it has
// checked the CuPy arrays; the sizes are checked again here and the GIL is
// released around the launch.
#include <pybind11/pybind11.h>

#include <cstdint>

#include "bindings/cuda_args.h"
#include "common/check.h"
#include "cuda/gemm.h"

namespace py = pybind11;

namespace lg {
namespace cuda_bind {

void register_gemm(py::module_& m) {
  // sgemm / sgemm_strided_batched: C = alpha * op(A) op(B) + beta * C on
  // device pointers (row-major); loomgrad.cuda._gemm has checked the arrays.
  m.def("sgemm",
        [](bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           std::uintptr_t a, int64_t lda, std::uintptr_t b, int64_t ldb, float beta,
           std::uintptr_t c, int64_t ldc, std::uintptr_t stream, bool allow_tf32) {
          LG_CHECK(M >= 0 && N >= 0 && K >= 0, "sgemm: negative size M=", M, " N=", N, " K=", K);
          LG_CHECK(lda >= (trans_a ? M : K) && ldb >= (trans_b ? K : N) && ldc >= N,
                   "sgemm: leading dimensions too small");
          py::gil_scoped_release nogil;
          lg::cuda::sgemm(trans_a, trans_b, M, N, K, alpha, lg::cuda_bind::ptr<const float>(a),
                          lda, lg::cuda_bind::ptr<const float>(b), ldb, beta,
                          lg::cuda_bind::ptr<float>(c), ldc, lg::cuda_bind::stream(stream),
                          allow_tf32);
        },
        py::arg("trans_a"), py::arg("trans_b"), py::arg("M"), py::arg("N"), py::arg("K"),
        py::arg("alpha"), py::arg("a"), py::arg("lda"), py::arg("b"), py::arg("ldb"),
        py::arg("beta"), py::arg("c"), py::arg("ldc"), py::arg("stream"),
        py::arg("allow_tf32") = false);
  m.def("sgemm_strided_batched",
        [](bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
           float alpha, std::uintptr_t a, int64_t lda, int64_t stride_a, std::uintptr_t b,
           int64_t ldb, int64_t stride_b, float beta, std::uintptr_t c, int64_t ldc,
           int64_t stride_c, std::uintptr_t stream, bool allow_tf32) {
          LG_CHECK(batch >= 0 && M >= 0 && N >= 0 && K >= 0, "sgemm_strided_batched: negative "
                   "size batch=", batch, " M=", M, " N=", N, " K=", K);
          LG_CHECK(lda >= (trans_a ? M : K) && ldb >= (trans_b ? K : N) && ldc >= N,
                   "sgemm_strided_batched: leading dimensions too small");
          LG_CHECK(stride_a >= 0 && stride_b >= 0 && (batch <= 1 || stride_c >= M * ldc),
                   "sgemm_strided_batched: batch strides must be >= 0 and out's >= M * ldc");
          py::gil_scoped_release nogil;
          lg::cuda::sgemm_strided_batched(
              trans_a, trans_b, batch, M, N, K, alpha, lg::cuda_bind::ptr<const float>(a), lda,
              stride_a, lg::cuda_bind::ptr<const float>(b), ldb, stride_b, beta,
              lg::cuda_bind::ptr<float>(c), ldc, stride_c, lg::cuda_bind::stream(stream),
              allow_tf32);
        },
        py::arg("trans_a"), py::arg("trans_b"), py::arg("batch"), py::arg("M"), py::arg("N"),
        py::arg("K"), py::arg("alpha"), py::arg("a"), py::arg("lda"), py::arg("stride_a"),
        py::arg("b"), py::arg("ldb"), py::arg("stride_b"), py::arg("beta"), py::arg("c"),
        py::arg("ldc"), py::arg("stride_c"), py::arg("stream"), py::arg("allow_tf32") = false);
  m.def("sgemm_split_k_count", &lg::cuda::sgemm_split_k_count, py::arg("M"), py::arg("N"),
        py::arg("K"), "K splits worth using for an M x N x K GEMM on this device (1: none)");
  m.def("sgemm_split_k",
        [](bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           std::uintptr_t a, int64_t lda, std::uintptr_t b, int64_t ldb, float beta,
           std::uintptr_t c, int64_t ldc, std::uintptr_t workspace, int64_t workspace_size,
           int64_t splits, std::uintptr_t stream, bool allow_tf32) {
          LG_CHECK(M >= 0 && N >= 0 && splits >= 1 && workspace_size >= splits * M * N,
                   "sgemm_split_k: workspace of ", workspace_size, " floats < splits (", splits,
                   ") * M (", M, ") * N (", N, ")");
          py::gil_scoped_release nogil;
          lg::cuda::sgemm_split_k(trans_a, trans_b, M, N, K, alpha,
                                  lg::cuda_bind::ptr<const float>(a), lda,
                                  lg::cuda_bind::ptr<const float>(b), ldb, beta,
                                  lg::cuda_bind::ptr<float>(c), ldc,
                                  lg::cuda_bind::ptr<float>(workspace), splits,
                                  lg::cuda_bind::stream(stream), allow_tf32);
        },
        py::arg("trans_a"), py::arg("trans_b"), py::arg("M"), py::arg("N"), py::arg("K"),
        py::arg("alpha"), py::arg("a"), py::arg("lda"), py::arg("b"), py::arg("ldb"),
        py::arg("beta"), py::arg("c"), py::arg("ldc"), py::arg("workspace"),
        py::arg("workspace_size"), py::arg("splits"), py::arg("stream"),
        py::arg("allow_tf32") = false);
}

}  // namespace cuda_bind
}  // namespace lg
