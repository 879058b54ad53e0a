// loomgrad._cpu machine probes: the measured FMA peak of the GEMM path in use
// and STREAM copy/triad bandwidth (cpu/machine_probe.h), run with the GIL
// released. loomgrad.benchmarks.machine caches their results per machine.
#include <pybind11/pybind11.h>

#include <string>

#include "common/check.h"
#include "cpu/machine_probe.h"

namespace py = pybind11;

void register_machine_probes(py::module_& m) {
  m.def("measure_fma_peak", [](const std::string& dtype, int threads, double seconds,
                               double warmup) {
    LG_CHECK(dtype == "float32" || dtype == "float64",
             "measure_fma_peak: dtype must be 'float32' or 'float64', got '", dtype, "'");
    LG_CHECK(threads >= 1 && seconds > 0 && warmup >= 0,
             "measure_fma_peak: need threads >= 1, seconds > 0, warmup >= 0; got threads=",
             threads, " seconds=", seconds, " warmup=", warmup);
    py::gil_scoped_release nogil;
    return dtype == "float32" ? lg::cpu::measure_fma_peak_gflops<float>(threads, seconds, warmup)
                              : lg::cpu::measure_fma_peak_gflops<double>(threads, seconds, warmup);
  }, py::arg("dtype"), py::arg("threads"), py::arg("seconds") = 1.0, py::arg("warmup") = 0.3,
     "GFLOP/s of `threads` threads running the GEMM path's FMA loop at once (wall clock).");
  m.def("measure_stream_bandwidth", [](int threads, int64_t bytes_per_array, int reps) {
    LG_CHECK(threads >= 1 && bytes_per_array > 0 && reps >= 1,
             "measure_stream_bandwidth: need threads >= 1, bytes_per_array > 0, reps >= 1");
    lg::cpu::StreamBandwidth bw;
    {
      py::gil_scoped_release nogil;
      bw = lg::cpu::measure_stream_bandwidth(threads, bytes_per_array, reps);
    }
    py::dict d;
    d["copy_gbs"] = bw.copy_gbs;
    d["triad_gbs"] = bw.triad_gbs;
    d["bytes_per_array"] = bw.bytes_per_array;
    return d;
  }, py::arg("threads"), py::arg("bytes_per_array"), py::arg("reps") = 5,
     "STREAM copy and triad GB/s (bytes read + written) over three float64 arrays.");
}
