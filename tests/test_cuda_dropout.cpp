// dropout and drop_path on CUDA against the CPU: the CUDA kernel draws the
// same Philox masks by the same integer rule, so forward and backward must be
// bit-identical (not merely close) for every p, generator offset (aligned to a
// Philox block or not), group size, dtype and input geometry. Skips (one line)
// without a GPU.
#include <cstring>

#include "tests/cuda_parity.h"

using namespace motive;
using namespace motive::test;

namespace {

using DropOp = Tensor (*)(const Tensor&, double, bool, Generator&);

bool bit_identical(const Tensor& a, const Tensor& b) {
  const std::vector<double> va = a.to_vector(), vb = b.to_vector();
  // memcmp, not ==: NaN (a poisoned element nothing wrote) never matches, and
  // -0 vs +0 would show.
  return va.size() == vb.size() &&
         std::memcmp(va.data(), vb.data(), va.size() * sizeof(double)) == 0;
}

// op(x) on both devices from the generator state (seed, offset), then the
// backward of the same random seed gradient: outputs, input gradients and the
// generators' final offsets must agree exactly.
void check_exact(DropOp op, const Tensor& x, double p, uint64_t offset) {
  CAPTURE(shape_str(x.shape()));
  CAPTURE(p);
  CAPTURE(offset);
  const Tensor xc = cuda_copy_like(x);
  const_cast<Tensor&>(x).zero_grad();
  Generator cpu_gen, cuda_gen;
  cpu_gen.set_state(77, offset);
  cuda_gen.set_state(77, offset);
  const Tensor y = op(x, p, true, cpu_gen);
  const Tensor yc = op(xc, p, true, cuda_gen);
  REQUIRE(yc.device() == Device::CUDA);
  CHECK(bit_identical(yc, y));
  CHECK(cuda_gen.offset() == cpu_gen.offset());

  Generator seed_gen(5);
  const Tensor g = rand_uniform(y.shape(), -1.0, 1.0, seed_gen, y.dtype());
  y.backward(g);
  yc.backward(g.to(Device::CUDA));
  REQUIRE(xc.has_grad());
  CHECK(bit_identical(xc.grad(), x.grad()));
}

// A contiguous leaf whose data starts one element past a 16-byte boundary: the
// kernel's scalar (unvectorised) path.
Tensor misaligned_input32(int64_t n, Generator& gen) {
  Tensor owner = input32({n + 1}, gen, false);
  owner.requires_grad_();
  NoGradGuard parameter_view;
  return owner.slice(0, 1, n + 1);
}

}  // namespace

TEST_CASE("cuda parity: dropout is bit-identical to the CPU") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(1);
  const std::vector<Tensor> inputs = {
      input32({7, 13}, gen),            // 91 elements: a partial last chunk
      input32({1}, gen),
      input32({2, 3, 5}, gen),
      input32({1000003}, gen),          // many blocks, odd length
      strided_input32({9, 6}, gen),     // transposed, padded view
      misaligned_input32(4099, gen),    // contiguous, not 16-byte aligned
      input({5, 11}, gen),              // float64
      strided_input({3, 7}, gen),       // float64 view
  };
  for (const Tensor& x : inputs)
    for (double p : {0.1, 0.5, 0.9, 1.0})
      for (uint64_t offset : {0u, 1u, 2u, 3u, 6u})  // unaligned offsets straddle Philox blocks
        check_exact(&dropout, x, p, offset);
}

TEST_CASE("cuda parity: drop_path is bit-identical to the CPU") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(2);
  const std::vector<Tensor> inputs = {
      input32({9, 3, 4, 5}, gen),   // group size 60 (a multiple of 4)
      input32({5, 7}, gen),         // group size 7: chunks straddle samples
      input32({6, 2}, gen),         // group size 2
      input32({11, 1}, gen),        // group size 1 (dropout-like)
      input32({257, 3, 3}, gen),    // more samples than one Philox block covers
      strided_input32({8, 6}, gen),
      input({4, 3, 2}, gen),        // float64
  };
  for (const Tensor& x : inputs)
    for (double p : {0.2, 0.5, 1.0})
      for (uint64_t offset : {0u, 1u, 3u, 5u})
        check_exact(&drop_path, x, p, offset);
}

TEST_CASE("cuda: dropout eval / p = 0 is the identity and empty tensors work") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(3);
  const Tensor x = input32({4, 6}, gen).to(Device::CUDA);
  Generator g(9);
  CHECK(bit_identical(dropout(x, 0.5, false, g), x));
  CHECK(bit_identical(dropout(x, 0.0, true, g), x));
  CHECK(g.offset() == 0);
  const Tensor empty = Tensor::zeros({0, 3}, DType::F32, Device::CUDA);
  CHECK(dropout(empty, 0.5, true, g).shape() == Shape{0, 3});
  CHECK(drop_path(Tensor::zeros({3, 0}, DType::F32, Device::CUDA), 0.5, true, g).shape() ==
        Shape{3, 0});
}
