// bf16 mixed precision on the CPU: the bf16 type's rounding, the
// differentiable cast, the ops that run in bf16 (elementwise, reductions,
// activations, pooling) against float64, the dtype policy (a bf16/float32 pair
// runs in float32, float32-only ops widen), and the Autocast scope.
// GEMM, conv2d and batch norm have their bf16 cases beside their other tests.
#include <cmath>
#include <cstring>
#include <limits>

#include "engine/autocast.h"
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "tests/bf16_testing.h"

using namespace motive;
using namespace motive::test;

namespace {

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

}  // namespace

TEST_CASE("bf16 rounds to nearest, ties to even, and keeps NaN and infinity") {
  CHECK(bf16(1.0f).bits == 0x3f80);
  CHECK(bf16(-2.0f).bits == 0xc000);
  CHECK(float(bf16(0.15625f)) == 0.15625f);  // exactly representable
  // Halfway between 0x3f80 and 0x3f81: to the even one; just above: up.
  CHECK(bf16(float_of(0x3f808000u)).bits == 0x3f80);
  CHECK(bf16(float_of(0x3f818000u)).bits == 0x3f82);
  CHECK(bf16(float_of(0x3f808001u)).bits == 0x3f81);
  CHECK(bf16(float_of(0x3f807fffu)).bits == 0x3f80);
  CHECK(std::isnan(float(bf16(std::numeric_limits<float>::quiet_NaN()))));
  CHECK(std::isnan(float(bf16(float_of(0x7f800001u)))));  // a NaN that rounding would make inf
  CHECK(float(bf16(INFINITY)) == INFINITY);
  CHECK(float(bf16(-INFINITY)) == -INFINITY);
  CHECK(float(bf16(std::numeric_limits<float>::max())) == INFINITY);  // overflows as IEEE rounds
  CHECK(bf16(-0.0f).bits == 0x8000);
  // Every bf16 value survives the round trip through float unchanged.
  for (uint32_t b = 0; b < 0x10000; b += 7) {
    const bf16 h = bf16::from_bits(static_cast<uint16_t>(b));
    if (!std::isnan(float(h))) CHECK(bf16(float(h)).bits == h.bits);
  }
  CHECK(bits_of(float(bf16::from_bits(0x4049))) == 0x40490000u);
}

TEST_CASE("BF16 tensors: factories, copies and element access round once") {
  const Tensor t = Tensor::from_vector({1.0, 1.0 / 3.0, -1e-3, 300.5}, {4}, DType::BF16);
  CHECK(t.dtype() == DType::BF16);
  const auto v = t.to_vector();
  for (size_t i = 0; i < v.size(); ++i) {
    const double exact[] = {1.0, 1.0 / 3.0, -1e-3, 300.5};
    CHECK(v[i] == static_cast<double>(float(bf16(static_cast<float>(exact[i])))));
  }
  CHECK(t.to(DType::F32).to(DType::BF16).to_vector() == v);
  CHECK(Tensor::full({3}, 0.1, DType::BF16).to_vector()[2] == double(float(bf16(0.1f))));
  CHECK(t.str().find("BF16") != std::string::npos);
}

TEST_CASE("cast: values convert, and the gradient comes back in the input's dtype") {
  Generator gen(1);
  Tensor w = input32({3, 4}, gen);
  const Tensor seed = input({3, 4}, gen, false).to(DType::F32);
  Tensor h = cast(w, DType::BF16);
  CHECK(h.dtype() == DType::BF16);
  CHECK(h.to_vector() == w.to(DType::BF16).to_vector());
  CHECK(cast(w, DType::F32).same(w));  // no-op when the dtype already matches
  mul(h, seed.to(DType::BF16)).backward(seed.to(DType::BF16));
  REQUIRE(w.has_grad());
  CHECK(w.grad().dtype() == DType::F32);
  // d/dw sum(cast(w) * s * s) = s^2 (rounded to bf16 twice on the way).
  const Tensor expected = mul(seed, seed);
  CHECK(rel_error(w.grad(), expected) < 1e-2);
  CHECK_THROWS_WITH_AS(cast(w, DType::I32), doctest::Contains("cast: F32 to I32"), Error);
}

TEST_CASE("cast of a view writes the gradient into the view's region only") {
  // A base model's weight is a sub-block view of the motivated weight: its
  // bf16 copy's gradient must land in that block and nowhere else.
  Tensor owner = Tensor::zeros({4, 6}, DType::F32).requires_grad_();
  Tensor view;
  {
    NoGradGuard parameter_view;
    view = owner.slice(0, 1, 3).slice(1, 2, 5);
  }
  const Tensor h = cast(view, DType::BF16);
  CHECK(h.is_contiguous());
  sum(h).backward();
  const auto g = owner.grad_buffer().to_vector();
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t c = 0; c < 6; ++c)
      CHECK(g[r * 6 + c] == ((r >= 1 && r < 3 && c >= 2 && c < 5) ? 1.0 : 0.0));
}

TEST_CASE("bf16 elementwise ops and reductions match float64") {
  Generator gen(2);
  const Tensor a = input_bf16({5, 1, 7}, gen), b = input_bf16({3, 1}, gen);
  check_bf16([](const auto& x) { return add(x[0], x[1]); }, {a, b});
  check_bf16([](const auto& x) { return sub(x[0], x[1]); }, {a, b});
  check_bf16([](const auto& x) { return mul(x[0], x[1]); }, {a, b});
  check_bf16([](const auto& x) { return div(x[0], x[1]); }, {a, b});
  check_bf16([](const auto& x) { return add_scalar(mul_scalar(x[0], 0.3), 2.0); }, {a});
  check_bf16([](const auto& x) { return sum(x[0], {0, 2}); }, {a});
  check_bf16([](const auto& x) { return mean(x[0]); }, {input_bf16({64, 33}, gen)});
  // A long sum: accumulating in bf16 would lose the small terms (1 + 4096 * 2^-9 stays 1).
  Tensor many = Tensor::full({4097}, 1.0 / 512, DType::BF16);
  many.set({0}, 1.0);
  CHECK(sum(many).item() == doctest::Approx(1.0 + 4096.0 / 512).epsilon(1e-2));
  Tensor strided;  // a bf16 leaf view through its strides
  {
    NoGradGuard leaf_view;
    strided = input_bf16({2, 3, 4}, gen).transpose(0, 2);
  }
  check_bf16([](const auto& x) { return mul(x[0], x[0]); }, {strided});
}

TEST_CASE("a bf16 / float32 pair runs in float32, each gradient in its input's dtype") {
  Generator gen(3);
  const Tensor a = input_bf16({4, 5}, gen), b = input32({5}, gen);
  const Tensor y = add(a, b);
  CHECK(y.dtype() == DType::F32);
  check_bf16([](const auto& x) { return mul(x[0], x[1]); }, {a, b});
  CHECK_THROWS_WITH_AS(add(a, input({5}, gen)), doctest::Contains("add: dtypes BF16 and F64"),
                       Error);
}

TEST_CASE("bf16 activations and pooling match float64") {
  Generator gen(4);
  const Tensor x = input_bf16({2, 6, 6, 5}, gen);
  check_bf16([](const auto& v) { return relu(v[0]); }, {x});
  check_bf16([](const auto& v) { return gelu(v[0]); }, {x});
  check_bf16([](const auto& v) { return gelu(v[0], GeluApprox::Tanh); }, {x});
  check_bf16([](const auto& v) { return silu(v[0]); }, {x});
  check_bf16([](const auto& v) { return sigmoid(v[0]); }, {x});
  check_bf16([](const auto& v) { return max_pool2d(v[0], {3, 2, 1}); }, {x});
  check_bf16([](const auto& v) { return avg_pool2d(v[0], {3, 2, 1}); }, {x});
  check_bf16([](const auto& v) { return global_avg_pool2d(v[0]); }, {x});
  // 64 x 64 pixels per channel: the average needs a float accumulator.
  check_bf16([](const auto& v) { return global_avg_pool2d(v[0]); }, {input_bf16({1, 64, 64, 3}, gen)});
}

TEST_CASE("float32-only ops widen a bf16 input and return float32") {
  Generator gen(5);
  const Tensor logits = input_bf16({6, 10}, gen);
  const Tensor labels = Tensor::from_vector({0, 3, 9, 1, 2, 5}, {6}, DType::I32);
  CHECK(softmax(logits).dtype() == DType::F32);
  check_bf16([](const auto& v) { return softmax(v[0]); }, {logits});
  check_bf16([&](const auto& v) { return cross_entropy(v[0], labels, 0.1); }, {logits});
  check_bf16([](const auto& v) { return layer_norm(v[0], Tensor(), Tensor()); }, {logits});
  check_bf16([](const auto& v) { return layer_norm(v[0], v[1], v[2]); },
             {logits, input32({10}, gen), input32({10}, gen)});
  Generator drop(9);
  CHECK(dropout(logits, 0.5, true, drop).dtype() == DType::F32);
  CHECK(dropout(logits, 0.5, false, drop).same(logits));  // eval: untouched
}

TEST_CASE("Autocast scopes nest and restore; GEMM operands are cast only inside") {
  CHECK_FALSE(autocast_enabled());
  Generator gen(6);
  const Tensor w = input32({3, 3}, gen), d = input({2}, gen);
  CHECK(autocast_operand(w).same(w));
  {
    Autocast on;
    CHECK(autocast_enabled());
    CHECK(autocast_operand(w).dtype() == DType::BF16);
    CHECK(autocast_operand(d).same(d));  // float64 is never cast
    CHECK_FALSE(autocast_operand(Tensor()).defined());
    {
      Autocast off(false);
      CHECK_FALSE(autocast_enabled());
    }
    CHECK(autocast_enabled());
  }
  CHECK_FALSE(autocast_enabled());
}

TEST_CASE("a bf16 conv -> BN -> relu layer is float32 arithmetic rounded to bf16 at its edges") {
  // Under autocast a layer's weight gradient can sit far from float32's (batch
  // norm makes it a small difference of large terms, docs/engine.md "Mixed
  // precision"). That is the rounding, not the kernels: the same float32 ops
  // with every bf16 boundary rounded by hand (values forward, gradients
  // backward, through cast) give the same gradient.
  Generator gen(8);
  const Tensor x = randn({8, 8, 8, 3}, gen), seed = randn({8, 8, 8, 16}, gen);
  Tensor w = randn({16, 3, 3, 3}, gen).requires_grad_();
  const Tensor gamma = Tensor::ones({16}), beta = Tensor::zeros({16});
  auto layer = [&](const Tensor& in, const Tensor& weight, auto round) {
    const Tensor y = round(conv2d(in, weight, Tensor(), {1, 1, 1, 1}));
    return round(relu(round(batch_norm2d(y, gamma, beta, Tensor(), Tensor(), true))));
  };
  Tensor out;
  {
    Autocast bf16;
    out = layer(x, w, [](const Tensor& t) { return t; });
  }
  CHECK(out.dtype() == DType::BF16);
  sum(mul(out, seed)).backward();
  const Tensor autocast_grad = w.grad().clone();
  w.zero_grad();
  const auto to_bf16_and_back = [](const Tensor& t) {
    return cast(cast(t, DType::BF16), DType::F32);
  };
  const Tensor by_hand = layer(to_bf16_and_back(x), to_bf16_and_back(w), to_bf16_and_back);
  sum(mul(by_hand, seed)).backward();
  CHECK(rel_error(autocast_grad, w.grad()) < 1e-6);
}
