// Boundary checks for NumPy arguments, shared by every CPU binding: dtype,
// rank, C-contiguity, writability and aliasing, with errors that name the
// argument and its shape. Call with the GIL held.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "common/check.h"

namespace lg {
namespace py = pybind11;

enum class DType { f32, f64 };

inline std::vector<int64_t> shape_of(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

inline std::string describe(const char* name, const py::array& a) {
  return std::string(name) + " of shape " + shape_str(shape_of(a)) + " and dtype " +
         std::string(py::str(a.dtype()));
}

// Dtypes are compared by equality (kind, itemsize, byte order: numpy's
// PyArray_EquivTypes), never by identity: an array that was pickled, sent to
// another process or built by another library carries an equal but distinct
// dtype object.
inline bool same_dtype(const py::array& a, const py::dtype& dt) { return a.dtype().equal(dt); }

template <typename T>
bool has_dtype(const py::array& a) {
  return same_dtype(a, py::dtype::of<T>());
}

// float32 or float64, else TypeError.
inline DType float_dtype(const char* name, const py::array& a) {
  if (has_dtype<float>(a)) return DType::f32;
  if (has_dtype<double>(a)) return DType::f64;
  throw py::type_error(std::string(name) + ": expected float32 or float64, got " +
                       describe(name, a));
}

inline void require_same_dtype(const char* name, const py::array& a, const char* ref_name,
                               const py::array& ref) {
  if (!same_dtype(a, ref.dtype()))
    throw py::type_error(std::string(name) + ": dtype must match " + ref_name + " (" +
                         std::string(py::str(ref.dtype())) + "), got " + describe(name, a));
}

inline void require_ndim(const char* name, const py::array& a, int lo, int hi) {
  LG_CHECK(a.ndim() >= lo && a.ndim() <= hi, name, ": expected ",
           lo == hi ? std::to_string(lo) : std::to_string(lo) + " to " + std::to_string(hi),
           " dimensions, got ", describe(name, a));
}

inline void require_contiguous(const char* name, const py::array& a) {
  LG_CHECK(a.flags() & py::array::c_style, name,
           ": must be C-contiguous (use numpy.ascontiguousarray), got a strided ",
           describe(name, a));
}

inline void require_writeable(const char* name, const py::array& a) {
  LG_CHECK(a.writeable(), name, ": output array is read-only: ", describe(name, a));
}

// An output must not share memory with an input: kernels read inputs while
// writing outputs.
inline void require_no_overlap(const char* out_name, const py::array& out, const char* in_name,
                               const py::array& in) {
  if (out.nbytes() == 0 || in.nbytes() == 0) return;
  auto lo_o = reinterpret_cast<uintptr_t>(out.data());
  auto lo_i = reinterpret_cast<uintptr_t>(in.data());
  bool overlap = lo_o < lo_i + static_cast<uintptr_t>(in.nbytes()) &&
                 lo_i < lo_o + static_cast<uintptr_t>(out.nbytes());
  LG_CHECK(!overlap, out_name, " must not share memory with ", in_name);
}

// Calls f(T{}) with T = float or double per `dt`: one body for both dtypes.
template <typename F>
void dispatch_float(DType dt, F f) {
  if (dt == DType::f32) f(float{});
  else f(double{});
}

// An optional array argument passed as an object; the caller handles None.
inline py::array as_array(const char* name, const py::object& o) {
  if (!py::isinstance<py::array>(o))
    throw py::type_error(std::string(name) + ": expected a numpy array or None, got " +
                         std::string(py::str(py::type::handle_of(o))));
  return py::reinterpret_borrow<py::array>(o);
}

// (h, w) parameters: kernel size, stride, padding, dilation.
using Pair = std::array<int64_t, 2>;

// An input array: `ref`'s dtype (or any float dtype when ref is null), ndim
// dimensions, C-contiguous.
inline void check_input(const char* name, const py::array& a, int ndim, const char* ref_name = nullptr,
                 const py::array* ref = nullptr) {
  if (ref) require_same_dtype(name, a, ref_name, *ref);
  else float_dtype(name, a);
  require_ndim(name, a, ndim, ndim);
  require_contiguous(name, a);
}

// An output array: as an input, plus writeable, of `shape`, not aliasing `inputs`.
inline void check_output(const char* name, const py::array& out, const std::vector<int64_t>& shape,
                  const char* ref_name, const py::array& ref,
                  std::initializer_list<std::pair<const char*, const py::array*>> inputs) {
  check_input(name, out, static_cast<int>(shape.size()), ref_name, &ref);
  require_writeable(name, out);
  LG_CHECK(shape_of(out) == shape, name, ": expected shape ", shape_str(shape), ", got ",
           describe(name, out));
  for (const auto& in : inputs)
    if (in.second) require_no_overlap(name, out, in.first, *in.second);
}

inline void require_shape(const char* name, const py::array& a, const std::vector<int64_t>& shape,
                   const std::string& why) {
  LG_CHECK(shape_of(a) == shape, name, ": expected shape ", shape_str(shape), " ", why,
           ", got ", describe(name, a));
}

template <typename T>
inline const T* in_ptr(const py::array& a) { return static_cast<const T*>(a.data()); }
template <typename T>
inline T* out_ptr(py::array& a) { return static_cast<T*>(a.mutable_data()); }
}  // namespace lg
