#include "data/stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

#include "data/parallel.h"
#include "engine/error.h"

namespace motive {

namespace {

constexpr const char* kCacheHeader = "motive channel stats v1";

// Exact sums of pixel values and their squares per channel (255^2 x 2^40
// pixels still fits in 64 bits).
struct Sums {
  std::vector<uint64_t> sum, squares;
  uint64_t pixels = 0;
  explicit Sums(int64_t channels) : sum(static_cast<size_t>(channels)), squares(sum.size()) {}
  void add(const Sums& o) {
    for (size_t c = 0; c < sum.size(); ++c) sum[c] += o.sum[c], squares[c] += o.squares[c];
    pixels += o.pixels;
  }
};

int64_t sample_size(const Dataset& data, int64_t max_items) {
  return max_items < 0 ? data.size() : std::min(max_items, data.size());
}

std::string cache_key(const Dataset& data, int64_t max_items) {
  return "items " + std::to_string(data.size()) + " sample " +
         std::to_string(sample_size(data, max_items));
}

}  // namespace

Normalize channel_stats(const Dataset& data, int64_t max_items, int threads) {
  const int64_t n = sample_size(data, max_items), channels = data.channels();
  MOTIVE_CHECK(n > 0, "channel stats: the data set is empty");
  std::vector<Sums> partial;
  std::mutex mutex;
  parallel_ranges(n, threads, [&](int64_t begin, int64_t end) {
    Sums local(channels);
    std::vector<uint8_t> scratch;
    for (int64_t k = begin; k < end; ++k) {
      // Evenly spaced over the whole set, so a sample sees every part of it.
      const ImageView img = data.image(k * data.size() / n, scratch);
      const int64_t pixels = img.height * img.width;
      for (int64_t p = 0; p < pixels; ++p)
        for (int64_t c = 0; c < channels; ++c) {
          const uint64_t v = img.pixels[p * channels + c];
          local.sum[static_cast<size_t>(c)] += v;
          local.squares[static_cast<size_t>(c)] += v * v;
        }
      local.pixels += static_cast<uint64_t>(pixels);
    }
    std::lock_guard<std::mutex> lock(mutex);
    partial.push_back(std::move(local));
  });
  Sums total(channels);
  for (const Sums& s : partial) total.add(s);  // integer sums: the order does not matter
  Normalize out;
  out.mean.clear();
  out.std.clear();
  for (int64_t c = 0; c < channels; ++c) {
    const double mean = static_cast<double>(total.sum[static_cast<size_t>(c)]) / total.pixels;
    const double square = static_cast<double>(total.squares[static_cast<size_t>(c)]) / total.pixels;
    out.mean.push_back(static_cast<float>(mean / 255.0));
    out.std.push_back(static_cast<float>(std::sqrt(std::max(0.0, square - mean * mean)) / 255.0));
  }
  return out;
}

Normalize cached_channel_stats(const Dataset& data, const std::string& cache_file,
                               int64_t max_items, int threads) {
  const std::string key = cache_key(data, max_items);
  {
    std::ifstream in(cache_file);
    std::string header, stored_key, mean_line, std_line;
    if (std::getline(in, header) && header == kCacheHeader && std::getline(in, stored_key) &&
        stored_key == key && std::getline(in, mean_line) && std::getline(in, std_line)) {
      Normalize cached;
      cached.mean.clear();
      cached.std.clear();
      std::istringstream means(mean_line), stds(std_line);
      for (float v; means >> v;) cached.mean.push_back(v);
      for (float v; stds >> v;) cached.std.push_back(v);
      if (static_cast<int64_t>(cached.mean.size()) == data.channels() &&
          cached.std.size() == cached.mean.size())
        return cached;
    }
  }
  const Normalize stats = channel_stats(data, max_items, threads);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(cache_file).parent_path(), ec);
  const std::string tmp = cache_file + ".tmp";
  {
    std::ofstream out(tmp);
    out.precision(9);
    out << kCacheHeader << "\n" << key << "\n";
    for (float v : stats.mean) out << v << " ";
    out << "\n";
    for (float v : stats.std) out << v << " ";
    out << "\n";
  }
  // Renamed into place so a concurrent reader never sees half a file.
  std::filesystem::rename(tmp, cache_file, ec);
  return stats;
}

}  // namespace motive
