// libFuzzer target for the safetensors loader: any input must either parse or
// throw motive::Error. Another exception escapes and aborts the run, and
// ASan/UBSan turn memory or arithmetic errors into crashes: all are bugs.
#include <cstddef>
#include <cstdint>

#include "engine/error.h"
#include "engine/serialize.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    motive::parse_safetensors(data, size, "fuzz-input");
  } catch (const motive::Error&) {
    // Rejecting a corrupt file with a clear error is the correct outcome.
  }
  return 0;
}
