// IDX reader (the MNIST / Fashion-MNIST container format), plain or gzip.
//
// IDX layout (big-endian): bytes 0-1 are zero, byte 2 is the element type
// (0x08 = unsigned byte), byte 3 the number of dimensions n, then n uint32
// sizes, then the elements in row-major order. Only unsigned bytes are read:
// every image/label IDX data set in use stores them, and rejecting the rest
// loudly beats silently misreading them.
//
// Every failure (missing file, truncated or corrupt data, wrong magic, label
// out of range, ...) throws motive::Error whose message names the file and,
// where it applies, the byte offset or the item index.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace motive {

// Where Debian's dataset-fashion-mnist package (installed by tools/setup.sh)
// puts the four .gz files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// The whole content of a file; a gzip file is decompressed (detected by its
// content, not its name, so "x.gz" renamed to "x" still reads).
std::vector<uint8_t> read_file(const std::string& path);

struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;  // row-major, product(dims) bytes
};

// Parses the bytes of an IDX file (already decompressed); `name` is the file
// name the errors report. Takes the bytes by value so the data is moved into
// the result instead of copied; this is also the entry point for fuzzing.
IdxArray parse_idx(std::vector<uint8_t> bytes, const std::string& name);
// read_file + parse_idx.
IdxArray read_idx(const std::string& path);

// Labelled images, pixels as stored (uint8, NHWC), labels in [0, num_classes).
struct ImageDataset {
  int64_t count = 0, height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;  // [count, height, width, channels]
  std::vector<int32_t> labels;  // [count]
  int32_t num_classes = 0;
  std::vector<std::string> class_names;  // num_classes entries when known, else empty
};

// An idx3 image file ([N, H, W], one channel) and its idx1 label file ([N]).
// `limit` keeps the first `limit` items (-1: all; more than N: all).
ImageDataset load_idx_dataset(const std::string& images_path, const std::string& labels_path,
                              int32_t num_classes, int64_t limit = -1);

// Fashion-MNIST from `root` ("" means kFashionMnistDir): the train split
// (60,000 images) or the t10k test split (10,000), 28x28x1, 10 classes. Each
// file is looked for uncompressed first (faster to read), then as .gz.
ImageDataset load_fashion_mnist(const std::string& root, bool train, int64_t limit = -1);

// Items [begin, begin + count) as an F32 NHWC tensor [count, H, W, C] holding
// (pixel / 255 - mean) / stddev.
Tensor to_float_batch(const ImageDataset& ds, int64_t begin, int64_t count, float mean,
                      float stddev);
// Labels of items [begin, begin + count) as an I32 tensor [count].
Tensor to_label_batch(const ImageDataset& ds, int64_t begin, int64_t count);

}  // namespace motive
