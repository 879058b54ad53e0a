#include "common/cpu_features.h"

#include <unistd.h>

namespace lg {
namespace {
CpuFeatures detect() {
  CpuFeatures f;
#if defined(LG_X86) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512dq = __builtin_cpu_supports("avx512dq");
#endif
#if defined(_SC_LEVEL1_DCACHE_SIZE)
  long v = sysconf(_SC_LEVEL1_DCACHE_SIZE);
  if (v > 0) f.l1d_bytes = v;
  v = sysconf(_SC_LEVEL2_CACHE_SIZE);
  if (v > 0) f.l2_bytes = v;
  v = sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (v > 0) f.l3_bytes = v;
#endif
  return f;
}
}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();  // thread-safe static init
  return f;
}
}  // namespace lg
