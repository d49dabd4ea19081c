// concat, scaled_dot_product_attention and multi_head_attention on CUDA
// against the CPU, forward and backward. They have no kernels of their own:
// they compose copy_, matmul (cuBLAS) and softmax, so these tests check that
// the composition holds on the device, views included (a base model's weight
// is a sub-block of the motivated one). Skips (one line) without a GPU.
#include <cmath>

#include "tests/cuda_parity.h"

using namespace motive;
using namespace motive::test;

namespace {

// The leading [rows, cols] block of a larger float32 leaf, made in no-grad
// mode as models make base parameters: a leaf view with a leading dimension.
Tensor block_input32(int64_t rows, int64_t cols, Generator& gen) {
  Tensor owner = input32({rows + 3, cols + 5}, gen);
  NoGradGuard parameter_view;
  return owner.slice(0, 0, rows).slice(1, 0, cols);
}

// A float32 leaf with values of magnitude up to `scale`: weights at their
// usual 1/sqrt(fan_in) scale keep a large block's softmax unsaturated.
Tensor scaled_input32(const Shape& shape, double scale, Generator& gen) {
  Tensor t = mul_scalar(input(shape, gen, false), scale).to(DType::F32);
  t.requires_grad_();
  return t;
}

}  // namespace

TEST_CASE("cuda parity: concat along every dim, views included") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(1);
  const auto along = [](int64_t dim) {
    return [dim](const std::vector<Tensor>& in) { return concat(in, dim); };
  };
  check_parity(along(0), {input32({2, 3}, gen), input32({1, 3}, gen), input32({4, 3}, gen)});
  check_parity(along(1), {input32({2, 3}, gen), strided_input32({2, 4}, gen)});
  check_parity(along(-1), {strided_input32({2, 3, 2}, gen), input32({2, 3, 5}, gen)});
  check_parity(along(1), {input32({2, 1, 3}, gen), strided_input32({2, 5, 3}, gen)});
  check_parity(along(3), {input32({2, 4, 4, 16}, gen), input32({2, 4, 4, 48}, gen)});  // NHWC channels
  check_parity(along(0), {input32({1000}, gen)});
}

TEST_CASE("cuda parity: scaled_dot_product_attention, causal and not") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(2);
  for (bool causal : {false, true}) {
    CAPTURE(causal);
    const auto f = [causal](const std::vector<Tensor>& in) {
      return scaled_dot_product_attention(in[0], in[1], in[2], causal);
    };
    check_parity(f, {input32({2, 3, 5, 4}, gen), input32({2, 3, 5, 4}, gen),
                     input32({2, 3, 5, 4}, gen)});
    // More keys than queries, a value width unlike the key width.
    check_parity(f, {input32({1, 2, 3, 8}, gen), input32({1, 2, 7, 8}, gen),
                     input32({1, 2, 7, 5}, gen)});
    // Larger, as a ViT-Ti block sees it (64 tokens, head size 64).
    check_parity(f, {input32({4, 3, 64, 64}, gen), input32({4, 3, 64, 64}, gen),
                     input32({4, 3, 64, 64}, gen)});
    // q laid out [B, T, H, Dh] and transposed; k a slice of a wider buffer.
    const Tensor q = [&] {
      Tensor owner = input32({2, 5, 3, 4}, gen);
      NoGradGuard view;
      return owner.transpose(1, 2);
    }();
    const Tensor k = [&] {
      Tensor owner = input32({2, 3, 5, 6}, gen);
      NoGradGuard view;
      return owner.slice(3, 1, 5);
    }();
    check_parity(f, {q, k, strided_input32({2, 3, 5, 4}, gen)});
  }
}

TEST_CASE("cuda parity: multi_head_attention, biases or not, base-view weights") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(3);
  for (bool causal : {false, true}) {
    CAPTURE(causal);
    const auto f = [causal](const std::vector<Tensor>& in) {
      return multi_head_attention(in[0], in[1], in[2], in[3], in[4], 2, causal);
    };
    // B = 2, T = 5, D = 8, two heads of size 4.
    check_parity(f, {input32({2, 5, 8}, gen), input32({24, 8}, gen), input32({24}, gen),
                     input32({8, 8}, gen), input32({8}, gen)});
    // No biases.
    check_parity(f, {input32({2, 5, 8}, gen), input32({24, 8}, gen), Tensor(),
                     input32({8, 8}, gen), Tensor()});
    // A strided x; the weights are leading sub-blocks of larger (motivated)
    // weights, as a base model's are.
    check_parity(f, {strided_input32({2, 5, 8}, gen), block_input32(24, 8, gen),
                     input32({24}, gen), block_input32(8, 8, gen), input32({8}, gen)});
    // Larger: 3 heads of 64 over 65 tokens (a ViT-Ti block with a class token).
    const auto three_heads = [causal](const std::vector<Tensor>& in) {
      return multi_head_attention(in[0], in[1], in[2], in[3], in[4], 3, causal);
    };
    const double w = 1 / std::sqrt(192.0);
    check_parity(three_heads, {input32({2, 65, 192}, gen), scaled_input32({576, 192}, w, gen),
                               scaled_input32({576}, w, gen), scaled_input32({192, 192}, w, gen),
                               scaled_input32({192}, w, gen)});
  }
}
