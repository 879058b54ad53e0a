// loomgrad._cuda: thin glue over the CUDA kernels. This file holds the
// module, the device probe and the build info; each kernel family registers
// its functions from cuda_<family>.cpp (gemm, conv, pool, xent, lstm).
// Arguments arrive as raw device pointers and sizes from loomgrad.kernels,
// which has already checked the CuPy arrays' dtypes and shapes; the family
// files check the sizes again and release the GIL around the launch.
// Imported lazily by loomgrad.cuda.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "bindings/cuda_args.h"
#include "common/check.h"
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
  lg::cuda_bind::register_gemm(m);
  lg::cuda_bind::register_conv(m);
  lg::cuda_bind::register_pool(m);
  lg::cuda_bind::register_xent(m);
  lg::cuda_bind::register_lstm(m);
}
