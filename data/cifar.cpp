#include "data/cifar.h"

#include <algorithm>

#include "data/file.h"
#include "engine/error.h"

namespace motive {

namespace {

constexpr int64_t kSide = 32, kChannels = 3, kPlane = kSide * kSide;
constexpr int64_t kPixelBytes = kChannels * kPlane;

// A label byte of a record: what it is called in errors, and its range.
struct LabelField {
  const char* name;
  int32_t classes;
};

struct Layout {
  int64_t label_bytes;  // label bytes before the pixels (fields[0 .. label_bytes))
  int64_t label_index;  // the field this kind trains on
  const char* meta;     // its class-name file
  LabelField fields[2];
  int32_t num_classes() const { return fields[label_index].classes; }
};

Layout layout(CifarKind kind) {
  switch (kind) {
    case CifarKind::Cifar10: return {1, 0, "batches.meta.txt", {{"label", 10}, {"", 0}}};
    case CifarKind::Cifar100Coarse:
      return {2, 0, "coarse_label_names.txt", {{"coarse label", 20}, {"fine label", 100}}};
    case CifarKind::Cifar100Fine:
      return {2, 1, "fine_label_names.txt", {{"coarse label", 20}, {"fine label", 100}}};
  }
  fail("cifar: unknown kind");
}

void set_geometry(ImageDataset& ds, const Layout& lay) {
  ds.height = ds.width = kSide;
  ds.channels = kChannels;
  ds.num_classes = lay.num_classes();
}

// One name a line; trailing spaces, '\r' and blank lines (the official files
// end with some) are dropped.
std::vector<std::string> read_class_names(const std::string& path, int32_t expected) {
  const std::vector<uint8_t> bytes = read_file(path);
  std::vector<std::string> names;
  std::string line;
  for (size_t i = 0; i <= bytes.size(); ++i) {
    if (i < bytes.size() && bytes[i] != '\n') {
      line += static_cast<char>(bytes[i]);
      continue;
    }
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r' || line.back() == '\t'))
      line.pop_back();
    if (!line.empty()) names.push_back(line);
    line.clear();
  }
  if (static_cast<int32_t>(names.size()) != expected)
    fail("CIFAR meta file '", path, "' lists ", names.size(), " class names, expected ", expected);
  return names;
}

}  // namespace

void parse_cifar(const uint8_t* data, size_t size, const std::string& name, CifarKind kind,
                 ImageDataset& ds, int64_t max_records) {
  const Layout lay = layout(kind);
  const int64_t record = lay.label_bytes + kPixelBytes;
  const int64_t bytes = static_cast<int64_t>(size);
  const std::string where = "CIFAR file '" + name + "': ";
  if (bytes == 0) fail(where, "empty (a record is ", record, " bytes)");
  if (bytes % record != 0) {
    const int64_t last = bytes / record;
    fail(where, "truncated: record ", last, " at byte offset ", last * record, " needs ", record,
         " bytes, but the file ends at byte offset ", bytes, " (", lay.label_bytes,
         " label byte(s) + 3072 pixel bytes per record)");
  }
  const int64_t records = bytes / record;
  for (int64_t r = 0; r < records; ++r)
    for (int64_t f = 0; f < lay.label_bytes; ++f) {
      const int64_t offset = r * record + f;
      if (data[offset] >= lay.fields[f].classes)
        fail(where, lay.fields[f].name, " ", int(data[offset]), " of record ", r, " (byte offset ",
             offset, ") is out of range [0, ", lay.fields[f].classes, ")");
    }

  const int64_t keep = max_records < 0 ? records : std::min(records, max_records);
  set_geometry(ds, lay);
  const size_t first = ds.pixels.size();
  ds.pixels.resize(first + static_cast<size_t>(keep * kPixelBytes));
  uint8_t* out = ds.pixels.data() + first;
  for (int64_t r = 0; r < keep; ++r) {
    const uint8_t* rec = data + r * record;
    ds.labels.push_back(rec[lay.label_index]);
    const uint8_t* planes = rec + lay.label_bytes;
    // Planar RGB to interleaved: pixel p's channel c sits at c * 1024 + p.
    for (int64_t p = 0; p < kPlane; ++p)
      for (int64_t c = 0; c < kChannels; ++c) *out++ = planes[c * kPlane + p];
  }
  ds.count += keep;
}

std::vector<std::string> cifar_files(CifarKind kind, bool train) {
  if (kind != CifarKind::Cifar10) return {train ? "train.bin" : "test.bin"};
  if (!train) return {"test_batch.bin"};
  std::vector<std::string> files;
  for (int b = 1; b <= 5; ++b) files.push_back("data_batch_" + std::to_string(b) + ".bin");
  return files;
}

ImageDataset load_cifar(const std::string& dir, CifarKind kind, bool train, int64_t limit) {
  MOTIVE_CHECK(limit >= -1, "load_cifar: limit must be -1 (all) or >= 0, got ", limit);
  ImageDataset ds;
  for (const std::string& file : cifar_files(kind, train)) {
    if (limit >= 0 && ds.count >= limit) break;
    const std::string path = dir + "/" + file;
    const std::vector<uint8_t> bytes = read_file(path);
    parse_cifar(bytes.data(), bytes.size(), path, kind, ds, limit < 0 ? -1 : limit - ds.count);
  }
  const Layout lay = layout(kind);
  set_geometry(ds, lay);  // here too: a limit of 0 reads no file
  const std::string meta = first_existing_file({dir + "/" + lay.meta});
  if (!meta.empty()) ds.class_names = read_class_names(meta, lay.num_classes());
  return ds;
}

}  // namespace motive
