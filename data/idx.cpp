#include "data/idx.h"

#include <algorithm>
#include <iomanip>
#include <sstream>

namespace motive {

namespace {

// Any real IDX data set is far below this (Fashion-MNIST train: 2^25.5 bytes);
// a header beyond it is corrupt, and the cap keeps the size arithmetic exact.
constexpr int64_t kMaxIdxElements = int64_t(1) << 40;
constexpr uint8_t kUnsignedByte = 0x08;

std::string hex(uint32_t value, int digits) {
  std::ostringstream os;
  os << "0x" << std::uppercase << std::hex << std::setw(digits) << std::setfill('0') << value;
  return os.str();
}

const char* idx_type_name(uint8_t type) {
  switch (type) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "not an IDX type";
  }
}

// The dimension sizes for a message: a corrupt header may declare up to 255,
// and a message is one short line, so only the first few are spelled out.
std::string dims_str(const std::vector<int64_t>& dims) {
  constexpr size_t kShown = 4;
  if (dims.size() <= kShown) return shape_str(dims);
  std::string head = shape_str({dims.begin(), dims.begin() + kShown});
  head.pop_back();  // the ']'
  return head + ",...] (" + std::to_string(dims.size()) + " dimensions)";
}

uint32_t read_be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

void check_range(const ImageDataset& ds, int64_t begin, int64_t count, const char* op) {
  // Written as begin <= ds.count - count so that huge arguments cannot overflow.
  MOTIVE_CHECK(begin >= 0 && count >= 0 && begin <= ds.count - count, op, ": items [", begin,
               ", ", begin + count, ") are outside the data set of ", ds.count, " items");
}

// Uncompressed first because it reads faster; Debian ships only the .gz files.
std::string find_split_file(const std::string& dir, const std::string& stem) {
  const std::string plain = dir + "/" + stem;
  return first_existing_file({plain, plain + ".gz"});
}

const char* split_prefix(bool train) { return train ? "train" : "t10k"; }

// Both MNIST variants: the same file names and layout, 10 classes; `hint`
// says how to get the files when they are missing.
ImageDataset load_mnist_files(const std::string& dir, bool train, int64_t limit, const char* what,
                              const std::string& hint) {
  const std::string split = split_prefix(train);
  // The images file is looked for first, so a missing data set is reported by it.
  const char* kinds[2] = {"-images-idx3-ubyte", "-labels-idx1-ubyte"};
  std::string paths[2];
  for (int k = 0; k < 2; ++k) {
    paths[k] = find_split_file(dir, split + kinds[k]);
    if (paths[k].empty())
      fail(what, " not found: looked for ", dir, "/", split, kinds[k], " and ", dir, "/", split,
           kinds[k], ".gz; ", hint);
  }
  return load_idx_dataset(paths[0], paths[1], 10, limit);
}

}  // namespace

IdxArray parse_idx(std::vector<uint8_t> bytes, const std::string& name) {
  const std::string where = "IDX file '" + name + "': ";
  const size_t size = bytes.size();
  auto require = [&](size_t end, const char* what) {
    if (size < end)
      fail(where, "truncated: ", what, " needs ", end, " bytes, but the data ends at byte offset ",
           size);
  };

  require(4, "the magic number");
  if (bytes[0] != 0 || bytes[1] != 0)
    fail(where, "wrong magic number ", hex(read_be32(bytes.data()), 8),
         " (an IDX file starts with 0x0000TTNN: TT = element type, NN = dimension count)");
  if (bytes[2] != kUnsignedByte)
    fail(where, "element type ", hex(bytes[2], 2), " (", idx_type_name(bytes[2]),
         ") is not supported; only ", hex(kUnsignedByte, 2), " (unsigned byte) is");

  const size_t rank = bytes[3];
  const size_t header = 4 + 4 * rank;
  require(header, "the header with its dimension sizes");
  IdxArray out;
  for (size_t d = 0; d < rank; ++d) out.dims.push_back(read_be32(bytes.data() + 4 + 4 * d));

  int64_t numel = 1;
  for (int64_t d : out.dims) {
    if (d != 0 && numel > kMaxIdxElements / d)
      fail(where, "dimensions ", dims_str(out.dims), " describe more than 2^40 elements; ",
           "the header is corrupt");
    numel *= d;
  }
  const size_t total = header + static_cast<size_t>(numel);
  if (size < total)
    fail(where, "truncated: dimensions ", dims_str(out.dims), " need ", total,
         " bytes, but the data ends at byte offset ", size);
  if (size > total)
    fail(where, size - total, " unexpected bytes after the data, which should end at byte offset ",
         total, " (dimensions ", dims_str(out.dims), ")");

  bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(header));
  out.data = std::move(bytes);
  return out;
}

IdxArray read_idx(const std::string& path) { return parse_idx(read_file(path), path); }

ImageDataset load_idx_dataset(const std::string& images_path, const std::string& labels_path,
                              int32_t num_classes, int64_t limit) {
  MOTIVE_CHECK(limit >= -1, "load_idx_dataset: limit must be -1 (all) or >= 0, got ", limit);
  // Labels are single bytes, so more than 256 classes could never be labelled.
  MOTIVE_CHECK(num_classes >= 1 && num_classes <= 256,
               "load_idx_dataset: num_classes must be in [1, 256], got ", num_classes);
  IdxArray images = read_idx(images_path);
  const IdxArray labels = read_idx(labels_path);
  if (images.dims.size() != 3 || images.dims[1] == 0 || images.dims[2] == 0)
    fail("IDX file '", images_path, "': images need dimensions [count, height, width] with ",
         "height, width >= 1, got ", dims_str(images.dims));
  if (labels.dims.size() != 1)
    fail("IDX file '", labels_path, "': labels need dimensions [count], got ",
         dims_str(labels.dims));
  if (images.dims[0] != labels.dims[0])
    fail("image/label count mismatch: '", images_path, "' holds ", images.dims[0],
         " images but '", labels_path, "' holds ", labels.dims[0], " labels");

  // All labels are checked, not just the kept prefix: a bad one means a corrupt file.
  constexpr int64_t kLabelHeader = 8;  // magic number + one dimension size
  for (size_t i = 0; i < labels.data.size(); ++i)
    if (labels.data[i] >= num_classes)
      fail("IDX file '", labels_path, "': label ", int(labels.data[i]), " at index ", i,
           " (byte offset ", kLabelHeader + int64_t(i), ") is out of range [0, ", num_classes, ")");

  ImageDataset ds;
  ds.count = limit < 0 ? images.dims[0] : std::min(limit, images.dims[0]);
  ds.height = images.dims[1];
  ds.width = images.dims[2];
  ds.channels = 1;
  ds.num_classes = num_classes;
  ds.pixels = std::move(images.data);
  if (ds.count < images.dims[0]) {
    ds.pixels.resize(static_cast<size_t>(ds.count * ds.height * ds.width));
    ds.pixels.shrink_to_fit();  // a small prefix should not pin the whole file's memory
  }
  ds.labels.assign(labels.data.begin(), labels.data.begin() + ds.count);
  return ds;
}

ImageDataset load_fashion_mnist(const std::string& root, bool train, int64_t limit) {
  ImageDataset ds = load_mnist_files(
      root.empty() ? kFashionMnistDir : root, train, limit, "Fashion-MNIST",
      std::string("run tools/setup.sh (it installs Debian's dataset-fashion-mnist into ") +
          kFashionMnistDir + ") or pass the directory that holds the IDX files");
  ds.class_names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return ds;
}

ImageDataset load_mnist(const std::string& dir, bool train, int64_t limit) {
  ImageDataset ds = load_mnist_files(
      dir, train, limit, "MNIST",
      "run tools/fetch_data.sh mnist (needs internet) or pass the directory that holds the IDX "
      "files");
  ds.class_names = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  return ds;
}

std::string find_mnist_images(const std::string& dir, bool train) {
  return find_split_file(dir, std::string(split_prefix(train)) + "-images-idx3-ubyte");
}

Tensor to_float_batch(const ImageDataset& ds, int64_t begin, int64_t count, float mean,
                      float stddev) {
  check_range(ds, begin, count, "to_float_batch");
  MOTIVE_CHECK(stddev > 0, "to_float_batch: std must be > 0, got ", stddev);
  // A pixel has only 256 values: one table lookup each instead of a divide.
  float table[256];
  for (int v = 0; v < 256; ++v) table[v] = (float(v) / 255.0f - mean) / stddev;

  const int64_t per_item = ds.height * ds.width * ds.channels;
  Tensor out = Tensor::empty({count, ds.height, ds.width, ds.channels}, DType::F32);
  float* dst = out.data<float>();
  const uint8_t* src = ds.pixels.data() + begin * per_item;
  for (int64_t i = 0; i < count * per_item; ++i) dst[i] = table[src[i]];
  return out;
}

Tensor to_label_batch(const ImageDataset& ds, int64_t begin, int64_t count) {
  check_range(ds, begin, count, "to_label_batch");
  Tensor out = Tensor::empty({count}, DType::I32);
  std::copy_n(ds.labels.begin() + begin, count, out.data<int32_t>());
  return out;
}

}  // namespace motive
