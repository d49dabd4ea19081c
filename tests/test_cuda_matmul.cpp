// matmul / linear on CUDA (cuBLAS): forward and backward parity with the CPU
// for contiguous, transposed, sub-block-view and broadcast operands, batched
// products with uniform and non-uniform batch strides, a shared right operand,
// odd and empty sizes, float64 and TF32; bf16 (float32 accumulation, strided
// bf16 views, batches, the kernel's accumulate flag) and autocast within 1e-2;
// a sub-block weight's gradient lands only in its region of the owner's
// gradient and its forward copies nothing; mixed devices fail naming the op.
// Skips (one line) without a GPU.
#include "engine/autocast.h"
#include "engine/device.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cuda/matmul.h"
#include "tests/cuda_parity.h"

using namespace motive;
using namespace motive::test;

namespace {

Tensor mm(const std::vector<Tensor>& v) { return matmul(v[0], v[1]); }

// bf16 operands from float32 leaves through the differentiable cast: the
// product runs in bf16 on both sides, the leaves get float32 gradients.
Tensor to_bf16(const Tensor& t) { return cast(t, DType::BF16); }
Tensor mm16(const std::vector<Tensor>& v) { return matmul(to_bf16(v[0]), to_bf16(v[1])); }
Tensor lin(const std::vector<Tensor>& v) { return linear(v[0], v[1], v[2]); }

// A view built without history, like a base model's parameter inside the
// motivated one: its gradient lands in the owner's gradient buffer.
template <class F>
Tensor leaf_view(const Tensor& owner, F&& view) {
  NoGradGuard parameter_view;
  return view(owner);
}

Tensor block(const Tensor& owner, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  return leaf_view(owner, [&](const Tensor& t) { return t.slice(0, r0, r1).slice(1, c0, c1); });
}

// TF32 on for one scope; off again even when a check throws.
struct Tf32Scope {
  Tf32Scope() { set_allow_tf32(true); }
  ~Tf32Scope() { set_allow_tf32(false); }
};

}  // namespace

TEST_CASE("cuda parity: matmul and linear with contiguous, transposed, sub-block and broadcast operands") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(10);
  check_parity(mm, {input32({33, 47}, gen), input32({47, 29}, gen)});
  // Unit row stride (cuBLAS transposes), on either side and both.
  check_parity(mm, {strided_input32({33, 47}, gen), input32({47, 29}, gen)});
  check_parity(mm, {input32({33, 47}, gen), strided_input32({47, 29}, gen)});
  check_parity(mm, {strided_input32({33, 47}, gen), strided_input32({47, 29}, gen)});
  // Sub-blocks of larger owners: leading dimension > columns, non-zero offset.
  check_parity(mm, {block(input32({40, 60}, gen), 3, 36, 5, 52), block(input32({50, 70}, gen), 0, 47, 0, 29)});
  // linear with a sub-block weight and bias (the base layer inside the motivated one).
  check_parity(lin, {input32({8, 48}, gen), block(input32({20, 64}, gen), 0, 12, 0, 48),
                     leaf_view(input32({20}, gen), [](const Tensor& t) { return t.slice(0, 0, 12); })});
  check_parity(lin, {input32({2, 5, 48}, gen), input32({12, 48}, gen), input32({12}, gen)});
  // A broadcast (stride 0) operand has no cuBLAS leading dimension: packed first.
  check_parity([](const auto& v) { return matmul(v[0], v[1].expand({47, 29})); },
               {input32({33, 47}, gen), input32({1, 29}, gen)});
  check_parity([](const auto& v) { return matmul(v[0].expand({33, 47}), v[1]); },
               {input32({33, 1}, gen), input32({47, 29}, gen)});
}

TEST_CASE("cuda: a sub-block weight's gradient lands only in its region; its forward copies nothing") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(11);
  const int64_t r0 = 4, r1 = 14, c0 = 6, c1 = 36;  // a [10, 30] weight inside [24, 40]
  const Tensor owner_cpu = input32({24, 40}, gen);
  const Tensor x_cpu = input32({16, 30}, gen, false), seed = input32({16, 10}, gen, false);
  linear(x_cpu, block(owner_cpu, r0, r1, c0, c1)).backward(seed);

  const Tensor owner = owner_cpu.to(Device::CUDA);
  REQUIRE(owner.requires_grad());
  const Tensor w = block(owner, r0, r1, c0, c1), x = x_cpu.to(Device::CUDA);
  const int64_t copied = memory_stats(Device::CUDA).bytes_copied;
  const Tensor y = linear(x, w);  // W^T: unit row stride, leading dimension 40
  const Tensor z = matmul(x.slice(1, 0, 10), w);  // W: leading dimension 40
  CHECK(memory_stats(Device::CUDA).bytes_copied == copied);
  CHECK(rel_error(z, matmul(x_cpu.slice(1, 0, 10), block(owner_cpu, r0, r1, c0, c1))) < 1e-4);

  y.backward(seed.to(Device::CUDA));
  const Tensor g = owner.grad_buffer();
  CHECK(rel_error(g, owner_cpu.grad_buffer()) < 1e-4);
  const std::vector<double> v = g.to_vector();
  int64_t nonzero_outside = 0, zero_inside = 0;
  for (int64_t i = 0; i < 24; ++i)
    for (int64_t j = 0; j < 40; ++j) {
      const bool inside = i >= r0 && i < r1 && j >= c0 && j < c1;
      const double e = v[static_cast<size_t>(i * 40 + j)];
      if (inside && e == 0) ++zero_inside;
      if (!inside && e != 0) ++nonzero_outside;
    }
  CHECK(nonzero_outside == 0);
  CHECK(zero_inside == 0);
}

TEST_CASE("cuda parity: batched matmul with uniform and non-uniform batch strides, shared right operand") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(12);
  // Contiguous batch dims merge: one strided-batched launch of 6.
  check_parity(mm, {input32({2, 3, 9, 11}, gen), input32({2, 3, 11, 7}, gen)});
  // Attention's scale: 768 small products in one launch.
  check_parity(mm, {input32({4, 192, 16, 8}, gen), input32({4, 192, 8, 16}, gen)});
  // Batch dims that do not merge (a transposed batch): a loop of strided-batched launches.
  check_parity(mm, {leaf_view(input32({3, 2, 9, 11}, gen), [](const Tensor& t) { return t.transpose(0, 1); }),
                    input32({2, 3, 11, 7}, gen)});
  // Attention's k^T: heads sliced from [B, T, H, D] and transposed.
  check_parity(mm, {input32({2, 3, 5, 11}, gen),
                    leaf_view(input32({2, 9, 3, 11}, gen), [](const Tensor& t) { return t.permute({0, 2, 3, 1}); })});
  // Shared [K, N]: one GEMM over all rows, or batch stride 0 when a's rows do not merge.
  check_parity(mm, {input32({4, 6, 10}, gen), input32({10, 5}, gen)});
  check_parity(mm, {leaf_view(input32({6, 4, 10}, gen), [](const Tensor& t) { return t.transpose(0, 1); }),
                    input32({10, 5}, gen)});
}

TEST_CASE("cuda parity: odd and degenerate sizes") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(13);
  check_parity(mm, {input32({1, 1}, gen), input32({1, 1}, gen)});
  check_parity(mm, {input32({3, 5}, gen), input32({5, 7}, gen)});
  check_parity(mm, {input32({4, 1}, gen), input32({1, 6}, gen)});  // outer product, k = 1
  check_parity(mm, {input32({1, 8}, gen), input32({8, 3}, gen)});  // one row
  check_parity(mm, {input32({8, 3}, gen), input32({3, 1}, gen)});  // one column
  check_parity([](const auto& v) { return linear(v[0], v[1]); }, {input32({5}, gen), input32({3, 5}, gen)});
  // k = 0: an empty sum is zeros, not the NaN poison of the fresh output.
  const Tensor z = matmul(Tensor::ones({3, 0}, DType::F32, Device::CUDA),
                          Tensor::ones({0, 4}, DType::F32, Device::CUDA));
  CHECK(z.to_vector() == std::vector<double>(12, 0.0));
  CHECK(matmul(Tensor::ones({0, 5}, DType::F32, Device::CUDA),
               Tensor::ones({5, 3}, DType::F32, Device::CUDA)).shape() == Shape{0, 3});
}

TEST_CASE("cuda parity: float64 (DGEMM)") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(14);
  check_parity(mm, {input({17, 23}, gen), strided_input({23, 13}, gen)}, 1e-12);
  check_parity(mm, {input({3, 4, 5}, gen), input({3, 5, 6}, gen)}, 1e-12);
  check_parity(lin, {input({6, 9}, gen), input({4, 9}, gen), input({4}, gen)}, 1e-12);
}

TEST_CASE("cuda parity: TF32 within 3e-3, and the switch reaches cuBLAS") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(15);
  {
    Tf32Scope tf32;
    check_parity(mm, {input32({64, 128}, gen), strided_input32({128, 96}, gen)}, 3e-3);
    check_parity(mm, {input32({8, 32, 64}, gen), input32({8, 64, 16}, gen)}, 3e-3);
    check_parity(lin, {input32({32, 256}, gen), input32({10, 256}, gen), input32({10}, gen)}, 3e-3);
  }
  // TF32 keeps 10 mantissa bits: at this size its result differs from fp32's.
  NoGradGuard no_grad;
  const Tensor a = input32({512, 512}, gen, false).to(Device::CUDA);
  const Tensor b = input32({512, 512}, gen, false).to(Device::CUDA);
  const Tensor exact = matmul(a, b);
  Tensor fast;
  {
    Tf32Scope tf32;
    fast = matmul(a, b);
  }
  const double diff = rel_error(fast, exact);
  CHECK(diff > 1e-6);
  CHECK(diff < 3e-3);
  CHECK_FALSE(allow_tf32());
}

TEST_CASE("cuda: matmul and linear refuse mixed devices, naming the op") {
  MOTIVE_REQUIRE_CUDA();
  const Tensor host = Tensor::ones({3, 4}), dev = Tensor::ones({3, 4}, DType::F32, Device::CUDA);
  CHECK_THROWS_WITH_AS(matmul(host, dev.transpose(0, 1)), doctest::Contains("matmul: inputs on cpu and cuda"), Error);
  CHECK_THROWS_WITH_AS(linear(dev, host), doctest::Contains("linear: input on cuda, weight on cpu"), Error);
  CHECK_THROWS_WITH_AS(linear(dev, dev, Tensor::ones({3})), doctest::Contains("bias on cpu"), Error);
}

TEST_CASE("cuda parity: bf16 matmul and linear (cuBLAS, float32 accumulation) within 1e-2") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(16);
  check_parity(mm16, {input32({33, 768}, gen), input32({768, 29}, gen)}, 1e-2);
  // Strided bf16 operands: A transposed (unit row stride), B a sub-block (ld 40, odd offset).
  check_parity(
      [](const auto& v) {
        return matmul(to_bf16(v[0]).transpose(0, 1), to_bf16(v[1]).slice(0, 2, 98).slice(1, 3, 32));
      },
      {input32({96, 33}, gen), input32({100, 40}, gen)}, 1e-2);
  check_parity(mm16, {input32({2, 3, 9, 64}, gen), input32({2, 3, 64, 7}, gen)}, 1e-2);
  check_parity(mm16, {input32({4, 192, 16, 8}, gen), input32({4, 192, 8, 16}, gen)}, 1e-2);
  // Batch dims that do not merge, and a shared right operand (batch stride 0).
  check_parity([](const auto& v) { return matmul(to_bf16(v[0]).transpose(0, 1), to_bf16(v[1])); },
               {input32({6, 4, 80}, gen), input32({80, 5}, gen)}, 1e-2);
  check_parity([](const auto& v) { return linear(to_bf16(v[0]), to_bf16(v[1]), to_bf16(v[2])); },
               {input32({2, 5, 48}, gen), input32({12, 48}, gen), input32({12}, gen)}, 1e-2);
  check_parity(mm16, {input32({3, 5}, gen), input32({5, 7}, gen)}, 1e-2);
  check_parity(mm16, {input32({4, 1}, gen), input32({1, 6}, gen)}, 1e-2);
  // k = 0: zeros, not the NaN poison.
  const Tensor z = matmul(Tensor::ones({3, 0}, DType::BF16, Device::CUDA),
                          Tensor::ones({0, 4}, DType::BF16, Device::CUDA));
  CHECK(z.dtype() == DType::BF16);
  CHECK(z.to_vector() == std::vector<double>(12, 0.0));
}

TEST_CASE("cuda parity: autocast linear and matmul (bf16 compute, float32 gradients)") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(17);
  const Tensor w = input32({12, 48}, gen);
  check_parity(
      [](const auto& v) {
        Autocast on;
        return linear(v[0], v[1], v[2]);
      },
      {input32({8, 48}, gen), w, input32({12}, gen)}, 1e-2);
  // A sub-block weight view: the cast packs it; the gradient returns into the block.
  check_parity(
      [](const auto& v) {
        Autocast on;
        return matmul(v[0], v[1]);
      },
      {input32({8, 30}, gen), block(input32({40, 60}, gen), 3, 33, 5, 25)}, 1e-2);
}

#ifdef MOTIVE_WITH_CUDA
TEST_CASE("cuda: the bf16 GEMM kernel accumulates into a strided C (beta = 1) like the CPU kernel") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(18);
  // C is the [m, n] block at offset 5 of a [m + 1, ldc] buffer; A and B read transposed.
  const int64_t m = 7, n = 6, k = 300, ldc = 9;
  const Tensor a = input32({k, m}, gen, false).to(DType::BF16);
  const Tensor bt = input32({n, k}, gen, false).to(DType::BF16);
  const Tensor c0 = input32({m + 1, ldc}, gen, false).to(DType::BF16);
  const Tensor c_cpu = c0.clone();
  cpu::gemm<bf16>(m, n, k, a.data<bf16>(), {1, m}, bt.data<bf16>(), {1, k},
                  c_cpu.data<bf16>() + 5, ldc, true);
  const Tensor ad = a.to(Device::CUDA), btd = bt.to(Device::CUDA), c_cuda = c0.to(Device::CUDA);
  cuda::gemm<bf16>(m, n, k, ad.data<bf16>(), {1, m}, btd.data<bf16>(), {1, k},
                   c_cuda.data<bf16>() + 5, ldc, true, /*allow_tf32=*/false);
  // Float32 accumulation on both sides: at most the odd last-bit difference.
  CHECK(rel_error(c_cuda, c_cpu) < 1e-2);
  const std::vector<double> got = c_cuda.to_vector(), before = c0.to_vector();
  for (size_t i = 0; i < got.size(); ++i) {
    const int64_t r = (static_cast<int64_t>(i) - 5) / ldc, col = (static_cast<int64_t>(i) - 5) % ldc;
    if (i < 5 || r >= m || col >= n) CHECK(got[i] == before[i]);
  }
}
#endif
