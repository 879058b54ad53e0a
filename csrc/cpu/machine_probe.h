// Measured machine figures for the benches' "% peak" and "% of bandwidth":
// the multiply-add throughput of the GEMM path in use and STREAM-style memory
// bandwidth, both with every requested thread running at once and timed by
// the wall clock (no clock-speed guess: turbo and VM clocks are whatever
// they are while the probe runs).
#pragma once
#include <cstdint>

namespace lg {
namespace cpu {

// GFLOP/s of `threads` threads each running the active GEMM ISA's FMA
// probe (12 independent accumulator chains, cpu/gemm_ukernel_tile.h) for
// about `seconds` after `warmup_seconds` of untimed warm-up (clocks ramp up);
// the best of 5 equal windows (see machine_probe.cpp).
template <typename T>
double measure_fma_peak_gflops(int threads, double seconds, double warmup_seconds);

// STREAM copy (c = a) and triad (a = b + s * c) over three arrays of
// `bytes_per_array` bytes of doubles, first touched by the threads that use
// them; best of `reps` runs each. GB/s count bytes read + written, as
// STREAM does (copy 16, triad 24 bytes per element).
struct StreamBandwidth {
  double copy_gbs = 0, triad_gbs = 0;
  int64_t bytes_per_array = 0;
};
StreamBandwidth measure_stream_bandwidth(int threads, int64_t bytes_per_array, int reps);

}  // namespace cpu
}  // namespace lg
