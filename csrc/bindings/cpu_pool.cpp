// loomgrad._cpu: 2-D pooling (max, average, adaptive average), forward and
// backward, and the pooling output shape. Validation as in cpu_conv.cpp.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bindings/array_args.h"
#include "cpu/pool.h"

namespace py = pybind11;

namespace {

using lg::check_input;
using lg::check_output;
using lg::DType;
using lg::in_ptr;
using lg::out_ptr;
using lg::Pair;
using lg::require_shape;

lg::cpu::Pool2dShape pool_shape(const char* op, const std::vector<int64_t>& x, Pair kernel,
                                Pair stride, Pair padding, Pair dilation, bool ceil_mode) {
  LG_CHECK(x.size() == 4, op, ": input must be 4-D (N, C, H, W), got shape ", lg::shape_str(x));
  lg::cpu::Pool2dShape s;
  s.planes = x[0] * x[1]; s.H = x[2]; s.W = x[3];
  s.kh = kernel[0]; s.kw = kernel[1];
  s.sh = stride[0]; s.sw = stride[1];
  s.ph = padding[0]; s.pw = padding[1];
  s.dh = dilation[0]; s.dw = dilation[1];
  s.ceil_mode = ceil_mode;
  lg::cpu::pool2d_check(s, op);
  return s;
}

py::tuple pool2d_output_shape(const std::string& op, std::vector<int64_t> x, Pair kernel,
                              Pair stride, Pair padding, Pair dilation, bool ceil_mode) {
  const auto s = pool_shape(op.c_str(), x, kernel, stride, padding, dilation, ceil_mode);
  return py::make_tuple(x[0], x[1], s.OH, s.OW);
}

void max_pool2d_forward(py::array x, py::array out, py::array indices, Pair kernel, Pair stride,
                        Pair padding, Pair dilation, bool ceil_mode) {
  const DType dt = lg::float_dtype("x", x);
  check_input("x", x, 4);
  const auto s = pool_shape("max_pool2d", lg::shape_of(x), kernel, stride, padding, dilation,
                            ceil_mode);
  const std::vector<int64_t> oshape{x.shape(0), x.shape(1), s.OH, s.OW};
  check_output("out", out, oshape, "x", x, {{"x", &x}});
  LG_CHECK(lg::has_dtype<int64_t>(indices), "indices: expected int64, got ",
           lg::describe("indices", indices));
  lg::require_contiguous("indices", indices);
  lg::require_writeable("indices", indices);
  require_shape("indices", indices, oshape, "(same as out)");
  lg::require_no_overlap("indices", indices, "x", x);
  lg::require_no_overlap("indices", indices, "out", out);
  if (out.size() == 0) return;
  lg::dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* px = in_ptr<T>(x);
    T* po = out_ptr<T>(out);
    auto* pi = static_cast<int64_t*>(indices.mutable_data());
    py::gil_scoped_release nogil;
    lg::cpu::max_pool2d_forward<T>(s, px, po, pi);
  });
}

void max_pool2d_backward(py::array dy, py::array indices, py::array dx, Pair kernel, Pair stride,
                         Pair padding, Pair dilation, bool ceil_mode) {
  const DType dt = lg::float_dtype("grad_out", dy);
  check_input("grad_out", dy, 4);
  const auto s = pool_shape("max_pool2d_backward", lg::shape_of(dx), kernel, stride, padding,
                            dilation, ceil_mode);
  const std::vector<int64_t> oshape{dx.shape(0), dx.shape(1), s.OH, s.OW};
  require_shape("grad_out", dy, oshape, "(the max_pool2d output for this input)");
  LG_CHECK(lg::has_dtype<int64_t>(indices), "indices: expected int64, got ",
           lg::describe("indices", indices));
  lg::require_contiguous("indices", indices);
  require_shape("indices", indices, oshape, "(same as grad_out)");
  check_output("grad_input", dx, lg::shape_of(dx), "grad_out", dy,
               {{"grad_out", &dy}, {"indices", &indices}});
  if (dx.size() == 0) return;
  lg::dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* pdy = in_ptr<T>(dy);
    const auto* pi = static_cast<const int64_t*>(indices.data());
    T* pdx = out_ptr<T>(dx);
    py::gil_scoped_release nogil;
    lg::cpu::max_pool2d_backward<T>(s, pdy, pi, pdx);
  });
}

void avg_pool2d_forward(py::array x, py::array out, Pair kernel, Pair stride, Pair padding,
                        bool ceil_mode, bool count_include_pad, int64_t divisor_override) {
  const DType dt = lg::float_dtype("x", x);
  check_input("x", x, 4);
  LG_CHECK(divisor_override >= 0, "avg_pool2d: divisor_override must be positive, got ",
           divisor_override);
  const auto s = pool_shape("avg_pool2d", lg::shape_of(x), kernel, stride, padding, {1, 1},
                            ceil_mode);
  check_output("out", out, {x.shape(0), x.shape(1), s.OH, s.OW}, "x", x, {{"x", &x}});
  if (out.size() == 0) return;
  lg::dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* px = in_ptr<T>(x);
    T* po = out_ptr<T>(out);
    py::gil_scoped_release nogil;
    lg::cpu::avg_pool2d_forward<T>(s, count_include_pad, divisor_override, px, po);
  });
}

void avg_pool2d_backward(py::array dy, py::array dx, Pair kernel, Pair stride, Pair padding,
                         bool ceil_mode, bool count_include_pad, int64_t divisor_override) {
  const DType dt = lg::float_dtype("grad_out", dy);
  check_input("grad_out", dy, 4);
  LG_CHECK(divisor_override >= 0, "avg_pool2d: divisor_override must be positive, got ",
           divisor_override);
  const auto s = pool_shape("avg_pool2d_backward", lg::shape_of(dx), kernel, stride, padding,
                            {1, 1}, ceil_mode);
  require_shape("grad_out", dy, {dx.shape(0), dx.shape(1), s.OH, s.OW},
                "(the avg_pool2d output for this input)");
  check_output("grad_input", dx, lg::shape_of(dx), "grad_out", dy, {{"grad_out", &dy}});
  if (dx.size() == 0) return;
  lg::dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* pdy = in_ptr<T>(dy);
    T* pdx = out_ptr<T>(dx);
    py::gil_scoped_release nogil;
    lg::cpu::avg_pool2d_backward<T>(s, count_include_pad, divisor_override, pdy, pdx);
  });
}

void adaptive_avg_pool2d(py::array in, py::array out, bool backward) {
  const char* in_name = backward ? "grad_out" : "x";
  const char* out_name = backward ? "grad_input" : "out";
  const DType dt = lg::float_dtype(in_name, in);
  check_input(in_name, in, 4);
  check_output(out_name, out, lg::shape_of(out), in_name, in, {{in_name, &in}});
  LG_CHECK(in.shape(0) == out.shape(0) && in.shape(1) == out.shape(1), out_name,
           ": batch and channels must match ", lg::describe(in_name, in), ", got ",
           lg::describe(out_name, out));
  const py::array& big = backward ? out : in;  // the (H, W) side
  const py::array& small = backward ? in : out;
  const int64_t planes = in.shape(0) * in.shape(1);
  const int64_t H = big.shape(2), W = big.shape(3), OH = small.shape(2), OW = small.shape(3);
  LG_CHECK(OH >= 1 && OW >= 1 && (planes == 0 || (H >= 1 && W >= 1)),
           "adaptive_avg_pool2d: output size must be >= 1 and the input non-empty, got input (",
           H, ", ", W, "), output (", OH, ", ", OW, ")");
  if (planes == 0) return;
  lg::dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* pi = in_ptr<T>(in);
    T* po = out_ptr<T>(out);
    py::gil_scoped_release nogil;
    if (backward) lg::cpu::adaptive_avg_pool2d_backward<T>(planes, H, W, OH, OW, pi, po);
    else lg::cpu::adaptive_avg_pool2d_forward<T>(planes, H, W, OH, OW, pi, po);
  });
}

}  // namespace

void register_pool_kernels(py::module_& m) {
  using py::arg;
  m.def("pool2d_output_shape", &pool2d_output_shape, arg("op"), arg("x_shape"), arg("kernel"),
        arg("stride"), arg("padding"), arg("dilation"), arg("ceil_mode"));
  m.def("max_pool2d_forward", &max_pool2d_forward, arg("x"), arg("out").noconvert(),
        arg("indices").noconvert(), arg("kernel"), arg("stride"), arg("padding"),
        arg("dilation"), arg("ceil_mode"));
  m.def("max_pool2d_backward", &max_pool2d_backward, arg("grad_out"), arg("indices"),
        arg("grad_input").noconvert(), arg("kernel"), arg("stride"), arg("padding"),
        arg("dilation"), arg("ceil_mode"));
  m.def("avg_pool2d_forward", &avg_pool2d_forward, arg("x"), arg("out").noconvert(),
        arg("kernel"), arg("stride"), arg("padding"), arg("ceil_mode"), arg("count_include_pad"),
        arg("divisor_override"));
  m.def("avg_pool2d_backward", &avg_pool2d_backward, arg("grad_out"),
        arg("grad_input").noconvert(), arg("kernel"), arg("stride"), arg("padding"),
        arg("ceil_mode"), arg("count_include_pad"), arg("divisor_override"));
  m.def("adaptive_avg_pool2d_forward",
        [](py::array x, py::array out) { adaptive_avg_pool2d(x, out, false); }, arg("x"),
        arg("out").noconvert());
  m.def("adaptive_avg_pool2d_backward",
        [](py::array dy, py::array dx) { adaptive_avg_pool2d(dy, dx, true); }, arg("grad_out"),
        arg("grad_input").noconvert());
}
