// IDX reader: files written per the IDX spec here (plain and gzipped), every
// bad-input error, and the real Fashion-MNIST installed by tools/setup.sh.
#include <doctest/doctest.h>
#include <zlib.h>

#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "data/idx.h"
#include "tests/file_fixtures.h"

namespace fs = std::filesystem;
using motive::ImageDataset;
using namespace motive::test;

namespace {

std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 37 + i / 7);
  return v;
}

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == int(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

std::string fashion_dir() {
  const std::string dir = MOTIVE_FASHION_MNIST_DIR;
  REQUIRE_MESSAGE(fs::is_directory(dir), "the real Fashion-MNIST is missing from ", dir,
                  ": run tools/setup.sh (it installs Debian's dataset-fashion-mnist)");
  return dir;
}

// One decompressed byte of a real data-set file, read with zlib directly so
// the check does not go through the reader under test.
std::vector<uint8_t> raw_bytes_at(const std::string& gz_path, const std::vector<long>& offsets) {
  gzFile f = gzopen(gz_path.c_str(), "rb");
  REQUIRE_MESSAGE(f != nullptr, "cannot open ", gz_path);
  std::vector<uint8_t> out;
  for (long off : offsets) {  // ascending, so each seek only decompresses forward
    REQUIRE(gzseek(f, off, SEEK_SET) == off);
    unsigned char byte = 0;
    REQUIRE(gzread(f, &byte, 1) == 1);
    out.push_back(byte);
  }
  gzclose(f);
  return out;
}

const ImageDataset& fashion_train() {
  static const ImageDataset ds = motive::load_fashion_mnist(fashion_dir(), true);
  return ds;
}

}  // namespace

TEST_CASE("read_idx round-trips plain and gzipped files, whatever their names") {
  TempDir dir;
  const std::vector<uint8_t> data = pattern(3 * 4 * 5);
  const std::vector<uint8_t> file = idx_bytes({3, 4, 5}, data);
  write_bytes(dir / "a.idx", file);
  write_gz(dir / "a.idx.gz", file);
  write_gz(dir / "gzip_without_suffix", file);
  for (const char* name : {"a.idx", "a.idx.gz", "gzip_without_suffix"}) {
    CAPTURE(name);
    const motive::IdxArray a = motive::read_idx(dir / name);
    CHECK(a.dims == std::vector<int64_t>{3, 4, 5});
    CHECK(a.data == data);
  }

  SUBCASE("one dimension, and a dimension of size zero") {
    write_gz(dir / "labels.gz", idx_bytes({7}, pattern(7)));
    CHECK(motive::read_idx(dir / "labels.gz").data == pattern(7));
    write_bytes(dir / "empty", idx_bytes({0, 28, 28}, {}));
    const motive::IdxArray empty = motive::read_idx(dir / "empty");
    CHECK(empty.dims == std::vector<int64_t>{0, 28, 28});
    CHECK(empty.data.empty());
  }
  SUBCASE("a file larger than the reader's 1 MiB chunk") {
    const std::vector<uint8_t> big = pattern(3 * 1000 * 1000);
    write_gz(dir / "big.gz", idx_bytes({3000, 1000}, big));
    CHECK(motive::read_idx(dir / "big.gz").data == big);
  }
}

TEST_CASE("missing files name the path looked for and how to install the data set") {
  TempDir dir;
  check_mentions(error_of([&] { motive::read_idx(dir / "nope.gz"); }),
                 {dir / "nope.gz", "No such file"});
  check_mentions(error_of([&] { motive::load_fashion_mnist(dir.str(), true); }),
                 {dir / "train-images-idx3-ubyte", "tools/setup.sh", "dataset-fashion-mnist"});
  check_mentions(error_of([&] { motive::read_idx(dir.str()); }), {dir.str(), "cannot read"});
}

TEST_CASE("truncated files name the file and the byte offset where the data ran out") {
  TempDir dir;
  // 16-byte header + 40 of the 48 data bytes.
  write_bytes(dir / "short", idx_bytes({3, 4, 4}, pattern(40)));
  check_mentions(error_of([&] { motive::read_idx(dir / "short"); }),
                 {dir / "short", "truncated", "need 64 bytes", "byte offset 56"});

  write_bytes(dir / "short_header", {0, 0, 8, 3, 0, 0});
  check_mentions(error_of([&] { motive::read_idx(dir / "short_header"); }),
                 {dir / "short_header", "truncated", "byte offset 6"});

  write_gz(dir / "cut.gz", idx_bytes({100, 100}, pattern(10000)));
  std::vector<uint8_t> gz = read_raw(dir / "cut.gz");
  gz.resize(gz.size() / 2);
  write_bytes(dir / "cut.gz", gz);
  check_mentions(error_of([&] { motive::read_idx(dir / "cut.gz"); }),
                 {dir / "cut.gz", "truncated gzip stream", "decompressed byte offset"});
}

TEST_CASE("a corrupt gzip stream is reported with the file name") {
  TempDir dir;
  write_gz(dir / "bad.gz", idx_bytes({100, 100}, pattern(10000)));
  std::vector<uint8_t> gz = read_raw(dir / "bad.gz");
  for (size_t i = gz.size() / 3; i < gz.size() / 3 + 16; ++i) gz[i] ^= 0xA5;
  write_bytes(dir / "bad.gz", gz);
  check_mentions(error_of([&] { motive::read_idx(dir / "bad.gz"); }),
                 {dir / "bad.gz", "corrupt gzip stream"});
}

TEST_CASE("wrong magic numbers and unsupported element types are rejected") {
  TempDir dir;
  write_bytes(dir / "magic", {0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0});
  check_mentions(error_of([&] { motive::read_idx(dir / "magic"); }),
                 {dir / "magic", "wrong magic number 0x12345678"});

  write_bytes(dir / "floats", idx_bytes({1}, {0, 0, 0x80, 0x3F}, 0x0D));
  check_mentions(error_of([&] { motive::read_idx(dir / "floats"); }),
                 {dir / "floats", "0x0D (float32) is not supported"});
}

TEST_CASE("absurd or overflowing dimensions are rejected before any allocation") {
  TempDir dir;
  write_bytes(dir / "overflow", idx_bytes({0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, {}));
  check_mentions(error_of([&] { motive::read_idx(dir / "overflow"); }),
                 {dir / "overflow", "more than 2^40 elements"});
  write_bytes(dir / "huge", idx_bytes({65536, 65536, 65536}, {}));
  check_mentions(error_of([&] { motive::read_idx(dir / "huge"); }),
                 {dir / "huge", "more than 2^40 elements"});
}

TEST_CASE("a header declaring 255 dimensions gives one short line, whatever its sizes") {
  TempDir dir;
  const std::vector<uint32_t> huge(255, 0xFFFFFFFF), ones(255, 1);
  write_bytes(dir / "huge", idx_bytes(huge, {}));
  write_bytes(dir / "short", idx_bytes(ones, {}));       // needs 1 data byte
  write_bytes(dir / "long", idx_bytes(ones, {1, 2}));    // has 1 too many
  write_bytes(dir / "fits", idx_bytes(ones, {1}));       // valid IDX, not an image file
  write_bytes(dir / "labels", idx_bytes({1}, {0}));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {error_of([&] { motive::read_idx(dir / "huge"); }), "more than 2^40 elements"},
      {error_of([&] { motive::read_idx(dir / "short"); }), "truncated"},
      {error_of([&] { motive::read_idx(dir / "long"); }), "1 unexpected bytes"},
      {error_of([&] { motive::load_idx_dataset(dir / "fits", dir / "labels", 10); }),
       "images need dimensions [count, height, width]"},
  };
  for (const auto& [message, what] : cases) {
    check_mentions(message, {what, "(255 dimensions)"});
    CHECK_MESSAGE(message.size() < 240, "a ", message.size(), "-byte line: ", message);
    CHECK(message.find('\n') == std::string::npos);
  }
  check_mentions(cases[0].first, {"[4294967295,4294967295,4294967295,4294967295,...]"});
}

TEST_CASE("bytes after the data are an error") {
  TempDir dir;
  write_bytes(dir / "long", idx_bytes({2, 2}, pattern(7)));
  check_mentions(error_of([&] { motive::read_idx(dir / "long"); }),
                 {dir / "long", "3 unexpected bytes", "byte offset 16"});
}

TEST_CASE("load_idx_dataset pairs images with labels and checks them") {
  TempDir dir;
  const std::string images = dir / "images", labels = dir / "labels.gz";
  write_bytes(images, idx_bytes({4, 2, 3}, pattern(24)));
  write_gz(labels, idx_bytes({4}, {1, 0, 9, 3}));

  const ImageDataset ds = motive::load_idx_dataset(images, labels, 10);
  CHECK(ds.count == 4);
  CHECK(ds.height == 2);
  CHECK(ds.width == 3);
  CHECK(ds.channels == 1);
  CHECK(ds.num_classes == 10);
  CHECK(ds.pixels == pattern(24));
  CHECK(ds.labels == std::vector<int32_t>{1, 0, 9, 3});

  SUBCASE("limit keeps a prefix; a limit past the end keeps everything") {
    const ImageDataset two = motive::load_idx_dataset(images, labels, 10, 2);
    CHECK(two.count == 2);
    CHECK(two.pixels == std::vector<uint8_t>(ds.pixels.begin(), ds.pixels.begin() + 12));
    CHECK(two.labels == std::vector<int32_t>{1, 0});
    CHECK(motive::load_idx_dataset(images, labels, 10, 0).count == 0);
    CHECK(motive::load_idx_dataset(images, labels, 10, 100).count == 4);
    check_mentions(error_of([&] { motive::load_idx_dataset(images, labels, 10, -2); }),
                   {"limit", "-2"});
  }
  SUBCASE("label out of range names the file, the index and the byte offset") {
    check_mentions(error_of([&] { motive::load_idx_dataset(images, labels, 9); }),
                   {labels, "label 9 at index 2", "byte offset 10", "[0, 9)"});
  }
  SUBCASE("image and label counts must match") {
    write_bytes(dir / "five_labels", idx_bytes({5}, {0, 1, 2, 3, 4}));
    check_mentions(
        error_of([&] { motive::load_idx_dataset(images, dir / "five_labels", 10); }),
        {images, dir / "five_labels", "count mismatch", "4 images", "5 labels"});
  }
  SUBCASE("images must be [count, height, width] and labels [count]") {
    check_mentions(error_of([&] { motive::load_idx_dataset(labels, labels, 10); }),
                   {labels, "[count, height, width]"});
    check_mentions(error_of([&] { motive::load_idx_dataset(images, images, 10); }),
                   {images, "labels need dimensions [count]"});
  }
}

TEST_CASE("load_fashion_mnist prefers the uncompressed file and falls back to .gz") {
  TempDir dir;
  write_gz(dir / "t10k-images-idx3-ubyte.gz", idx_bytes({2, 28, 28}, pattern(2 * 28 * 28)));
  write_bytes(dir / "t10k-labels-idx1-ubyte", idx_bytes({2}, {4, 5}));
  write_gz(dir / "t10k-labels-idx1-ubyte.gz", idx_bytes({2}, {6, 7}));
  const ImageDataset ds = motive::load_fashion_mnist(dir.str(), false);
  CHECK(ds.count == 2);
  CHECK(ds.pixels == pattern(2 * 28 * 28));
  CHECK(ds.labels == std::vector<int32_t>{4, 5});
  CHECK(ds.class_names.size() == 10);
}

TEST_CASE("load_mnist reads the same layout with digit names; its absence says how to fetch it") {
  TempDir dir;
  write_bytes(dir / "train-images-idx3-ubyte", idx_bytes({3, 28, 28}, pattern(3 * 28 * 28)));
  write_gz(dir / "train-labels-idx1-ubyte.gz", idx_bytes({3}, {7, 0, 1}));
  const ImageDataset ds = motive::load_mnist(dir.str(), true);
  CHECK(ds.count == 3);
  CHECK(ds.labels == std::vector<int32_t>{7, 0, 1});
  CHECK(ds.class_names[7] == "7");
  check_mentions(error_of([&] { motive::load_mnist(dir.str(), false); }),
                 {"MNIST not found", dir / "t10k-images-idx3-ubyte", "tools/fetch_data.sh mnist"});
}

TEST_CASE("to_float_batch normalises NHWC pixels; to_label_batch gives I32 labels") {
  TempDir dir;
  write_bytes(dir / "images", idx_bytes({3, 2, 2}, {0, 255, 51, 102, 1, 2, 3, 4, 5, 6, 7, 8}));
  write_bytes(dir / "labels", idx_bytes({3}, {2, 0, 1}));
  const ImageDataset ds = motive::load_idx_dataset(dir / "images", dir / "labels", 3);

  const float mean = 0.5f, stddev = 0.25f;
  const motive::Tensor x = motive::to_float_batch(ds, 0, 2, mean, stddev);
  CHECK(x.dtype() == motive::DType::F32);
  CHECK(x.shape() == motive::Shape{2, 2, 2, 1});
  CHECK(x.at({0, 0, 0, 0}) == doctest::Approx(-2.0));
  CHECK(x.at({0, 0, 1, 0}) == doctest::Approx(2.0));
  CHECK(x.at({0, 1, 0, 0}) == doctest::Approx((0.2 - 0.5) / 0.25));
  const std::vector<double> values = x.to_vector();
  for (size_t i = 0; i < values.size(); ++i)
    CHECK(values[i] == doctest::Approx((ds.pixels[i] / 255.0 - mean) / stddev));

  const motive::Tensor y = motive::to_label_batch(ds, 1, 2);
  CHECK(y.dtype() == motive::DType::I32);
  CHECK(y.shape() == motive::Shape{2});
  CHECK(y.to_vector() == std::vector<double>{0, 1});
  CHECK(motive::to_label_batch(ds, 3, 0).numel() == 0);

  check_mentions(error_of([&] { motive::to_float_batch(ds, 2, 2, mean, stddev); }),
                 {"to_float_batch", "[2, 4)", "3 items"});
  check_mentions(error_of([&] { motive::to_label_batch(ds, -1, 1); }), {"to_label_batch"});
  check_mentions(error_of([&] { motive::to_float_batch(ds, 0, 1, mean, 0.0f); }), {"std"});
}

TEST_CASE("real Fashion-MNIST train split: 60,000 28x28 images, 6,000 per class") {
  const ImageDataset& ds = fashion_train();
  CHECK(ds.count == 60000);
  CHECK(ds.height == 28);
  CHECK(ds.width == 28);
  CHECK(ds.channels == 1);
  CHECK(ds.num_classes == 10);
  CHECK(ds.pixels.size() == size_t(60000) * 28 * 28);
  REQUIRE(ds.labels.size() == 60000);
  CHECK(ds.labels[0] == 9);
  CHECK(ds.class_names[9] == "Ankle boot");
  std::array<int, 10> per_class{};
  for (int32_t label : ds.labels) ++per_class[label];
  for (int c = 0; c < 10; ++c) CHECK_MESSAGE(per_class[c] == 6000, "class ", c);
}

TEST_CASE("real Fashion-MNIST pixels and labels match the raw file bytes") {
  const std::string dir = fashion_dir();
  const ImageDataset& ds = fashion_train();
  // Pixel i sits at byte 16 + i (4-byte magic + three sizes), label i at 8 + i.
  const std::vector<long> pixels = {0, 300, 401, 784 * 12345 + 200, 784L * 60000 - 1};
  std::vector<long> pixel_offsets, label_offsets;
  for (long i : pixels) pixel_offsets.push_back(16 + i);
  const std::vector<long> labels = {0, 1, 777, 59999};
  for (long i : labels) label_offsets.push_back(8 + i);

  const std::vector<uint8_t> raw_pixels =
      raw_bytes_at(dir + "/train-images-idx3-ubyte.gz", pixel_offsets);
  for (size_t k = 0; k < pixels.size(); ++k) {
    CAPTURE(pixels[k]);
    CHECK(ds.pixels[pixels[k]] == raw_pixels[k]);
  }
  const std::vector<uint8_t> raw_labels =
      raw_bytes_at(dir + "/train-labels-idx1-ubyte.gz", label_offsets);
  for (size_t k = 0; k < labels.size(); ++k) CHECK(ds.labels[labels[k]] == raw_labels[k]);
  // Not a blank image: the real data has ink in the first one.
  CHECK(*std::max_element(ds.pixels.begin(), ds.pixels.begin() + 784) > 0);
}

TEST_CASE("real Fashion-MNIST test split: 10,000 images, 1,000 per class; limit keeps a prefix") {
  const ImageDataset ds = motive::load_fashion_mnist(fashion_dir(), false);
  CHECK(ds.count == 10000);
  std::array<int, 10> per_class{};
  for (int32_t label : ds.labels) ++per_class[label];
  for (int c = 0; c < 10; ++c) CHECK_MESSAGE(per_class[c] == 1000, "class ", c);

  const ImageDataset head = motive::load_fashion_mnist("", false, 1000);  // "" = default dir
  CHECK(head.count == 1000);
  CHECK(head.pixels == std::vector<uint8_t>(ds.pixels.begin(), ds.pixels.begin() + 1000 * 784));
  CHECK(head.labels == std::vector<int32_t>(ds.labels.begin(), ds.labels.begin() + 1000));
}
