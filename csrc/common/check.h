// Argument checking shared by every kernel: LG_CHECK(cond, parts...) throws
// std::invalid_argument (ValueError in Python) with the parts streamed
// together. No pybind11 here, so CUDA sources can include it too.
#pragma once
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace lg {
namespace detail {
inline void stream_parts(std::ostringstream&) {}
template <typename T, typename... Rest>
void stream_parts(std::ostringstream& os, const T& first, const Rest&... rest) {
  os << first;
  stream_parts(os, rest...);
}
template <typename... Parts>
[[noreturn]] void throw_invalid(const Parts&... parts) {
  std::ostringstream os;
  stream_parts(os, parts...);
  throw std::invalid_argument(os.str());
}
}  // namespace detail

// "(3, 4, 5)" for error messages.
inline std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << '(';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  if (shape.size() == 1) os << ',';
  os << ')';
  return os.str();
}
}  // namespace lg

#define LG_CHECK(cond, ...)                                        \
  do {                                                             \
    if (!(cond)) ::lg::detail::throw_invalid(__VA_ARGS__);         \
  } while (0)
