// FLOP accounting (docs/training.md, the definitions): a step costs
// 3 x the forward FLOPs per image of the model that ran x the batch's images,
// charged to that model; the run's totals are the sums.
#include <doctest/doctest.h>

#include <filesystem>

#include "tests/trainer_testing.h"
#include "trainer/metrics.h"
#include "trainer/run_parts.h"
#include "trainer/train.h"

using namespace motive;
using namespace motive::test;

TEST_CASE("trainer flops: a step is 3 x forward FLOPs per image x images, per model") {
  RunCounters c(2);
  c.add_step(0, 32, 1000);
  c.add_step(1, 32, 4000);
  c.add_step(0, 7, 1000);  // a last partial batch
  CHECK(c.steps == 3);
  CHECK(c.level_steps == std::vector<int64_t>{2, 1});
  CHECK(c.flops[0] == 3 * 1000 * (32 + 7));
  CHECK(c.flops[1] == 3 * 4000 * 32);
  CHECK(c.images[0] == 39);
  CHECK(c.images[1] == 32);
  CHECK(c.train_flops() == c.flops[0] + c.flops[1]);
  CHECK(c.train_images() == 71);
}

TEST_CASE("trainer flops: every step of a run is charged to the model that ran") {
  TempDir dir;
  RunConfig config = tiny_run(dir / "run");
  config.epochs = 1;
  config.limit_train = 250;  // 7 full batches of 32 and one of 26
  const nlohmann::json summary = train_new(config, quiet());

  RunConfig resolved = load_run_config(config.out);
  const NestedChain pair = build_chain(resolved);
  const int64_t forward[2] = {pair.base().flops_per_image(28, 28),
                              pair.largest().flops_per_image(28, 28)};
  CHECK(forward[0] > 0);
  CHECK(forward[1] > 2 * forward[0]);  // twice the width, four times the FLOPs

  int64_t previous = 0, per_model[2] = {0, 0}, images = 0;
  for (const nlohmann::json& s : read_records(config.out, "step")) {
    const int m = s.at("model") == "base" ? 0 : 1;
    const int64_t batch = std::min<int64_t>(32, 250 - images);
    const int64_t cumulative = s.at("train_flops").get<int64_t>();
    CHECK(cumulative - previous == 3 * forward[m] * batch);
    per_model[m] += cumulative - previous;
    previous = cumulative;
    images += batch;
  }
  CHECK(images == 250);
  CHECK(per_model[0] > 0);
  CHECK(per_model[1] > 0);
  CHECK(summary.at("train_flops_base").get<int64_t>() == per_model[0]);
  CHECK(summary.at("train_flops_motivated").get<int64_t>() == per_model[1]);
  CHECK(summary.at("train_flops").get<int64_t>() == per_model[0] + per_model[1]);
  const double pflops = static_cast<double>(per_model[0] + per_model[1]) / 1e15;
  CHECK(summary.at("acc_per_pflop_base").get<double>() ==
        doctest::Approx(summary.at("acc_base").get<double>() / pflops));
}

TEST_CASE("trainer flops: F_Ratio against a standalone run of the motivated model") {
  TempDir dir;
  RunConfig standalone = tiny_run(dir / "standalone");
  standalone.epochs = 1;
  standalone.trigger = "always";
  const nlohmann::json ref = train_new(standalone, quiet());
  CHECK(ref.at("train_flops_base") == 0);

  RunConfig scheme = tiny_run(dir / "scheme");
  scheme.epochs = 1;
  scheme.reference = standalone.out;
  const nlohmann::json s = train_new(scheme, quiet());
  const double f_ratio = s.at("train_flops").get<double>() / ref.at("train_flops").get<double>();
  CHECK(f_ratio > 0.25);  // the base costs a quarter of the motivated model per image
  CHECK(f_ratio < 1.0);
  CHECK(s.at("f_ratio").get<double>() == doctest::Approx(f_ratio));
  CHECK(s.at("acc_per_f_ratio_base").get<double>() ==
        doctest::Approx(s.at("acc_base").get<double>() / f_ratio));
  CHECK(s.at("acc_per_f_ratio_motivated").get<double>() ==
        doctest::Approx(s.at("acc_motivated").get<double>() / f_ratio));

  // Another number of epochs is another cost: refused before anything is written.
  scheme.out = dir / "refused";
  scheme.epochs = 2;
  CHECK_THROWS_WITH_AS(train_new(scheme, quiet()), doctest::Contains("same data and epochs"),
                       Error);
  CHECK_FALSE(std::filesystem::exists(scheme.out));
}
