// FMA-peak and STREAM bandwidth probes (see machine_probe.h). The FMA loop
// itself is the kernel set's fma_loop, compiled with the ISA's flags next to
// its microkernel; this file only times it on all threads at once.
//
// Timing: after the warm-up, `seconds` are cut into 5 windows. In each,
// thread 0 reads the wall clock after a barrier; every thread runs fixed
// chunks of the loop until the clock says the window is over, so all
// threads stop within one chunk (~0.1 ms) of each other; the flops of every
// thread are summed and divided by the wall time up to the closing barrier.
// The best window is returned: a neighbour process can only slow a window.
#include "cpu/machine_probe.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu/gemm_internal.h"

namespace lg {
namespace cpu {
namespace {

double now_seconds() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

constexpr int64_t kChunkIters = 1 << 14;

}  // namespace

template <typename T>
double measure_fma_peak_gflops(int threads, double seconds, double warmup_seconds) {
  const detail::FmaLoopFn<T> loop = detail::active_kernel_set<T>().fma_loop;
  threads = std::max(threads, 1);
  // Another process can only take cycles away, so the best window is the
  // machine's figure: `seconds` is cut into kWindows timed windows.
  constexpr int kWindows = 5;
  const double window = seconds / kWindows;
  std::vector<int64_t> flops(static_cast<size_t>(threads) * kWindows, 0);
  double t_mark[kWindows + 1] = {};
#pragma omp parallel num_threads(threads)
  {
#ifdef _OPENMP
    const int tid = omp_get_thread_num();
#else
    const int tid = 0;
#endif
    alignas(64) T sink[64 / sizeof(T)];
    const double w0 = now_seconds();
    while (now_seconds() - w0 < warmup_seconds) loop(kChunkIters, sink);
    for (int w = 0; w < kWindows; ++w) {
#pragma omp barrier
#pragma omp master
      t_mark[w] = now_seconds();
#pragma omp barrier
      int64_t done = 0;
      do {
        done += loop(kChunkIters, sink);
      } while (now_seconds() - t_mark[w] < window);
      flops[static_cast<size_t>(w) * threads + tid] = done + static_cast<int64_t>(sink[0] == T(-1));
#pragma omp barrier
#pragma omp master
      t_mark[w + 1] = now_seconds();
    }
  }
  double best = 0;
  for (int w = 0; w < kWindows; ++w) {
    int64_t total = 0;
    for (int t = 0; t < threads; ++t) total += flops[static_cast<size_t>(w) * threads + t];
    // The window ends at the barrier after the last thread's last chunk.
    best = std::max(best, static_cast<double>(total) / (t_mark[w + 1] - t_mark[w]) / 1e9);
  }
  return best;
}

StreamBandwidth measure_stream_bandwidth(int threads, int64_t bytes_per_array, int reps) {
  threads = std::max(threads, 1);
  const int64_t n = std::max<int64_t>(bytes_per_array / 8, 1 << 16) / 8 * 8;
  struct Free {
    void operator()(double* p) const { std::free(p); }
  };
  auto alloc = [n]() {
    void* p = std::aligned_alloc(64, static_cast<size_t>(n) * 8);
    if (!p) throw std::bad_alloc();
    return std::unique_ptr<double, Free>(static_cast<double*>(p));
  };
  auto pa = alloc(), pb = alloc(), pc = alloc();
  double* __restrict a = pa.get();
  double* __restrict b = pb.get();
  double* __restrict c = pc.get();
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t i = 0; i < n; ++i) a[i] = 1.0, b[i] = 2.0, c[i] = 0.0;
  const double s = 3.0;
  double best_copy = 1e300, best_triad = 1e300;
  for (int r = 0; r < std::max(reps, 1); ++r) {
    double t0 = now_seconds();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; ++i) c[i] = a[i];
    best_copy = std::min(best_copy, now_seconds() - t0);
    t0 = now_seconds();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; ++i) a[i] = b[i] + s * c[i];
    best_triad = std::min(best_triad, now_seconds() - t0);
  }
  StreamBandwidth out;
  out.bytes_per_array = n * 8;
  out.copy_gbs = 16.0 * n / best_copy / 1e9;
  out.triad_gbs = 24.0 * n / best_triad / 1e9;
  return out;
}

template double measure_fma_peak_gflops<float>(int, double, double);
template double measure_fma_peak_gflops<double>(int, double, double);

}  // namespace cpu
}  // namespace lg
