// The prefetching loader: every item once per epoch in the epoch's Philox
// order, drop_last, epoch ends, identical batches whatever the worker count
// and prefetch depth, resume on the exact next batch, worker errors reaching
// the consumer, bad options; on a GPU, device batches equal to the CPU's.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <vector>

#include "data/loader.h"
#include "engine/device.h"
#include "tests/file_fixtures.h"

using namespace motive;
using namespace motive::test;

namespace {

// n items of 4x4x3 whose first two bytes spell the item's index, label i % 7.
std::shared_ptr<const Dataset> numbered(int64_t n) {
  ImageDataset ds;
  ds.count = n;
  ds.height = ds.width = 4;
  ds.channels = 3;
  ds.num_classes = 7;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t p = 0; p < 48; ++p)
      ds.pixels.push_back(static_cast<uint8_t>(p == 0 ? i % 256 : p == 1 ? i / 256 : p * 5 + i));
    ds.labels.push_back(static_cast<int32_t>(i % 7));
  }
  return in_memory(std::move(ds));
}

// With the identity normalisation the first two floats of an image give back its index.
std::vector<int64_t> items_of(const Batch& b) {
  std::vector<int64_t> out;
  const float* x = b.images.data<float>();
  const int64_t per = b.images.numel() / b.images.size(0);
  for (int64_t i = 0; i < b.images.size(0); ++i)
    out.push_back(std::lround(x[i * per] * 255) + 256 * std::lround(x[i * per + 1] * 255));
  return out;
}

LoaderOptions opts(int64_t batch, int workers = 2, int prefetch = 3) {
  LoaderOptions o;
  o.batch_size = batch;
  o.workers = workers;
  o.prefetch = prefetch;
  o.seed = 11;
  return o;
}

Augment cifar_recipe() {
  Augment a;
  a.crop = Crop::RandomPad;
  a.padding = 2;
  a.flip = true;
  a.normalize = {{0.5f, 0.4f, 0.3f}, {0.2f, 0.3f, 0.4f}};
  return a;
}

std::vector<Batch> one_epoch(Loader& loader) {
  std::vector<Batch> out;
  while (auto b = loader.next()) out.push_back(std::move(*b));
  return out;
}

bool same(const Batch& a, const Batch& b) {
  return a.epoch == b.epoch && a.index == b.index && a.images.shape() == b.images.shape() &&
         a.images.to_vector() == b.images.to_vector() &&
         a.labels.to_vector() == b.labels.to_vector();
}

}  // namespace

TEST_CASE("shuffled_order: a permutation per (seed, epoch), different across epochs and seeds") {
  const std::vector<int64_t> a = shuffled_order(1000, 3, 0);
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> iota(1000);
  std::iota(iota.begin(), iota.end(), 0);
  CHECK(sorted == iota);
  CHECK(a != iota);
  CHECK(a == shuffled_order(1000, 3, 0));
  CHECK(a != shuffled_order(1000, 3, 1));
  CHECK(a != shuffled_order(1000, 4, 0));
  CHECK(shuffled_order(1, 3, 0) == std::vector<int64_t>{0});
  CHECK(shuffled_order(0, 3, 0).empty());
}

TEST_CASE("an epoch is every item once, in the epoch's order, in NHWC float32 + int32 labels") {
  const int64_t n = 103;
  Loader loader(numbered(n), Augment{}, opts(10));
  CHECK(loader.batches_per_epoch() == 11);
  CHECK(loader.batch_shape() == Shape{10, 4, 4, 3});
  CHECK(loader.position() == LoaderPosition{0, 0});
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    const std::vector<Batch> batches = one_epoch(loader);
    REQUIRE(batches.size() == 11);
    std::vector<int64_t> seen;
    for (size_t k = 0; k < batches.size(); ++k) {
      const Batch& b = batches[k];
      CHECK(b.epoch == epoch);
      CHECK(b.index == static_cast<int64_t>(k));
      CHECK(b.images.dtype() == DType::F32);
      CHECK(b.images.device() == Device::CPU);
      CHECK(b.labels.dtype() == DType::I32);
      CHECK(b.images.shape() == Shape{k < 10 ? 10 : 3, 4, 4, 3});  // the last batch is partial
      const std::vector<int64_t> items = items_of(b);
      for (size_t i = 0; i < items.size(); ++i) CHECK(b.labels.data<int32_t>()[i] == items[i] % 7);
      seen.insert(seen.end(), items.begin(), items.end());
    }
    CHECK(seen == shuffled_order(n, 11, epoch));
    CHECK(loader.position() == LoaderPosition{epoch + 1, 0});
  }
}

TEST_CASE("shuffle off gives data-set order; drop_last drops the partial batch") {
  LoaderOptions o = opts(10);
  o.shuffle = false;
  o.drop_last = true;
  Loader loader(numbered(103), Augment{}, o);
  CHECK(loader.batches_per_epoch() == 10);
  std::vector<int64_t> seen;
  for (const Batch& b : one_epoch(loader)) {
    CHECK(b.images.size(0) == 10);
    const std::vector<int64_t> items = items_of(b);
    seen.insert(seen.end(), items.begin(), items.end());
  }
  std::vector<int64_t> first_100(100);
  std::iota(first_100.begin(), first_100.end(), 0);
  CHECK(seen == first_100);
}

TEST_CASE("batches are bit-identical whatever the worker count and prefetch depth") {
  const auto data = numbered(250);
  auto run = [&](int workers, int prefetch) {
    Loader loader(data, cifar_recipe(), opts(16, workers, prefetch));
    std::vector<Batch> all = one_epoch(loader);
    for (Batch& b : one_epoch(loader)) all.push_back(std::move(b));
    return all;
  };
  const std::vector<Batch> one = run(1, 1);
  const std::vector<Batch> three = run(3, 5);
  const std::vector<Batch> many = run(8, 2);
  REQUIRE(one.size() == 32);
  REQUIRE(three.size() == one.size());
  REQUIRE(many.size() == one.size());
  for (size_t k = 0; k < one.size(); ++k) {
    CAPTURE(k);
    CHECK(same(one[k], three[k]));
    CHECK(same(one[k], many[k]));
  }
  // Epoch 1 is augmented and ordered afresh, not a replay of epoch 0.
  CHECK(one[0].images.to_vector() != one[16].images.to_vector());
}

TEST_CASE("shards: the shards of every batch, in order, are the whole batch") {
  // 100 items in batches of 12: the last batch has 4 items, fewer than the 6
  // shards, so some shards of it are empty.
  const auto data = numbered(100);
  Loader whole(data, cifar_recipe(), opts(12));
  const std::vector<Batch> expected = one_epoch(whole);
  REQUIRE(expected.size() == 9);
  const int64_t shards = 6;
  std::vector<std::vector<Batch>> parts;
  for (int64_t k = 0; k < shards; ++k) {
    LoaderOptions o = opts(12);
    o.shard = k;
    o.shards = shards;
    Loader loader(data, cifar_recipe(), o);
    parts.push_back(one_epoch(loader));
    REQUIRE(parts.back().size() == expected.size());
  }
  for (size_t b = 0; b < expected.size(); ++b) {
    CAPTURE(b);
    std::vector<double> images, labels;
    for (int64_t k = 0; k < shards; ++k) {
      const Batch& part = parts[static_cast<size_t>(k)][b];
      CHECK(part.whole == expected[b].images.size(0));
      const int64_t n = part.images.size(0);
      CHECK((n == expected[b].images.size(0) / shards ||
             n == expected[b].images.size(0) / shards + 1));
      for (double v : part.images.to_vector()) images.push_back(v);
      for (double v : part.labels.to_vector()) labels.push_back(v);
    }
    CHECK(images == expected[b].images.to_vector());
    CHECK(labels == expected[b].labels.to_vector());
  }
  LoaderOptions bad = opts(12);
  bad.shard = 2;
  bad.shards = 2;
  CHECK_THROWS_WITH(Loader(data, Augment{}, bad), "loader: shard 2 of 2 does not exist");
}

TEST_CASE("resume: a loader sought to a checkpointed position gives the exact next batches") {
  const auto data = numbered(90);
  Loader reference(data, cifar_recipe(), opts(8));
  std::vector<Batch> expected;
  LoaderPosition checkpoint;
  for (int epoch = 0; epoch < 2; ++epoch)
    while (auto b = reference.next()) {
      if (epoch == 1 && b->index == 4) checkpoint = reference.position();  // after batch 4
      expected.push_back(std::move(*b));
    }
  CHECK(checkpoint == LoaderPosition{1, 5});

  Loader resumed(data, cifar_recipe(), opts(8, 3, 2));
  resumed.seek(checkpoint);
  CHECK(resumed.position() == checkpoint);
  const size_t per_epoch = static_cast<size_t>(resumed.batches_per_epoch());
  for (size_t k = per_epoch + 5; k < expected.size(); ++k) {
    auto b = resumed.next();
    REQUIRE(b);
    CHECK(same(*b, expected[k]));
  }
  CHECK_FALSE(resumed.next());  // the end of epoch 1
  CHECK(resumed.position() == LoaderPosition{2, 0});

  SUBCASE("seeking back on a running loader drops its prefetched batches") {
    resumed.seek({0, 2});
    auto b = resumed.next();
    REQUIRE(b);
    CHECK(same(*b, expected[2]));
  }
  SUBCASE("a position outside the epoch is an error") {
    check_mentions(error_of([&] {
                     resumed.seek({0, 12});
                   }),
                   {"batch 12 of epoch 0", "12 batches", "90 items", "batch size 8"});
  }
}

TEST_CASE("a worker's error reaches next(), for the lowest failing item of the batch") {
  class Failing final : public Dataset {
   public:
    explicit Failing(std::shared_ptr<const Dataset> inner) : inner_(std::move(inner)) {}
    int64_t size() const override { return inner_->size(); }
    int32_t num_classes() const override { return inner_->num_classes(); }
    const std::vector<std::string>& class_names() const override { return inner_->class_names(); }
    int32_t label(int64_t i) const override { return inner_->label(i); }
    int64_t channels() const override { return 3; }
    int64_t fixed_height() const override { return 4; }
    int64_t fixed_width() const override { return 4; }
    ImageView image(int64_t i, std::vector<uint8_t>& scratch) const override {
      if (i >= 20 && i % 2 == 0) fail("item ", i, " is broken");
      return inner_->image(i, scratch);
    }

   private:
    std::shared_ptr<const Dataset> inner_;
  };
  LoaderOptions o = opts(8, 3, 2);
  o.shuffle = false;
  Loader loader(std::make_shared<Failing>(numbered(40)), Augment{}, o);
  CHECK(loader.next());
  CHECK(loader.next());
  check_mentions(error_of([&] { loader.next(); }), {"item 20 is broken"});
  check_mentions(error_of([&] { loader.next(); }), {"item 20 is broken"});  // reported again
}

TEST_CASE("bad loader settings are errors that say what is wrong") {
  const auto data = numbered(10);
  check_mentions(error_of([&] { Loader(data, Augment{}, opts(0)); }), {"batch size", "0"});
  check_mentions(error_of([&] { Loader(data, Augment{}, opts(4, 1, 0)); }), {"prefetch"});
  check_mentions(error_of([&] { Loader(data, Augment{}, opts(4, -1)); }), {"workers"});
  LoaderOptions o = opts(11);
  o.drop_last = true;
  check_mentions(error_of([&] { Loader(data, Augment{}, o); }),
                 {"batch size 11", "drop_last", "10 items"});
  check_mentions(error_of([&] { Loader(numbered(0), Augment{}, opts(4)); }), {"empty"});
  check_mentions(error_of([&] { Loader(nullptr, Augment{}, opts(4)); }), {"no data set"});
  Augment bad;
  bad.normalize = {{0.1f, 0.2f}, {1.0f}};
  check_mentions(error_of([&] { Loader(data, bad, opts(4)); }), {"normalize mean"});
  if (!cuda_available()) {
    o = opts(4);
    o.device = Device::CUDA;
    check_mentions(error_of([&] { Loader(data, Augment{}, o); }), {"loader: device cuda", "cuda"});
  }
}

TEST_CASE("CUDA target: device batches equal the CPU loader's (skips without a GPU)") {
  if (!cuda_available()) {
    MESSAGE("skipped: " << cuda_describe());
    return;
  }
  const auto data = numbered(300);
  LoaderOptions o = opts(32, 3, 3);
  Loader cpu(data, cifar_recipe(), o);
  o.device = Device::CUDA;
  Loader gpu(data, cifar_recipe(), o);
  for (int epoch = 0; epoch < 2; ++epoch) {
    while (auto g = gpu.next()) {
      auto c = cpu.next();
      REQUIRE(c);
      CHECK(g->images.device() == Device::CUDA);
      CHECK(g->labels.device() == Device::CUDA);
      Batch back{g->images.to(Device::CPU), g->labels.to(Device::CPU), g->epoch, g->index};
      CHECK(same(back, *c));
    }
    CHECK_FALSE(cpu.next());  // the CPU loader's end of the epoch too
  }
}
