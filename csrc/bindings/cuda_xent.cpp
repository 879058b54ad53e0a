// loomgrad._cuda: softmax, log-softmax and the fused softmax cross-entropy.
// Device pointers and sizes come from loomgrad._gpu_xent, which validated
// the arrays; class indices are checked by the kernels themselves (a bad one
// is never used to read and sets the `bad` flag, which _gpu_xent turns into
// the CPU kernel's ValueError). Here the sizes and options are checked again
// and the GIL released around launches.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "bindings/cuda_args.h"
#include "common/check.h"
#include "cuda/softmax_xent.h"

namespace py = pybind11;

namespace lg {
namespace cuda_bind {
namespace {

void check_rows(const char* op, int64_t rows, int64_t C) {
  LG_CHECK(rows >= 0 && C >= 0 && C < (int64_t(1) << 30), op, ": bad sizes (", rows, ", ", C,
           ") (rows >= 0, 0 <= C < 2^30: a row index plus a block stride must fit an int)");
}

lg::cuda::Reduction parse_reduction(const std::string& r) {
  if (r == "mean") return lg::cuda::Reduction::mean;
  if (r == "sum") return lg::cuda::Reduction::sum;
  LG_CHECK(r == "none", "softmax_cross_entropy: reduction must be 'mean', 'sum' or 'none', got '",
           r, "'");
  return lg::cuda::Reduction::none;
}

lg::cuda::XentArgs xent_args(int64_t N, int64_t C, std::uintptr_t target,
                             std::uintptr_t target_prob, std::uintptr_t weight,
                             int64_t ignore_index, const std::string& reduction,
                             double label_smoothing) {
  check_rows("softmax_cross_entropy", N, C);
  LG_CHECK((target != 0) != (target_prob != 0),
           "softmax_cross_entropy: give exactly one of class-index or probability targets");
  LG_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0,
           "softmax_cross_entropy: label_smoothing must be in [0, 1], got ", label_smoothing);
  lg::cuda::XentArgs a;
  a.N = N;
  a.C = C;
  a.target = ptr<const int64_t>(target);
  a.target_prob = ptr<const float>(target_prob);
  a.weight = ptr<const float>(weight);
  a.ignore_index = ignore_index;
  a.reduction = parse_reduction(reduction);
  a.label_smoothing = label_smoothing;
  return a;
}

}  // namespace

void register_xent(py::module_& m) {
  using py::arg;
  m.def("softmax_forward",
        [](int64_t rows, int64_t C, std::uintptr_t x, std::uintptr_t y, bool log,
           std::uintptr_t stream_) {
          check_rows(log ? "log_softmax" : "softmax", rows, C);
          py::gil_scoped_release nogil;
          if (log) lg::cuda::log_softmax_forward(rows, C, ptr<const float>(x), ptr<float>(y),
                                                 stream(stream_));
          else lg::cuda::softmax_forward(rows, C, ptr<const float>(x), ptr<float>(y),
                                         stream(stream_));
        },
        arg("rows"), arg("C"), arg("x"), arg("out"), arg("log"), arg("stream"));
  m.def("softmax_backward",
        [](int64_t rows, int64_t C, std::uintptr_t y, std::uintptr_t dy, std::uintptr_t dx,
           bool log, std::uintptr_t stream_) {
          check_rows(log ? "log_softmax_backward" : "softmax_backward", rows, C);
          py::gil_scoped_release nogil;
          if (log) lg::cuda::log_softmax_backward(rows, C, ptr<const float>(y),
                                                  ptr<const float>(dy), ptr<float>(dx),
                                                  stream(stream_));
          else lg::cuda::softmax_backward(rows, C, ptr<const float>(y), ptr<const float>(dy),
                                          ptr<float>(dx), stream(stream_));
        },
        arg("rows"), arg("C"), arg("out"), arg("grad_out"), arg("grad_input"), arg("log"),
        arg("stream"));
  m.def("softmax_xent_forward",
        [](int64_t N, int64_t C, std::uintptr_t logits, std::uintptr_t target,
           std::uintptr_t target_prob, std::uintptr_t weight, int64_t ignore_index,
           const std::string& reduction, double label_smoothing, std::uintptr_t loss,
           std::uintptr_t row_loss, std::uintptr_t row_weight, std::uintptr_t bad,
           std::uintptr_t stream_) {
          const auto a = xent_args(N, C, target, target_prob, weight, ignore_index, reduction,
                                   label_smoothing);
          LG_CHECK(a.reduction == lg::cuda::Reduction::none || (row_loss && row_weight),
                   "softmax_cross_entropy: the row workspaces are required for mean/sum");
          LG_CHECK(bad != 0, "softmax_cross_entropy: the error flag is required");
          py::gil_scoped_release nogil;
          lg::cuda::softmax_xent_forward(a, ptr<const float>(logits), ptr<float>(loss),
                                         ptr<double>(row_loss), ptr<double>(row_weight),
                                         ptr<int>(bad), stream(stream_));
        },
        arg("N"), arg("C"), arg("logits"), arg("target"), arg("target_prob"), arg("weight"),
        arg("ignore_index"), arg("reduction"), arg("label_smoothing"), arg("loss"),
        arg("row_loss"), arg("row_weight"), arg("bad"), arg("stream"),
        "target (int64) or target_prob (float32) is 0; weight 0 = none; row_loss/row_weight: "
        "N-double workspaces for mean/sum; bad: a device int32, set to 1 on a class index "
        "outside [0, C) that is not ignore_index.");
  m.def("softmax_xent_backward",
        [](int64_t N, int64_t C, std::uintptr_t grad_loss, std::uintptr_t logits,
           std::uintptr_t target, std::uintptr_t target_prob, std::uintptr_t weight,
           int64_t ignore_index, const std::string& reduction, double label_smoothing,
           std::uintptr_t dlogits, std::uintptr_t scalars, std::uintptr_t bad,
           std::uintptr_t stream_) {
          const auto a = xent_args(N, C, target, target_prob, weight, ignore_index, reduction,
                                   label_smoothing);
          LG_CHECK(scalars != 0 && bad != 0,
                   "softmax_cross_entropy_backward: the workspace and error flag are required");
          py::gil_scoped_release nogil;
          lg::cuda::softmax_xent_backward(a, ptr<const float>(logits),
                                          ptr<const float>(grad_loss), ptr<float>(dlogits),
                                          ptr<float>(scalars), ptr<int>(bad), stream(stream_));
        },
        arg("N"), arg("C"), arg("grad_loss"), arg("logits"), arg("target"), arg("target_prob"),
        arg("weight"), arg("ignore_index"), arg("reduction"), arg("label_smoothing"),
        arg("grad_logits"), arg("scalars"), arg("bad"), arg("stream"),
        "scalars: a 2-float32 workspace; other arguments as softmax_xent_forward");
}

}  // namespace cuda_bind
}  // namespace lg
