// Reading whole files, plain or gzip-compressed, for the data-set readers.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace motive {

// The whole content of a file; a gzip file is decompressed (detected by its
// content, not its name, so "x.gz" renamed to "x" still reads). Errors name
// the file and, for a damaged gzip stream, the decompressed byte offset.
std::vector<uint8_t> read_file(const std::string& path);

// The first of `candidates` that is a regular file, or "" when none is.
std::string first_existing_file(const std::vector<std::string>& candidates);

}  // namespace motive
