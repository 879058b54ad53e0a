// CUDA launch helpers: device discovery that never throws on a machine
// without a driver, and launch checks that turn errors into exceptions
// naming the kernel (RuntimeError in Python).
#pragma once
#include <string>

namespace lg {
namespace cuda {
// Number of usable devices; 0 (and the reason in *why) when there is no
// driver or no GPU. Clears the sticky error state it may leave behind.
int device_count(std::string* why);
// Throws std::runtime_error("<kernel>: <cuda error>") if the last launch failed.
void check_launch(const char* kernel);
// Runtime and driver versions as "13.0" strings ("none" without a driver).
std::string runtime_version();
std::string driver_version();
}  // namespace cuda
}  // namespace lg
