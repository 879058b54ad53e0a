// loomgrad._cuda: the LSTM kernels (cell and sequence, forward and backward).
// loomgrad/_gpu_lstm.py has checked the CuPy arrays (float32, C-contiguous,
// shapes from x and w_hh) and allocated outputs and workspaces; here sizes
// and required pointers are checked again (ValueError), then the GIL is
// released around the launches on the caller's stream. A pointer of 0 is
// "None" (zero input, or output not wanted).
#include <pybind11/pybind11.h>

#include <cstdint>

#include "bindings/cuda_args.h"
#include "common/check.h"
#include "cuda/lstm.h"

namespace py = pybind11;

namespace lg {
namespace cuda_bind {
namespace {

using Ptr = std::uintptr_t;

const float* in(Ptr p) { return ptr<const float>(p); }
float* out(Ptr p) { return ptr<float>(p); }

void check_sizes(const char* fn, int64_t T, int64_t N, int64_t I, int64_t H) {
  LG_CHECK(T >= 0 && N >= 0 && I >= 0 && H >= 0, fn, ": sizes must be non-negative, got T=", T,
           " N=", N, " I=", I, " H=", H);
}

void check_mode(const char* fn, int mode) {
  LG_CHECK(mode >= -1 && mode <= 1, fn,
           ": mode must be -1 (GEMM driver), 0 (auto) or 1 (persistent kernel), got ", mode);
}

// A required array may be 0 only when it holds no elements.
void require(const char* fn, const char* name, Ptr p, int64_t elems) {
  LG_CHECK(p != 0 || elems == 0, fn, ": ", name, " is required (", elems, " elements)");
}

// The inputs every call has: x (rows, I), the state (N, H) and the weights.
void require_inputs(const char* fn, int64_t rows, int64_t N, int64_t I, int64_t H, Ptr x, Ptr h,
                    Ptr c, Ptr w_ih, Ptr w_hh) {
  require(fn, "x", x, rows * I);
  require(fn, "h", h, N * H);
  require(fn, "c", c, N * H);
  require(fn, "w_ih", w_ih, 4 * H * I);
  require(fn, "w_hh", w_hh, 4 * H * H);
}

void cell_forward(int64_t N, int64_t I, int64_t H, Ptr x, Ptr h, Ptr c, Ptr w_ih, Ptr w_hh,
                  Ptr b_ih, Ptr b_hh, Ptr h_out, Ptr c_out, Ptr gates, Ptr stream) {
  const char* fn = "lstm_cell_forward";
  check_sizes(fn, 1, N, I, H);
  require_inputs(fn, N, N, I, H, x, h, c, w_ih, w_hh);
  require(fn, "h_out", h_out, N * H);
  require(fn, "c_out", c_out, N * H);
  require(fn, "gates", gates, N * 4 * H);
  py::gil_scoped_release nogil;
  lg::cuda::lstm_cell_forward(N, I, H, in(x), in(h), in(c), in(w_ih), in(w_hh), in(b_ih),
                              in(b_hh), out(h_out), out(c_out), out(gates),
                              cuda_bind::stream(stream));
}

void cell_backward(int64_t N, int64_t I, int64_t H, Ptr dh_out, Ptr dc_out, Ptr x, Ptr h, Ptr c,
                   Ptr w_ih, Ptr w_hh, Ptr gates, Ptr c_out, Ptr dgates, Ptr dx, Ptr dh, Ptr dc,
                   Ptr dw_ih, Ptr dw_hh, Ptr db, Ptr stream) {
  const char* fn = "lstm_cell_backward";
  check_sizes(fn, 1, N, I, H);
  require_inputs(fn, N, N, I, H, x, h, c, w_ih, w_hh);
  require(fn, "gates", gates, N * 4 * H);
  require(fn, "c_out", c_out, N * H);
  require(fn, "dgates", dgates, N * 4 * H);
  py::gil_scoped_release nogil;
  lg::cuda::lstm_cell_backward(N, I, H, in(dh_out), in(dc_out), in(x), in(h), in(c), in(w_ih),
                               in(w_hh), in(gates), in(c_out), out(dgates), out(dx), out(dh),
                               out(dc), out(dw_ih), out(dw_hh), out(db), cuda_bind::stream(stream));
}

// Returns the path that ran (0 GEMM driver, 1 persistent kernel).
int sequence_forward(int64_t T, int64_t N, int64_t I, int64_t H, bool reverse, Ptr x, Ptr h0,
                     Ptr c0, Ptr w_ih, Ptr w_hh, Ptr b_ih, Ptr b_hh, Ptr y, Ptr h_n, Ptr c_n,
                     Ptr gates, Ptr cs, int mode, Ptr stream) {
  const char* fn = "lstm_sequence_forward";
  check_sizes(fn, T, N, I, H);
  check_mode(fn, mode);
  require_inputs(fn, T * N, N, I, H, x, h0, c0, w_ih, w_hh);
  require(fn, "y", y, T * N * H);
  require(fn, "h_n", h_n, N * H);
  require(fn, "c_n", c_n, N * H);
  require(fn, "gates", gates, T * N * 4 * H);
  require(fn, "cs", cs, T * N * H);
  py::gil_scoped_release nogil;
  return static_cast<int>(lg::cuda::lstm_sequence_forward(
      T, N, I, H, reverse, in(x), in(h0), in(c0), in(w_ih), in(w_hh), in(b_ih), in(b_hh), out(y),
      out(h_n), out(c_n), out(gates), out(cs), mode, cuda_bind::stream(stream)));
}

// Returns the path that ran, as sequence_forward.
int sequence_backward(int64_t T, int64_t N, int64_t I, int64_t H, bool reverse, Ptr dy,
                       Ptr dh_n, Ptr dc_n, Ptr x, Ptr h0, Ptr c0, Ptr w_ih, Ptr w_hh, Ptr y,
                       Ptr gates, Ptr cs, Ptr dgates, Ptr dx, Ptr dh0, Ptr dc0, Ptr dw_ih,
                       Ptr dw_hh, Ptr db, Ptr workspace, int64_t workspace_size, int mode,
                       Ptr stream) {
  const char* fn = "lstm_sequence_backward";
  check_sizes(fn, T, N, I, H);
  require_inputs(fn, T * N, N, I, H, x, h0, c0, w_ih, w_hh);
  require(fn, "y", y, T * N * H);
  require(fn, "gates", gates, T * N * 4 * H);
  require(fn, "cs", cs, T * N * H);
  require(fn, "dgates", dgates, T * N * 4 * H);
  require(fn, "dh0", dh0, N * H);
  require(fn, "dc0", dc0, N * H);
  LG_CHECK(workspace_size >= 0, fn, ": workspace_size must be >= 0, got ", workspace_size);
  require(fn, "workspace", workspace, workspace_size);
  check_mode(fn, mode);
  py::gil_scoped_release nogil;
  return static_cast<int>(lg::cuda::lstm_sequence_backward(
      T, N, I, H, reverse, in(dy), in(dh_n), in(dc_n), in(x), in(h0), in(c0), in(w_ih),
      in(w_hh), in(y), in(gates), in(cs), out(dgates), out(dx), out(dh0), out(dc0), out(dw_ih),
      out(dw_hh), out(db), out(workspace), workspace_size, mode, cuda_bind::stream(stream)));
}

}  // namespace

void register_lstm(py::module_& m) {
  using py::arg;
  m.def("lstm_cell_forward", &cell_forward, arg("N"), arg("I"), arg("H"), arg("x"), arg("h"),
        arg("c"), arg("w_ih"), arg("w_hh"), arg("b_ih"), arg("b_hh"), arg("h_out"), arg("c_out"),
        arg("gates"), arg("stream"),
        "One LSTM step on device pointers; gates (N, 4H) receives the activations.");
  m.def("lstm_cell_backward", &cell_backward, arg("N"), arg("I"), arg("H"), arg("dh_out"),
        arg("dc_out"), arg("x"), arg("h"), arg("c"), arg("w_ih"), arg("w_hh"), arg("gates"),
        arg("c_out"), arg("dgates"), arg("dx"), arg("dh"), arg("dc"), arg("dw_ih"),
        arg("dw_hh"), arg("db"), arg("stream"),
        "Backward of lstm_cell_forward; 0 pointers are skipped outputs / zero inputs.");
  m.def("lstm_sequence_forward", &sequence_forward, arg("T"), arg("N"), arg("I"), arg("H"),
        arg("reverse"), arg("x"), arg("h0"), arg("c0"), arg("w_ih"), arg("w_hh"), arg("b_ih"),
        arg("b_hh"), arg("y"), arg("h_n"), arg("c_n"), arg("gates"), arg("cs"), arg("mode"),
        arg("stream"),
        "One LSTM layer over (T, N, I) in one direction; mode -1 GEMM driver, 0 auto, 1 "
        "persistent kernel. Returns the path that ran (0 GEMM, 1 persistent).");
  m.def("lstm_sequence_backward", &sequence_backward, arg("T"), arg("N"), arg("I"), arg("H"),
        arg("reverse"), arg("dy"), arg("dh_n"), arg("dc_n"), arg("x"), arg("h0"), arg("c0"),
        arg("w_ih"), arg("w_hh"), arg("y"), arg("gates"), arg("cs"), arg("dgates"), arg("dx"),
        arg("dh0"), arg("dc0"), arg("dw_ih"), arg("dw_hh"), arg("db"), arg("workspace"),
        arg("workspace_size"), arg("mode"), arg("stream"),
        "Backward of lstm_sequence_forward; db is the gradient of each bias; workspace "
        "(workspace_size floats, from lstm_sequence_backward_workspace) holds split-K partial "
        "products; mode as for the forward. Returns the path that ran.");
  m.def("lstm_sequence_backward_workspace",
        [](int64_t T, int64_t N, int64_t I, int64_t H) {
          check_sizes("lstm_sequence_backward_workspace", T, N, I, H);
          return lg::cuda::lstm_sequence_backward_workspace(T, N, I, H);
        },
        arg("T"), arg("N"), arg("I"), arg("H"),
        "Floats of workspace lstm_sequence_backward uses on the current device.");
}

}  // namespace cuda_bind
}  // namespace lg
