#include "common/parallel.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <stdexcept>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace lg {
namespace {
int initial_threads() {
#ifdef _OPENMP
  return std::max(1, omp_get_max_threads());  // honours OMP_NUM_THREADS
#else
  return 1;
#endif
}
std::atomic<int> g_threads{0};
}  // namespace

int num_threads() {
  int n = g_threads.load(std::memory_order_relaxed);
  if (n == 0) {
    int expected = 0;
    g_threads.compare_exchange_strong(expected, initial_threads());
    n = g_threads.load(std::memory_order_relaxed);
  }
  return n;
}

void set_num_threads(int n) {
  if (n < 1) throw std::invalid_argument("set_num_threads: n must be >= 1, got " + std::to_string(n));
#ifndef _OPENMP
  n = 1;
#endif
  g_threads.store(n, std::memory_order_relaxed);
}

bool have_openmp() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

int threads_for(int64_t work, int64_t min_work_per_thread) {
  const int64_t cap = num_threads();
  if (min_work_per_thread < 1) min_work_per_thread = 1;
  const int64_t t = work / min_work_per_thread;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(cap, t)));
}
}  // namespace lg
