// loomgrad._cpu: the CNN kernels (conv2d, pooling, softmax, cross-entropy).
// As cpu_module.cpp: validate with the GIL held (array_args.h: dtype, rank,
// contiguity, writability, aliasing, shapes -- errors name the argument),
// then release the GIL around the kernel. Outputs come from the caller and
// are taken with noconvert(). Python-side conveniences (int-or-pair
// arguments, 3-D inputs, output allocation) live in loomgrad/_nn_kernels.py.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <string>
#include <vector>

#include "bindings/array_args.h"
#include "cpu/conv.h"
#include "cpu/pool.h"
#include "cpu/softmax_xent.h"

namespace py = pybind11;

namespace {

using Pair = std::array<int64_t, 2>;
using lg::DType;

// An input array: `ref`'s dtype (or any float dtype when ref is null), ndim
// dimensions, C-contiguous.
void check_input(const char* name, const py::array& a, int ndim, const char* ref_name = nullptr,
                 const py::array* ref = nullptr) {
  if (ref) lg::require_same_dtype(name, a, ref_name, *ref);
  else lg::float_dtype(name, a);
  lg::require_ndim(name, a, ndim, ndim);
  lg::require_contiguous(name, a);
}

// An output array: as an input, plus writeable, of `shape`, not aliasing `inputs`.
void check_output(const char* name, const py::array& out, const std::vector<int64_t>& shape,
                  const char* ref_name, const py::array& ref,
                  std::initializer_list<std::pair<const char*, const py::array*>> inputs) {
  check_input(name, out, static_cast<int>(shape.size()), ref_name, &ref);
  lg::require_writeable(name, out);
  LG_CHECK(lg::shape_of(out) == shape, name, ": expected shape ", lg::shape_str(shape), ", got ",
           lg::describe(name, out));
  for (const auto& in : inputs)
    if (in.second) lg::require_no_overlap(name, out, in.first, *in.second);
}

void require_shape(const char* name, const py::array& a, const std::vector<int64_t>& shape,
                   const std::string& why) {
  LG_CHECK(lg::shape_of(a) == shape, name, ": expected shape ", lg::shape_str(shape), " ", why,
           ", got ", lg::describe(name, a));
}

using lg::as_array;

template <typename T>
const T* in_ptr(const py::array& a) { return static_cast<const T*>(a.data()); }
template <typename T>
T* out_ptr(py::array& a) { return static_cast<T*>(a.mutable_data()); }

// ------------------------------------------------------------------ conv2d
lg::cpu::Conv2dShape conv_shape(const std::vector<int64_t>& x, const std::vector<int64_t>& w,
                                Pair stride, Pair padding, Pair dilation, int64_t groups,
                                const char* x_name) {
  LG_CHECK(x.size() == 4, "conv2d: ", x_name, " must be 4-D (N, C, H, W), got shape ",
           lg::shape_str(x));
  LG_CHECK(w.size() == 4, "conv2d: weight must be 4-D (K, C/groups, R, S), got shape ",
           lg::shape_str(w));
  LG_CHECK(groups >= 1, "conv2d: groups must be >= 1, got ", groups);
  // x[1] / groups, not w[1] * groups: a huge groups must not overflow.
  LG_CHECK(x[1] % groups == 0 && w[1] == x[1] / groups, "conv2d: weight ", lg::shape_str(w),
           " with groups=", groups, " does not fit ", x_name, " ", lg::shape_str(x), " (",
           x[1], " input channels must be groups * weight.shape[1])");
  lg::cpu::Conv2dShape s;
  s.N = x[0]; s.C = x[1]; s.H = x[2]; s.W = x[3];
  s.K = w[0]; s.R = w[2]; s.S = w[3];
  s.stride_h = stride[0]; s.stride_w = stride[1];
  s.pad_h = padding[0]; s.pad_w = padding[1];
  s.dil_h = dilation[0]; s.dil_w = dilation[1];
  s.groups = groups;
  lg::cpu::conv2d_check(s);
  return s;
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

// ----------------------------------------------------------------- pooling
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
  LG_CHECK(indices.dtype().is(py::dtype::of<int64_t>()), "indices: expected int64, got ",
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
  LG_CHECK(indices.dtype().is(py::dtype::of<int64_t>()), "indices: expected int64, got ",
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

// ------------------------------------------------------ softmax / xent
void softmax_op(py::array x, py::array out, bool log) {
  const DType dt = lg::float_dtype("x", x);
  check_input("x", x, 2);
  check_output("out", out, lg::shape_of(x), "x", x, {{"x", &x}});
  if (out.size() == 0) return;
  lg::dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* px = in_ptr<T>(x);
    T* po = out_ptr<T>(out);
    py::gil_scoped_release nogil;
    if (log) lg::cpu::log_softmax_forward<T>(x.shape(0), x.shape(1), px, po);
    else lg::cpu::softmax_forward<T>(x.shape(0), x.shape(1), px, po);
  });
}

void softmax_backward_op(py::array y, py::array dy, py::array dx, bool log) {
  const DType dt = lg::float_dtype("out", y);
  check_input("out", y, 2);
  check_input("grad_out", dy, 2, "out", &y);
  require_shape("grad_out", dy, lg::shape_of(y), "(same as out)");
  check_output("grad_input", dx, lg::shape_of(y), "out", y, {{"out", &y}, {"grad_out", &dy}});
  if (dx.size() == 0) return;
  lg::dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T *py_ = in_ptr<T>(y), *pdy = in_ptr<T>(dy);
    T* pdx = out_ptr<T>(dx);
    py::gil_scoped_release nogil;
    if (log) lg::cpu::log_softmax_backward<T>(y.shape(0), y.shape(1), py_, pdy, pdx);
    else lg::cpu::softmax_backward<T>(y.shape(0), y.shape(1), py_, pdy, pdx);
  });
}

lg::cpu::Reduction parse_reduction(const std::string& r) {
  if (r == "mean") return lg::cpu::Reduction::mean;
  if (r == "sum") return lg::cpu::Reduction::sum;
  if (r == "none") return lg::cpu::Reduction::none;
  LG_CHECK(false, "softmax_cross_entropy: reduction must be 'mean', 'sum' or 'none', got '", r,
           "'");
  return lg::cpu::Reduction::mean;
}

// Validates logits/target/weight and fills XentArgs (pointers included).
lg::cpu::XentArgs xent_args(const py::array& logits, const py::array& target,
                            const py::object& weight, py::array& w, int64_t ignore_index,
                            const std::string& reduction, double label_smoothing) {
  lg::float_dtype("logits", logits);
  check_input("logits", logits, 2);
  lg::cpu::XentArgs a;
  a.N = logits.shape(0);
  a.C = logits.shape(1);
  if (target.dtype().is(py::dtype::of<int64_t>())) {
    lg::require_ndim("target", target, 1, 1);
    lg::require_contiguous("target", target);
    require_shape("target", target, {a.N}, "(class indices, one per row of logits)");
    a.target = static_cast<const int64_t*>(target.data());
  } else {
    LG_CHECK(target.dtype().is(logits.dtype()), "target: expected int64 class indices or ",
             std::string(py::str(logits.dtype())), " probabilities like logits, got ",
             lg::describe("target", target));
    check_input("target", target, 2, "logits", &logits);
    require_shape("target", target, {a.N, a.C}, "(class probabilities, like logits)");
    a.target_prob = target.data();
  }
  if (!weight.is_none()) {
    w = as_array("weight", weight);
    check_input("weight", w, 1, "logits", &logits);
    require_shape("weight", w, {a.C}, "(one per class)");
    a.weight = w.data();
  }
  a.ignore_index = ignore_index;
  a.reduction = parse_reduction(reduction);
  a.label_smoothing = label_smoothing;
  lg::cpu::xent_check(a);
  return a;
}

void softmax_xent_forward(py::array logits, py::array target, py::object weight, py::array loss,
                          int64_t ignore_index, const std::string& reduction,
                          double label_smoothing) {
  py::array w;
  const auto a = xent_args(logits, target, weight, w, ignore_index, reduction, label_smoothing);
  const std::vector<int64_t> lshape =
      a.reduction == lg::cpu::Reduction::none ? std::vector<int64_t>{a.N} : std::vector<int64_t>{};
  check_output("loss", loss, lshape, "logits", logits, {{"logits", &logits}, {"target", &target}});
  lg::dispatch_float(lg::float_dtype("logits", logits), [&](auto tag) {
    using T = decltype(tag);
    const T* px = in_ptr<T>(logits);
    T* pl = out_ptr<T>(loss);
    py::gil_scoped_release nogil;
    lg::cpu::softmax_xent_forward<T>(a, px, pl);
  });
}

void softmax_xent_backward(py::array grad_loss, py::array logits, py::array target,
                           py::object weight, py::array dlogits, int64_t ignore_index,
                           const std::string& reduction, double label_smoothing) {
  py::array w;
  const auto a = xent_args(logits, target, weight, w, ignore_index, reduction, label_smoothing);
  check_input("grad_loss", grad_loss, a.reduction == lg::cpu::Reduction::none ? 1 : 0, "logits",
              &logits);
  if (a.reduction == lg::cpu::Reduction::none)
    require_shape("grad_loss", grad_loss, {a.N}, "(reduction='none': one per row)");
  check_output("grad_logits", dlogits, {a.N, a.C}, "logits", logits,
               {{"logits", &logits}, {"target", &target}, {"grad_loss", &grad_loss}});
  if (dlogits.size() == 0) return;
  lg::dispatch_float(lg::float_dtype("logits", logits), [&](auto tag) {
    using T = decltype(tag);
    const T *px = in_ptr<T>(logits), *pg = in_ptr<T>(grad_loss);
    T* pd = out_ptr<T>(dlogits);
    py::gil_scoped_release nogil;
    lg::cpu::softmax_xent_backward<T>(a, px, pg, pd);
  });
}

}  // namespace

void register_nn_kernels(py::module_& m) {
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
  m.def("softmax_forward", [](py::array x, py::array out) { softmax_op(x, out, false); },
        arg("x"), arg("out").noconvert());
  m.def("log_softmax_forward", [](py::array x, py::array out) { softmax_op(x, out, true); },
        arg("x"), arg("out").noconvert());
  m.def("softmax_backward",
        [](py::array y, py::array dy, py::array dx) { softmax_backward_op(y, dy, dx, false); },
        arg("out"), arg("grad_out"), arg("grad_input").noconvert());
  m.def("log_softmax_backward",
        [](py::array y, py::array dy, py::array dx) { softmax_backward_op(y, dy, dx, true); },
        arg("out"), arg("grad_out"), arg("grad_input").noconvert());
  m.def("softmax_xent_forward", &softmax_xent_forward, arg("logits"), arg("target"),
        arg("weight").none(true), arg("loss").noconvert(), arg("ignore_index"), arg("reduction"), arg("label_smoothing"));
  m.def("softmax_xent_backward", &softmax_xent_backward, arg("grad_loss"), arg("logits"),
        arg("target"), arg("weight").none(true), arg("grad_logits").noconvert(), arg("ignore_index"), arg("reduction"),
        arg("label_smoothing"));
}
