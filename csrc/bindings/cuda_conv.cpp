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
#include "common/conv_shape.h"
#include "cuda/conv.h"

namespace py = pybind11;

namespace lg {
namespace cuda_bind {
namespace {

using Pair = std::array<int64_t, 2>;
using Shape = std::vector<int64_t>;

// The one conv shape check (common/conv_shape.h), the CPU kernels' own.
lg::cuda::Conv2dShape conv_shape(const Shape& x, const Shape& w, Pair stride, Pair padding,
                                 Pair dilation, int64_t groups) {
  return lg::conv2d_shape(x, w, stride, padding, dilation, groups);
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
