// Augmentation and normalisation of one image into NHWC float32.
//
// Every random choice of item `index` in `epoch` is a Philox draw keyed by the
// seed and counted from (epoch, index), so an item's augmentation is a pure
// function of (seed, epoch, index): the same on any thread, in any order, and
// after a resume. The crops follow torchvision's definitions (RandomCrop with
// zero padding, RandomResizedCrop, Resize + CenterCrop), so recipes carry over.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace motive {

// out = (pixel / 255 - mean[c]) / std[c]; one value each applies to every channel.
struct Normalize {
  std::vector<float> mean = {0.0f};
  std::vector<float> std = {1.0f};
};

enum class Crop {
  None,           // the image as it is (data sets whose items share one size)
  RandomPad,      // a random crop of the image's own size from the image zero-padded by
                  // `padding` on each side (the CIFAR recipe)
  RandomResized,  // a random box of `scale` area fraction and `ratio` aspect, resized to
                  // size x size (the ImageNet training recipe)
  Center,         // the central square of `crop_fraction` of the shorter side, resized to
                  // size x size (= resize the shorter side to size / crop_fraction, center crop)
};

struct Augment {
  Crop crop = Crop::None;
  int64_t size = 0;                           // output side for RandomResized and Center
  int64_t padding = 0;                        // RandomPad
  bool flip = false;                          // horizontal flip with probability 1/2
  float scale_min = 0.08f, scale_max = 1.0f;  // RandomResized: area fraction
  float ratio_min = 3.0f / 4.0f, ratio_max = 4.0f / 3.0f;  // RandomResized: width / height
  float crop_fraction = 0.875f;                            // Center: 224 / 256
  Normalize normalize;
};

// The box of the source image an item's output is taken from. x0/y0 may lie
// outside the image (RandomPad): those output pixels are the zero padding.
struct CropBox {
  int64_t x0 = 0, y0 = 0, width = 0, height = 0;
  bool flip = false;
};

// An Augment checked against the data's channel count, with its lookup table
// precomputed (a pixel has only 256 values per channel, so normalising is one
// table read instead of a subtract and a divide).
class Transform {
 public:
  Transform(Augment augment, int64_t channels);

  // Output size for inputs of height x width (0 x 0: sizes vary, which only
  // resizing crops can serve; the error says so).
  int64_t out_height(int64_t in_height) const;
  int64_t out_width(int64_t in_width) const;

  // The random (or central) box for item `index` of `epoch`.
  CropBox box(int64_t height, int64_t width, uint64_t seed, int64_t epoch, int64_t index) const;
  // Writes the item's out_height x out_width x channels floats to `out`;
  // `scratch` holds the resized box between the two steps (one per thread).
  void apply(const ImageView& image, uint64_t seed, int64_t epoch, int64_t index, float* out,
             std::vector<uint8_t>& scratch) const;

 private:
  Augment augment_;
  int64_t channels_;
  std::vector<float> table_;  // [channels][256]
};

}  // namespace motive
