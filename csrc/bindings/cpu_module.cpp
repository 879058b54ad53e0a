// loomgrad._cpu: validate NumPy arguments with the GIL held, then release
// the GIL around the kernel. Outputs are allocated by the caller.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>

#include "bindings/array_args.h"
#include "common/cpu_features.h"
#include "common/parallel.h"
#include "cpu/gemm.h"

#ifndef LG_VERSION_INFO
#define LG_VERSION_INFO "dev"
#endif
#ifndef LG_CXX_COMPILER_INFO
#define LG_CXX_COMPILER_INFO "unknown"
#endif

namespace py = pybind11;

namespace {

// gemm(a, b, out, trans_a, trans_b, alpha, beta): 2-D, or batched 3-D where
// a batch of 1 (or a 2-D operand) is broadcast across out's batch.
void gemm_binding(py::array a, py::array b, py::array out, bool trans_a, bool trans_b,
                  double alpha, double beta) {
  using lg::DType;
  const DType dt = lg::float_dtype("a", a);
  lg::require_same_dtype("b", b, "a", a);
  lg::require_same_dtype("out", out, "a", a);
  lg::require_ndim("a", a, 2, 3);
  lg::require_ndim("b", b, 2, 3);
  lg::require_ndim("out", out, 2, 3);
  lg::require_contiguous("a", a);
  lg::require_contiguous("b", b);
  lg::require_contiguous("out", out);
  lg::require_writeable("out", out);
  lg::require_no_overlap("out", out, "a", a);
  lg::require_no_overlap("out", out, "b", b);

  const int64_t am = a.shape(a.ndim() - 2), an = a.shape(a.ndim() - 1);
  const int64_t bm = b.shape(b.ndim() - 2), bn = b.shape(b.ndim() - 1);
  const int64_t M = trans_a ? an : am, K = trans_a ? am : an;
  const int64_t Kb = trans_b ? bn : bm, N = trans_b ? bm : bn;
  const std::string shapes = " (a " + lg::shape_str(lg::shape_of(a)) + (trans_a ? "ᵀ" : "") +
                             ", b " + lg::shape_str(lg::shape_of(b)) + (trans_b ? "ᵀ" : "") +
                             ", out " + lg::shape_str(lg::shape_of(out)) + ")";
  LG_CHECK(K == Kb, "gemm: inner dimensions differ: op(a) is ", M, "x", K, ", op(b) is ", Kb,
           "x", N, shapes);
  const int64_t batch = out.ndim() == 3 ? out.shape(0) : 1;
  LG_CHECK(out.ndim() >= std::max(a.ndim(), b.ndim()),
           "gemm: out must be 3-D when a or b is batched", shapes);
  LG_CHECK(out.shape(out.ndim() - 2) == M && out.shape(out.ndim() - 1) == N,
           "gemm: out must have shape (..., ", M, ", ", N, ")", shapes);
  auto batch_stride = [&](const py::array& x, const char* name, int64_t mat) -> int64_t {
    if (x.ndim() == 2 || x.shape(0) == 1) return 0;
    LG_CHECK(x.shape(0) == batch, "gemm: batch of ", name, " must be 1 or ", batch, shapes);
    return mat;
  };
  const int64_t sa = batch_stride(a, "a", am * an), sb = batch_stride(b, "b", bm * bn);
  const int64_t lda = an, ldb = bn, ldc = N;

  lg::dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    auto* pa = static_cast<const T*>(a.data());
    auto* pb = static_cast<const T*>(b.data());
    auto* pc = static_cast<T*>(out.mutable_data());
    py::gil_scoped_release nogil;
    lg::cpu::gemm_strided_batched<T>(trans_a, trans_b, batch, M, N, K, T(alpha), pa, lda, sa, pb,
                                     ldb, sb, T(beta), pc, ldc, M * N);
  });
}

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

PYBIND11_MODULE(_cpu, m) {
  m.doc() = "loomgrad CPU kernels (C++/OpenMP). Use loomgrad.kernels for the public API.";
  m.def("gemm", &gemm_binding, py::arg("a"), py::arg("b"), py::arg("out").noconvert(),
        py::arg("trans_a") = false, py::arg("trans_b") = false, py::arg("alpha") = 1.0,
        py::arg("beta") = 0.0,
        "out = alpha * op(a) @ op(b) + beta * out; 2-D or 3-D (batched, batch 1 broadcasts).");
  m.def("set_num_threads", &lg::set_num_threads, py::arg("n"));
  m.def("get_num_threads", &lg::num_threads);
  m.def("build_info", &build_info);
  register_conv_kernels(m);
  register_pool_kernels(m);
  register_xent_kernels(m);
  register_rnn_kernels(m);
}
