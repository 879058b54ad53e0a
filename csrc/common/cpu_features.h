// Run-time CPU feature and cache detection, for picking GEMM microkernels
// and blocking sizes. Detected once, read-only afterwards.
#pragma once
#include <cstdint>

namespace lg {
struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool avx512f = false;
  bool avx512dq = false;
  int64_t l1d_bytes = 32 * 1024;   // fallbacks when the OS does not say
  int64_t l2_bytes = 512 * 1024;
  int64_t l3_bytes = 8 * 1024 * 1024;
};
const CpuFeatures& cpu_features();
}  // namespace lg
