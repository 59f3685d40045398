// The one exception type of figs, and the always-on checks that throw it.
//
// Library code never aborts or exits on bad input: it throws figs::Error with a message that
// names the operation and the offending shapes/values, e.g.
//   "conv2d: input channels (3) do not match weight (2 per group x 1 group) [input [1,3,5,5], weight [4,2,3,3]]"
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace figs {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {
inline void append_all(std::ostringstream&) {}
template <class T, class... Rest>
void append_all(std::ostringstream& os, const T& first, const Rest&... rest) {
  os << first;
  append_all(os, rest...);
}
}  // namespace detail

// Streams every argument into one message: str_cat("conv2d: stride ", s, " must be >= 1").
template <class... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  detail::append_all(os, args...);
  return os.str();
}

template <class... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(str_cat(args...));
}

}  // namespace figs

// FIGS_CHECK(cond, "op: what is wrong ", value, ...): always on, in every build type.
#define FIGS_CHECK(cond, ...)                 \
  do {                                        \
    if (!(cond)) ::figs::fail(__VA_ARGS__);   \
  } while (false)
