// loomgrad._cuda: thin glue over the CUDA kernels. Arguments arrive as raw
// device pointers and sizes from loomgrad.kernels, which has already checked
// the CuPy arrays' dtypes and shapes; here we check the sizes again and
// release the GIL around the launch. Imported lazily by loomgrad.cuda.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "bindings/cuda_args.h"
#include "common/check.h"
#include "cuda/gemm.h"
#include "cuda/launch.h"

#ifndef LG_CUDA_ARCHS
#define LG_CUDA_ARCHS "unknown"
#endif
#ifndef LG_CUDA_COMPILER_INFO
#define LG_CUDA_COMPILER_INFO "unknown"
#endif

namespace py = pybind11;

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "loomgrad CUDA kernels. Use loomgrad.kernels for the public API.";
  m.def("device_count", []() {
    std::string why;
    int n = lg::cuda::device_count(&why);
    return py::make_tuple(n, why);
  }, "(number of CUDA devices, reason when 0)");
  m.def("build_info", []() {
    py::dict d;
    d["architectures"] = LG_CUDA_ARCHS;
    d["compiler"] = LG_CUDA_COMPILER_INFO;
    d["runtime"] = lg::cuda::runtime_version();
    d["driver"] = lg::cuda::driver_version();
    return d;
  });
  m.def("sgemm",
        [](bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           std::uintptr_t a, int64_t lda, std::uintptr_t b, int64_t ldb, float beta,
           std::uintptr_t c, int64_t ldc, std::uintptr_t stream) {
          LG_CHECK(lda >= (trans_a ? M : K) && ldb >= (trans_b ? K : N) && ldc >= N,
                   "sgemm: leading dimensions too small");
          py::gil_scoped_release nogil;
          lg::cuda::sgemm(trans_a, trans_b, M, N, K, alpha, reinterpret_cast<const float*>(a),
                          lda, reinterpret_cast<const float*>(b), ldb, beta,
                          reinterpret_cast<float*>(c), ldc, reinterpret_cast<void*>(stream));
        },
        py::arg("trans_a"), py::arg("trans_b"), py::arg("M"), py::arg("N"), py::arg("K"),
        py::arg("alpha"), py::arg("a"), py::arg("lda"), py::arg("b"), py::arg("ldb"),
        py::arg("beta"), py::arg("c"), py::arg("ldc"), py::arg("stream"));
  lg::cuda_bind::register_conv(m);
  lg::cuda_bind::register_pool(m);
  lg::cuda_bind::register_xent(m);
  lg::cuda_bind::register_lstm(m);
}
