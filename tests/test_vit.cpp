// The ViT family (models/vit/): names, timm's parameter counts, FLOPs against
// what the ops count, initialisation, weight decay, forward shapes and input
// checks, reproducible dropout and stochastic depth, heads that nest as
// prefixes, and the containment errors. Every family's nesting invariants run
// in test_nesting.cpp; the comparison with timm in test_golden.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "engine/autograd.h"
#include "engine/flops.h"
#include "models/nest.h"
#include "models/registry.h"
#include "models/vit/vit.h"
#include "tests/gradcheck.h"
#include "tests/model_testing.h"

using namespace motive;
using test::find_tensor;
using test::max_rel_error;
using test::moments;

namespace {

const ModelShape kTiny{3, 10, 8, 8};
const std::string kTinyName = "vit-ti-p4-hd8-d2-h2";

}  // namespace

TEST_CASE("vit names: sizes, patch, image, depth, heads, head dim, dropout, drop path") {
  const ViTConfig ti = vit_preset("vit-ti");
  CHECK(ti.dim() == 192);
  CHECK(ti.heads == 3);
  CHECK(ti.mlp == 768);
  CHECK(ti.depth == 12);
  CHECK(ti.patch == 16);
  CHECK(ti.image == 224);
  CHECK(ti.num_classes == 1000);
  const ViTConfig s = vit_preset("vit-s-p4-32-d6-dp0.1-do0.05", {1, 10});
  CHECK(s.dim() == 384);
  CHECK(s.mlp == 1536);
  CHECK(s.depth == 6);
  CHECK(s.patch == 4);
  CHECK(s.image == 32);
  CHECK(s.tokens() == 65);
  CHECK(s.in_channels == 1);
  CHECK(s.drop_path == 0.1);
  CHECK(s.dropout == 0.05);
  CHECK(s.drop_path_at(0) == 0);
  CHECK(s.drop_path_at(5) == doctest::Approx(0.1));
  CHECK(s.drop_path_at(2) == doctest::Approx(0.04));
  const ViTConfig b = vit_preset("vit-b-h4-hd32");
  CHECK(b.dim() == 128);
  CHECK(b.mlp == 512);
  // Without an image suffix: the data's size, else 32 below patch 16.
  CHECK(vit_preset("vit-ti-p4").image == 32);
  CHECK(vit_preset("vit-ti-p4", {1, 10, 28, 28}).image == 28);
  CHECK(vit_preset("vit-ti-p4", {1, 10, 28, 28}).tokens() == 50);
  for (const auto& [name, says] : std::vector<std::pair<std::string, std::string>>{
           {"vit-xl", "unknown size 'xl'"},
           {"vit-ti-q4", "unknown part '-q4'"},
           {"vit-ti-p4-p8", "'p' given twice"},
           {"vit-ti-px", "must be a whole number"},
           {"vit-ti-dpnan", "must be a number"},
           {"vit-ti-p5-32", "does not divide the image side 32"},
           {"vit-ti-dp1.5", "rates must be in [0, 1)"},
           {"vit-ti-h0", "heads must be in [1"}}) {
    INFO(name);
    CHECK_THROWS_WITH_AS(vit_preset(name), doctest::Contains(says.c_str()), Error);
  }
  CHECK_THROWS_WITH_AS(vit_preset("vit-ti-p4-32", {3, 10, 28, 28}),
                       doctest::Contains("built for 32x32 images, the data's are 28x28"), Error);
  CHECK_THROWS_WITH_AS(resolve_model("vgg16", {}), doctest::Contains("vit: vit-<ti|s|b>"), Error);
}

TEST_CASE("vit parameter counts are timm's; FLOPs are what the matrix products count") {
  // timm: vit_tiny/small/base_patch16_224, 1000 classes.
  CHECK(vit_preset("vit-ti").parameter_count() == 5'717'416);
  CHECK(vit_preset("vit-s").parameter_count() == 22'050'664);
  CHECK(vit_preset("vit-b").parameter_count() == 86'567'656);
  for (const std::string& name : {kTinyName, std::string("vit-ti-p4-hd16-d2-do0.1")}) {
    INFO(name);
    // Norms, GELU, softmax, biases, additions: a few percent at this tiny width.
    test::check_counts(vit_preset(name, kTiny), 8, 8, 1.25);
  }
}

TEST_CASE("vit init is timm's; weight decay skips norms, biases, class token and positions") {
  Generator gen(3);
  const auto model = build_model(vit_preset("vit-s-p4-32-d2", {3, 10}), gen);
  const NamedTensors p = model->named_parameters();
  const auto [w_mean, w_std] = moments(find_tensor(p, "blocks.1.mlp.fc1.weight"));
  CHECK(std::fabs(w_mean) < 1e-3);
  CHECK(w_std == doctest::Approx(0.02).epsilon(0.02));
  CHECK(moments(find_tensor(p, "pos_embed")).second == doctest::Approx(0.02).epsilon(0.05));
  CHECK(moments(find_tensor(p, "cls_token")).second < 1e-5);
  CHECK(moments(find_tensor(p, "blocks.0.norm1.weight")) == std::pair<double, double>{1, 0});
  CHECK(moments(find_tensor(p, "blocks.0.attn.qkv.bias")) == std::pair<double, double>{0, 0});
  const double bound = 1 / std::sqrt(3.0 * 4 * 4);
  for (double v : find_tensor(p, "patch_embed.proj.bias").to_vector())
    CHECK(std::fabs(v) <= bound);
  CHECK(find_tensor(p, "blocks.0.attn.qkv.weight").shape() == Shape{3, 384, 384});
  for (const auto& [name, t] : p) {
    INFO(name);
    const bool expected = name.find("norm") == std::string::npos &&
                          name.find(".bias") == std::string::npos && name != "cls_token" &&
                          name != "pos_embed";
    CHECK(model->decays(name) == expected);
  }
}

TEST_CASE("vit forward: input checks, eval is deterministic, dropout and drop path reproducible") {
  Generator gen(4);
  const auto model = build_model(vit_preset("vit-ti-p4-hd8-d3-h2-do0.2-dp0.3", kTiny), gen);
  const Tensor x = randn({4, 8, 8, 3}, gen);
  CHECK_THROWS_WITH_AS(model->forward(randn({4, 12, 12, 3}, gen), ForwardContext{}),
                       doctest::Contains("expects NHWC input [N, 8, 8, 3]"), Error);
  CHECK_THROWS_WITH_AS(model->forward(x, ForwardContext{true}),
                       doctest::Contains("needs a generator"), Error);
  NoGradGuard no_grad;
  const Tensor eval1 = model->forward(x, ForwardContext{}), eval2 = model->forward(x, {});
  CHECK(max_rel_error(eval1, eval2) == 0);
  Generator a(9), b(9), c(10);
  const Tensor ta = model->forward(x, ForwardContext{true, 0.1, &a});
  const Tensor tb = model->forward(x, ForwardContext{true, 0.1, &b});
  const Tensor tc = model->forward(x, ForwardContext{true, 0.1, &c});
  CHECK(max_rel_error(ta, tb) == 0);  // same (seed, offset): same masks
  CHECK(max_rel_error(ta, tc) > 0);
  CHECK(max_rel_error(ta, eval1) > 0);
}

TEST_CASE("vit heads nest as prefixes: a base head computes what that motivated head computes") {
  // The base's q, k and v for head j are rows [j Dh, (j+1) Dh) of the
  // motivated model's: with the other heads' rows and the extra input dims
  // zeroed, the motivated attention block reduces to the base's.
  Generator gen(5);
  const NestedChain pair = nest({"vit-ti-p4-hd8-d1-h1", "vit-ti-p4-hd8-d1-h3"}, kTiny, gen);
  const Tensor base_qkv = find_tensor(pair.base().named_parameters(), "blocks.0.attn.qkv.weight");
  const Tensor owner_qkv = find_tensor(pair.largest().named_parameters(), "blocks.0.attn.qkv.weight");
  CHECK(base_qkv.shape() == Shape{3, 8, 8});
  CHECK(owner_qkv.shape() == Shape{3, 24, 24});
  for (int64_t s = 0; s < 3; ++s) {  // q, k, v each: the leading 8 rows, 8 columns
    INFO("q/k/v ", s);
    const Tensor expected = owner_qkv.select(0, s).slice(0, 0, 8).slice(1, 0, 8);
    CHECK(max_rel_error(base_qkv.select(0, s), expected) == 0);
    CHECK(base_qkv.select(0, s).raw_data() == expected.raw_data());
  }
}

TEST_CASE("vit containment: patch, image and head dimension must be equal; the rest may grow") {
  Generator gen(0);
  const auto refused = [&](const std::vector<std::string>& names, const ModelShape& shape,
                           const char* says) {
    INFO(names.front(), " in ", names.back());
    CHECK_THROWS_WITH_AS(nest(names, shape, gen), doctest::Contains(says), Error);
  };
  refused({"vit-ti-p4", "vit-s-p8"}, {3, 10, 32, 32}, "patch sizes differ (4 vs 8)");
  refused({"vit-ti-p4-hd32", "vit-s-p4"}, {3, 10, 32, 32}, "head dimensions differ (32 vs 64)");
  refused({"vit-s-p4-d2", "vit-ti-p4-d2"}, {3, 10, 32, 32}, "the base has more heads (6 vs 3)");
  refused({"vit-ti-p4-d3", "vit-s-p4-d2"}, {3, 10, 32, 32}, "the base has more blocks (3 vs 2)");
  refused({"vit-ti-p4-d2", "resnet20"}, {3, 10, 32, 32}, "not the same family (vit vs resnet)");
  const ViTConfig small = vit_preset("vit-ti-p4-16-d1"), big = vit_preset("vit-s-p4-32-d1");
  CHECK_THROWS_WITH_AS(big.check_contains(small), doctest::Contains("image sizes differ"), Error);
  CHECK_NOTHROW(vit_preset("vit-s-p4-32-d6").check_contains(vit_preset("vit-ti-p4-32-d6")));
}

TEST_CASE("vit torch state dict: timm's names, a fused [3D, D] qkv, an OIHW patch embedding") {
  Generator gen(6);
  const auto model = build_model(vit_preset(kTinyName, kTiny), gen);
  const NamedTensors torch = model->torch_state_dict();
  CHECK(torch.size() == model->named_parameters().size());
  const Tensor qkv = find_tensor(torch, "blocks.1.attn.qkv.weight");
  CHECK(qkv.shape() == Shape{48, 16});
  const Tensor ours = find_tensor(model->named_parameters(), "blocks.1.attn.qkv.weight");
  // timm's rows 16..31 are k: our qkv[1].
  CHECK(max_rel_error(qkv.slice(0, 16, 32), ours.select(0, 1)) == 0);
  CHECK(find_tensor(torch, "blocks.1.attn.qkv.bias").shape() == Shape{48});
  const Tensor patch = find_tensor(torch, "patch_embed.proj.weight");
  CHECK(patch.shape() == Shape{16, 3, 4, 4});
  const Tensor ohwi = find_tensor(model->named_parameters(), "patch_embed.proj.weight");
  CHECK(patch.at({5, 2, 1, 3}) == ohwi.at({5, 1, 3, 2}));
  CHECK(find_tensor(torch, "pos_embed").shape() == Shape{1, 5, 16});
}
