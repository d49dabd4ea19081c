// Data sets by name: the real Fashion-MNIST found where Debian installs it,
// MNIST under the data root, limits, each one's standard recipe, and the one
// line an absent or unknown data set gives.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "data/idx.h"
#include "data/loader.h"
#include "data/registry.h"
#include "tests/file_fixtures.h"

using namespace motive;
using namespace motive::test;

TEST_CASE("fashion-mnist without a root: Debian's package, with limits and its recipe") {
  DataSpec spec;
  spec.name = "fashion-mnist";
  spec.limit_train = 300;
  spec.limit_test = 100;
  const DataSplits data = open_data(spec);
  CHECK(data.train->size() == 300);
  CHECK(data.test->size() == 100);
  CHECK(data.train->num_classes() == 10);
  CHECK(data.train->class_names()[9] == "Ankle boot");
  CHECK(data.train->label(0) == 9);  // the first training image is an ankle boot
  check_mentions(data.description,
                 {kFashionMnistDir, "300 train / 100 test", "28x28x1", "10 classes"});
  CHECK(data.train_augment.crop == Crop::RandomPad);
  CHECK(data.train_augment.padding == 2);
  CHECK(data.train_augment.flip);
  CHECK(data.test_augment.crop == Crop::None);
  CHECK(data.test_augment.normalize.mean == std::vector<float>{kFashionMean});

  LoaderOptions o;
  o.batch_size = 64;
  o.workers = 2;
  Loader train(data.train, data.train_augment, o);
  CHECK(train.next()->images.shape() == Shape{64, 28, 28, 1});

  spec.augment = false;  // the train split transformed like the test split
  CHECK(open_data(spec).train_augment.crop == Crop::None);
}

TEST_CASE("an empty split names the split and its limit, or where it came from") {
  DataSpec spec;
  spec.name = "fashion-mnist";
  spec.limit_train = 10;
  spec.limit_test = 0;
  check_mentions(error_of([&] { open_data(spec); }),
                 {"data set 'fashion-mnist': the test split is empty (limit_test = 0"});
  spec.limit_train = 0;
  check_mentions(error_of([&] { open_data(spec); }),
                 {"the train split is empty (limit_train = 0"});

  TempDir root;  // an MNIST whose test files hold no images
  spec.name = "mnist";
  spec.root = root.str();
  spec.limit_train = spec.limit_test = -1;
  write_bytes(root / "train-images-idx3-ubyte", idx_bytes({1, 2, 2}, {1, 2, 3, 4}));
  write_bytes(root / "train-labels-idx1-ubyte", idx_bytes({1}, {3}));
  write_bytes(root / "t10k-images-idx3-ubyte", idx_bytes({0, 2, 2}, {}));
  write_bytes(root / "t10k-labels-idx1-ubyte", idx_bytes({0}, {}));
  check_mentions(error_of([&] { open_data(spec); }),
                 {"data set 'mnist': the test split holds no images (mnist from " + root.str()});
}

TEST_CASE("mnist under the data root; absent or unknown data sets say what to do") {
  TempDir root;
  DataSpec spec;
  spec.name = "mnist";
  spec.root = root.str();
  check_mentions(error_of([&] { open_data(spec); }),
                 {"data set 'mnist' not found", "train-images-idx3-ubyte",
                  root / "mnist" + ", " + root.str(), "tools/fetch_data.sh mnist", "--data-root"});

  std::vector<uint8_t> pixels(2 * 28 * 28, 7);
  for (const char* split : {"train", "t10k"}) {
    write_bytes(root / "mnist/" + split + "-images-idx3-ubyte", idx_bytes({2, 28, 28}, pixels));
    write_bytes(root / "mnist/" + split + "-labels-idx1-ubyte", idx_bytes({2}, {3, 8}));
  }
  const DataSplits data = open_data(spec);
  CHECK(data.train->size() == 2);
  CHECK(data.test->label(1) == 8);
  CHECK_FALSE(data.train_augment.flip);  // a mirrored digit is another digit
  CHECK(data.test_augment.normalize.std == std::vector<float>{kMnistStd});

  spec.name = "imagenet";
  check_mentions(
      error_of([&] { open_data(spec); }),
      {"unknown data set 'imagenet'", "fashion-mnist, mnist, cifar10, cifar100", "folder:PATH"});
  spec.name = "folder:";
  check_mentions(error_of([&] { open_data(spec); }), {"unknown data set 'folder:'"});
}

TEST_CASE("class subsets: the classes listed, relabelled in order, the limits counting them") {
  CHECK(parse_class_list("") == std::vector<int32_t>{});
  CHECK(parse_class_list("5-9") == std::vector<int32_t>{5, 6, 7, 8, 9});
  CHECK(parse_class_list("7,0-1,3") == std::vector<int32_t>{7, 0, 1, 3});
  for (const char* bad : {"5-", "-3", "4-2", "a", "1,,2", "1,", "1-2-3", "-1"}) {
    INFO(bad);
    CHECK_THROWS_WITH_AS(parse_class_list(bad), doctest::Contains("expected class indices"),
                         Error);
  }
  DataSpec spec;
  spec.name = "fashion-mnist";
  const DataSplits all = open_data(spec);
  spec.classes = parse_class_list("9,5-6");
  spec.limit_train = 300;
  spec.limit_test = 50;
  const DataSplits data = open_data(spec);
  CHECK(data.train->size() == 300);
  CHECK(data.test->size() == 50);
  CHECK(data.train->num_classes() == 3);
  CHECK(data.train->class_names() == std::vector<std::string>{"Ankle boot", "Sandal", "Shirt"});
  check_mentions(data.description, {"3 of its 10 classes, relabelled 0-2", "300 train / 50 test"});
  // Item by item: the kept images of the full split in order, labels mapped 9->0, 5->1, 6->2.
  std::vector<uint8_t> scratch, scratch_all;
  int64_t source = 0, counts[3] = {0, 0, 0};
  for (int64_t i = 0; i < data.train->size(); ++i) {
    while (all.train->label(source) != 9 && all.train->label(source) != 5 &&
           all.train->label(source) != 6)
      ++source;
    const int32_t expected = all.train->label(source) == 9 ? 0 : all.train->label(source) == 5 ? 1 : 2;
    CHECK(data.train->label(i) == expected);
    const ImageView kept = data.train->image(i, scratch), orig = all.train->image(source, scratch_all);
    CHECK(std::equal(kept.pixels, kept.pixels + 28 * 28, orig.pixels));
    ++counts[data.train->label(i)];
    ++source;
  }
  CHECK(counts[0] + counts[1] + counts[2] == 300);
  CHECK(counts[0] > 50);
  spec.classes = {3, 12};
  CHECK_THROWS_WITH_AS(open_data(spec), doctest::Contains("class 12 is not in the data set"), Error);
  spec.classes = {3, 3};
  CHECK_THROWS_WITH_AS(open_data(spec), doctest::Contains("class 3 is listed twice"), Error);
}
