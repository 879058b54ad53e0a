#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "cuda/launch.h"

namespace lg {
namespace cuda {

int device_count(std::string* why) {
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    if (why) *why = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
    cudaGetLastError();  // clear, so later calls do not see a stale error
    return 0;
  }
  if (n == 0 && why) *why = "no CUDA device found";
  return n;
}

void check_launch(const char* kernel) {
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    throw std::runtime_error(std::string(kernel) + ": " + cudaGetErrorName(err) + ": " +
                             cudaGetErrorString(err));
}

static std::string version_string(int v) {
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

std::string runtime_version() {
  int v = 0;
  if (cudaRuntimeGetVersion(&v) != cudaSuccess) {
    cudaGetLastError();
    return "unknown";
  }
  return version_string(v);
}

std::string driver_version() {
  int v = 0;
  if (cudaDriverGetVersion(&v) != cudaSuccess || v == 0) {
    cudaGetLastError();
    return "none";
  }
  return version_string(v);
}

}  // namespace cuda
}  // namespace lg
