// CIFAR-10/100 readers: binary files written per the format's specification
// (label byte(s) + three 32x32 colour planes per record), the planar-to-NHWC
// conversion, limits, class names, and every bad-input error.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "data/cifar.h"
#include "data/registry.h"
#include "tests/file_fixtures.h"

using namespace motive;
using namespace motive::test;

namespace {

// Pixel byte of record `r`, channel c, row y, column x: distinct enough that a
// wrong plane or transposition shows.
uint8_t pixel(int64_t r, int64_t c, int64_t y, int64_t x) {
  return static_cast<uint8_t>(r * 71 + c * 100 + y * 7 + x * 3);
}

// One file of records; `labels` holds each record's label bytes
// (1 for CIFAR-10, coarse then fine for CIFAR-100).
std::vector<uint8_t> cifar_bytes(const std::vector<std::vector<uint8_t>>& labels,
                                 int64_t first_record = 0) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i < labels.size(); ++i) {
    out.insert(out.end(), labels[i].begin(), labels[i].end());
    const int64_t r = first_record + static_cast<int64_t>(i);
    for (int64_t c = 0; c < 3; ++c)  // planes R, G, B, each row-major
      for (int64_t y = 0; y < 32; ++y)
        for (int64_t x = 0; x < 32; ++x) out.push_back(pixel(r, c, y, x));
  }
  return out;
}

// CIFAR-10 train: 5 files of 3 records (labels r % 10), test: 2 records.
void write_cifar10(const std::string& dir) {
  for (int b = 0; b < 5; ++b) {
    std::vector<std::vector<uint8_t>> labels;
    for (int i = 0; i < 3; ++i) labels.push_back({static_cast<uint8_t>((b * 3 + i) % 10)});
    write_bytes(dir + "/data_batch_" + std::to_string(b + 1) + ".bin", cifar_bytes(labels, b * 3));
  }
  write_bytes(dir + "/test_batch.bin", cifar_bytes({{7}, {2}}));
  write_text(dir + "/batches.meta.txt",
             "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n");
}

}  // namespace

TEST_CASE("CIFAR-10: five train files and one test file, planes converted to NHWC") {
  TempDir dir;
  write_cifar10(dir.str());
  const ImageDataset train = load_cifar(dir.str(), CifarKind::Cifar10, true);
  CHECK(train.count == 15);
  CHECK(train.height == 32);
  CHECK(train.width == 32);
  CHECK(train.channels == 3);
  CHECK(train.num_classes == 10);
  REQUIRE(train.class_names.size() == 10);
  CHECK(train.class_names[0] == "airplane");
  CHECK(train.class_names[9] == "truck");
  for (int64_t r = 0; r < 15; ++r) CHECK(train.labels[r] == r % 10);
  bool all_match = true;
  for (int64_t r = 0; r < 15; ++r)
    for (int64_t y = 0; y < 32; ++y)
      for (int64_t x = 0; x < 32; ++x)
        for (int64_t c = 0; c < 3; ++c)
          all_match &= train.pixels[((r * 32 + y) * 32 + x) * 3 + c] == pixel(r, c, y, x);
  CHECK(all_match);

  const ImageDataset test = load_cifar(dir.str(), CifarKind::Cifar10, false);
  CHECK(test.count == 2);
  CHECK(test.labels == std::vector<int32_t>{7, 2});

  SUBCASE("a limit keeps a prefix across files and reads no further file") {
    std::filesystem::remove(dir / "data_batch_3.bin");
    const ImageDataset four = load_cifar(dir.str(), CifarKind::Cifar10, true, 4);
    CHECK(four.count == 4);
    CHECK(four.labels == std::vector<int32_t>{0, 1, 2, 3});
    CHECK(std::vector<uint8_t>(four.pixels.begin(), four.pixels.end()) ==
          std::vector<uint8_t>(train.pixels.begin(), train.pixels.begin() + 4 * 3072));
    const ImageDataset none = load_cifar(dir.str(), CifarKind::Cifar10, true, 0);
    CHECK(none.count == 0);
    CHECK(none.num_classes == 10);
    CHECK(none.height == 32);
    // The missing file is only noticed when the limit needs it.
    check_mentions(error_of([&] { load_cifar(dir.str(), CifarKind::Cifar10, true, 7); }),
                   {dir / "data_batch_3.bin", "cannot open"});
  }
  SUBCASE("without the meta file the class names are unknown, not an error") {
    std::filesystem::remove(dir / "batches.meta.txt");
    CHECK(load_cifar(dir.str(), CifarKind::Cifar10, false).class_names.empty());
  }
}

TEST_CASE("CIFAR-100: coarse and fine labels from one file, names from both meta files") {
  TempDir dir;
  write_bytes(dir / "train.bin", cifar_bytes({{19, 99}, {0, 5}, {3, 42}}));
  write_bytes(dir / "test.bin", cifar_bytes({{1, 2}}));
  std::string fine, coarse;
  for (int i = 0; i < 100; ++i) fine += "fine_" + std::to_string(i) + "\r\n";
  for (int i = 0; i < 20; ++i) coarse += "coarse_" + std::to_string(i) + "\n";
  write_text(dir / "fine_label_names.txt", fine);
  write_text(dir / "coarse_label_names.txt", coarse);

  const ImageDataset f = load_cifar(dir.str(), CifarKind::Cifar100Fine, true);
  CHECK(f.count == 3);
  CHECK(f.num_classes == 100);
  CHECK(f.labels == std::vector<int32_t>{99, 5, 42});
  CHECK(f.class_names[42] == "fine_42");
  CHECK(f.pixels[((1 * 32 + 3) * 32 + 4) * 3 + 2] == pixel(1, 2, 3, 4));

  const ImageDataset c = load_cifar(dir.str(), CifarKind::Cifar100Coarse, true);
  CHECK(c.num_classes == 20);
  CHECK(c.labels == std::vector<int32_t>{19, 0, 3});
  CHECK(c.class_names[19] == "coarse_19");
  CHECK(load_cifar(dir.str(), CifarKind::Cifar100Fine, false).labels == std::vector<int32_t>{2});

  SUBCASE("a meta file with the wrong number of names is an error naming it") {
    write_text(dir / "coarse_label_names.txt", "a\nb\n");
    check_mentions(error_of([&] { load_cifar(dir.str(), CifarKind::Cifar100Coarse, true); }),
                   {dir / "coarse_label_names.txt", "2 class names", "expected 20"});
  }
}

TEST_CASE("corrupt CIFAR files name the file, the record and the byte offset") {
  TempDir dir;
  ImageDataset ds;
  std::vector<uint8_t> bytes = cifar_bytes({{1}, {2}, {3}});

  SUBCASE("truncated") {
    bytes.resize(bytes.size() - 100);
    check_mentions(
        error_of([&] { parse_cifar(bytes.data(), bytes.size(), "t.bin", CifarKind::Cifar10, ds); }),
        {"'t.bin'", "truncated", "record 2 at byte offset 6146", "needs 3073 bytes",
         "ends at byte offset 9119"});
  }
  SUBCASE("empty") {
    check_mentions(error_of([&] { parse_cifar(bytes.data(), 0, "e.bin", CifarKind::Cifar10, ds); }),
                   {"'e.bin'", "empty"});
  }
  SUBCASE("label out of range, also past the limit") {
    bytes[2 * 3073] = 10;
    check_mentions(error_of([&] {
                     parse_cifar(bytes.data(), bytes.size(), "l.bin", CifarKind::Cifar10, ds, 1);
                   }),
                   {"'l.bin'", "label 10 of record 2", "byte offset 6146", "[0, 10)"});
  }
  SUBCASE("CIFAR-100: both label bytes are checked, whichever is used") {
    std::vector<uint8_t> hundred = cifar_bytes({{0, 0}, {20, 1}});
    check_mentions(error_of([&] {
                     parse_cifar(hundred.data(), hundred.size(), "c.bin", CifarKind::Cifar100Fine,
                                 ds);
                   }),
                   {"coarse label 20 of record 1", "byte offset 3074", "[0, 20)"});
    hundred = cifar_bytes({{0, 100}});
    check_mentions(error_of([&] {
                     parse_cifar(hundred.data(), hundred.size(), "f.bin", CifarKind::Cifar100Coarse,
                                 ds);
                   }),
                   {"fine label 100 of record 0", "byte offset 1", "[0, 100)"});
    // A CIFAR-10 file read as CIFAR-100 is misaligned: 3073 is not a multiple of 3074.
    check_mentions(error_of([&] {
                     parse_cifar(bytes.data(), bytes.size(), "x.bin", CifarKind::Cifar100Fine, ds);
                   }),
                   {"truncated"});
  }
  SUBCASE("a missing file is named") {
    check_mentions(error_of([&] { load_cifar(dir.str(), CifarKind::Cifar100Fine, false); }),
                   {dir / "test.bin", "cannot open"});
  }
}

TEST_CASE(
    "registry: cifar10 is found under the root's cifar-10-batches-bin, or says where it looked") {
  TempDir root;
  DataSpec spec;
  spec.name = "cifar10";
  spec.root = root.str();
  check_mentions(error_of([&] { open_data(spec); }),
                 {"data set 'cifar10' not found", "data_batch_1.bin", root / "cifar-10-batches-bin",
                  root.str(), "tools/fetch_data.sh cifar10", "needs internet", "--data-root"});

  write_cifar10(root / "cifar-10-batches-bin");
  spec.limit_train = 4;
  spec.limit_test = 1;
  const DataSplits data = open_data(spec);
  CHECK(data.train->size() == 4);
  CHECK(data.test->size() == 1);
  CHECK(data.train->num_classes() == 10);
  CHECK(data.test->label(0) == 7);
  check_mentions(data.description, {root / "cifar-10-batches-bin", "4 train / 1 test", "32x32x3"});
  // The standard recipe: pad-4 random crop and flip for training, per-channel statistics.
  CHECK(data.train_augment.crop == Crop::RandomPad);
  CHECK(data.train_augment.padding == 4);
  CHECK(data.train_augment.flip);
  CHECK(data.test_augment.crop == Crop::None);
  CHECK_FALSE(data.test_augment.flip);
  CHECK(data.test_augment.normalize.mean == std::vector<float>{0.4914f, 0.4822f, 0.4465f});

  spec.name = "cifar100";
  check_mentions(error_of([&] { open_data(spec); }),
                 {"'cifar100' not found", "train.bin", root / "cifar-100-binary"});
}
