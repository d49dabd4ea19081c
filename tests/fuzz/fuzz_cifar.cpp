// libFuzzer target for the CIFAR record parser, in all three layouts (the
// first input byte picks one and a record limit): any input must either parse
// into whole 32x32x3 records with labels in range, or throw motive::Error.
// Another exception escapes and aborts the run, and ASan/UBSan turn memory or
// arithmetic errors into crashes: all are bugs.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "data/cifar.h"
#include "engine/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const motive::CifarKind kinds[3] = {motive::CifarKind::Cifar10, motive::CifarKind::Cifar100Fine,
                                      motive::CifarKind::Cifar100Coarse};
  const motive::CifarKind kind = kinds[data[0] % 3];
  const int64_t limit = data[0] / 3 % 4 - 1;  // -1 (all), 0, 1 or 2 records
  motive::ImageDataset ds;
  try {
    motive::parse_cifar(data + 1, size - 1, "fuzz-input", kind, ds, limit);
    if (ds.pixels.size() != static_cast<size_t>(ds.count) * 32 * 32 * 3 ||
        ds.labels.size() != static_cast<size_t>(ds.count) || (limit >= 0 && ds.count > limit))
      std::abort();  // parsed, but inconsistently
    for (int32_t label : ds.labels)
      if (label < 0 || label >= ds.num_classes) std::abort();
  } catch (const motive::Error&) {
    // Rejecting a corrupt file with a clear error is the correct outcome.
  }
  return 0;
}
