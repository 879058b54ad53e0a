// loomgrad._cpu: softmax, log-softmax and the fused softmax cross-entropy,
// forward and backward. Validation as in cpu_conv.cpp.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bindings/array_args.h"
#include "cpu/softmax_xent.h"

namespace py = pybind11;

namespace {

using lg::as_array;
using lg::check_input;
using lg::check_output;
using lg::DType;
using lg::in_ptr;
using lg::out_ptr;
using lg::require_shape;

void softmax_op(py::array x, py::array out, bool log) {
  const DType dt = lg::float_dtype("x", x);
  check_input("x", x, 2);
  check_output("out", out, lg::shape_of(x), "x", x, {{"x", &x}});
  if (out.size() == 0) return;
  lg::dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* px = in_ptr<T>(x);
    T* po = out_ptr<T>(out);
    py::gil_scoped_release nogil;
    if (log) lg::cpu::log_softmax_forward<T>(x.shape(0), x.shape(1), px, po);
    else lg::cpu::softmax_forward<T>(x.shape(0), x.shape(1), px, po);
  });
}

void softmax_backward_op(py::array y, py::array dy, py::array dx, bool log) {
  const DType dt = lg::float_dtype("out", y);
  check_input("out", y, 2);
  check_input("grad_out", dy, 2, "out", &y);
  require_shape("grad_out", dy, lg::shape_of(y), "(same as out)");
  check_output("grad_input", dx, lg::shape_of(y), "out", y, {{"out", &y}, {"grad_out", &dy}});
  if (dx.size() == 0) return;
  lg::dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T *py_ = in_ptr<T>(y), *pdy = in_ptr<T>(dy);
    T* pdx = out_ptr<T>(dx);
    py::gil_scoped_release nogil;
    if (log) lg::cpu::log_softmax_backward<T>(y.shape(0), y.shape(1), py_, pdy, pdx);
    else lg::cpu::softmax_backward<T>(y.shape(0), y.shape(1), py_, pdy, pdx);
  });
}

lg::cpu::Reduction parse_reduction(const std::string& r) {
  if (r == "mean") return lg::cpu::Reduction::mean;
  if (r == "sum") return lg::cpu::Reduction::sum;
  if (r == "none") return lg::cpu::Reduction::none;
  LG_CHECK(false, "softmax_cross_entropy: reduction must be 'mean', 'sum' or 'none', got '", r,
           "'");
  return lg::cpu::Reduction::mean;
}

// Validates logits/target/weight and fills XentArgs (pointers included).
lg::cpu::XentArgs xent_args(const py::array& logits, const py::array& target,
                            const py::object& weight, py::array& w, int64_t ignore_index,
                            const std::string& reduction, double label_smoothing) {
  lg::float_dtype("logits", logits);
  check_input("logits", logits, 2);
  lg::cpu::XentArgs a;
  a.N = logits.shape(0);
  a.C = logits.shape(1);
  if (lg::has_dtype<int64_t>(target)) {
    lg::require_ndim("target", target, 1, 1);
    lg::require_contiguous("target", target);
    require_shape("target", target, {a.N}, "(class indices, one per row of logits)");
    a.target = static_cast<const int64_t*>(target.data());
  } else {
    LG_CHECK(lg::same_dtype(target, logits.dtype()), "target: expected int64 class indices or ",
             std::string(py::str(logits.dtype())), " probabilities like logits, got ",
             lg::describe("target", target));
    check_input("target", target, 2, "logits", &logits);
    require_shape("target", target, {a.N, a.C}, "(class probabilities, like logits)");
    a.target_prob = target.data();
  }
  if (!weight.is_none()) {
    w = as_array("weight", weight);
    check_input("weight", w, 1, "logits", &logits);
    require_shape("weight", w, {a.C}, "(one per class)");
    a.weight = w.data();
  }
  a.ignore_index = ignore_index;
  a.reduction = parse_reduction(reduction);
  a.label_smoothing = label_smoothing;
  lg::cpu::xent_check(a);
  return a;
}

void softmax_xent_forward(py::array logits, py::array target, py::object weight, py::array loss,
                          int64_t ignore_index, const std::string& reduction,
                          double label_smoothing) {
  py::array w;
  const auto a = xent_args(logits, target, weight, w, ignore_index, reduction, label_smoothing);
  const std::vector<int64_t> lshape =
      a.reduction == lg::cpu::Reduction::none ? std::vector<int64_t>{a.N} : std::vector<int64_t>{};
  check_output("loss", loss, lshape, "logits", logits, {{"logits", &logits}, {"target", &target}});
  lg::dispatch_float(lg::float_dtype("logits", logits), [&](auto tag) {
    using T = decltype(tag);
    const T* px = in_ptr<T>(logits);
    T* pl = out_ptr<T>(loss);
    py::gil_scoped_release nogil;
    lg::cpu::softmax_xent_forward<T>(a, px, pl);
  });
}

void softmax_xent_backward(py::array grad_loss, py::array logits, py::array target,
                           py::object weight, py::array dlogits, int64_t ignore_index,
                           const std::string& reduction, double label_smoothing) {
  py::array w;
  const auto a = xent_args(logits, target, weight, w, ignore_index, reduction, label_smoothing);
  check_input("grad_loss", grad_loss, a.reduction == lg::cpu::Reduction::none ? 1 : 0, "logits",
              &logits);
  if (a.reduction == lg::cpu::Reduction::none)
    require_shape("grad_loss", grad_loss, {a.N}, "(reduction='none': one per row)");
  check_output("grad_logits", dlogits, {a.N, a.C}, "logits", logits,
               {{"logits", &logits}, {"target", &target}, {"grad_loss", &grad_loss}});
  if (dlogits.size() == 0) return;
  lg::dispatch_float(lg::float_dtype("logits", logits), [&](auto tag) {
    using T = decltype(tag);
    const T *px = in_ptr<T>(logits), *pg = in_ptr<T>(grad_loss);
    T* pd = out_ptr<T>(dlogits);
    py::gil_scoped_release nogil;
    lg::cpu::softmax_xent_backward<T>(a, px, pg, pd);
  });
}

}  // namespace

void register_xent_kernels(py::module_& m) {
  using py::arg;
  m.def("softmax_forward", [](py::array x, py::array out) { softmax_op(x, out, false); },
        arg("x"), arg("out").noconvert());
  m.def("log_softmax_forward", [](py::array x, py::array out) { softmax_op(x, out, true); },
        arg("x"), arg("out").noconvert());
  m.def("softmax_backward",
        [](py::array y, py::array dy, py::array dx) { softmax_backward_op(y, dy, dx, false); },
        arg("out"), arg("grad_out"), arg("grad_input").noconvert());
  m.def("log_softmax_backward",
        [](py::array y, py::array dy, py::array dx) { softmax_backward_op(y, dy, dx, true); },
        arg("out"), arg("grad_out"), arg("grad_input").noconvert());
  m.def("softmax_xent_forward", &softmax_xent_forward, arg("logits"), arg("target"),
        arg("weight").none(true), arg("loss").noconvert(), arg("ignore_index"), arg("reduction"), arg("label_smoothing"));
  m.def("softmax_xent_backward", &softmax_xent_backward, arg("grad_loss"), arg("logits"),
        arg("target"), arg("weight").none(true), arg("grad_logits").noconvert(), arg("ignore_index"), arg("reduction"),
        arg("label_smoothing"));
}
