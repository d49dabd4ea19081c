// LR schedules at known steps (warm-up end, mid-anneal, end, one-cycle peak)
// and the spec strings the trainer's command line uses.
#include <doctest/doctest.h>

#include <string>

#include "engine/error.h"
#include "engine/schedule.h"

using namespace motive;

namespace {
doctest::Approx near(double v) { return doctest::Approx(v).epsilon(1e-12); }
}  // namespace

TEST_CASE("ConstantLR and StepLR") {
  const ConstantLR constant(0.1);
  CHECK(constant.lr_at(0) == 0.1);
  CHECK(constant.lr_at(100000) == 0.1);

  const StepLR step(0.1, 30, 0.1);
  CHECK(step.lr_at(0) == near(0.1));
  CHECK(step.lr_at(29) == near(0.1));
  CHECK(step.lr_at(30) == near(0.01));
  CHECK(step.lr_at(59) == near(0.01));
  CHECK(step.lr_at(60) == near(0.001));
  CHECK_THROWS_AS(step.lr_at(-1), Error);
  CHECK_THROWS_AS(StepLR(0.1, 0), Error);
}

TEST_CASE("CosineLR: linear warm-up, then cosine down to min_lr") {
  const CosineLR cos(1.0, 1000, 100);
  CHECK(cos.lr_at(0) == 0.0);           // warm-up starts from 0
  CHECK(cos.lr_at(50) == near(0.5));    // halfway up
  CHECK(cos.lr_at(100) == near(1.0));   // warm-up end: the base rate
  CHECK(cos.lr_at(550) == near(0.5));   // halfway through the cosine
  CHECK(cos.lr_at(1000) == near(0.0));  // the end
  CHECK(cos.lr_at(5000) == near(0.0));  // and after it

  const CosineLR floor(1.0, 1000, 100, 0.1, 0.1);
  CHECK(floor.lr_at(0) == near(0.1));    // starts at warmup_start_factor * base
  CHECK(floor.lr_at(50) == near(0.55));
  CHECK(floor.lr_at(550) == near(0.55));  // (base + min_lr) / 2
  CHECK(floor.lr_at(1000) == near(0.1));

  const CosineLR no_warmup(2.0, 10);
  CHECK(no_warmup.lr_at(0) == near(2.0));
  CHECK_THROWS_AS(CosineLR(1.0, 100, 100), Error);
}

TEST_CASE("OneCycleLR follows PyTorch's cosine phases") {
  // max_lr 1: starts at 1 / 25, peaks at step 0.3 * 100 - 1 = 29, ends at
  // 1 / 25 / 1e4 = 4e-6 at step 99.
  const OneCycleLR one(100, 1.0);
  CHECK(one.lr_at(0) == near(0.04));
  CHECK(one.lr_at(29) == near(1.0));
  CHECK(one.lr_at(28) < one.lr_at(29));
  CHECK(one.lr_at(30) < one.lr_at(29));
  // Step 10: 1 + (0.04 - 1) / 2 * (cos(pi * 10 / 29) + 1).
  CHECK(one.lr_at(10) == near(0.29516394846410077));
  CHECK(one.lr_at(64) == near(0.500002));  // halfway down: (1 + 4e-6) / 2
  CHECK(one.lr_at(99) == near(4e-6));
  CHECK(one.lr_at(500) == near(4e-6));

  const OneCycleLR early(200, 0.5, 0.25, 10, 100);
  CHECK(early.lr_at(0) == near(0.05));
  CHECK(early.lr_at(49) == near(0.5));
  CHECK(early.lr_at(199) == near(0.0005));
  CHECK_THROWS_AS(OneCycleLR(3, 1.0), Error);  // 0.3 * 3 - 1 < 0: an empty warm phase
}

TEST_CASE("make_schedule parses spec strings") {
  CHECK(make_schedule("constant", 0.1, 100)->lr_at(50) == 0.1);

  const auto step = make_schedule("step:30:0.1", 0.1, 100);
  CHECK(step->lr_at(29) == near(0.1));
  CHECK(step->lr_at(30) == near(0.01));
  CHECK(make_schedule("step:step_size=10,gamma=0.5", 1.0, 100)->lr_at(25) == near(0.25));
  CHECK(make_schedule("step:10", 1.0, 100)->lr_at(10) == near(0.1));  // gamma 0.1

  const auto cos = make_schedule("cosine:warmup=500", 0.1, 5000);
  CHECK(cos->lr_at(500) == near(0.1));
  CHECK(cos->lr_at(2750) == near(0.05));
  CHECK(make_schedule("cosine", 0.1, 5000)->lr_at(0) == near(0.1));
  CHECK(make_schedule("cosine:10:0.01", 1.0, 110)->lr_at(110) == near(0.01));

  const auto one = make_schedule("onecycle", 1.0, 100);
  CHECK(one->lr_at(29) == near(1.0));
  CHECK(one->lr_at(64) == near(OneCycleLR(100, 1.0).lr_at(64)));
  CHECK(make_schedule("onecycle:pct_start=0.25", 0.5, 200)->lr_at(49) == near(0.5));
}

TEST_CASE("make_schedule names a bad spec in its error") {
  const auto refused = [](const std::string& spec, const std::string& why) {
    CAPTURE(spec);
    CHECK_THROWS_WITH_AS(make_schedule(spec, 0.1, 1000),
                         doctest::Contains(("schedule '" + spec + "': " + why).c_str()), Error);
  };
  refused("bogus", "unknown schedule 'bogus'");
  refused("", "unknown schedule ''");
  refused("step", "'step' needs step_size");
  refused("step:abc", "'abc' is not a number");
  refused("step:2.5", "step_size 2.5 must be an integer");
  refused("step:30:0.1:5", "too many arguments");
  refused("step:0", "StepLR: step_size 0");
  refused("step:30,gamma=0.5,gamma=0.2", "'gamma' given twice");
  refused("cosine:warm=5", "'cosine' has no argument 'warm'");
  refused("cosine:warmup=10:5", "positional argument '5' after a key=value one");
  refused("cosine:warmup=5000", "CosineLR: warmup_steps 5000");
  refused("cosine:warmup=", "'' is not a number");
  refused("onecycle:pct_start=1", "OneCycleLR: pct_start 1");
}
