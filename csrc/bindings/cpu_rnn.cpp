// loomgrad._cpu: the recurrent kernels: LSTM (cell and sequence) and GRU
// (sequence), forward and backward.
// As cpu_module.cpp: validate with the GIL held (array_args.h: dtype, rank,
// contiguity, writability, aliasing; errors name the argument and shapes),
// then release the GIL around the kernel. Outputs and workspaces come from
// the caller (loomgrad/_lstm_kernels.py) and are taken with noconvert(); an
// optional array is an object that may be None. Sizes come from x (N, I) or
// (T, N, I) and w_hh (4H, H) for the LSTM, (3H, H) for the GRU; every other
// argument must match them.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <utility>
#include <vector>

#include "bindings/array_args.h"
#include "cpu/gru.h"
#include "cpu/lstm.h"

namespace py = pybind11;

namespace {

using lg::DType;
using Shape = std::vector<int64_t>;

// Collects the validated arrays of one call, so each output can be checked
// against every input for aliasing.
class Args {
 public:
  Args(const char* fn, const py::array& ref) : fn_(fn), ref_(ref) {
    dt_ = lg::float_dtype("x", ref);
  }
  DType dtype() const { return dt_; }

  void input(const char* name, const py::array& a, const Shape& shape) {
    check(name, a, shape);
    inputs_.emplace_back(name, a);
  }
  // None -> nullptr.
  const void* opt_input(const char* name, const py::object& o, const Shape& shape) {
    if (o.is_none()) return nullptr;
    py::array a = as_array(name, o);
    input(name, a, shape);
    return a.data();
  }
  void* output(const char* name, const py::array& a, const Shape& shape) {
    check(name, a, shape);
    lg::require_writeable(name, a);
    for (const auto& in : inputs_) lg::require_no_overlap(name, a, in.first, in.second);
    for (const auto& out : outputs_) lg::require_no_overlap(name, a, out.first, out.second);
    outputs_.emplace_back(name, a);
    return outputs_.back().second.mutable_data();
  }
  void* opt_output(const char* name, const py::object& o, const Shape& shape) {
    if (o.is_none()) return nullptr;
    return output(name, as_array(name, o), shape);
  }

 private:
  static py::array as_array(const char* name, const py::object& o) { return lg::as_array(name, o); }
  void check(const char* name, const py::array& a, const Shape& shape) {
    lg::require_same_dtype(name, a, "x", ref_);
    const int nd = static_cast<int>(shape.size());
    lg::require_ndim(name, a, nd, nd);
    LG_CHECK(lg::shape_of(a) == shape, fn_, ": ", name, " must have shape ", lg::shape_str(shape),
             " (from x ", lg::shape_str(lg::shape_of(ref_)), "), got ", lg::describe(name, a));
    lg::require_contiguous(name, a);
  }

  const char* fn_;
  const py::array& ref_;
  DType dt_;
  std::vector<std::pair<const char*, py::array>> inputs_, outputs_;
};

// (gates*H, I) / (gates*H, H) weights: H from w_hh, I from x's last dimension.
int64_t hidden_size(const char* fn, const py::array& w_hh, int gates = 4) {
  lg::require_ndim("w_hh", w_hh, 2, 2);
  const int64_t H = w_hh.shape(1);
  LG_CHECK(w_hh.shape(0) == gates * H, fn, ": w_hh must have shape (", gates,
           "*hidden, hidden), got ", lg::describe("w_hh", w_hh));
  return H;
}

// A sequence kernel's x (T, N, I), h0 (N, H), w_ih (gates*H, I) and w_hh
// (gates*H, H), checked; the sizes they define.
struct SeqSizes {
  int64_t T, N, I, H;
};
SeqSizes sequence_inputs(Args& a, const char* fn, const py::array& x, const py::array& h0,
                         const py::array& w_ih, const py::array& w_hh, int gates) {
  lg::require_ndim("x", x, 3, 3);
  const int64_t T_ = x.shape(0), N = x.shape(1), I = x.shape(2), H = hidden_size(fn, w_hh, gates);
  a.input("x", x, {T_, N, I});
  a.input("h0", h0, {N, H});
  a.input("w_ih", w_ih, {gates * H, I});
  a.input("w_hh", w_hh, {gates * H, H});
  return {T_, N, I, H};
}

template <typename T>
const T* cp(const void* p) { return static_cast<const T*>(p); }
template <typename T>
T* mp(void* p) { return static_cast<T*>(p); }

// ------------------------------------------------------------------ cell
void cell_forward(py::array x, py::array h, py::array c, py::array w_ih, py::array w_hh,
                  py::object b_ih, py::object b_hh, py::array h_out, py::array c_out,
                  py::array gates) {
  const char* fn = "lstm_cell_forward";
  Args a(fn, x);
  lg::require_ndim("x", x, 2, 2);
  const int64_t N = x.shape(0), I = x.shape(1), H = hidden_size(fn, w_hh);
  a.input("x", x, {N, I});
  a.input("h", h, {N, H});
  a.input("c", c, {N, H});
  a.input("w_ih", w_ih, {4 * H, I});
  a.input("w_hh", w_hh, {4 * H, H});
  const void* pbi = a.opt_input("b_ih", b_ih, {4 * H});
  const void* pbh = a.opt_input("b_hh", b_hh, {4 * H});
  void* ph = a.output("h_out", h_out, {N, H});
  void* pc = a.output("c_out", c_out, {N, H});
  void* pg = a.output("gates", gates, {N, 4 * H});
  lg::dispatch_float(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    py::gil_scoped_release nogil;
    lg::cpu::lstm_cell_forward<T>(N, I, H, cp<T>(x.data()), cp<T>(h.data()), cp<T>(c.data()),
                                  cp<T>(w_ih.data()), cp<T>(w_hh.data()), cp<T>(pbi),
                                  cp<T>(pbh), mp<T>(ph), mp<T>(pc), mp<T>(pg));
  });
}

void cell_backward(py::object dh_out, py::object dc_out, py::array x, py::array h, py::array c,
                   py::array w_ih, py::array w_hh, py::array gates, py::array c_out,
                   py::array dgates, py::object dx, py::object dh, py::object dc,
                   py::object dw_ih, py::object dw_hh, py::object db) {
  const char* fn = "lstm_cell_backward";
  Args a(fn, x);
  lg::require_ndim("x", x, 2, 2);
  const int64_t N = x.shape(0), I = x.shape(1), H = hidden_size(fn, w_hh);
  a.input("x", x, {N, I});
  a.input("h", h, {N, H});
  a.input("c", c, {N, H});
  a.input("w_ih", w_ih, {4 * H, I});
  a.input("w_hh", w_hh, {4 * H, H});
  a.input("gates", gates, {N, 4 * H});
  a.input("c_out", c_out, {N, H});
  const void* pdh_out = a.opt_input("dh_out", dh_out, {N, H});
  const void* pdc_out = a.opt_input("dc_out", dc_out, {N, H});
  void* pdg = a.output("dgates", dgates, {N, 4 * H});
  void* pdx = a.opt_output("dx", dx, {N, I});
  void* pdh = a.opt_output("dh", dh, {N, H});
  void* pdc = a.opt_output("dc", dc, {N, H});
  void* pdwi = a.opt_output("dw_ih", dw_ih, {4 * H, I});
  void* pdwh = a.opt_output("dw_hh", dw_hh, {4 * H, H});
  void* pdb = a.opt_output("db", db, {4 * H});
  lg::dispatch_float(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    py::gil_scoped_release nogil;
    lg::cpu::lstm_cell_backward<T>(N, I, H, cp<T>(pdh_out), cp<T>(pdc_out), cp<T>(x.data()),
                                   cp<T>(h.data()), cp<T>(c.data()), cp<T>(w_ih.data()),
                                   cp<T>(w_hh.data()), cp<T>(gates.data()), cp<T>(c_out.data()),
                                   mp<T>(pdg), mp<T>(pdx), mp<T>(pdh), mp<T>(pdc), mp<T>(pdwi),
                                   mp<T>(pdwh), mp<T>(pdb));
  });
}

// ------------------------------------------------------------------ sequence
void sequence_forward(py::array x, py::array h0, py::array c0, py::array w_ih, py::array w_hh,
                      py::object b_ih, py::object b_hh, py::array y, py::array h_n,
                      py::array c_n, py::array gates, py::array cs, bool reverse) {
  const char* fn = "lstm_sequence_forward";
  Args a(fn, x);
  const SeqSizes sz = sequence_inputs(a, fn, x, h0, w_ih, w_hh, 4);
  const int64_t T_ = sz.T, N = sz.N, I = sz.I, H = sz.H;
  a.input("c0", c0, {N, H});
  const void* pbi = a.opt_input("b_ih", b_ih, {4 * H});
  const void* pbh = a.opt_input("b_hh", b_hh, {4 * H});
  void* py_ = a.output("y", y, {T_, N, H});
  void* phn = a.output("h_n", h_n, {N, H});
  void* pcn = a.output("c_n", c_n, {N, H});
  void* pg = a.output("gates", gates, {T_, N, 4 * H});
  void* pcs = a.output("cs", cs, {T_, N, H});
  lg::dispatch_float(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    py::gil_scoped_release nogil;
    lg::cpu::lstm_sequence_forward<T>(T_, N, I, H, reverse, cp<T>(x.data()), cp<T>(h0.data()),
                                      cp<T>(c0.data()), cp<T>(w_ih.data()), cp<T>(w_hh.data()),
                                      cp<T>(pbi), cp<T>(pbh), mp<T>(py_), mp<T>(phn),
                                      mp<T>(pcn), mp<T>(pg), mp<T>(pcs));
  });
}

void sequence_backward(py::object dy, py::object dh_n, py::object dc_n, py::array x,
                       py::array h0, py::array c0, py::array w_ih, py::array w_hh, py::array y,
                       py::array gates, py::array cs, py::array dgates, py::object dx,
                       py::array dh0, py::array dc0, py::object dw_ih, py::object dw_hh,
                       py::object db, bool reverse) {
  const char* fn = "lstm_sequence_backward";
  Args a(fn, x);
  const SeqSizes sz = sequence_inputs(a, fn, x, h0, w_ih, w_hh, 4);
  const int64_t T_ = sz.T, N = sz.N, I = sz.I, H = sz.H;
  a.input("c0", c0, {N, H});
  a.input("y", y, {T_, N, H});
  a.input("gates", gates, {T_, N, 4 * H});
  a.input("cs", cs, {T_, N, H});
  const void* pdy = a.opt_input("dy", dy, {T_, N, H});
  const void* pdhn = a.opt_input("dh_n", dh_n, {N, H});
  const void* pdcn = a.opt_input("dc_n", dc_n, {N, H});
  void* pdg = a.output("dgates", dgates, {T_, N, 4 * H});
  void* pdx = a.opt_output("dx", dx, {T_, N, I});
  void* pdh0 = a.output("dh0", dh0, {N, H});
  void* pdc0 = a.output("dc0", dc0, {N, H});
  void* pdwi = a.opt_output("dw_ih", dw_ih, {4 * H, I});
  void* pdwh = a.opt_output("dw_hh", dw_hh, {4 * H, H});
  void* pdb = a.opt_output("db", db, {4 * H});
  lg::dispatch_float(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    py::gil_scoped_release nogil;
    lg::cpu::lstm_sequence_backward<T>(
        T_, N, I, H, reverse, cp<T>(pdy), cp<T>(pdhn), cp<T>(pdcn), cp<T>(x.data()),
        cp<T>(h0.data()), cp<T>(c0.data()), cp<T>(w_ih.data()), cp<T>(w_hh.data()),
        cp<T>(y.data()), cp<T>(gates.data()), cp<T>(cs.data()), mp<T>(pdg), mp<T>(pdx),
        mp<T>(pdh0), mp<T>(pdc0), mp<T>(pdwi), mp<T>(pdwh), mp<T>(pdb));
  });
}

// ------------------------------------------------------------------ GRU sequence
void gru_forward(py::array x, py::array h0, py::array w_ih, py::array w_hh, py::object b_ih,
                 py::object b_hh, py::array y, py::array h_n, py::array acts, bool reverse) {
  const char* fn = "gru_sequence_forward";
  Args a(fn, x);
  const SeqSizes sz = sequence_inputs(a, fn, x, h0, w_ih, w_hh, 3);
  const int64_t T_ = sz.T, N = sz.N, I = sz.I, H = sz.H;
  const void* pbi = a.opt_input("b_ih", b_ih, {3 * H});
  const void* pbh = a.opt_input("b_hh", b_hh, {3 * H});
  void* py_ = a.output("y", y, {T_, N, H});
  void* phn = a.output("h_n", h_n, {N, H});
  void* pa = a.output("acts", acts, {T_, N, 4 * H});
  lg::dispatch_float(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    py::gil_scoped_release nogil;
    lg::cpu::gru_sequence_forward<T>(T_, N, I, H, reverse, cp<T>(x.data()), cp<T>(h0.data()),
                                     cp<T>(w_ih.data()), cp<T>(w_hh.data()), cp<T>(pbi),
                                     cp<T>(pbh), mp<T>(py_), mp<T>(phn), mp<T>(pa));
  });
}

void gru_backward(py::object dy, py::object dh_n, py::array x, py::array h0, py::array w_ih,
                  py::array w_hh, py::array y, py::array acts, py::array dgx, py::array dgh,
                  py::object dx, py::array dh0, py::object dw_ih, py::object dw_hh,
                  py::object db_ih, py::object db_hh, bool reverse) {
  const char* fn = "gru_sequence_backward";
  Args a(fn, x);
  const SeqSizes sz = sequence_inputs(a, fn, x, h0, w_ih, w_hh, 3);
  const int64_t T_ = sz.T, N = sz.N, I = sz.I, H = sz.H;
  a.input("y", y, {T_, N, H});
  a.input("acts", acts, {T_, N, 4 * H});
  const void* pdy = a.opt_input("dy", dy, {T_, N, H});
  const void* pdhn = a.opt_input("dh_n", dh_n, {N, H});
  void* pgx = a.output("dgx", dgx, {T_, N, 3 * H});
  void* pgh = a.output("dgh", dgh, {T_, N, 3 * H});
  void* pdx = a.opt_output("dx", dx, {T_, N, I});
  void* pdh0 = a.output("dh0", dh0, {N, H});
  void* pdwi = a.opt_output("dw_ih", dw_ih, {3 * H, I});
  void* pdwh = a.opt_output("dw_hh", dw_hh, {3 * H, H});
  void* pdbi = a.opt_output("db_ih", db_ih, {3 * H});
  void* pdbh = a.opt_output("db_hh", db_hh, {3 * H});
  lg::dispatch_float(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    py::gil_scoped_release nogil;
    lg::cpu::gru_sequence_backward<T>(
        T_, N, I, H, reverse, cp<T>(pdy), cp<T>(pdhn), cp<T>(x.data()), cp<T>(h0.data()),
        cp<T>(w_ih.data()), cp<T>(w_hh.data()), cp<T>(y.data()), cp<T>(acts.data()),
        mp<T>(pgx), mp<T>(pgh), mp<T>(pdx), mp<T>(pdh0), mp<T>(pdwi), mp<T>(pdwh), mp<T>(pdbi),
        mp<T>(pdbh));
  });
}

}  // namespace

void register_rnn_kernels(py::module_& m) {
  using py::arg;
  m.def("lstm_cell_forward", &cell_forward, arg("x"), arg("h"), arg("c"), arg("w_ih"),
        arg("w_hh"), arg("b_ih").none(true), arg("b_hh").none(true), arg("h_out").noconvert(),
        arg("c_out").noconvert(), arg("gates").noconvert(),
        "One LSTM step: x (N, I), h, c (N, H) -> h_out, c_out (N, H); gates (N, 4H) "
        "receives the activations (i, f, g, o) for backward.");
  m.def("lstm_cell_backward", &cell_backward, arg("dh_out").none(true), arg("dc_out").none(true),
        arg("x"), arg("h"), arg("c"), arg("w_ih"), arg("w_hh"), arg("gates"), arg("c_out"),
        arg("dgates").noconvert(), arg("dx").noconvert().none(true),
        arg("dh").noconvert().none(true), arg("dc").noconvert().none(true),
        arg("dw_ih").noconvert().none(true), arg("dw_hh").noconvert().none(true),
        arg("db").noconvert().none(true),
        "Backward of lstm_cell_forward; None outputs are skipped, db is the gradient of "
        "both biases.");
  m.def("lstm_sequence_forward", &sequence_forward, arg("x"), arg("h0"), arg("c0"), arg("w_ih"),
        arg("w_hh"), arg("b_ih").none(true), arg("b_hh").none(true), arg("y").noconvert(),
        arg("h_n").noconvert(), arg("c_n").noconvert(), arg("gates").noconvert(),
        arg("cs").noconvert(), arg("reverse") = false,
        "One LSTM layer over x (T, N, I) in one direction: y (T, N, H), h_n, c_n (N, H); "
        "gates (T, N, 4H) and cs (T, N, H) are saved for backward.");
  m.def("lstm_sequence_backward", &sequence_backward, arg("dy").none(true),
        arg("dh_n").none(true), arg("dc_n").none(true), arg("x"), arg("h0"), arg("c0"),
        arg("w_ih"), arg("w_hh"), arg("y"), arg("gates"), arg("cs"), arg("dgates").noconvert(),
        arg("dx").noconvert().none(true), arg("dh0").noconvert(), arg("dc0").noconvert(),
        arg("dw_ih").noconvert().none(true), arg("dw_hh").noconvert().none(true),
        arg("db").noconvert().none(true), arg("reverse") = false,
        "Backward of lstm_sequence_forward; None outputs are skipped, db is the gradient of "
        "both biases.");
  m.def("gru_sequence_forward", &gru_forward, arg("x"), arg("h0"), arg("w_ih"), arg("w_hh"),
        arg("b_ih").none(true), arg("b_hh").none(true), arg("y").noconvert(),
        arg("h_n").noconvert(), arg("acts").noconvert(), arg("reverse") = false,
        "One GRU layer over x (T, N, I) in one direction: y (T, N, H), h_n (N, H); acts "
        "(T, N, 4H) = r, z, n, hn per step, saved for backward.");
  m.def("gru_sequence_backward", &gru_backward, arg("dy").none(true), arg("dh_n").none(true),
        arg("x"), arg("h0"), arg("w_ih"), arg("w_hh"), arg("y"), arg("acts"),
        arg("dgx").noconvert(), arg("dgh").noconvert(), arg("dx").noconvert().none(true),
        arg("dh0").noconvert(), arg("dw_ih").noconvert().none(true),
        arg("dw_hh").noconvert().none(true), arg("db_ih").noconvert().none(true),
        arg("db_hh").noconvert().none(true), arg("reverse") = false,
        "Backward of gru_sequence_forward; None outputs are skipped.");
}
