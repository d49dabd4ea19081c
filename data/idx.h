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

#include "data/dataset.h"
#include "data/file.h"
#include "engine/tensor.h"

namespace motive {

// Where Debian's dataset-fashion-mnist package (installed by tools/setup.sh)
// puts the four .gz files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
// Per-pixel mean and std over each training set (pixels scaled to [0, 1]).
inline constexpr float kFashionMean = 0.2860f, kFashionStd = 0.3530f;
inline constexpr float kMnistMean = 0.1307f, kMnistStd = 0.3081f;

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

// An idx3 image file ([N, H, W], one channel) and its idx1 label file ([N]).
// `limit` keeps the first `limit` items (-1: all; more than N: all).
ImageDataset load_idx_dataset(const std::string& images_path, const std::string& labels_path,
                              int32_t num_classes, int64_t limit = -1);

// Fashion-MNIST from `root` ("" means kFashionMnistDir): the train split
// (60,000 images) or the t10k test split (10,000), 28x28x1, 10 classes. Each
// file is looked for uncompressed first (faster to read), then as .gz.
ImageDataset load_fashion_mnist(const std::string& root, bool train, int64_t limit = -1);
// MNIST digits from `dir`: the same file names, sizes and layout.
ImageDataset load_mnist(const std::string& dir, bool train, int64_t limit = -1);
// The images file of a split that both loaders look for ("" when neither the
// plain nor the .gz file exists): lets callers probe a directory.
std::string find_mnist_images(const std::string& dir, bool train);

// Items [begin, begin + count) as an F32 NHWC tensor [count, H, W, C] holding
// (pixel / 255 - mean) / stddev.
Tensor to_float_batch(const ImageDataset& ds, int64_t begin, int64_t count, float mean,
                      float stddev);
// Labels of items [begin, begin + count) as an I32 tensor [count].
Tensor to_label_batch(const ImageDataset& ds, int64_t begin, int64_t count);

}  // namespace motive
