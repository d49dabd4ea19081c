// CUDA tensors: device copies in both directions through any strides, fills,
// the stream-ordered pool's accounting, and parity of the elementwise and
// reduction kernels with the CPU. Skips (one line) without a GPU.
#include "tests/cuda_parity.h"

using namespace motive;
using namespace motive::test;

TEST_CASE("cuda: host <-> device copies keep values through views and dtypes") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(1);
  Tensor h = randn({5, 7}, gen);
  Tensor d = h.to(Device::CUDA);
  CHECK(d.device() == Device::CUDA);
  CHECK(d.to_vector() == h.to_vector());
  Tensor dt = d.transpose(0, 1).contiguous();  // device strided copy
  CHECK(dt.to_vector() == h.transpose(0, 1).contiguous().to_vector());
  Tensor sub = Tensor::zeros({5, 7}, DType::F32, Device::CUDA);
  sub.slice(1, 2, 5).copy_(h.slice(1, 0, 3));  // host -> strided device region
  CHECK(sub.at({4, 3}) == h.at({4, 1}));
  CHECK(sub.at({4, 0}) == 0);
  CHECK(d.to(DType::F64).to_vector() == h.to(DType::F64).to_vector());
  d.set({2, 3}, 42.0);
  CHECK(d.at({2, 3}) == 42.0);
  Tensor f = Tensor::full({3, 3}, 1.5, DType::F32, Device::CUDA);
  CHECK(sum(f).item() == doctest::Approx(13.5));
}

TEST_CASE("cuda: memory accounting and out-of-memory error") {
  MOTIVE_REQUIRE_CUDA();
  const int64_t before = memory_stats(Device::CUDA).current_bytes;
  {
    Tensor t = Tensor::empty({1 << 20}, DType::F32, Device::CUDA);
    CHECK(memory_stats(Device::CUDA).current_bytes - before == 4 << 20);
  }
  CHECK(memory_stats(Device::CUDA).current_bytes == before);
  CHECK_THROWS_WITH_AS(Tensor::empty({int64_t(1) << 50}, DType::F32, Device::CUDA),
                       doctest::Contains("out of device memory"), Error);
  // The failure left the device usable.
  CHECK(Tensor::ones({4}, DType::F32, Device::CUDA).to_vector() == std::vector<double>(4, 1.0));
}

TEST_CASE("cuda parity: elementwise with broadcasting and views, reductions") {
  MOTIVE_REQUIRE_CUDA();
  Generator gen(2);
  check_parity([](const auto& v) { return add(v[0], v[1]); },
               {input32({4, 5}, gen), input32({5}, gen)});
  check_parity([](const auto& v) { return mul(v[0], v[1]); },
               {strided_input32({6, 3}, gen), input32({6, 1}, gen)});
  check_parity([](const auto& v) { return div(sub(v[0], v[1]), add_scalar(v[1], 3.0)); },
               {input32({2, 3, 4}, gen), input32({3, 1}, gen)});
  check_parity([](const auto& v) { return sum(v[0], {0, 2}); }, {input32({7, 5, 3}, gen)});
  check_parity([](const auto& v) { return mean(v[0], {1}, true); }, {strided_input32({9, 4}, gen)});
  check_parity([](const auto& v) { return mul_scalar(v[0], -2.5); }, {input32({1000}, gen)});
  CHECK_THROWS_WITH_AS(add(Tensor::ones({2}), Tensor::ones({2}, DType::F32, Device::CUDA)),
                       doctest::Contains("add"), Error);
}

TEST_CASE("cuda: gradients through parameter views land in the owner's device gradient") {
  MOTIVE_REQUIRE_CUDA();
  Tensor owner = Tensor::ones({4, 4}, DType::F32, Device::CUDA).requires_grad_();
  Tensor p;
  {
    NoGradGuard building;
    p = owner.slice(0, 0, 2).slice(1, 0, 2);
  }
  sum(mul_scalar(p, 3.0)).backward();
  const auto g = owner.grad_buffer().to_vector();
  CHECK(g == std::vector<double>{3, 3, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
}
