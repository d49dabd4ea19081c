// What the loader reads from: a data set of labelled images.
//
// Two kinds exist. ImageDataset holds every image decoded in memory (IDX,
// CIFAR: small images, the whole set fits in RAM and is read once).
// ImageFolderDataset (data/image_folder.h) decodes a JPEG/PNG per item on
// demand, because ImageNet-style sets do not fit in memory decoded. The loader
// sees both through the Dataset interface.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace motive {

// Pixels of one image: HWC uint8, contiguous (a row is width * channels bytes).
struct ImageView {
  const uint8_t* pixels = nullptr;
  int64_t height = 0, width = 0, channels = 0;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual int32_t num_classes() const = 0;
  virtual const std::vector<std::string>& class_names() const = 0;  // empty when unknown
  virtual int32_t label(int64_t i) const = 0;
  // Channels of every item, and its height/width when all items share them
  // (0 when they vary: image folders).
  virtual int64_t channels() const = 0;
  virtual int64_t fixed_height() const = 0;
  virtual int64_t fixed_width() const = 0;
  // Item i's pixels. In-memory sets return a view of their storage; decoding
  // sets decode into `scratch`, so each worker thread reuses one buffer.
  // Thread-safe: workers call it concurrently.
  virtual ImageView image(int64_t i, std::vector<uint8_t>& scratch) const = 0;
};

// Labelled images, pixels as stored (uint8, NHWC), labels in [0, num_classes).
struct ImageDataset {
  int64_t count = 0, height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;  // [count, height, width, channels]
  std::vector<int32_t> labels;  // [count]
  int32_t num_classes = 0;
  std::vector<std::string> class_names;  // num_classes entries when known, else empty
};

// An ImageDataset as a Dataset (moved in: no copy of the pixels).
std::shared_ptr<const Dataset> in_memory(ImageDataset ds);

// The items of `source` whose label is one of `classes`, in their order,
// relabelled by position in the list (classes[j] -> j, class names likewise),
// keeping the first `limit` of them (-1: all). A view: no pixels are copied.
// Throws motive::Error for a class the source does not have or one listed twice.
std::shared_ptr<const Dataset> class_subset(std::shared_ptr<const Dataset> source,
                                            const std::vector<int32_t>& classes, int64_t limit);

}  // namespace motive
