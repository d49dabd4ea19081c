// Errors carry the op name and the shapes involved, so a failure deep inside a
// training step reads as one clear line ("conv2d: input [8,32,32,3] ...").
//
// One of the two engine headers kernels/ may include (with engine/dtype.h): it
// includes nothing of motive's and is defined here in full.
#pragma once
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace motive {

using Shape = std::vector<int64_t>;

// Thrown for bad input (shapes, dtypes, files, flags): the CLI maps it to exit code 2.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Thrown when an allocation fails or would pass the device's memory limit
// (set_memory_limit): still bad input (a batch too large for the device), but
// the trainer can say what to change.
class OutOfMemory : public Error {
 public:
  using Error::Error;
};

// "[2,3,4]".
inline std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

// The message from any streamable pieces.
template <class... Parts>
std::string message(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}

// MOTIVE_CHECK(cond, "op", ": shape ", ...) throws this.
template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  throw Error(message(parts...));
}

#define MOTIVE_CHECK(cond, ...)          \
  do {                                   \
    if (!(cond)) ::motive::fail(__VA_ARGS__); \
  } while (0)

}  // namespace motive
