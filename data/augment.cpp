#include "data/augment.h"

#include <stb/stb_image_resize.h>

#include <algorithm>
#include <cmath>

#include "data/draws.h"
#include "engine/error.h"

namespace motive {

namespace {

// Augmentation draws use their own Philox key, so they are independent of the
// loader's shuffle (keyed by the seed itself) even where counters coincide.
constexpr uint64_t kAugmentKey = 0x9E3779B97F4A7C15ull;
// Each item owns 64 draws (16 Philox blocks) counted from (epoch, index):
// index < 2^36 items, epoch < 2^22. Which draw means what:
constexpr int kFlipDraw = 0, kPadXDraw = 1, kPadYDraw = 2;
constexpr int kResizedDraw = 4;       // + 4 per attempt: area, log-aspect, top, left
constexpr int kResizedAttempts = 10;  // torchvision's count, before the central fallback
constexpr uint64_t kBlocksPerItem = 16;

// The draws of item `index` in `epoch`.
class ItemDraws {
 public:
  ItemDraws(uint64_t seed, int64_t epoch, int64_t index)
      : stream_(seed ^ kAugmentKey,
                ((static_cast<uint64_t>(epoch) << 36) + static_cast<uint64_t>(index)) *
                    kBlocksPerItem) {}
  float uniform(int draw) { return stream_.uniform(static_cast<uint64_t>(draw)); }
  int64_t below(int draw, int64_t n) {
    return static_cast<int64_t>(
        stream_.below(static_cast<uint64_t>(draw), static_cast<uint64_t>(n)));
  }

 private:
  PhiloxStream stream_;
};

// torchvision's RandomResizedCrop.get_params.
CropBox resized_box(const Augment& a, int64_t height, int64_t width, ItemDraws& draws) {
  const double area = static_cast<double>(height) * static_cast<double>(width);
  const double log_lo = std::log(a.ratio_min), log_hi = std::log(a.ratio_max);
  for (int attempt = 0; attempt < kResizedAttempts; ++attempt) {
    const int d = kResizedDraw + 4 * attempt;
    const double target = area * (a.scale_min + (a.scale_max - a.scale_min) * draws.uniform(d));
    const double aspect = std::exp(log_lo + (log_hi - log_lo) * draws.uniform(d + 1));
    const int64_t w = std::llround(std::sqrt(target * aspect));
    const int64_t h = std::llround(std::sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height)
      return {draws.below(d + 3, width - w + 1), draws.below(d + 2, height - h + 1), w, h, false};
  }
  // Fallback: the whole image, cut to the nearest allowed aspect ratio, centred.
  const double in_ratio = static_cast<double>(width) / static_cast<double>(height);
  int64_t w = width, h = height;
  if (in_ratio < a.ratio_min)
    h = std::max<int64_t>(1, std::llround(width / a.ratio_min));
  else if (in_ratio > a.ratio_max)
    w = std::max<int64_t>(1, std::llround(height * a.ratio_max));
  return {(width - w) / 2, (height - h) / 2, w, h, false};
}

// Copies the out_h x out_w box at (x0, y0) of `src` (mirrored when `flip`)
// through the lookup table; pixels outside `src` are black (the padding).
// kC > 0 fixes the channel count at compile time, so the common 1- and
// 3-channel loops unroll; 0 serves any count.
template <int kC>
void emit(const ImageView& src, int64_t x0, int64_t y0, int64_t out_h, int64_t out_w, bool flip,
          const float* table, float* out) {
  const int64_t C = kC > 0 ? kC : src.channels;
  // Output columns [lo, hi) read inside the source row; the rest are padding.
  // Column ox reads source column x0 + ox, or x0 + out_w - 1 - ox when flipped.
  const int64_t lo = std::clamp<int64_t>(flip ? x0 + out_w - src.width : -x0, 0, out_w);
  const int64_t hi = std::clamp<int64_t>(flip ? x0 + out_w : src.width - x0, lo, out_w);
  auto pad = [&](float* dst, int64_t pixels) {
    for (int64_t p = 0; p < pixels; ++p)
      for (int64_t c = 0; c < C; ++c) dst[p * C + c] = table[c * 256];
  };
  for (int64_t oy = 0; oy < out_h; ++oy) {
    float* row = out + oy * out_w * C;
    const int64_t sy = y0 + oy;
    if (sy < 0 || sy >= src.height) {
      pad(row, out_w);
      continue;
    }
    pad(row, lo);
    pad(row + hi * C, out_w - hi);
    const uint8_t* s = src.pixels + (sy * src.width + (flip ? x0 + out_w - 1 - lo : x0 + lo)) * C;
    const int64_t step = flip ? -C : C;
    float* d = row + lo * C;
    for (int64_t ox = lo; ox < hi; ++ox, s += step, d += C)
      for (int64_t c = 0; c < C; ++c) d[c] = table[c * 256 + s[c]];
  }
}

void check_channel_values(const std::vector<float>& v, int64_t channels, const char* what) {
  MOTIVE_CHECK(v.size() == 1 || static_cast<int64_t>(v.size()) == channels, "augment: ", what,
               " has ", v.size(), " values; give 1 or one per channel (", channels, ")");
}

}  // namespace

Transform::Transform(Augment augment, int64_t channels)
    : augment_(std::move(augment)), channels_(channels) {
  const Augment& a = augment_;
  MOTIVE_CHECK(channels >= 1, "augment: images need >= 1 channel, got ", channels);
  check_channel_values(a.normalize.mean, channels, "normalize mean");
  check_channel_values(a.normalize.std, channels, "normalize std");
  MOTIVE_CHECK(a.padding >= 0, "augment: padding must be >= 0, got ", a.padding);
  if (a.crop == Crop::RandomResized || a.crop == Crop::Center)
    MOTIVE_CHECK(a.size >= 1, "augment: a resizing crop needs an output size >= 1, got ", a.size);
  MOTIVE_CHECK(a.scale_min > 0 && a.scale_min <= a.scale_max && a.scale_max <= 1,
               "augment: random-resized-crop scale must satisfy 0 < min <= max <= 1, got [",
               a.scale_min, ", ", a.scale_max, "]");
  MOTIVE_CHECK(a.ratio_min > 0 && a.ratio_min <= a.ratio_max,
               "augment: random-resized-crop ratio must satisfy 0 < min <= max, got [", a.ratio_min,
               ", ", a.ratio_max, "]");
  MOTIVE_CHECK(a.crop_fraction > 0 && a.crop_fraction <= 1,
               "augment: center crop fraction must be in (0, 1], got ", a.crop_fraction);

  table_.resize(static_cast<size_t>(channels) * 256);
  for (int64_t c = 0; c < channels; ++c) {
    const float mean = a.normalize.mean[a.normalize.mean.size() == 1 ? 0 : c];
    const float std = a.normalize.std[a.normalize.std.size() == 1 ? 0 : c];
    MOTIVE_CHECK(std > 0, "augment: normalize std must be > 0, got ", std, " for channel ", c);
    for (int v = 0; v < 256; ++v)
      table_[c * 256 + v] = (static_cast<float>(v) / 255.0f - mean) / std;
  }
}

int64_t Transform::out_height(int64_t in_height) const {
  if (augment_.crop == Crop::RandomResized || augment_.crop == Crop::Center) return augment_.size;
  MOTIVE_CHECK(in_height > 0, "augment: the images vary in size, so they need a resizing crop ",
               "(random-resized or center) to give one batch shape");
  return in_height;
}

int64_t Transform::out_width(int64_t in_width) const {
  return augment_.crop == Crop::RandomResized || augment_.crop == Crop::Center
             ? augment_.size
             : out_height(in_width);
}

CropBox Transform::box(int64_t height, int64_t width, uint64_t seed, int64_t epoch,
                       int64_t index) const {
  const Augment& a = augment_;
  ItemDraws draws(seed, epoch, index);
  CropBox b{0, 0, width, height, false};
  switch (a.crop) {
    case Crop::None: break;
    case Crop::RandomPad:
      b.x0 = draws.below(kPadXDraw, 2 * a.padding + 1) - a.padding;
      b.y0 = draws.below(kPadYDraw, 2 * a.padding + 1) - a.padding;
      break;
    case Crop::RandomResized: b = resized_box(a, height, width, draws); break;
    case Crop::Center: {
      const int64_t side = std::max<int64_t>(
          1, std::llround(static_cast<double>(std::min(height, width)) * a.crop_fraction));
      b = {(width - side) / 2, (height - side) / 2, side, side, false};
      break;
    }
  }
  b.flip = a.flip && draws.uniform(kFlipDraw) < 0.5f;
  return b;
}

void Transform::apply(const ImageView& image, uint64_t seed, int64_t epoch, int64_t index,
                      float* out, std::vector<uint8_t>& scratch) const {
  MOTIVE_CHECK(image.channels == channels_, "augment: image ", index, " has ", image.channels,
               " channels, the transform was made for ", channels_);
  const CropBox b = box(image.height, image.width, seed, epoch, index);
  const int64_t out_h = out_height(image.height), out_w = out_width(image.width);
  ImageView src = image;
  int64_t x0 = b.x0, y0 = b.y0;
  if (b.width != out_w || b.height != out_h) {
    // Resizing crops keep their box inside the image, so it is a sub-view
    // (pointer + row stride) that stb resizes straight into the scratch.
    scratch.resize(static_cast<size_t>(out_h * out_w * channels_));
    const int ok = stbir_resize_uint8(
        image.pixels + (b.y0 * image.width + b.x0) * channels_, static_cast<int>(b.width),
        static_cast<int>(b.height), static_cast<int>(image.width * channels_), scratch.data(),
        static_cast<int>(out_w), static_cast<int>(out_h), 0, static_cast<int>(channels_));
    MOTIVE_CHECK(ok, "augment: resizing image ", index, " from ", b.width, "x", b.height, " to ",
                 out_w, "x", out_h, " failed (out of memory)");
    src = {scratch.data(), out_h, out_w, channels_};
    x0 = y0 = 0;
  }
  switch (channels_) {
    case 1: return emit<1>(src, x0, y0, out_h, out_w, b.flip, table_.data(), out);
    case 3: return emit<3>(src, x0, y0, out_h, out_w, b.flip, table_.data(), out);
    default: return emit<0>(src, x0, y0, out_h, out_w, b.flip, table_.data(), out);
  }
}

}  // namespace motive
