// libFuzzer target for the IDX parser: any input must either parse into
// dimensions whose product is the data size, or throw motive::Error. Another
// exception escapes and aborts the run, and ASan/UBSan turn memory or
// arithmetic errors into crashes: all are bugs.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "data/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const motive::IdxArray a =
        motive::parse_idx(std::vector<uint8_t>(data, data + size), "fuzz-input");
    size_t numel = 1;
    for (int64_t d : a.dims) numel *= static_cast<size_t>(d);
    if (numel != a.data.size()) std::abort();  // parsed, but inconsistently
  } catch (const motive::Error&) {
    // Rejecting a corrupt file with a clear error is the correct outcome.
  }
  return 0;
}
