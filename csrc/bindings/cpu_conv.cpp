// loomgrad._cpu: conv2d (forward, backward-data, -weight, -bias, output shape).
// As every CPU binding: validate with the GIL held (array_args.h: dtype,
// rank, contiguity, writability, aliasing, shapes -- errors name the
// argument), then release the GIL around the kernel. Outputs come from the
// caller and are taken with noconvert(). Python-side conveniences (int-or-pair
// arguments, 3-D inputs, output allocation) live in loomgrad's kernels layer.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bindings/array_args.h"
#include "common/conv_shape.h"
#include "cpu/conv.h"

namespace py = pybind11;

namespace {

using lg::as_array;
using lg::check_input;
using lg::check_output;
using lg::DType;
using lg::in_ptr;
using lg::out_ptr;
using lg::Pair;
using lg::require_shape;

// The one conv shape check (common/conv_shape.h), shared with the CUDA binding.
lg::cpu::Conv2dShape conv_shape(const std::vector<int64_t>& x, const std::vector<int64_t>& w,
                                Pair stride, Pair padding, Pair dilation, int64_t groups,
                                const char* x_name) {
  return lg::conv2d_shape(x, w, stride, padding, dilation, groups, x_name);
}

py::tuple conv2d_output_shape(std::vector<int64_t> x, std::vector<int64_t> w, Pair stride,
                              Pair padding, Pair dilation, int64_t groups) {
  const auto s = conv_shape(x, w, stride, padding, dilation, groups, "x");
  return py::make_tuple(s.N, s.K, s.OH, s.OW);
}

void conv2d_forward(py::array x, py::array w, py::object bias, py::array out, Pair stride,
                    Pair padding, Pair dilation, int64_t groups) {
  const DType dt = lg::float_dtype("x", x);
  check_input("x", x, 4);
  check_input("weight", w, 4, "x", &x);
  const auto s = conv_shape(lg::shape_of(x), lg::shape_of(w), stride, padding, dilation, groups,
                            "x");
  py::array b;
  if (!bias.is_none()) {
    b = as_array("bias", bias);
    check_input("bias", b, 1, "x", &x);
    require_shape("bias", b, {s.K}, "(one per output channel)");
  }
  check_output("out", out, {s.N, s.K, s.OH, s.OW}, "x", x,
               {{"x", &x}, {"weight", &w}, {"bias", bias.is_none() ? nullptr : &b}});
  if (out.size() == 0) return;
  lg::dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T *px = in_ptr<T>(x), *pw = in_ptr<T>(w), *pb = bias.is_none() ? nullptr : in_ptr<T>(b);
    T* py_ = out_ptr<T>(out);
    py::gil_scoped_release nogil;
    lg::cpu::conv2d_forward<T>(s, px, pw, pb, py_);
  });
}

void conv2d_backward_data(py::array dy, py::array w, py::array dx, Pair stride, Pair padding,
                          Pair dilation, int64_t groups) {
  const DType dt = lg::float_dtype("grad_out", dy);
  check_input("grad_out", dy, 4);
  check_input("weight", w, 4, "grad_out", &dy);
  const auto s = conv_shape(lg::shape_of(dx), lg::shape_of(w), stride, padding, dilation, groups,
                            "grad_input");
  require_shape("grad_out", dy, {s.N, s.K, s.OH, s.OW}, "(the conv2d output for this input)");
  check_output("grad_input", dx, {s.N, s.C, s.H, s.W}, "grad_out", dy,
               {{"grad_out", &dy}, {"weight", &w}});
  if (dx.size() == 0) return;
  lg::dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T *pdy = in_ptr<T>(dy), *pw = in_ptr<T>(w);
    T* pdx = out_ptr<T>(dx);
    py::gil_scoped_release nogil;
    lg::cpu::conv2d_backward_data<T>(s, pdy, pw, pdx);
  });
}

void conv2d_backward_weight(py::array dy, py::array x, py::array dw, Pair stride, Pair padding,
                            Pair dilation, int64_t groups) {
  const DType dt = lg::float_dtype("grad_out", dy);
  check_input("grad_out", dy, 4);
  check_input("x", x, 4, "grad_out", &dy);
  const auto s = conv_shape(lg::shape_of(x), lg::shape_of(dw), stride, padding, dilation, groups,
                            "x");
  require_shape("grad_out", dy, {s.N, s.K, s.OH, s.OW}, "(the conv2d output for this input)");
  check_output("grad_weight", dw, lg::shape_of(dw), "grad_out", dy,
               {{"grad_out", &dy}, {"x", &x}});
  if (dw.size() == 0) return;
  lg::dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T *pdy = in_ptr<T>(dy), *px = in_ptr<T>(x);
    T* pdw = out_ptr<T>(dw);
    py::gil_scoped_release nogil;
    lg::cpu::conv2d_backward_weight<T>(s, pdy, px, pdw);
  });
}

void conv2d_backward_bias(py::array dy, py::array db) {
  const DType dt = lg::float_dtype("grad_out", dy);
  check_input("grad_out", dy, 4);
  lg::cpu::Conv2dShape s;
  s.N = dy.shape(0); s.K = dy.shape(1); s.OH = dy.shape(2); s.OW = dy.shape(3);
  check_output("grad_bias", db, {s.K}, "grad_out", dy, {{"grad_out", &dy}});
  if (db.size() == 0) return;
  lg::dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* pdy = in_ptr<T>(dy);
    T* pdb = out_ptr<T>(db);
    py::gil_scoped_release nogil;
    lg::cpu::conv2d_backward_bias<T>(s, pdy, pdb);
  });
}

}  // namespace

void register_conv_kernels(py::module_& m) {
  using py::arg;
  m.def("conv2d_output_shape", &conv2d_output_shape, arg("x_shape"), arg("w_shape"),
        arg("stride"), arg("padding"), arg("dilation"), arg("groups"),
        "(N, K, OH, OW) of conv2d, validating every parameter.");
  m.def("conv2d_forward", &conv2d_forward, arg("x"), arg("weight"), arg("bias").none(true),
        arg("out").noconvert(), arg("stride"), arg("padding"), arg("dilation"), arg("groups"));
  m.def("conv2d_backward_data", &conv2d_backward_data, arg("grad_out"), arg("weight"),
        arg("grad_input").noconvert(), arg("stride"), arg("padding"), arg("dilation"),
        arg("groups"));
  m.def("conv2d_backward_weight", &conv2d_backward_weight, arg("grad_out"), arg("x"),
        arg("grad_weight").noconvert(), arg("stride"), arg("padding"), arg("dilation"),
        arg("groups"));
  m.def("conv2d_backward_bias", &conv2d_backward_bias, arg("grad_out"),
        arg("grad_bias").noconvert());
}
