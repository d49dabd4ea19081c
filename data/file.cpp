#include "data/file.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "engine/error.h"

namespace motive {

namespace {

// zlib prefixes its messages with "<path>: "; ours already name the file.
std::string zlib_message(const char* msg, const std::string& path) {
  std::string m = msg ? msg : "";
  const std::string prefix = path + ": ";
  return m.compare(0, prefix.size(), prefix) == 0 ? m.substr(prefix.size()) : m;
}

}  // namespace

std::vector<uint8_t> read_file(const std::string& path) {
  errno = 0;
  std::unique_ptr<gzFile_s, int (*)(gzFile)> file(gzopen(path.c_str(), "rb"), gzclose_r);
  if (!file) fail("cannot open '", path, "': ", errno ? std::strerror(errno) : "out of memory");
  std::vector<uint8_t> bytes;
  constexpr unsigned kChunk = 1u << 20;  // gzread counts in int, so read in bounded chunks
  for (;;) {
    const size_t have = bytes.size();
    bytes.resize(have + kChunk);
    const int n = gzread(file.get(), bytes.data() + have, kChunk);
    bytes.resize(have + std::max(n, 0));
    if (n <= 0) break;  // end of data, or an error that gzerror reports below
  }
  // A truncated gzip stream is not a gzread failure (it reads like end of
  // file), so the stream state has to be asked explicitly.
  int err = Z_OK;
  const std::string msg = zlib_message(gzerror(file.get(), &err), path);
  if (err == Z_ERRNO) fail("cannot read '", path, "': ", msg);
  if (err == Z_BUF_ERROR)
    fail("'", path, "': truncated gzip stream: the data runs out at decompressed byte offset ",
         bytes.size());
  if (err != Z_OK)
    // zlib discards the failing read's output, so the exact offset is unknown.
    fail("'", path, "': corrupt gzip stream (", msg, ") after decompressed byte offset ",
         bytes.size());
  return bytes;
}

std::string first_existing_file(const std::vector<std::string>& candidates) {
  for (const std::string& path : candidates) {
    std::error_code ec;  // an unreadable directory counts as "not found", not as a crash
    if (std::filesystem::is_regular_file(path, ec)) return path;
  }
  return "";
}

}  // namespace motive
