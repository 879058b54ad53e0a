// loomgrad._cpu: the upsampling kernels (nearest / bilinear 2-D; csrc/cpu/upsample.cpp).
// As every binding: validate with the GIL held (array_args.h), then release it around the
// kernel. The output (forward) or grad_input (backward) comes from the caller (noconvert)
// and fixes the other side's size; scale factors <= 0 mean "none" (torch's optional scales).
// Python-side conveniences (size / scale_factor, 3-D inputs, allocation) live in
// loomgrad/kernels/upsample.py.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "bindings/array_args.h"
#include "cpu/upsample.h"

namespace py = pybind11;

namespace {

using lg::DType;

void require_nchw(const char* name, const py::array& a) {
  lg::require_ndim(name, a, 4, 4);
  lg::require_contiguous(name, a);
}

// small: (planes, H, W) side = x (forward) or grad_input (backward); big: the other side.
lg::cpu::Upsample2dShape upsample_shape(const char* op, const char* in_name,
                                        const py::array& in, const char* out_name,
                                        const py::array& out, double scale_h, double scale_w,
                                        bool align_corners, bool backward) {
  require_nchw(in_name, in);
  require_nchw(out_name, out);
  lg::require_same_dtype(out_name, out, in_name, in);
  lg::require_writeable(out_name, out);
  lg::require_no_overlap(out_name, out, in_name, in);
  LG_CHECK(in.shape(0) == out.shape(0) && in.shape(1) == out.shape(1), op, ": ", out_name,
           " must have the batch and channels of ", lg::describe(in_name, in), ", got ",
           lg::describe(out_name, out));
  const py::array& src = backward ? out : in;  // the input image's side
  const py::array& dst = backward ? in : out;
  lg::cpu::Upsample2dShape s;
  s.planes = in.shape(0) * in.shape(1);
  s.H = src.shape(2); s.W = src.shape(3);
  s.OH = dst.shape(2); s.OW = dst.shape(3);
  s.scale_h = scale_h; s.scale_w = scale_w;
  s.align_corners = align_corners;
  lg::cpu::upsample2d_check(s, op);
  return s;
}

template <typename Kernel>
void run(const char* op, const char* in_name, py::array in, const char* out_name,
         py::array out, double scale_h, double scale_w, bool align_corners, bool backward,
         Kernel kernel) {
  const DType dt = lg::float_dtype(in_name, in);
  const auto s = upsample_shape(op, in_name, in, out_name, out, scale_h, scale_w, align_corners,
                          backward);
  if (out.size() == 0) return;
  lg::dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* pi = static_cast<const T*>(in.data());
    T* po = static_cast<T*>(out.mutable_data());
    py::gil_scoped_release nogil;
    kernel(s, pi, po);
  });
}

void nearest_forward(py::array x, py::array out, double scale_h, double scale_w) {
  run("upsample_nearest2d", "x", x, "out", out, scale_h, scale_w, false, false,
      [](const auto& s, auto* pi, auto* po) { lg::cpu::upsample_nearest2d_forward(s, pi, po); });
}

void nearest_backward(py::array dy, py::array dx, double scale_h, double scale_w) {
  run("upsample_nearest2d_backward", "grad_out", dy, "grad_input", dx, scale_h, scale_w, false,
      true,
      [](const auto& s, auto* pi, auto* po) { lg::cpu::upsample_nearest2d_backward(s, pi, po); });
}

void bilinear_forward(py::array x, py::array out, bool align_corners, double scale_h,
                      double scale_w) {
  run("upsample_bilinear2d", "x", x, "out", out, scale_h, scale_w, align_corners, false,
      [](const auto& s, auto* pi, auto* po) { lg::cpu::upsample_bilinear2d_forward(s, pi, po); });
}

void bilinear_backward(py::array dy, py::array dx, bool align_corners, double scale_h,
                       double scale_w) {
  run("upsample_bilinear2d_backward", "grad_out", dy, "grad_input", dx, scale_h, scale_w,
      align_corners, true, [](const auto& s, auto* pi, auto* po) {
        lg::cpu::upsample_bilinear2d_backward(s, pi, po);
      });
}

}  // namespace

void register_upsample_kernels(py::module_& m) {
  using py::arg;
  m.def("upsample_nearest2d_forward", &nearest_forward, arg("x"), arg("out").noconvert(),
        arg("scale_h"), arg("scale_w"));
  m.def("upsample_nearest2d_backward", &nearest_backward, arg("grad_out"),
        arg("grad_input").noconvert(), arg("scale_h"), arg("scale_w"));
  m.def("upsample_bilinear2d_forward", &bilinear_forward, arg("x"), arg("out").noconvert(),
        arg("align_corners"), arg("scale_h"), arg("scale_w"));
  m.def("upsample_bilinear2d_backward", &bilinear_backward, arg("grad_out"),
        arg("grad_input").noconvert(), arg("align_corners"), arg("scale_h"), arg("scale_w"));
}
