// loomgrad._cpu: validate NumPy arguments with the GIL held, then release
// the GIL around the kernel. Outputs are allocated by the caller.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>

#include "bindings/array_args.h"
#include "common/cpu_features.h"
#include "common/parallel.h"
#include "cpu/gemm.h"  // gemm_isa

#ifndef LG_VERSION_INFO
#define LG_VERSION_INFO "dev"
#endif
#ifndef LG_CXX_COMPILER_INFO
#define LG_CXX_COMPILER_INFO "unknown"
#endif

namespace py = pybind11;

namespace {

py::dict build_info() {
  const lg::CpuFeatures& f = lg::cpu_features();
  py::dict d;
  d["version"] = LG_VERSION_INFO;
  d["compiler"] = LG_CXX_COMPILER_INFO;
  d["openmp"] = lg::have_openmp();
#ifdef _OPENMP
  d["openmp_version"] = _OPENMP;
#else
  d["openmp_version"] = py::none();
#endif
  d["num_threads"] = lg::num_threads();
  d["gemm_isa"] = lg::cpu::gemm_isa();
  py::dict feats;
  feats["avx2"] = f.avx2;
  feats["fma"] = f.fma;
  feats["avx512f"] = f.avx512f;
  feats["avx512dq"] = f.avx512dq;
  d["cpu_features"] = feats;
  py::dict caches;
  caches["l1d"] = f.l1d_bytes;
  caches["l2"] = f.l2_bytes;
  caches["l3"] = f.l3_bytes;
  d["caches"] = caches;
  return d;
}

}  // namespace

void register_conv_kernels(py::module_& m);  // cpu_conv.cpp: conv2d
void register_pool_kernels(py::module_& m);  // cpu_pool.cpp: max/avg/adaptive pooling
void register_xent_kernels(py::module_& m);  // cpu_xent.cpp: softmax, cross-entropy
void register_rnn_kernels(py::module_& m);   // cpu_rnn.cpp: LSTM and GRU
void register_gemm_kernels(py::module_& m);  // cpu_gemm.cpp: gemm, pre-packed B
void register_machine_probes(py::module_& m);  // cpu_machine.cpp: FMA peak, bandwidth
void register_norm_kernels(py::module_& m);  // cpu_norm.cpp: layer_norm, group_norm
void register_upsample_kernels(py::module_& m);  // cpu_upsample.cpp: nearest, bilinear

PYBIND11_MODULE(_cpu, m) {
  m.doc() = "loomgrad CPU kernels (C++/OpenMP). Use loomgrad.kernels for the public API.";
  m.def("set_num_threads", &lg::set_num_threads, py::arg("n"));
  m.def("get_num_threads", &lg::num_threads);
  m.def("build_info", &build_info);
  register_gemm_kernels(m);
  register_machine_probes(m);
  register_conv_kernels(m);
  register_pool_kernels(m);
  register_xent_kernels(m);
  register_rnn_kernels(m);
  register_norm_kernels(m);
  register_upsample_kernels(m);
}
