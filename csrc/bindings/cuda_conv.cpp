// loomgrad._cuda: the conv2d kernels. Arrays arrive as device pointers with
// their shapes; loomgrad/_gpu_conv.py has already validated them (through
// _cpu.conv2d_output_shape, the CPU kernels' own checks and messages). Here
// the geometry is checked again, enough that a direct caller of _cuda cannot
// make a kernel index out of bounds, then the GIL is released around the
// launch on the given stream.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <vector>

#include "bindings/cuda_args.h"
#include "common/check.h"
#include "cuda/conv.h"

namespace py = pybind11;

namespace lg {
namespace cuda_bind {
namespace {

using Pair = std::array<int64_t, 2>;
using Shape = std::vector<int64_t>;

// The shape of a convolution of an x of shape `x` by a weight of shape `w`,
// with OH, OW computed (the same rules as lg::cpu::conv2d_check).
lg::cuda::Conv2dShape conv_shape(const Shape& x, const Shape& w, Pair stride, Pair padding,
                                 Pair dilation, int64_t groups) {
  LG_CHECK(x.size() == 4 && w.size() == 4, "conv2d: x ", lg::shape_str(x), " and weight ",
           lg::shape_str(w), " must be 4-D");
  constexpr int64_t kMax = int64_t(1) << 31;  // keeps the products below 2^63
  for (int64_t v : x) LG_CHECK(v >= 0 && v <= kMax, "conv2d: bad x shape ", lg::shape_str(x));
  for (int64_t v : w) LG_CHECK(v >= 0 && v <= kMax, "conv2d: bad weight shape ", lg::shape_str(w));
  for (int i = 0; i < 2; ++i)
    LG_CHECK(stride[i] >= 1 && stride[i] <= kMax && padding[i] >= 0 && padding[i] <= kMax &&
                 dilation[i] >= 1 && dilation[i] <= kMax,
             "conv2d: stride and dilation must be in [1, 2^31], padding in [0, 2^31]");
  LG_CHECK(groups >= 1 && x[1] % groups == 0 && w[1] == x[1] / groups && w[0] % groups == 0,
           "conv2d: weight ", lg::shape_str(w), " with groups=", groups, " does not fit x ",
           lg::shape_str(x));
  lg::cuda::Conv2dShape s;
  s.N = x[0]; s.C = x[1]; s.H = x[2]; s.W = x[3];
  s.K = w[0]; s.R = w[2]; s.S = w[3];
  s.stride_h = stride[0]; s.stride_w = stride[1];
  s.pad_h = padding[0]; s.pad_w = padding[1];
  s.dil_h = dilation[0]; s.dil_w = dilation[1];
  s.groups = groups;
  LG_CHECK(s.R >= 1 && s.S >= 1, "conv2d: kernel size must be >= 1");
  const int64_t eff_h = s.dil_h * (s.R - 1) + 1, eff_w = s.dil_w * (s.S - 1) + 1;
  LG_CHECK(s.H + 2 * s.pad_h >= eff_h && s.W + 2 * s.pad_w >= eff_w,
           "conv2d: kernel larger than the padded input");
  s.OH = (s.H + 2 * s.pad_h - eff_h) / s.stride_h + 1;
  s.OW = (s.W + 2 * s.pad_w - eff_w) / s.stride_w + 1;
  return s;
}

void conv2d_forward(std::uintptr_t x, std::uintptr_t w, std::uintptr_t bias, std::uintptr_t out,
                    const Shape& x_shape, const Shape& w_shape, Pair stride, Pair padding,
                    Pair dilation, int64_t groups, std::uintptr_t stream) {
  const auto s = conv_shape(x_shape, w_shape, stride, padding, dilation, groups);
  py::gil_scoped_release nogil;
  lg::cuda::conv2d_forward(s, ptr<const float>(x), ptr<const float>(w), ptr<const float>(bias),
                           ptr<float>(out), cuda_bind::stream(stream));
}

void conv2d_backward_data(std::uintptr_t grad_out, std::uintptr_t w, std::uintptr_t grad_input,
                          const Shape& x_shape, const Shape& w_shape, Pair stride, Pair padding,
                          Pair dilation, int64_t groups, std::uintptr_t stream) {
  const auto s = conv_shape(x_shape, w_shape, stride, padding, dilation, groups);
  py::gil_scoped_release nogil;
  lg::cuda::conv2d_backward_data(s, ptr<const float>(grad_out), ptr<const float>(w),
                                 ptr<float>(grad_input), cuda_bind::stream(stream));
}

int64_t conv2d_backward_weight_workspace(const Shape& x_shape, const Shape& w_shape, Pair stride,
                                         Pair padding, Pair dilation, int64_t groups) {
  return lg::cuda::conv2d_backward_weight_workspace(
      conv_shape(x_shape, w_shape, stride, padding, dilation, groups));
}

void conv2d_backward_weight(std::uintptr_t grad_out, std::uintptr_t x, std::uintptr_t grad_weight,
                            std::uintptr_t workspace, int64_t workspace_elems,
                            const Shape& x_shape, const Shape& w_shape, Pair stride,
                            Pair padding, Pair dilation, int64_t groups, std::uintptr_t stream) {
  const auto s = conv_shape(x_shape, w_shape, stride, padding, dilation, groups);
  py::gil_scoped_release nogil;
  lg::cuda::conv2d_backward_weight(s, ptr<const float>(grad_out), ptr<const float>(x),
                                   ptr<float>(grad_weight), ptr<float>(workspace),
                                   workspace_elems, cuda_bind::stream(stream));
}

void conv2d_backward_bias(std::uintptr_t grad_out, std::uintptr_t grad_bias,
                          const Shape& grad_out_shape, std::uintptr_t stream) {
  LG_CHECK(grad_out_shape.size() == 4, "conv2d_backward_bias: grad_out must be 4-D, got ",
           lg::shape_str(grad_out_shape));
  for (int64_t v : grad_out_shape)
    LG_CHECK(v >= 0 && v <= (int64_t(1) << 31), "conv2d_backward_bias: bad grad_out shape ",
             lg::shape_str(grad_out_shape));
  lg::cuda::Conv2dShape s;
  s.N = grad_out_shape[0]; s.K = grad_out_shape[1];
  s.OH = grad_out_shape[2]; s.OW = grad_out_shape[3];
  py::gil_scoped_release nogil;
  lg::cuda::conv2d_backward_bias(s, ptr<const float>(grad_out), ptr<float>(grad_bias),
                                 cuda_bind::stream(stream));
}

}  // namespace

void register_conv(py::module_& m) {
  m.def("conv2d_forward", &conv2d_forward, py::arg("x"), py::arg("weight"), py::arg("bias"),
        py::arg("out"), py::arg("x_shape"), py::arg("w_shape"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::arg("stream"),
        "y = conv2d(x, weight) + bias (bias 0: none); device pointers, NCHW float32");
  m.def("conv2d_backward_data", &conv2d_backward_data, py::arg("grad_out"), py::arg("weight"),
        py::arg("grad_input"), py::arg("x_shape"), py::arg("w_shape"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::arg("stream"));
  m.def("conv2d_backward_weight_workspace", &conv2d_backward_weight_workspace,
        py::arg("x_shape"), py::arg("w_shape"), py::arg("stride"), py::arg("padding"),
        py::arg("dilation"), py::arg("groups"),
        "floats of workspace conv2d_backward_weight needs on the current device");
  m.def("conv2d_backward_weight", &conv2d_backward_weight, py::arg("grad_out"), py::arg("x"),
        py::arg("grad_weight"), py::arg("workspace"), py::arg("workspace_elems"),
        py::arg("x_shape"), py::arg("w_shape"), py::arg("stride"), py::arg("padding"),
        py::arg("dilation"), py::arg("groups"), py::arg("stream"));
  m.def("conv2d_backward_bias", &conv2d_backward_bias, py::arg("grad_out"),
        py::arg("grad_bias"), py::arg("grad_out_shape"), py::arg("stream"));
}

}  // namespace cuda_bind
}  // namespace lg
