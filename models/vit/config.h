// Vision Transformer configurations (Dosovitskiy et al. 2021, as timm's
// VisionTransformer builds them): what a ViT is made of, before any tensor
// exists.
//
// Names: vit-<size>[-p<P>][-<IMAGE>][-d<D>][-h<H>][-hd<DH>][-do<RATE>][-dp<RATE>]
//   size      ti (192 dims, 3 heads, MLP 768), s (384, 6, 1536), b (768, 12,
//             3072): head dimension 64, MLP ratio 4, 12 blocks, as timm's
//             vit_tiny/small/base_patch16_224
//   -p<P>     patch size (16)
//   -<IMAGE>  square image side (timm's _224 suffix); without it the data's
//             size in a run, and in tables 224 for patches of 16 or more, 32
//             below (CIFAR-sized ViTs: vit-ti-p4 is vit-ti-p4-32 there)
//   -d<D>     blocks (12)
//   -h<H>     heads (the size's)
//   -hd<DH>   head dimension (64); the width is H x DH and the MLP 4 times it
//   -do<RATE> dropout after the attention projection and in the MLP (timm's
//             proj_drop_rate; 0)
//   -dp<RATE> stochastic depth, rising linearly from 0 at the first block to
//             RATE at the last (timm's drop_path_rate; 0)
// e.g. vit-ti-p4 (patch 4 on the data's images), vit-s-p4-32-d6,
// vit-ti-p16-224-dp0.1.
//
// Nesting (check_contains): a smaller ViT is a prefix of a larger one when
// patch, image size, head dimension, input channels and classes are equal and
// it has at most as many blocks, heads (hence embedding dims) and MLP units.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "models/model.h"

namespace motive {

struct ViTConfig final : ModelConfig {
  int64_t patch = 16;
  int64_t image = 224;  // square images of this side
  int64_t depth = 12;
  int64_t heads = 3;
  int64_t head_dim = 64;
  int64_t mlp = 768;        // hidden units of each block's MLP
  double dropout = 0;       // timm's proj_drop_rate
  double drop_path = 0;     // timm's drop_path_rate: the last block's rate
  double norm_eps = 1e-6;   // timm's LayerNorm

  ViTConfig() { name = "vit"; }

  int64_t dim() const { return heads * head_dim; }  // the embedding width
  int64_t tokens() const;  // patches + the class token
  // Stochastic depth rate of block i: linear from 0 to drop_path over depth.
  double drop_path_at(int64_t block) const;
  // Throws motive::Error naming the first inconsistent field.
  void validate() const;

  // ModelConfig (models/vit/family.cpp). FLOPs: 2 x the multiply-adds of every
  // matrix product (patch embedding, q/k/v, scores, weighted sums, output
  // projection, MLP, head); norms, GELU, softmax, additions not counted.
  std::unique_ptr<ModelConfig> clone() const override;
  const char* family() const override { return "vit"; }
  std::string describe() const override;
  int64_t image_height() const override { return image; }
  int64_t image_width() const override { return image; }
  int64_t parameter_count() const override;
  int64_t flops_per_image(int64_t h, int64_t w) const override;
  bool has_running_statistics() const override { return false; }
  void check_contains(const ModelConfig& smaller) const override;
  std::unique_ptr<Model> build(ParameterSource& source) const override;
};

// Parses a name (grammar above) with the data's channels, classes (0: 1000,
// timm's default) and image size (0: the name's, else the table default).
// Throws motive::Error on anything else, listing what is accepted.
ViTConfig vit_preset(const std::string& name, const ModelShape& shape = {});

// The names vit_preset accepts, in one line.
const char* vit_grammar();

}  // namespace motive
