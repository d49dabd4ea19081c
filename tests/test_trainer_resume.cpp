// Resume (docs/training.md, checkpoint.safetensors): a run interrupted
// after its first epoch and continued with `--resume` gives the same losses,
// bit for bit, as the run left alone: the checkpoint carries the weights, both
// models' BN statistics, the optimizer state, the policy's state and the data
// position.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "tests/trainer_testing.h"
#include "trainer/train.h"

using namespace motive;
using namespace motive::test;

namespace {

// What must not depend on an interruption: every step's record, and the
// accuracies and counts of each epoch.
void check_same_records(const std::string& a, const std::string& b) {
  const auto steps_a = read_records(a, "step"), steps_b = read_records(b, "step");
  REQUIRE(steps_a.size() == steps_b.size());
  for (size_t i = 0; i < steps_a.size(); ++i) {
    INFO("step " << i);
    CHECK(steps_a[i] == steps_b[i]);  // loss, lr, model, FLOPs: exact
  }
  CHECK(read_records(a, "epoch") == read_records(b, "epoch"));
}

nlohmann::json without_times(nlohmann::json summary) {
  for (const char* key : {"wall_seconds", "train_seconds", "images_per_second"}) summary.erase(key);
  return summary;
}

TrainOptions stop_after_first_epoch() {
  TrainOptions o = quiet();
  o.after_checkpoint = [](const RunCounters& saved) { return saved.epochs_done < 1; };
  return o;
}

}  // namespace

TEST_CASE("trainer resume: interrupted after epoch 1 and resumed = uninterrupted, bit for bit") {
  TempDir dir;
  RunConfig config = tiny_run(dir / "whole");
  config.recalibrate = 2;  // evaluation with recalibration must leave training untouched
  const nlohmann::json whole = train_new(config, quiet());
  CHECK(whole.at("motivated_steps").get<int64_t>() > 0);
  CHECK(whole.at("motivated_steps").get<int64_t>() < whole.at("steps").get<int64_t>());

  config.out = dir / "resumed";
  CHECK(train_new(config, stop_after_first_epoch()).is_null());
  CHECK_FALSE(std::filesystem::exists(config.out + "/summary.json"));
  // A crash in the middle of epoch 2 leaves records the checkpoint does not
  // cover; the resumed run must cut them off, not repeat them.
  std::ofstream(config.out + "/metrics.jsonl", std::ios::app)
      << R"({"type":"step","step":8,"epoch":1,"model":"base","loss":9.9})" << '\n';
  const nlohmann::json resumed = train_resume(config.out, quiet(1));  // another worker count

  check_same_records(dir / "whole", config.out);
  CHECK(without_times(resumed) == without_times(whole));
}

TEST_CASE("trainer resume: a bf16 run resumes bit for bit, and trains like the fp32 run") {
  TempDir dir;
  RunConfig config = tiny_run(dir / "fp32");
  train_new(config, quiet());
  config.precision = "bf16";
  config.out = dir / "bf16";
  const nlohmann::json whole = train_new(config, quiet());
  config.out = dir / "resumed";
  CHECK(train_new(config, stop_after_first_epoch()).is_null());
  CHECK(read_json(config.out + "/config.json").at("precision") == "bf16");
  const nlohmann::json resumed = train_resume(config.out, quiet());
  check_same_records(dir / "bf16", config.out);
  CHECK(without_times(resumed) == without_times(whole));
  CHECK(whole.at("switches").get<int64_t>() > 0);
  CHECK(whole.at("switch_bytes_copied") == 0);  // the bf16 weight copies belong to steps

  // The first step starts from the same weights: bf16 rounding moves its loss
  // a little (so bf16 did run), not a lot. The loss then falls as in fp32.
  const auto fp32 = read_records(dir / "fp32", "step"), bf16 = read_records(dir / "bf16", "step");
  const double l32 = fp32.front().at("loss"), l16 = bf16.front().at("loss");
  CHECK(l16 != l32);
  CHECK(std::abs(l16 - l32) < 2e-2 * l32);
  const auto epochs = read_records(dir / "bf16", "epoch");
  CHECK(epochs.back().at("train_loss_base").get<double>() <
        epochs.front().at("train_loss_base").get<double>());
}

TEST_CASE("trainer resume: --checkpoint-every resumes in mid-epoch, bit for bit") {
  TempDir dir;
  RunConfig config = tiny_run(dir / "whole");  // 8 steps an epoch, 2 epochs
  config.checkpoint_every = 3;
  const nlohmann::json whole = train_new(config, quiet());

  // Stopped after the checkpoint at step 6 (epoch 1), then again after the
  // one at step 12 (epoch 2): each resume starts inside an epoch, so the
  // epoch's loss means, the data position and the policy state all come from
  // a mid-epoch checkpoint.
  config.out = dir / "resumed";
  for (const int64_t stop_at : {6, 12}) {
    TrainOptions o = quiet();
    o.after_checkpoint = [stop_at](const RunCounters& saved) { return saved.steps < stop_at; };
    const nlohmann::json partial = stop_at == 6 ? train_new(config, o) : train_resume(config.out, o);
    CHECK(partial.is_null());
    // A crash before the next checkpoint leaves a record that it does not cover.
    std::ofstream(config.out + "/metrics.jsonl", std::ios::app)
        << R"({"type":"step","step":99,"epoch":1,"model":"base","loss":9.9})" << '\n';
  }
  const nlohmann::json resumed = train_resume(config.out, quiet());
  check_same_records(dir / "whole", config.out);
  CHECK(without_times(resumed) == without_times(whole));
}

TEST_CASE("trainer resume: recalibrated evaluation does not change the training") {
  TempDir dir;
  RunConfig config = tiny_run(dir / "plain");
  config.epochs = 1;
  const nlohmann::json plain = train_new(config, quiet());
  config.out = dir / "recalibrated";
  config.recalibrate = 3;
  const nlohmann::json recalibrated = train_new(config, quiet());
  const auto a = read_records(dir / "plain", "step"), b = read_records(config.out, "step");
  CHECK(a == b);
  CHECK(plain.at("acc_base") == recalibrated.at("acc_base"));
  CHECK(plain.at("acc_motivated") == recalibrated.at("acc_motivated"));
  CHECK(plain.at("acc_base_recalibrated").is_null());
  CHECK(recalibrated.at("acc_base_recalibrated").is_number());
  CHECK(recalibrated.at("acc_motivated_recalibrated").is_number());
}

TEST_CASE("trainer resume: a finished run resumes to the same summary") {
  TempDir dir;
  RunConfig config = tiny_run(dir / "run");
  config.epochs = 1;
  const nlohmann::json done = train_new(config, quiet());
  const nlohmann::json again = train_resume(config.out, quiet());
  CHECK(without_times(again) == without_times(done));
  CHECK(read_records(config.out, "step").size() == 8);
}
