// loomgrad._cuda: the pooling kernels. Device pointers and sizes come from
// loomgrad._gpu_pool, which validated the arrays and computed the output
// size with the CPU module's pool2d_output_shape (torch's rules); here the
// geometry is checked again -- every kernel indexes with it -- and the GIL
// is released around the launch.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>

#include "bindings/cuda_args.h"
#include "common/check.h"
#include "cuda/pool.h"

namespace py = pybind11;

namespace lg {
namespace cuda_bind {
namespace {

using Pair = std::array<int64_t, 2>;

// (planes, H, W, OH, OW) + window parameters -> a checked Pool2dShape.
lg::cuda::Pool2dShape pool_shape(const char* op, const std::array<int64_t, 5>& sizes,
                                 Pair kernel, Pair stride, Pair padding, Pair dilation) {
  constexpr int64_t kMax = int64_t(1) << 31;
  auto in_range = [](Pair p) { return p[0] >= 1 && p[1] >= 1 && p[0] <= kMax && p[1] <= kMax; };
  LG_CHECK(in_range(kernel) && in_range(stride) && in_range(dilation), op,
           ": kernel_size, stride and dilation must be in [1, 2^31]");
  LG_CHECK(padding[0] >= 0 && padding[1] >= 0 && padding[0] <= kernel[0] / 2 &&
               padding[1] <= kernel[1] / 2,
           op, ": padding must be >= 0 and at most half the kernel size");
  lg::cuda::Pool2dShape s;
  s.planes = sizes[0];
  s.H = sizes[1];
  s.W = sizes[2];
  s.OH = sizes[3];
  s.OW = sizes[4];
  LG_CHECK(s.planes >= 0 && s.H >= 1 && s.W >= 1 && s.OH >= 1 && s.OW >= 1 &&
               s.OH <= s.H + 2 * padding[0] && s.OW <= s.W + 2 * padding[1],
           op, ": bad sizes planes=", s.planes, " input (", s.H, ", ", s.W, ") output (", s.OH,
           ", ", s.OW, ")");
  s.kh = kernel[0];
  s.kw = kernel[1];
  s.sh = stride[0];
  s.sw = stride[1];
  s.ph = padding[0];
  s.pw = padding[1];
  s.dh = dilation[0];
  s.dw = dilation[1];
  return s;
}

int64_t divisor(int64_t divisor_override) {
  LG_CHECK(divisor_override >= 0, "avg_pool2d: divisor_override must be positive, got ",
           divisor_override);
  return divisor_override;
}

}  // namespace

void register_pool(py::module_& m) {
  using py::arg;
  using Sizes = std::array<int64_t, 5>;
  m.def("max_pool2d_forward",
        [](Sizes sizes, Pair kernel, Pair stride, Pair padding, Pair dilation, std::uintptr_t x,
           std::uintptr_t y, std::uintptr_t idx, std::uintptr_t stream_) {
          const auto s = pool_shape("max_pool2d", sizes, kernel, stride, padding, dilation);
          py::gil_scoped_release nogil;
          lg::cuda::max_pool2d_forward(s, ptr<const float>(x), ptr<float>(y), ptr<int64_t>(idx),
                                       stream(stream_));
        },
        arg("sizes"), arg("kernel"), arg("stride"), arg("padding"), arg("dilation"), arg("x"),
        arg("out"), arg("indices"), arg("stream"),
        "sizes = (planes, H, W, OH, OW); device pointers; int64 indices out");
  m.def("max_pool2d_backward",
        [](Sizes sizes, Pair kernel, Pair stride, Pair padding, Pair dilation,
           std::uintptr_t dy, std::uintptr_t idx, std::uintptr_t dx, std::uintptr_t bad,
           std::uintptr_t stream_) {
          const auto s =
              pool_shape("max_pool2d_backward", sizes, kernel, stride, padding, dilation);
          LG_CHECK(bad != 0, "max_pool2d_backward: the error flag is required");
          py::gil_scoped_release nogil;
          lg::cuda::max_pool2d_backward(s, ptr<const float>(dy), ptr<const int64_t>(idx),
                                        ptr<float>(dx), ptr<int>(bad), stream(stream_));
        },
        arg("sizes"), arg("kernel"), arg("stride"), arg("padding"), arg("dilation"),
        arg("grad_out"), arg("indices"), arg("grad_input"), arg("bad"), arg("stream"),
        "bad: a zeroed device int32, set to 1 when an index lies outside its plane");
  m.def("avg_pool2d_forward",
        [](Sizes sizes, Pair kernel, Pair stride, Pair padding, bool count_include_pad,
           int64_t divisor_override, std::uintptr_t x, std::uintptr_t y, std::uintptr_t stream_) {
          const auto s = pool_shape("avg_pool2d", sizes, kernel, stride, padding, {1, 1});
          const int64_t div = divisor(divisor_override);
          py::gil_scoped_release nogil;
          lg::cuda::avg_pool2d_forward(s, count_include_pad, div, ptr<const float>(x),
                                       ptr<float>(y), stream(stream_));
        },
        arg("sizes"), arg("kernel"), arg("stride"), arg("padding"), arg("count_include_pad"),
        arg("divisor_override"), arg("x"), arg("out"), arg("stream"));
  m.def("avg_pool2d_backward",
        [](Sizes sizes, Pair kernel, Pair stride, Pair padding, bool count_include_pad,
           int64_t divisor_override, std::uintptr_t dy, std::uintptr_t dx,
           std::uintptr_t stream_) {
          const auto s = pool_shape("avg_pool2d_backward", sizes, kernel, stride, padding, {1, 1});
          const int64_t div = divisor(divisor_override);
          py::gil_scoped_release nogil;
          lg::cuda::avg_pool2d_backward(s, count_include_pad, div, ptr<const float>(dy),
                                        ptr<float>(dx), stream(stream_));
        },
        arg("sizes"), arg("kernel"), arg("stride"), arg("padding"), arg("count_include_pad"),
        arg("divisor_override"), arg("grad_out"), arg("grad_input"), arg("stream"));
  m.def("adaptive_avg_pool2d",
        [](Sizes sizes, bool backward, std::uintptr_t in, std::uintptr_t out,
           std::uintptr_t stream_) {
          const int64_t planes = sizes[0], H = sizes[1], W = sizes[2], OH = sizes[3],
                        OW = sizes[4];
          LG_CHECK(planes >= 0 && H >= 1 && W >= 1 && OH >= 1 && OW >= 1,
                   "adaptive_avg_pool2d: output size must be >= 1 and the input non-empty, "
                   "got input (", H, ", ", W, "), output (", OH, ", ", OW, ")");
          py::gil_scoped_release nogil;
          if (backward)
            lg::cuda::adaptive_avg_pool2d_backward(planes, H, W, OH, OW, ptr<const float>(in),
                                                   ptr<float>(out), stream(stream_));
          else
            lg::cuda::adaptive_avg_pool2d_forward(planes, H, W, OH, OW, ptr<const float>(in),
                                                  ptr<float>(out), stream(stream_));
        },
        arg("sizes"), arg("backward"), arg("input"), arg("output"), arg("stream"),
        "sizes = (planes, H, W, OH, OW); forward: x -> out, backward: grad_out -> grad_input");
}

}  // namespace cuda_bind
}  // namespace lg
