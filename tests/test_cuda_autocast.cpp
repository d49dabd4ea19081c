// bf16 on CUDA against the CPU's bf16 ops (both store bf16 and accumulate in
// float, so they differ by rounding order only: tolerance 1e-2), forward and
// backward on poisoned outputs: copies and the differentiable cast, the
// elementwise ops (dense 16-byte vectors, scalar tails, broadcasts, strided
// views), reductions, activations, pooling, the float32-only ops' widening and
// a mixed bf16/float32 pair. GEMM, conv2d and batch norm have their bf16
// parity cases in their own CUDA test files. Skips (one line) without a GPU.
#include "engine/autocast.h"
#include "tests/bf16_testing.h"
#include "tests/cuda_parity.h"

using namespace motive;
using namespace motive::test;

namespace {

constexpr double kBf16 = 1e-2;

Fn unary(Tensor (*op)(const Tensor&)) {
  return [op](const std::vector<Tensor>& v) { return op(v[0]); };
}

}  // namespace

TEST_CASE("cuda parity bf16: cast both ways, with the gradient cast back") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(1);
  check_parity([](const auto& v) { return cast(v[0], DType::BF16); }, {input32({37, 5}, gen)},
               kBf16);
  check_parity([](const auto& v) { return cast(v[0], DType::F32); }, {input_bf16({37, 5}, gen)},
               kBf16);
  check_parity([](const auto& v) { return cast(v[0], DType::BF16); }, {strided_input32({6, 9}, gen)},
               kBf16);
}

TEST_CASE("cuda parity bf16: elementwise ops, dense, broadcast and strided") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(2);
  // 1003 elements: 125 vectors of 8 and a scalar tail of 3.
  const Tensor a = input_bf16({17, 59}, gen), b = input_bf16({17, 59}, gen);
  const Tensor row = input_bf16({59}, gen), col = input_bf16({17, 1}, gen);
  for (const Fn& f : {Fn([](const auto& v) { return add(v[0], v[1]); }),
                      Fn([](const auto& v) { return sub(v[0], v[1]); }),
                      Fn([](const auto& v) { return mul(v[0], v[1]); }),
                      Fn([](const auto& v) { return div(v[0], v[1]); })}) {
    check_parity(f, {a, b}, kBf16);
    check_parity(f, {a, row}, kBf16);
    check_parity(f, {col, a}, kBf16);
  }
  const Tensor t = input_bf16({9, 14}, gen).transpose(0, 1);
  check_parity([](const auto& v) { return mul(v[0], v[0]); }, {t}, kBf16);
  check_parity([](const auto& v) { return add_scalar(mul_scalar(v[0], 0.7), -1.5); }, {a}, kBf16);
  check_parity([](const auto& v) { return add(v[0], v[1]); }, {a, input32({59}, gen)}, kBf16);
}

TEST_CASE("cuda parity bf16: reductions, activations and pooling") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(3);
  const Tensor x = input_bf16({3, 10, 10, 19}, gen);
  check_parity([](const auto& v) { return sum(v[0], {0, 1, 2}); }, {x}, kBf16);
  check_parity([](const auto& v) { return mean(v[0]); }, {x}, kBf16);
  check_parity(unary(relu), {x}, kBf16);
  check_parity(unary(silu), {x}, kBf16);
  check_parity(unary(sigmoid), {x}, kBf16);
  check_parity([](const auto& v) { return gelu(v[0]); }, {x}, kBf16);
  check_parity([](const auto& v) { return max_pool2d(v[0], {3, 2, 1}); }, {x}, kBf16);
  check_parity([](const auto& v) { return avg_pool2d(v[0], {3, 2, 1}); }, {x}, kBf16);
  check_parity(unary(global_avg_pool2d), {x}, kBf16);
  check_parity(unary(global_avg_pool2d), {input_bf16({2, 32, 32, 64}, gen)}, kBf16);
}

TEST_CASE("cuda parity bf16: float32-only ops widen on the GPU as on the CPU") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(4);
  const Tensor logits = input_bf16({16, 10}, gen);
  const Tensor labels = Tensor::from_vector({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5}, {16},
                                            DType::I32);
  check_parity(unary(softmax), {logits}, kBf16);
  check_parity(
      [labels](const auto& v) { return cross_entropy(v[0], labels.to(v[0].device()), 0.1); },
      {logits}, kBf16);
}
