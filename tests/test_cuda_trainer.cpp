// The trainer on the GPU (the CUDA twin of test_trainer_e2e and
// test_trainer_resume): a dual-model run on the device follows the same run on
// the CPU, resumes from its checkpoint, and stops with the out-of-memory error
// when its memory runs out. Skips (one line) without a GPU.
//
// The runs use `random-count:6`, whose activation steps depend on the seed
// only: with `loss-decrease:K` two near-equal losses could order differently
// on the two devices and send the runs down different model sequences, which
// would test the policy's sensitivity rather than the backend.
//
// Tolerances. Both devices compute in float32 (TF32 off) with different
// summation orders (cuDNN's algorithms, cuBLAS, our reductions), and SGD feeds
// each step's difference into the next weights. The demo CNN's 20-step curve
// agrees within 1e-4 (tests/test_cuda_train.cpp); a resnet with BatchNorm
// over 16 steps at learning rate 0.1 amplifies more, so the losses get 2e-3
// relative. A wrong kernel moves a loss curve by far more than that.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "engine/device.h"
#include "tests/cuda_parity.h"
#include "tests/trainer_testing.h"
#include "trainer/train.h"

using namespace motive;
using namespace motive::test;

namespace {

constexpr double kLossTol = 2e-3;

// tiny_run on `device`, reading Fashion-MNIST from the excerpt tools/gpu-build.sh
// ships when MOTIVE_FASHION_MNIST_DIR names it (a GPU machine without Debian's
// package), else from the default places.
RunConfig gpu_run(const std::string& out, const std::string& device) {
  RunConfig c = tiny_run(out);
  c.trigger = "random-count:6";
  c.device = device;
  if (const char* dir = std::getenv("MOTIVE_FASHION_MNIST_DIR"); dir != nullptr && *dir != '\0')
    c.data_root = std::filesystem::path(dir).parent_path().string();
  return c;
}

// Same model sequence, losses within kLossTol relative.
void check_same_curve(const std::string& cpu_run, const std::string& gpu_run) {
  const auto cpu = read_records(cpu_run, "step"), gpu = read_records(gpu_run, "step");
  REQUIRE(cpu.size() == gpu.size());
  for (size_t i = 0; i < cpu.size(); ++i) {
    INFO("step " << i);
    CHECK(cpu[i].at("model") == gpu[i].at("model"));
    CHECK(cpu[i].at("train_flops") == gpu[i].at("train_flops"));
    const double a = cpu[i].at("loss"), b = gpu[i].at("loss");
    CHECK(std::isfinite(b));
    CHECK(std::abs(a - b) <= kLossTol * std::abs(a));
  }
}

// Both models' test accuracies within `points` percentage points.
void check_near_accuracy(const nlohmann::json& cpu, const nlohmann::json& gpu, double points) {
  for (const char* acc : {"acc_base", "acc_motivated"})
    CHECK(std::abs(gpu.at(acc).get<double>() - cpu.at(acc).get<double>()) <= points);
}

}  // namespace

TEST_CASE("cuda trainer: a dual-model run on the GPU follows the CPU run, copying nothing") {
  MOTIVE_REQUIRE_CUDA();
  TempDir dir;
  const nlohmann::json cpu = train_new(gpu_run(dir / "cpu", "cpu"), quiet());
  const nlohmann::json gpu = train_new(gpu_run(dir / "gpu", "cuda"), quiet());
  check_same_curve(dir / "cpu", dir / "gpu");
  CHECK(gpu.at("motivated_steps") == cpu.at("motivated_steps"));
  CHECK(gpu.at("motivated_steps").get<int64_t>() > 0);
  CHECK(gpu.at("switches").get<int64_t>() > 0);
  CHECK(gpu.at("switch_bytes_copied") == 0);
  // 200 test images: an image whose top two logits nearly tie may go either way.
  check_near_accuracy(cpu, gpu, 1.5);
}

TEST_CASE("cuda trainer: a bf16 run on the GPU stays near the CPU's bf16 run") {
  // Two equally valid bf16 runs: rounding order differs, and batch norm
  // amplifies that in the gradients (docs/engine.md, "Mixed precision"), so after the
  // first update the curves part by more than float32's kLossTol. The first
  // step is a forward from the same weights; the rest must stay finite and
  // end in the same place.
  MOTIVE_REQUIRE_CUDA();
  TempDir dir;
  RunConfig cpu_config = gpu_run(dir / "cpu", "cpu"), gpu_config = gpu_run(dir / "gpu", "cuda");
  cpu_config.precision = gpu_config.precision = "bf16";
  const nlohmann::json cpu = train_new(cpu_config, quiet());
  const nlohmann::json gpu = train_new(gpu_config, quiet());
  const auto c = read_records(dir / "cpu", "step"), g = read_records(dir / "gpu", "step");
  REQUIRE(c.size() == g.size());
  const double first_cpu = c.front().at("loss"), first_gpu = g.front().at("loss");
  CHECK(std::abs(first_cpu - first_gpu) <= 1e-2 * std::abs(first_cpu));
  for (const auto& record : g) CHECK(std::isfinite(record.at("loss").get<double>()));
  const auto ce = read_records(dir / "cpu", "epoch"), ge = read_records(dir / "gpu", "epoch");
  REQUIRE(ce.size() == ge.size());
  const double end_cpu = ce.back().at("train_loss_base"), end_gpu = ge.back().at("train_loss_base");
  CHECK(std::abs(end_cpu - end_gpu) <= 0.1 * end_cpu);
  CHECK(gpu.at("switch_bytes_copied") == 0);
  check_near_accuracy(cpu, gpu, 10.0);
}

TEST_CASE("cuda trainer: a GPU run interrupted after epoch 1 resumes where it stopped") {
  MOTIVE_REQUIRE_CUDA();
  TempDir dir;
  train_new(gpu_run(dir / "whole", "cuda"), quiet());
  TrainOptions stop = quiet();
  stop.after_checkpoint = [](const RunCounters& saved) { return saved.epochs_done < 1; };
  CHECK(train_new(gpu_run(dir / "resumed", "cuda"), stop).is_null());
  const nlohmann::json resumed = train_resume(dir / "resumed", quiet());
  CHECK(resumed.at("steps") == 16);
  // cuDNN may pick non-deterministic backward algorithms, so the same run on
  // the GPU is compared within the cross-device tolerance, not bit for bit.
  check_same_curve(dir / "whole", dir / "resumed");
}

TEST_CASE("cuda trainer: running out of device memory is one error naming the step") {
  MOTIVE_REQUIRE_CUDA();
  TempDir dir;
  RunConfig c = gpu_run(dir / "run", "cuda");
  c.memory_limit_mib = 4;  // the same OutOfMemory a full device raises
  CHECK_THROWS_WITH_AS(train_new(c, quiet()),
                       doctest::Contains("step 0 (epoch 1, base model): out of cuda memory"),
                       Error);
  CHECK(memory_limit(Device::CUDA) == 0);  // lifted when the run ended
}
