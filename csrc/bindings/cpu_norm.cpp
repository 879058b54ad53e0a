// loomgrad._cpu: the normalisation kernels (layer_norm, group_norm, batch_norm;
// csrc/cpu/norm.cpp).
// As every binding: validate with the GIL held (array_args.h: dtype, rank, contiguity,
// writability, aliasing, shapes -- errors name the argument), then release the GIL around the
// kernel. Outputs come from the caller (noconvert); optional arrays are None. Python-side
// conveniences (normalized_shape, the (M, N) / (N, C, HW) views, allocation) live in
// loomgrad/kernels/norm.py.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "bindings/array_args.h"
#include "cpu/norm.h"

namespace py = pybind11;

namespace {

using lg::DType;

// `a` is C-contiguous, of `ref`'s dtype and of `shape`.
void require_array(const char* name, const py::array& a, const std::vector<int64_t>& shape,
                   const char* ref_name, const py::array& ref) {
  lg::require_same_dtype(name, a, ref_name, ref);
  lg::require_contiguous(name, a);
  LG_CHECK(lg::shape_of(a) == shape, name, ": expected shape ", lg::shape_str(shape), ", got ",
           lg::describe(name, a));
}

// An optional input (None -> nullptr) of `shape`.
template <typename T>
const T* optional_in(const char* name, const py::object& o, const std::vector<int64_t>& shape,
                     const char* ref_name, const py::array& ref) {
  if (o.is_none()) return nullptr;
  py::array a = lg::as_array(name, o);
  require_array(name, a, shape, ref_name, ref);
  return static_cast<const T*>(a.data());
}

// An output: as an input, plus writeable and not aliasing any of `inputs`.
void require_output(const char* name, const py::array& out, const std::vector<int64_t>& shape,
                    const char* ref_name, const py::array& ref,
                    std::initializer_list<std::pair<const char*, const py::object*>> inputs) {
  require_array(name, out, shape, ref_name, ref);
  lg::require_writeable(name, out);
  for (const auto& in : inputs)
    if (!in.second->is_none())
      lg::require_no_overlap(name, out, in.first, lg::as_array(in.first, *in.second));
}

// An optional output (None -> nullptr).
template <typename T>
T* optional_out(const char* name, const py::object& o, const std::vector<int64_t>& shape,
                const char* ref_name, const py::array& ref,
                std::initializer_list<std::pair<const char*, const py::object*>> inputs) {
  if (o.is_none()) return nullptr;
  py::array a = lg::as_array(name, o);
  require_output(name, a, shape, ref_name, ref, inputs);
  return static_cast<T*>(a.mutable_data());
}

void check_eps(double eps) {
  LG_CHECK(eps >= 0.0, "eps must be >= 0, got ", eps);
}

// x (M, N); weight/bias (N,) or None; out (M, N); mean, rstd (M,).
void layer_norm_forward(py::array x, py::object weight, py::object bias, double eps,
                        py::array out, py::array mean, py::array rstd) {
  const DType dt = lg::float_dtype("x", x);
  lg::require_ndim("x", x, 2, 2);
  lg::require_contiguous("x", x);
  check_eps(eps);
  const int64_t M = x.shape(0), N = x.shape(1);
  const py::object xo = x;
  lg::dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* pw = optional_in<T>("weight", weight, {N}, "x", x);
    const T* pb = optional_in<T>("bias", bias, {N}, "x", x);
    require_output("out", out, {M, N}, "x", x, {{"x", &xo}, {"weight", &weight},
                                               {"bias", &bias}});
    require_output("mean", mean, {M}, "x", x, {{"x", &xo}, {"out", &out}});
    require_output("rstd", rstd, {M}, "x", x, {{"x", &xo}, {"out", &out}, {"mean", &mean}});
    const T* px = static_cast<const T*>(x.data());
    T* py_ = static_cast<T*>(out.mutable_data());
    T* pm = static_cast<T*>(mean.mutable_data());
    T* pr = static_cast<T*>(rstd.mutable_data());
    py::gil_scoped_release nogil;
    lg::cpu::layer_norm_forward<T>(M, N, px, pw, pb, eps, py_, pm, pr);
  });
}

// grad_out, x (M, N); mean, rstd (M,); weight (N,) or None; grad_input (M, N), grad_weight,
// grad_bias (N,), each None when not wanted.
void layer_norm_backward(py::array dy, py::array x, py::array mean, py::array rstd,
                         py::object weight, py::object dx, py::object dw, py::object db) {
  const DType dt = lg::float_dtype("x", x);
  lg::require_ndim("x", x, 2, 2);
  lg::require_contiguous("x", x);
  const int64_t M = x.shape(0), N = x.shape(1);
  require_array("grad_out", dy, {M, N}, "x", x);
  require_array("mean", mean, {M}, "x", x);
  require_array("rstd", rstd, {M}, "x", x);
  const py::object xo = x, dyo = dy, mo = mean, ro = rstd;
  lg::dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* pw = optional_in<T>("weight", weight, {N}, "x", x);
    std::initializer_list<std::pair<const char*, const py::object*>> ins = {
        {"x", &xo}, {"grad_out", &dyo}, {"mean", &mo}, {"rstd", &ro}, {"weight", &weight}};
    T* pdx = optional_out<T>("grad_input", dx, {M, N}, "x", x, ins);
    T* pdw = optional_out<T>("grad_weight", dw, {N}, "x", x, ins);
    T* pdb = optional_out<T>("grad_bias", db, {N}, "x", x, ins);
    const T* pdy = static_cast<const T*>(dy.data());
    const T* px = static_cast<const T*>(x.data());
    const T* pm = static_cast<const T*>(mean.data());
    const T* pr = static_cast<const T*>(rstd.data());
    py::gil_scoped_release nogil;
    lg::cpu::layer_norm_backward<T>(M, N, pdy, px, pm, pr, pw, pdx, pdw, pdb);
  });
}

void check_groups(const py::array& x, int64_t groups) {
  lg::require_ndim("x", x, 3, 3);
  lg::require_contiguous("x", x);
  LG_CHECK(groups >= 1 && x.shape(1) % groups == 0, "group_norm: num_groups (", groups,
           ") must be >= 1 and divide the channels, got ", lg::describe("x", x));
}

// x (N, C, HW); weight/bias (C,) or None; out like x; mean, rstd (N, G).
void group_norm_forward(py::array x, py::object weight, py::object bias, int64_t groups,
                        double eps, py::array out, py::array mean, py::array rstd) {
  const DType dt = lg::float_dtype("x", x);
  check_groups(x, groups);
  check_eps(eps);
  const int64_t N = x.shape(0), C = x.shape(1), HW = x.shape(2);
  const py::object xo = x;
  lg::dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* pw = optional_in<T>("weight", weight, {C}, "x", x);
    const T* pb = optional_in<T>("bias", bias, {C}, "x", x);
    require_output("out", out, {N, C, HW}, "x", x, {{"x", &xo}, {"weight", &weight},
                                                   {"bias", &bias}});
    require_output("mean", mean, {N, groups}, "x", x, {{"x", &xo}, {"out", &out}});
    require_output("rstd", rstd, {N, groups}, "x", x,
                   {{"x", &xo}, {"out", &out}, {"mean", &mean}});
    const T* px = static_cast<const T*>(x.data());
    T* py_ = static_cast<T*>(out.mutable_data());
    T* pm = static_cast<T*>(mean.mutable_data());
    T* pr = static_cast<T*>(rstd.mutable_data());
    py::gil_scoped_release nogil;
    lg::cpu::group_norm_forward<T>(N, C, HW, groups, px, pw, pb, eps, py_, pm, pr);
  });
}

// The checks and pointers both normalisations' backward share: grad_out
// like x (N, C, HW), mean and rstd of `stats` shape, weight (C,) or None;
// grad_input like x and grad_weight, grad_bias (C,), each None when not
// wanted. `run(pdy, px, pm, pr, pw, pdx, pdw, pdb)` runs without the GIL.
template <typename Run>
void norm_backward(py::array dy, py::array x, py::array mean, py::array rstd, py::object weight,
                   py::object dx, py::object dw, py::object db,
                   std::initializer_list<int64_t> stats, Run run) {
  const DType dt = lg::float_dtype("x", x);
  const int64_t N = x.shape(0), C = x.shape(1), HW = x.shape(2);
  require_array("grad_out", dy, {N, C, HW}, "x", x);
  require_array("mean", mean, stats, "x", x);
  require_array("rstd", rstd, stats, "x", x);
  const py::object xo = x, dyo = dy, mo = mean, ro = rstd;
  lg::dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* pw = optional_in<T>("weight", weight, {C}, "x", x);
    std::initializer_list<std::pair<const char*, const py::object*>> ins = {
        {"x", &xo}, {"grad_out", &dyo}, {"mean", &mo}, {"rstd", &ro}, {"weight", &weight}};
    T* pdx = optional_out<T>("grad_input", dx, {N, C, HW}, "x", x, ins);
    T* pdw = optional_out<T>("grad_weight", dw, {C}, "x", x, ins);
    T* pdb = optional_out<T>("grad_bias", db, {C}, "x", x, ins);
    const T* pdy = static_cast<const T*>(dy.data());
    const T* px = static_cast<const T*>(x.data());
    const T* pm = static_cast<const T*>(mean.data());
    const T* pr = static_cast<const T*>(rstd.data());
    py::gil_scoped_release nogil;
    run(pdy, px, pm, pr, pw, pdx, pdw, pdb);
  });
}

void group_norm_backward(py::array dy, py::array x, py::array mean, py::array rstd,
                         py::object weight, int64_t groups, py::object dx, py::object dw,
                         py::object db) {
  lg::float_dtype("x", x);
  check_groups(x, groups);
  const int64_t N = x.shape(0), C = x.shape(1), HW = x.shape(2);
  norm_backward(dy, x, mean, rstd, weight, dx, dw, db, {N, groups},
                [&](auto pdy, auto px, auto pm, auto pr, auto pw, auto pdx, auto pdw, auto pdb) {
                  lg::cpu::group_norm_backward(N, C, HW, groups, pdy, px, pm, pr, pw, pdx, pdw,
                                               pdb);
                });
}

void check_planes(const py::array& x) {
  lg::require_ndim("x", x, 3, 3);
  lg::require_contiguous("x", x);
}

// x (N, C, HW); weight/bias (C,) or None; out like x; mean, var, rstd (C,).
void batch_norm_forward(py::array x, py::object weight, py::object bias, double eps,
                        py::array out, py::array mean, py::array var, py::array rstd) {
  const DType dt = lg::float_dtype("x", x);
  check_planes(x);
  check_eps(eps);
  const int64_t N = x.shape(0), C = x.shape(1), HW = x.shape(2);
  const py::object xo = x;
  lg::dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* pw = optional_in<T>("weight", weight, {C}, "x", x);
    const T* pb = optional_in<T>("bias", bias, {C}, "x", x);
    require_output("out", out, {N, C, HW}, "x", x, {{"x", &xo}, {"weight", &weight},
                                                   {"bias", &bias}});
    const py::object oo = out, mo = mean, vo = var;
    require_output("mean", mean, {C}, "x", x, {{"x", &xo}, {"out", &oo}});
    require_output("var", var, {C}, "x", x, {{"x", &xo}, {"out", &oo}, {"mean", &mo}});
    require_output("rstd", rstd, {C}, "x", x,
                   {{"x", &xo}, {"out", &oo}, {"mean", &mo}, {"var", &vo}});
    const T* px = static_cast<const T*>(x.data());
    T* py_ = static_cast<T*>(out.mutable_data());
    T* pm = static_cast<T*>(mean.mutable_data());
    T* pv = static_cast<T*>(var.mutable_data());
    T* pr = static_cast<T*>(rstd.mutable_data());
    py::gil_scoped_release nogil;
    lg::cpu::batch_norm_forward<T>(N, C, HW, px, pw, pb, eps, py_, pm, pv, pr);
  });
}

// grad_out, x (N, C, HW); mean, rstd (C,); weight (C,) or None; grad_input like x,
// grad_weight, grad_bias (C,), each None when not wanted.
void batch_norm_backward(py::array dy, py::array x, py::array mean, py::array rstd,
                         py::object weight, py::object dx, py::object dw, py::object db) {
  lg::float_dtype("x", x);
  check_planes(x);
  const int64_t N = x.shape(0), C = x.shape(1), HW = x.shape(2);
  norm_backward(dy, x, mean, rstd, weight, dx, dw, db, {C},
                [&](auto pdy, auto px, auto pm, auto pr, auto pw, auto pdx, auto pdw, auto pdb) {
                  lg::cpu::batch_norm_backward(N, C, HW, pdy, px, pm, pr, pw, pdx, pdw, pdb);
                });
}

}  // namespace

void register_norm_kernels(py::module_& m) {
  using py::arg;
  m.def("layer_norm_forward", &layer_norm_forward, arg("x"), arg("weight").none(true),
        arg("bias").none(true), arg("eps"), arg("out").noconvert(), arg("mean").noconvert(),
        arg("rstd").noconvert());
  m.def("layer_norm_backward", &layer_norm_backward, arg("grad_out"), arg("x"), arg("mean"),
        arg("rstd"), arg("weight").none(true), arg("grad_input").none(true),
        arg("grad_weight").none(true), arg("grad_bias").none(true));
  m.def("group_norm_forward", &group_norm_forward, arg("x"), arg("weight").none(true),
        arg("bias").none(true), arg("num_groups"), arg("eps"), arg("out").noconvert(),
        arg("mean").noconvert(), arg("rstd").noconvert());
  m.def("group_norm_backward", &group_norm_backward, arg("grad_out"), arg("x"), arg("mean"),
        arg("rstd"), arg("weight").none(true), arg("num_groups"), arg("grad_input").none(true),
        arg("grad_weight").none(true), arg("grad_bias").none(true));
  m.def("batch_norm_forward", &batch_norm_forward, arg("x"), arg("weight").none(true),
        arg("bias").none(true), arg("eps"), arg("out").noconvert(), arg("mean").noconvert(),
        arg("var").noconvert(), arg("rstd").noconvert());
  m.def("batch_norm_backward", &batch_norm_backward, arg("grad_out"), arg("x"), arg("mean"),
        arg("rstd"), arg("weight").none(true), arg("grad_input").none(true),
        arg("grad_weight").none(true), arg("grad_bias").none(true));
}
