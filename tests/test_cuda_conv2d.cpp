// conv2d on CUDA (cuDNN for float32, direct kernels for float64) against the
// CPU reference: forward and every gradient (dx, dw, db) on poisoned outputs,
// over each geometry cuDNN treats differently (3x3, stride, dilation, groups,
// depthwise, 1x1, the 7x7 stem, odd sizes, a multi-split bias gradient), with
// and without bias; float64; an input offset by one element (a different
// alignment, so a different cached algorithm); TF32 within its tolerance; a
// width-nested filter view whose gradient lands only in its sub-block of the
// owner's device gradient, with the pack counted (a nested depthwise filter:
// no pack); mixed devices rejected;
// bf16 (cuDNN, float32 accumulation) over every geometry and an odd alignment,
// and autocast with a sub-block filter view, within 1e-2.
// Skips (one line) without a GPU.
#include <string>

#include "engine/autocast.h"
#include "engine/device.h"
#include "tests/cuda_parity.h"

using namespace motive;
using namespace motive::test;

namespace {

struct Case {
  Shape x, w;  // [N, H, W, C_in], [C_out, kH, kW, C_in / groups]
  Conv2dOptions opt;
};

const Case kCases[] = {
    {{2, 8, 8, 16}, {16, 3, 3, 16}, {1, 1, 1, 1}},  // 3x3 s1 p1
    {{2, 9, 9, 8}, {12, 3, 3, 8}, {2, 1, 1, 1}},    // stride 2, odd size
    {{2, 9, 8, 6}, {5, 3, 3, 6}, {1, 2, 2, 1}},     // dilation 2
    {{2, 7, 7, 8}, {10, 3, 3, 4}, {1, 1, 1, 2}},    // groups 2
    {{2, 8, 7, 12}, {12, 3, 3, 1}, {1, 1, 1, 12}},  // depthwise
    {{2, 7, 9, 12}, {12, 3, 3, 1}, {2, 1, 1, 12}},  // depthwise, stride 2
    {{2, 9, 9, 24}, {24, 5, 5, 1}, {2, 2, 1, 24}},  // depthwise 5x5 stride 2 (EfficientNet)
    {{2, 7, 7, 144}, {144, 5, 5, 1}, {1, 2, 1, 144}},  // depthwise 5x5, an EfficientNet width
    {{3, 6, 5, 24}, {40, 1, 1, 24}, {1, 0, 1, 1}},  // 1x1
    {{2, 6, 6, 16}, {8, 1, 1, 16}, {2, 0, 1, 1}},   // 1x1 stride 2 (downsample)
    {{2, 23, 21, 3}, {16, 7, 7, 3}, {2, 3, 1, 1}},  // 7x7 s2 p3 stem, odd sizes
    {{1, 5, 3, 3}, {7, 3, 2, 3}, {1, 0, 1, 1}},     // odd everything, non-square filter
    {{4, 16, 16, 8}, {16, 3, 3, 8}, {1, 1, 1, 1}},  // 1024 output rows: multi-split bias sum
};

std::string describe(const Case& c, bool bias) {
  return "x " + shape_str(c.x) + " w " + shape_str(c.w) + " stride " +
         std::to_string(c.opt.stride) + " pad " + std::to_string(c.opt.padding) + " dil " +
         std::to_string(c.opt.dilation) + " groups " + std::to_string(c.opt.groups) +
         (bias ? " bias" : "");
}

Fn conv_fn(const Conv2dOptions& opt) {
  return [opt](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], v[2], opt); };
}

// bf16 operands from float32 leaves through the differentiable cast: the
// convolution runs in bf16 on both sides, the leaves get float32 gradients.
Fn conv_bf16_fn(const Conv2dOptions& opt) {
  return [opt](const std::vector<Tensor>& v) {
    auto to_bf16 = [](const Tensor& t) { return t.defined() ? cast(t, DType::BF16) : t; };
    return conv2d(to_bf16(v[0]), to_bf16(v[1]), to_bf16(v[2]), opt);
  };
}

// check_parity of make(opt) on every geometry of kCases, with and without bias.
void check_every_geometry(Fn (*make)(const Conv2dOptions&), Generator& gen, double tol) {
  for (const Case& c : kCases)
    for (bool bias : {true, false}) {
      CAPTURE(describe(c, bias));
      const Tensor b = bias ? input32({c.w[0]}, gen) : Tensor();
      check_parity(make(c.opt), {input32(c.x, gen), input32(c.w, gen), b}, tol);
    }
}

// Restores exact fp32 even when a check fails mid-case.
struct Tf32Guard {
  explicit Tf32Guard(bool on) { set_allow_tf32(on); }
  ~Tf32Guard() { set_allow_tf32(false); }
};

}  // namespace

TEST_CASE("cuda parity: conv2d float32 forward and backward, every geometry, with/without bias") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(31);
  check_every_geometry(conv_fn, gen, 1e-4);
}

TEST_CASE("cuda parity: conv2d float64 and strided operands") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(32);
  for (const Case& c : kCases) {
    CAPTURE(describe(c, true));
    check_parity(conv_fn(c.opt), {input(c.x, gen), input(c.w, gen), input({c.w[0]}, gen)}, 1e-10);
  }
  // Views on both sides: the op packs them; gradients come back through the views.
  check_parity(conv_fn({1, 1, 1, 1}), {strided_input32({2, 6, 6, 4}, gen),
                                       strided_input32({5, 3, 3, 4}, gen), input32({5}, gen)});
}

TEST_CASE("cuda parity: conv2d on an input offset by one element (another alignment)") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(33);
  const Shape xs{2, 8, 8, 16};
  Tensor owner = input32({1 + shape_numel(xs)}, gen);
  Tensor x;
  {
    NoGradGuard view;
    x = owner.slice(0, 1, 1 + shape_numel(xs)).view(xs);  // contiguous, 4-byte aligned
  }
  check_parity(conv_fn({1, 1, 1, 1}), {x, input32({16, 3, 3, 16}, gen), input32({16}, gen)});
  // The same shape again, aligned: its own cached algorithm, same answer.
  check_parity(conv_fn({1, 1, 1, 1}), {input32(xs, gen), input32({16, 3, 3, 16}, gen), Tensor()});
}

TEST_CASE("cuda parity: conv2d with TF32 allowed stays within 3e-3") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(34);
  const Tf32Guard tf32(true);
  check_parity(conv_fn({1, 1, 1, 1}),
               {input32({8, 16, 16, 64}, gen), input32({64, 3, 3, 64}, gen), input32({64}, gen)},
               3e-3);
  check_parity(conv_fn({2, 0, 1, 1}),
               {input32({8, 16, 16, 64}, gen), input32({128, 1, 1, 64}, gen), Tensor()}, 3e-3);
}

TEST_CASE("cuda: a width-nested filter view is packed, and its gradient lands in its sub-block") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(35);
  // The motivated layer's OHWI weight [8, 3, 3, 8]; the base layer uses [0,4) x [0,4).
  Tensor owner_cpu = input32({8, 3, 3, 8}, gen);
  Tensor owner = owner_cpu.to(Device::CUDA);
  Tensor base_cpu, base;
  {
    NoGradGuard parameter_view;
    base_cpu = owner_cpu.slice(0, 0, 4).slice(3, 0, 4);
    base = owner.slice(0, 0, 4).slice(3, 0, 4);
  }
  const Tensor x_cpu = input32({2, 6, 6, 4}, gen, false);
  const Tensor x = x_cpu.to(Device::CUDA);
  const Conv2dOptions opt{1, 1, 1, 1};

  const int64_t copied = memory_stats(Device::CUDA).bytes_copied;
  const Tensor y = conv2d(x, base, Tensor(), opt);
  // One pack of the 4x3x3x4 sub-block; x is already dense.
  CHECK(memory_stats(Device::CUDA).bytes_copied - copied == 4 * 3 * 3 * 4 * 4);
  const Tensor y_cpu = conv2d(x_cpu, base_cpu, Tensor(), opt);
  CHECK(rel_error(y, y_cpu) < 1e-4);

  const Tensor seed = rand_uniform(y_cpu.shape(), -1.0, 1.0, gen, DType::F32);
  y_cpu.backward(seed);
  y.backward(seed.to(Device::CUDA));
  // The whole owner gradient matches, zeros outside the sub-block included.
  const Tensor g = owner.grad_buffer();
  CHECK(rel_error(g, owner_cpu.grad_buffer()) < 1e-4);
  for (int64_t o = 0; o < 8; ++o)
    for (int64_t i = 0; i < 8; ++i) {
      const bool inside = o < 4 && i < 4;
      CAPTURE(o);
      CAPTURE(i);
      CHECK((g.at({o, 1, 1, i}) != 0) == inside);
    }
}

TEST_CASE("cuda: a width-nested depthwise filter is used in place, its gradient in its rows") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(38);
  // The motivated layer's depthwise filter [48, 5, 5, 1]; the base uses its first 32 channels:
  // whole rows of the owner, dense, so nothing is packed.
  Tensor owner_cpu = input32({48, 5, 5, 1}, gen);
  Tensor owner = owner_cpu.to(Device::CUDA);
  Tensor base_cpu, base;
  {
    NoGradGuard parameter_view;
    base_cpu = owner_cpu.slice(0, 0, 32);
    base = owner.slice(0, 0, 32);
  }
  const Tensor x_cpu = input32({2, 9, 9, 32}, gen, false);
  const Tensor x = x_cpu.to(Device::CUDA);
  const Conv2dOptions opt{2, 2, 1, 32};
  const int64_t copied = memory_stats(Device::CUDA).bytes_copied;
  const Tensor y = conv2d(x, base, Tensor(), opt);
  CHECK(memory_stats(Device::CUDA).bytes_copied == copied);
  const Tensor y_cpu = conv2d(x_cpu, base_cpu, Tensor(), opt);
  CHECK(rel_error(y, y_cpu) < 1e-4);
  const Tensor seed = rand_uniform(y_cpu.shape(), -1.0, 1.0, gen, DType::F32);
  y_cpu.backward(seed);
  y.backward(seed.to(Device::CUDA));
  const Tensor g = owner.grad_buffer();
  CHECK(rel_error(g, owner_cpu.grad_buffer()) < 1e-4);
  for (int64_t c = 0; c < 48; ++c) {
    CAPTURE(c);
    CHECK((g.at({c, 2, 2, 0}) != 0) == (c < 32));
  }
}

TEST_CASE("cuda: conv2d rejects operands on different devices") {
  MOTIVE_REQUIRE_CUDA();
  const Tensor x = Tensor::ones({1, 4, 4, 2});
  const Tensor w = Tensor::ones({3, 3, 3, 2}, DType::F32, Device::CUDA);
  CHECK_THROWS_WITH_AS(conv2d(x, w), doctest::Contains("conv2d: operands on different devices"),
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(x.to(Device::CUDA), w, Tensor::ones({3})),
                       doctest::Contains("bias on cpu"), Error);
}

TEST_CASE("cuda parity: conv2d bf16 (cuDNN, float32 accumulation) forward and backward within 1e-2") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(36);
  check_every_geometry(conv_bf16_fn, gen, 1e-2);
  // Long reductions: 576 products per output.
  check_parity(conv_bf16_fn({1, 1, 1, 1}),
               {input32({4, 16, 16, 64}, gen), input32({32, 3, 3, 64}, gen), input32({32}, gen)},
               1e-2);
  // A bf16 input offset by one element: 2-byte alignment, its own cached algorithm.
  check_parity(
      [](const std::vector<Tensor>& v) {
        const Tensor x = cast(v[0], DType::BF16).slice(0, 1, 1 + 2 * 8 * 8 * 16).view({2, 8, 8, 16});
        return conv2d(x, cast(v[1], DType::BF16), cast(v[2], DType::BF16), {1, 1, 1, 1});
      },
      {input32({1 + 2 * 8 * 8 * 16}, gen), input32({16, 3, 3, 16}, gen), input32({16}, gen)},
      1e-2);
}

TEST_CASE("cuda parity: conv2d under autocast with a sub-block filter view (float32 gradients)") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(37);
  const Tensor owner = input32({8, 3, 3, 8}, gen);
  Tensor base;
  {
    NoGradGuard parameter_view;
    base = owner.slice(0, 0, 4).slice(3, 0, 4);
  }
  check_parity(
      [](const std::vector<Tensor>& v) {
        Autocast on;
        return conv2d(v[0], v[1], v[2], {1, 1, 1, 1});
      },
      {input32({2, 6, 6, 4}, gen), base, input32({4}, gen)}, 1e-2);
}
