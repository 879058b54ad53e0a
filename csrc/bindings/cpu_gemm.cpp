// loomgrad._cpu GEMM bindings: gemm (2-D or batched 3-D), and the pre-packed
// B operand (pack_gemm_b -> PackedGemmB, gemm_packed_b). Arguments are
// checked with the GIL held; the kernels run with it released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <memory>
#include <string>

#include "bindings/array_args.h"
#include "cpu/gemm.h"
#include "cpu/gemm_packed.h"

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

// op(B) packed once (float32 or float64; exactly one of the two is set).
// Immutable, so Python threads may share it; the arrays it was made from
// are not referenced afterwards.
struct PackedGemmB {
  lg::DType dtype;
  bool trans_b;  // how the source was read (op(B) = Bᵀ); the pack holds op(B)
  std::shared_ptr<const lg::cpu::GemmPackedB<float>> f32;
  std::shared_ptr<const lg::cpu::GemmPackedB<double>> f64;
  int64_t k() const { return f32 ? f32->k() : f64->k(); }
  int64_t n() const { return f32 ? f32->n() : f64->n(); }
  int64_t nbytes() const { return f32 ? f32->bytes() : f64->bytes(); }
};

PackedGemmB pack_gemm_b(py::array b, bool trans_b) {
  const lg::DType dt = lg::float_dtype("b", b);
  lg::require_ndim("b", b, 2, 2);
  lg::require_contiguous("b", b);
  const int64_t K = trans_b ? b.shape(1) : b.shape(0), N = trans_b ? b.shape(0) : b.shape(1);
  const int64_t ldb = b.shape(1);
  PackedGemmB out{dt, trans_b, nullptr, nullptr};
  lg::dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    auto* pb = static_cast<const T*>(b.data());
    std::shared_ptr<const lg::cpu::GemmPackedB<T>> pack;
    {
      py::gil_scoped_release nogil;
      pack = std::make_shared<const lg::cpu::GemmPackedB<T>>(trans_b, K, N, pb, ldb);
    }
    if constexpr (std::is_same_v<T, float>) out.f32 = pack;
    else out.f64 = pack;
  });
  return out;
}

// out = alpha * op(a) @ B + beta * out with B pre-packed; a is 2-D, or 3-D
// with one GEMM per batch entry against the same pack.
void gemm_packed_b_binding(py::array a, const PackedGemmB& b, py::array out, bool trans_a,
                           double alpha, double beta) {
  const lg::DType dt = lg::float_dtype("a", a);
  const char* want = b.dtype == lg::DType::f32 ? "float32" : "float64";
  if (dt != b.dtype)
    throw py::type_error("gemm: a must have the packed b's dtype " + std::string(want) +
                         ", got " + lg::describe("a", a));
  lg::require_same_dtype("out", out, "a", a);
  lg::require_ndim("a", a, 2, 3);
  lg::require_ndim("out", out, a.ndim(), a.ndim());
  lg::require_contiguous("a", a);
  lg::require_contiguous("out", out);
  lg::require_writeable("out", out);
  lg::require_no_overlap("out", out, "a", a);
  const int64_t am = a.shape(a.ndim() - 2), an = a.shape(a.ndim() - 1);
  const int64_t M = trans_a ? an : am, K = trans_a ? am : an, N = b.n();
  const int64_t batch = a.ndim() == 3 ? a.shape(0) : 1;
  const std::string shapes = " (a " + lg::shape_str(lg::shape_of(a)) + (trans_a ? "ᵀ" : "") +
                             ", packed b " + std::to_string(b.k()) + "x" + std::to_string(N) +
                             ", out " + lg::shape_str(lg::shape_of(out)) + ")";
  LG_CHECK(K == b.k(), "gemm: inner dimensions differ: op(a) is ", M, "x", K,
           ", the packed b is ", b.k(), "x", N, shapes);
  LG_CHECK(out.shape(out.ndim() - 2) == M && out.shape(out.ndim() - 1) == N &&
               (a.ndim() == 2 || out.shape(0) == batch),
           "gemm: out must have shape ", a.ndim() == 3 ? "(" + std::to_string(batch) + ", " : "(",
           M, ", ", N, ")", shapes);
  lg::dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const lg::cpu::GemmPackedB<T>& pack = [&]() -> const lg::cpu::GemmPackedB<T>& {
      if constexpr (std::is_same_v<T, float>) return *b.f32;
      else return *b.f64;
    }();
    auto* pa = static_cast<const T*>(a.data());
    auto* pc = static_cast<T*>(out.mutable_data());
    py::gil_scoped_release nogil;
    if (!trans_a) {  // a batch of row-major matrices is one tall matrix
      lg::cpu::gemm_packed_b<T>(false, batch * M, T(alpha), pa, K, pack, T(beta), pc, N);
      return;
    }
    for (int64_t i = 0; i < batch; ++i)
      lg::cpu::gemm_packed_b<T>(true, M, T(alpha), pa + i * K * M, M, pack, T(beta),
                                pc + i * M * N, N);
  });
}

}  // namespace

void register_gemm_kernels(py::module_& m) {
  m.def("gemm", &gemm_binding, py::arg("a"), py::arg("b"), py::arg("out").noconvert(),
        py::arg("trans_a") = false, py::arg("trans_b") = false, py::arg("alpha") = 1.0,
        py::arg("beta") = 0.0,
        "out = alpha * op(a) @ op(b) + beta * out; 2-D or 3-D (batched, batch 1 broadcasts).");
  py::class_<PackedGemmB>(m, "PackedGemmB",
                          "op(b) packed once for many GEMMs (loomgrad.kernels.pack_gemm_b).")
      .def_property_readonly("k", &PackedGemmB::k, "rows of op(b) (the inner dimension)")
      .def_property_readonly("n", &PackedGemmB::n, "columns of op(b)")
      .def_property_readonly("shape", [](const PackedGemmB& p) {
        return py::make_tuple(p.k(), p.n());
      }, "(K, N) of op(b)")
      .def_property_readonly("dtype", [](const PackedGemmB& p) {
        return p.dtype == lg::DType::f32 ? py::dtype::of<float>() : py::dtype::of<double>();
      })
      .def_property_readonly("trans_b", [](const PackedGemmB& p) { return p.trans_b; },
                             "whether b was read transposed when packed")
      .def_property_readonly("nbytes", &PackedGemmB::nbytes, "bytes of the packed panels")
      .def_property_readonly("isa", [](const PackedGemmB&) { return lg::cpu::gemm_isa(); },
                             "the GEMM path the panels are laid out for")
      .def("__repr__", [](const PackedGemmB& p) {
        return "PackedGemmB(k=" + std::to_string(p.k()) + ", n=" + std::to_string(p.n()) +
               ", dtype=" + (p.dtype == lg::DType::f32 ? "float32" : "float64") +
               ", trans_b=" + (p.trans_b ? "True" : "False") + ")";
      });
  m.def("pack_gemm_b", &pack_gemm_b, py::arg("b"), py::arg("trans_b") = false,
        "Pack op(b) (2-D, C-contiguous float32/float64) for gemm_packed_b.");
  m.def("gemm_packed_b", &gemm_packed_b_binding, py::arg("a"), py::arg("b"),
        py::arg("out").noconvert(), py::arg("trans_a") = false, py::arg("alpha") = 1.0,
        py::arg("beta") = 0.0, "out = alpha * op(a) @ b + beta * out, b a PackedGemmB.");
}
