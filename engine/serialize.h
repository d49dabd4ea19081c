// Named tensors as safetensors files (https://github.com/huggingface/safetensors),
// so a checkpoint opens in PyTorch with `safetensors.torch.load_file`:
//
//   8 bytes   N, the header length, unsigned little-endian
//   N bytes   JSON object: {"name": {"dtype": "F32", "shape": [..],
//             "data_offsets": [begin, end]}, ..., "__metadata__": {"k": "v"}},
//             padded with spaces so the data section starts 8-byte aligned
//   the rest  raw little-endian tensor bytes, row-major; offsets are relative
//             to the start of this section, and the tensors tile it exactly
//
// Supported dtypes: F32, F64, I32. Everything read from a file is validated
// before any byte of it is trusted; every failure is a motive::Error naming
// the file and what is wrong.
//
// Checksums: save_safetensors records every tensor's crc32 (zlib's, over the
// tensor's bytes as stored in the file: Python's zlib.crc32 gives the same) in
// the metadata, under kSafetensorsChecksumKey, as a JSON object mapping each
// tensor name to 8 hex digits. The loaders check each tensor against it and
// refuse a mismatch, naming the tensor; files without the key (written by
// other tools) load unchecked. The key is the loaders' own: it is not in the
// metadata they return, and callers may not pass it to save_safetensors.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace motive {

constexpr const char* kSafetensorsChecksumKey = "tensor_crc32";

// Writes tensors of any strides and device (views are written as their row-major
// contents). Writes `path + ".tmp"` and renames it over `path`, so a crash
// mid-write never leaves a truncated checkpoint under the real name.
void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

struct SafetensorsFile {
  std::map<std::string, std::string> metadata;
  // Fresh contiguous CPU tensors, in the order of their data in the file (for
  // files written by save_safetensors, the order they were saved in).
  std::vector<std::pair<std::string, Tensor>> tensors;
};

// Reads the header, then each tensor straight into its own storage (the file
// is never held in memory twice).
SafetensorsFile load_safetensors(const std::string& path);

// Parses a whole file image held in memory; `name_for_errors` stands for the
// file in error messages. The loader and the fuzz target share its validation.
SafetensorsFile parse_safetensors(const uint8_t* data, size_t size,
                                  const std::string& name_for_errors);

// Headers above this many bytes are refused before any allocation, as the
// reference implementation does: a corrupt length must not allocate gigabytes.
constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

}  // namespace motive
