// loomgrad._cuda: xent bindings (being written this session).
#include "bindings/cuda_args.h"

namespace py = pybind11;

namespace lg {
namespace cuda_bind {
void register_xent(py::module_& m) { (void)m; }
}  // namespace cuda_bind
}  // namespace lg
