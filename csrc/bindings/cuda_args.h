// Shared glue for the _cuda binding files: device pointers arrive from
// Python as integers (CuPy's `.data.ptr`, checked and made contiguous by
// loomgrad._gpu), streams as cudaStream_t integers (CuPy's current stream).
// Each family registers its functions on the one module.
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>

namespace lg {
namespace cuda_bind {

template <typename T>
inline T* ptr(std::uintptr_t p) {
  return reinterpret_cast<T*>(p);
}
inline void* stream(std::uintptr_t s) { return reinterpret_cast<void*>(s); }

void register_gemm(pybind11::module_& m);  // cuda_gemm.cpp
void register_conv(pybind11::module_& m);  // cuda_conv.cpp
void register_pool(pybind11::module_& m);  // cuda_pool.cpp
void register_xent(pybind11::module_& m);  // cuda_xent.cpp
void register_lstm(pybind11::module_& m);  // cuda_lstm.cpp

}  // namespace cuda_bind
}  // namespace lg
