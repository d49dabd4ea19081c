// A chain of three nested models in the trainer (docs/training.md, "Chains"):
// every level trains, its steps, images and FLOPs are counted per level and
// add up, its accuracies and losses are reported per level, a run resumed
// from a mid-epoch checkpoint equals the uninterrupted one bit for bit, and
// each level exports.
#include <doctest/doctest.h>

#include <filesystem>

#include "engine/serialize.h"
#include "models/nest.h"
#include "tests/trainer_testing.h"
#include "trainer/model_io.h"
#include "trainer/run_parts.h"
#include "trainer/train.h"

using namespace motive;
using namespace motive::test;

namespace {

// resnet20x0.25 in resnet20x0.5 in resnet20x0.75: 8 steps of 32 an epoch.
RunConfig tiny_chain(const std::string& out) {
  RunConfig c = tiny_run(out);
  c.middle = {"resnet20x0.5"};
  c.motivated = "resnet20x0.75";
  c.trigger = "loss-decrease:1";
  return c;
}

}  // namespace

TEST_CASE("trainer chain: three levels train, counted and reported per level") {
  TempDir dir;
  RunConfig config = tiny_chain(dir / "run");
  config.epochs = 3;
  const nlohmann::json s = train_new(config, quiet());
  const int64_t steps = s.at("steps");
  CHECK(steps == 24);
  int64_t per_level = 0, flops = 0;
  for (const char* level : {"base", "level1", "motivated"}) {
    INFO(level);
    const std::string name = level;
    CHECK(s.at("steps_" + name).get<int64_t>() > 0);
    per_level += s.at("steps_" + name).get<int64_t>();
    flops += s.at("train_flops_" + name).get<int64_t>();
    CHECK(s.at("acc_" + name).is_number());
  }
  CHECK(per_level == steps);
  CHECK(flops == s.at("train_flops").get<int64_t>());
  CHECK(s.at("motivated_steps").get<int64_t>() ==
        s.at("steps_level1").get<int64_t>() + s.at("steps_motivated").get<int64_t>());
  // Step records name the level that ran; epoch records carry every level.
  int64_t level1 = 0;
  for (const nlohmann::json& r : read_records(config.out, "step")) level1 += r.at("model") == "level1";
  CHECK(level1 == s.at("steps_level1").get<int64_t>());
  const nlohmann::json epoch = read_records(config.out, "epoch").back();
  CHECK(epoch.at("acc_level1").is_number());
  CHECK(epoch.contains("train_loss_level1"));

  // Each level exports as a standalone model of its own name.
  export_model(config.out, "level1", dir / "level1.safetensors", 0);
  CHECK(load_safetensors(dir / "level1.safetensors").metadata.at("arch") == "resnet20x0.5");
  CHECK_THROWS_WITH_AS(export_model(config.out, "level2", dir / "x.safetensors", 0),
                       doctest::Contains("no level2 model (its models: base, level1, motivated)"),
                       Error);
}

TEST_CASE("trainer chain: a mid-epoch resume equals the uninterrupted run, bit for bit") {
  TempDir dir;
  RunConfig config = tiny_chain(dir / "whole");
  config.trigger = "loss-decrease:1,random-rate:0.5";  // one spec per level
  config.checkpoint_every = 5;
  const nlohmann::json whole = train_new(config, quiet());
  config.out = dir / "resumed";
  TrainOptions stop = quiet();
  stop.after_checkpoint = [](const RunCounters& saved) { return saved.steps < 10; };
  CHECK(train_new(config, stop).is_null());
  const nlohmann::json resumed = train_resume(config.out, quiet());
  CHECK(read_records(dir / "whole", "step") == read_records(config.out, "step"));
  CHECK(read_records(dir / "whole", "epoch") == read_records(config.out, "epoch"));
  for (const char* key : {"steps_base", "steps_level1", "steps_motivated", "train_flops",
                          "acc_level1", "activation_steps"})
    CHECK(resumed.at(key) == whole.at(key));
}

TEST_CASE("trainer chain: the models must nest in order, and the specs fit the levels") {
  TempDir dir;
  RunConfig config = tiny_chain(dir / "bad");
  config.middle = {"resnet20"};  // wider than the motivated resnet20x0.75
  CHECK_THROWS_WITH_AS(train_new(config, quiet()),
                       doctest::Contains("resnet20x0.75 cannot contain resnet20"), Error);
  config = tiny_chain(dir / "bad");
  config.trigger = "always,never,always";
  CHECK_THROWS_WITH_AS(train_new(config, quiet()),
                       doctest::Contains("3 specs for 2 levels above the base"), Error);
  CHECK_FALSE(std::filesystem::exists(dir / "bad"));
}
