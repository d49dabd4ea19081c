// Augmentation: every crop against a naive reference built from the crop box,
// flips, per-channel normalisation, reproducibility per (seed, epoch, index),
// torchvision's random-resized-crop bounds and fallback, bad settings, and the
// computed-and-cached normalisation statistics.
#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <vector>

#include "data/augment.h"
#include "data/stats.h"
#include "tests/file_fixtures.h"

using namespace motive;
using namespace motive::test;

namespace {

struct Image {
  int64_t h, w, c;
  std::vector<uint8_t> pixels;
  ImageView view() const { return {pixels.data(), h, w, c}; }
  uint8_t at(int64_t y, int64_t x, int64_t ch) const { return pixels[(y * w + x) * c + ch]; }
};

Image pattern_image(int64_t h, int64_t w, int64_t c) {
  Image img{h, w, c, std::vector<uint8_t>(static_cast<size_t>(h * w * c))};
  for (size_t i = 0; i < img.pixels.size(); ++i)
    img.pixels[i] = static_cast<uint8_t>(i * 7 + i / 13);
  return img;
}

Normalize cifar_like() { return {{0.5f, 0.25f, 0.75f}, {0.2f, 0.4f, 0.1f}}; }

float normalised(uint8_t v, const Normalize& n, int64_t c) {
  const size_t i = n.mean.size() == 1 ? 0 : static_cast<size_t>(c);
  return (static_cast<float>(v) / 255.0f - n.mean[i]) / n.std[i];
}

std::vector<float> run(const Transform& t, const Image& img, uint64_t seed, int64_t epoch,
                       int64_t index) {
  std::vector<float> out(static_cast<size_t>(t.out_height(img.h) * t.out_width(img.w) * img.c));
  std::vector<uint8_t> scratch;
  t.apply(img.view(), seed, epoch, index, out.data(), scratch);
  return out;
}

// The output a crop box must give without resizing: source pixel
// (y0 + y, x0 + x) (mirrored when flipped), black outside the image.
std::vector<float> reference(const Image& img, const CropBox& b, const Normalize& n) {
  std::vector<float> out;
  for (int64_t y = 0; y < b.height; ++y)
    for (int64_t x = 0; x < b.width; ++x)
      for (int64_t c = 0; c < img.c; ++c) {
        const int64_t sy = b.y0 + y, sx = b.x0 + (b.flip ? b.width - 1 - x : x);
        const bool inside = sy >= 0 && sy < img.h && sx >= 0 && sx < img.w;
        out.push_back(normalised(inside ? img.at(sy, sx, c) : 0, n, c));
      }
  return out;
}

}  // namespace

TEST_CASE("no crop: per-channel normalisation of every pixel, or of 1-channel images") {
  const Image rgb = pattern_image(5, 7, 3);
  Augment a;
  a.normalize = cifar_like();
  const Transform t(a, 3);
  CHECK(t.out_height(5) == 5);
  CHECK(t.out_width(7) == 7);
  CHECK(run(t, rgb, 0, 0, 0) == reference(rgb, {0, 0, 7, 5, false}, a.normalize));

  const Image grey = pattern_image(4, 3, 1);
  a.normalize = {{0.1307f}, {0.3081f}};
  CHECK(run(Transform(a, 1), grey, 0, 0, 0) == reference(grey, {0, 0, 3, 4, false}, a.normalize));
  // Any other channel count takes the generic loop.
  const Image four = pattern_image(3, 3, 4);
  CHECK(run(Transform(a, 4), four, 0, 0, 0) == reference(four, {0, 0, 3, 3, false}, a.normalize));
}

TEST_CASE("random pad crop + flip: matches its box for every item, covers every offset") {
  const Image img = pattern_image(8, 8, 3);
  Augment a;
  a.crop = Crop::RandomPad;
  a.padding = 2;
  a.flip = true;
  a.normalize = cifar_like();
  const Transform t(a, 3);
  std::set<int64_t> xs, ys;
  int flips = 0;
  const int items = 400;
  for (int64_t i = 0; i < items; ++i) {
    const CropBox b = t.box(8, 8, 42, 3, i);
    CHECK(b.width == 8);
    CHECK(b.height == 8);
    xs.insert(b.x0);
    ys.insert(b.y0);
    flips += b.flip;
    CHECK(run(t, img, 42, 3, i) == reference(img, b, a.normalize));
  }
  CHECK(xs == std::set<int64_t>{-2, -1, 0, 1, 2});
  CHECK(ys == std::set<int64_t>{-2, -1, 0, 1, 2});
  CHECK(flips > items * 0.4);
  CHECK(flips < items * 0.6);
}

TEST_CASE("flip alone mirrors each row exactly") {
  const Image img = pattern_image(3, 5, 3);
  Augment a;
  a.flip = true;
  const Transform t(a, 3);
  int64_t flipped_item = -1;
  for (int64_t i = 0; i < 20 && flipped_item < 0; ++i)
    if (t.box(3, 5, 1, 0, i).flip) flipped_item = i;
  REQUIRE(flipped_item >= 0);
  const std::vector<float> out = run(t, img, 1, 0, flipped_item);
  for (int64_t y = 0; y < 3; ++y)
    for (int64_t x = 0; x < 5; ++x)
      for (int64_t c = 0; c < 3; ++c)
        CHECK(out[(y * 5 + x) * 3 + c] == normalised(img.at(y, 4 - x, c), a.normalize, c));
}

TEST_CASE("augmentation is a pure function of (seed, epoch, index)") {
  const Image img = pattern_image(12, 12, 3);
  Augment a;
  a.crop = Crop::RandomPad;
  a.padding = 3;
  a.flip = true;
  const Transform t(a, 3);
  CHECK(run(t, img, 5, 2, 9) == run(t, img, 5, 2, 9));
  int differ_epoch = 0, differ_seed = 0, differ_index = 0;
  for (int64_t i = 0; i < 50; ++i) {
    differ_epoch += run(t, img, 5, 2, i) != run(t, img, 5, 3, i);
    differ_seed += run(t, img, 5, 2, i) != run(t, img, 6, 2, i);
    differ_index += run(t, img, 5, 2, i) != run(t, img, 5, 2, i + 50);
  }
  // 50 possible (x, y, flip) outcomes: a few coincide by chance, most differ.
  CHECK(differ_epoch > 40);
  CHECK(differ_seed > 40);
  CHECK(differ_index > 40);
}

TEST_CASE("random-resized-crop: boxes inside the image within scale and ratio, resized output") {
  Augment a;
  a.crop = Crop::RandomResized;
  a.size = 16;
  a.scale_min = 0.25f;
  a.scale_max = 0.75f;
  const Transform t(a, 3);
  const int64_t h = 60, w = 90;
  double smallest = 1, largest = 0;
  for (int64_t i = 0; i < 300; ++i) {
    const CropBox b = t.box(h, w, 0, 0, i);
    REQUIRE(b.x0 >= 0);
    REQUIRE(b.y0 >= 0);
    REQUIRE(b.x0 + b.width <= w);
    REQUIRE(b.y0 + b.height <= h);
    const double area = static_cast<double>(b.width * b.height) / (h * w);
    const double ratio = static_cast<double>(b.width) / b.height;
    smallest = std::min(smallest, area);
    largest = std::max(largest, area);
    // Rounding the sides to whole pixels moves area and ratio slightly.
    CHECK(area >= 0.25 * 0.93);
    CHECK(area <= 0.75 * 1.07);
    CHECK(ratio >= 0.75 * 0.9);
    CHECK(ratio <= 4.0 / 3.0 * 1.1);
  }
  CHECK(smallest < 0.3);
  CHECK(largest > 0.7);

  // Resizing keeps a flat colour flat, in every channel.
  Image flat{h, w, 3, std::vector<uint8_t>(static_cast<size_t>(h * w * 3))};
  for (size_t i = 0; i < flat.pixels.size(); ++i)
    flat.pixels[i] = static_cast<uint8_t>(60 + 70 * (i % 3));
  const std::vector<float> out = run(t, flat, 0, 0, 7);
  REQUIRE(out.size() == 16 * 16 * 3);
  // (stb's filters sum to one up to rounding: at most one grey level off.)
  for (size_t i = 0; i < out.size(); ++i)
    CHECK(std::abs(out[i] - normalised(static_cast<uint8_t>(60 + 70 * (i % 3)), a.normalize, 0)) <=
          1.5f / 255);
}

TEST_CASE("random-resized-crop falls back to a central box when no attempt fits") {
  Augment a;
  a.crop = Crop::RandomResized;
  a.size = 4;
  const Transform t(a, 1);
  // A 1-pixel-high strip: no box of ratio <= 4/3 and area >= 8% fits, so the
  // fallback cuts the widest allowed box (1 x 1) from the middle.
  const CropBox b = t.box(1, 101, 0, 0, 0);
  CHECK(b.height == 1);
  CHECK(b.width == 1);
  CHECK(b.x0 == 50);
  CHECK(b.y0 == 0);
}

TEST_CASE("center crop: the central square of crop_fraction of the shorter side") {
  Augment a;
  a.crop = Crop::Center;
  a.size = 35;
  const Transform t(a, 3);
  const CropBox b = t.box(60, 100, 0, 0, 0);
  CHECK(b.width == 53);  // round(60 * 0.875)
  CHECK(b.height == 53);
  CHECK(b.x0 == 23);
  CHECK(b.y0 == 3);
  CHECK_FALSE(b.flip);
  CHECK(t.box(60, 100, 9, 9, 9).x0 == 23);  // not random

  // When the box is already the output size nothing is resized: an exact crop.
  a.size = 56;
  const Transform exact(a, 3);
  const Image img = pattern_image(64, 64, 3);
  const CropBox e = exact.box(64, 64, 0, 0, 0);
  CHECK(e.width == 56);
  CHECK(run(exact, img, 0, 0, 0) == reference(img, e, a.normalize));

  // Downscaling a horizontal ramp keeps it a ramp.
  Image ramp{40, 80, 1, std::vector<uint8_t>(40 * 80)};
  for (int64_t y = 0; y < 40; ++y)
    for (int64_t x = 0; x < 80; ++x) ramp.pixels[y * 80 + x] = static_cast<uint8_t>(x * 3);
  a.size = 10;
  const std::vector<float> out = run(Transform(a, 1), ramp, 0, 0, 0);
  for (int64_t y = 0; y < 10; ++y)
    for (int64_t x = 1; x < 10; ++x) CHECK(out[y * 10 + x] > out[y * 10 + x - 1]);
}

TEST_CASE("bad augmentation settings are errors that say what is wrong") {
  Augment a;
  a.normalize = {{0.5f, 0.5f}, {1.0f}};
  check_mentions(error_of([&] { Transform(a, 3); }), {"normalize mean", "2 values", "3"});
  a.normalize = {{0.5f}, {0.0f}};
  check_mentions(error_of([&] { Transform(a, 1); }), {"std must be > 0"});
  a = Augment{};
  a.crop = Crop::RandomResized;
  check_mentions(error_of([&] { Transform(a, 3); }), {"output size >= 1"});
  a.size = 8;
  a.scale_min = 0.9f;
  a.scale_max = 0.5f;
  check_mentions(error_of([&] { Transform(a, 3); }), {"scale", "0.9"});
  a = Augment{};
  a.padding = -1;
  check_mentions(error_of([&] { Transform(a, 3); }), {"padding"});
  check_mentions(error_of([&] { Transform(Augment{}, 3).out_height(0); }),
                 {"vary in size", "resizing crop"});
  const Image grey = pattern_image(4, 4, 1);
  check_mentions(error_of([&] { run(Transform(Augment{}, 3), grey, 0, 0, 0); }),
                 {"1 channels", "made for 3"});
}

TEST_CASE("channel statistics: exact over all items or a sample, computed once and cached") {
  ImageDataset ds;
  ds.count = 6;
  ds.height = 2;
  ds.width = 2;
  ds.channels = 3;
  ds.num_classes = 1;
  ds.labels.assign(6, 0);
  for (int i = 0; i < 6 * 4 * 3; ++i) ds.pixels.push_back(static_cast<uint8_t>(i * 11 % 256));
  std::vector<double> sum(3), squares(3);
  for (int i = 0; i < 6 * 4 * 3; ++i) {
    const double v = ds.pixels[i] / 255.0;
    sum[i % 3] += v;
    squares[i % 3] += v * v;
  }
  const auto data = in_memory(ds);
  for (int threads : {1, 3}) {
    const Normalize n = channel_stats(*data, -1, threads);
    REQUIRE(n.mean.size() == 3);
    for (int c = 0; c < 3; ++c) {
      const double mean = sum[c] / 24, var = squares[c] / 24 - mean * mean;
      CHECK(n.mean[c] == doctest::Approx(mean).epsilon(1e-6));
      CHECK(n.std[c] == doctest::Approx(std::sqrt(var)).epsilon(1e-5));
    }
  }

  TempDir dir;
  const std::string cache = dir / "sub/stats.txt";
  const Normalize first = cached_channel_stats(*data, cache, 3);
  CHECK(first.mean == channel_stats(*data, 3).mean);  // items 0, 2, 4
  CHECK(read_raw(cache).size() > 0);
  // Another data set of the same size: the cache answers (proof it was read).
  ImageDataset other = ds;
  for (uint8_t& p : other.pixels) p = 0;
  CHECK(cached_channel_stats(*in_memory(other), cache, 3).mean == first.mean);
  // A different sample size is a different key: computed afresh.
  CHECK(cached_channel_stats(*in_memory(other), cache, 2).mean == std::vector<float>{0, 0, 0});
}
