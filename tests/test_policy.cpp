// The motivation policy on scripted loss sequences: every trigger and duration
// with activation steps worked out by hand, the random triggers' statistics,
// exact resume from state(), and the error lines of bad specs.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/error.h"
#include "trainer/policy.h"

using namespace motive;

namespace {

using Steps = std::vector<int64_t>;

// Feeds `losses` one step at a time; returns the roles as a string, one letter
// a step (B base, M motivated), which reads like the comments in the tests.
std::string run(MotivationPolicy& policy, const std::vector<double>& losses) {
  std::string roles;
  for (double loss : losses) {
    roles += policy.next_role() == Role::Motivated ? 'M' : 'B';
    policy.observe(loss);
  }
  return roles;
}

// `n` steps of a noisy falling loss curve: enough ups and downs to fire
// loss-decrease:2 now and then, reproducible without any RNG.
std::vector<double> noisy_losses(int n) {
  std::vector<double> out;
  for (int i = 0; i < n; ++i) out.push_back(2.0 / (1 + 0.01 * i) + 0.1 * std::sin(i * 1.7));
  return out;
}

MotivationPolicy make(const std::string& trigger, const std::string& duration,
                      int64_t total_steps = 1000, uint64_t seed = 7) {
  return MotivationPolicy(PolicySpec{trigger, duration}, total_steps, seed);
}

}  // namespace

TEST_CASE("loss-decrease:2 + steps:1 counts strict decreases of base steps only") {
  auto policy = make("loss-decrease:2", "steps:1");
  CHECK(policy.describe() == "loss-decrease:2 + steps:1");
  const std::vector<double> losses = {
      5.0,  // 0 B  first base step: nothing to compare, streak 0
      4.0,  // 1 B  streak 1
      3.0,  // 2 B  streak 2: fires, streak back to 0
      9.0,  // 3 M  activation; a motivated loss neither breaks nor extends the streak
      2.5,  // 4 B  below the last base loss (3.0): streak 1
      2.6,  // 5 B  up: streak 0
      2.4,  // 6 B  streak 1
      2.4,  // 7 B  equal is not lower: streak 0
      2.3,  // 8 B  streak 1
      2.2,  // 9 B  streak 2: fires
      0.1,  // 10 M activation
      2.1,  // 11 B below 2.2, the last *base* loss (0.1 was motivated): streak 1
      2.0,  // 12 B streak 2: fires
      1.0,  // 13 M activation
  };
  CHECK(run(policy, losses) == "BBBMBBBBBBMBBM");
  CHECK(policy.activation_steps() == Steps{3, 10, 13});
  CHECK(policy.activations() == 3);
  CHECK(policy.motivated_steps() == 3);
  CHECK(policy.step() == 14);
}

TEST_CASE("loss-decrease:1 + steps:3 runs three motivated steps per activation") {
  auto policy = make("loss-decrease:1", "steps:3");
  const std::vector<double> losses = {
      1.0,   // 0 B
      0.9,   // 1 B  streak 1: fires
      5.0,   // 2 M  activation 1
      0.1,   // 3 M
      0.05,  // 4 M
      0.95,  // 5 B  above 0.9, the last base loss: streak 0
      0.8,   // 6 B  fires
      1.0,   // 7 M  activation 2
      1.0,   // 8 M
      1.0,   // 9 M
      0.7,   // 10 B fires
      1.0,   // 11 M activation 3
      1.0,   // 12 M
  };
  CHECK(run(policy, losses) == "BBMMMBBMMMBMM");
  CHECK(policy.activation_steps() == Steps{2, 7, 11});
  CHECK(policy.motivated_steps() == 8);
}

TEST_CASE("while-improving stays motivated while the motivated loss strictly falls") {
  auto policy = make("loss-decrease:1", "while-improving");
  CHECK(policy.describe() == "loss-decrease:1 + while-improving");
  const std::vector<double> losses = {
      1.0,   // 0 B
      0.9,   // 1 B  fires
      2.0,   // 2 M  activation; the run's first motivated loss counts as improving
      1.8,   // 3 M  below 2.0: stay
      1.9,   // 4 M  up: this was the last one
      0.8,   // 5 B  fires
      1.85,  // 6 M  activation; below 1.9 (the previous activation's last loss): stay
      1.85,  // 7 M  equal: stop
      0.85,  // 8 B  streak 0
      0.7,   // 9 B  fires
      1.9,   // 10 M activation; above 1.85: one motivated step only
      0.6,   // 11 B fires
      1.0,   // 12 M activation
  };
  CHECK(run(policy, losses) == "BBMMMBMMBBMBM");
  CHECK(policy.activation_steps() == Steps{2, 6, 10, 12});
  CHECK(policy.motivated_steps() == 7);
}

TEST_CASE("plateau:P fires after P base steps without a new low of the smoothed loss") {
  auto policy = make("plateau:2", "steps:1");
  // Smoothed (0.9 ema + 0.1 loss): 1, 0.95 (lows), 1.055, 1.1495 (2 stale:
  // fires; the low restarts at 1.1495); a motivated step (ignored); 1.04455
  // (a low), 1.140095, 1.2260855 (2 stale: fires again).
  CHECK(run(policy, {1.0, 0.5, 2.0, 2.0, 9.0, 0.1, 2.0, 2.0, 9.0}) == "BBBBMBBBM");
  CHECK(policy.activation_steps() == Steps{4, 8});
  // A falling loss never stalls.
  auto falling = make("plateau:1", "steps:1");
  CHECK(run(falling, {5, 4, 3, 2, 1}) == "BBBBB");
}

TEST_CASE("always and never: the standalone models") {
  const std::vector<double> losses = {3, 2, 1, 2, 3, 2, 1};
  auto always = make("always", "steps:2");
  CHECK(always.describe() == "always");
  CHECK(run(always, losses) == "MMMMMMM");
  CHECK(always.activation_steps() == Steps{0});  // one activation, the whole run
  CHECK(always.motivated_steps() == 7);

  auto never = make("never", "while-improving");
  CHECK(never.describe() == "never");
  CHECK(run(never, losses) == "BBBBBBB");
  CHECK(never.activations() == 0);
  CHECK(never.motivated_steps() == 0);

  // The default spec is the paper's condition.
  CHECK(MotivationPolicy(PolicySpec{}, 10, 0).describe() == "loss-decrease:3 + steps:1");
}

TEST_CASE("random-rate:P fires on each candidate step with probability P") {
  constexpr int kSteps = 100000;
  const std::vector<double> flat(kSteps, 1.0);

  auto policy = make("random-rate:0.1", "steps:1", kSteps);
  run(policy, flat);
  // Binomial(100000, 0.1): sd ~ 95, so 5 sd is +-475.
  CHECK(std::abs(policy.activations() - 10000) < 475);
  CHECK(policy.motivated_steps() == policy.activations());

  // With longer activations only the steps outside them draw: activations
  // over candidate steps (base steps + activation starts) is still P. The
  // experiment script sets ablation A's P with this formula.
  auto longer = make("random-rate:0.2", "steps:4", kSteps);
  run(longer, flat);
  // 4 motivated steps each, save a last activation the run's end cut short.
  CHECK(longer.motivated_steps() <= 4 * longer.activations());
  CHECK(longer.motivated_steps() > 4 * longer.activations() - 4);
  const double candidates = kSteps - longer.motivated_steps() + longer.activations();
  CHECK(longer.activations() / candidates == doctest::Approx(0.2).epsilon(0.03));

  // The draws are a function of (seed, step): same seed, same steps.
  auto again = make("random-rate:0.1", "steps:1", kSteps);
  run(again, flat);
  CHECK(again.activation_steps() == policy.activation_steps());
  auto other_seed = make("random-rate:0.1", "steps:1", kSteps, 8);
  run(other_seed, flat);
  CHECK(other_seed.activation_steps() != policy.activation_steps());

  auto zero = make("random-rate:0", "steps:1", 100);
  CHECK(run(zero, std::vector<double>(100, 1.0)) == std::string(100, 'B'));
  auto one = make("random-rate:1", "steps:1", 100);
  CHECK(run(one, std::vector<double>(100, 1.0)) == std::string(100, 'M'));
  CHECK(one.activations() == 100);
}

TEST_CASE("random-count:N makes exactly N activations at distinct random steps") {
  auto policy = make("random-count:37", "steps:1", 1000);
  run(policy, std::vector<double>(1000, 1.0));
  const Steps& at = policy.activation_steps();
  REQUIRE(at.size() == 37);
  CHECK(policy.motivated_steps() == 37);
  for (size_t i = 0; i < at.size(); ++i) {
    CHECK(at[i] >= 0);
    CHECK(at[i] < 1000);
    if (i > 0) CHECK(at[i] > at[i - 1]);
  }

  // Uniform over the run: the mean of 500 of 1000 indices is 499.5 with an sd
  // of about 9; a draw stuck at one end would be hundreds away.
  auto half = make("random-count:500", "steps:1", 1000, 3);
  run(half, std::vector<double>(1000, 1.0));
  double sum = 0;
  for (int64_t s : half.activation_steps()) sum += static_cast<double>(s);
  CHECK(std::abs(sum / 500 - 499.5) < 45);

  auto other_seed = make("random-count:37", "steps:1", 1000, 8);
  run(other_seed, std::vector<double>(1000, 1.0));
  CHECK(other_seed.activation_steps() != at);

  auto none = make("random-count:0", "steps:1", 10);
  CHECK(run(none, std::vector<double>(10, 1.0)) == "BBBBBBBBBB");
}

TEST_CASE("random-count defers an index inside an activation to the step after it") {
  // N = total steps: the indices are 0..9 whatever the seed. Each activation
  // lasts 2 steps, so index 1 starts at 2, index 2 at 4, ...; the run has room
  // for 5 of the 10, the deferred rest is lost.
  auto policy = make("random-count:10", "steps:2", 10);
  CHECK(run(policy, std::vector<double>(10, 1.0)) == "MMMMMMMMMM");
  CHECK(policy.activation_steps() == Steps{0, 2, 4, 6, 8});

  auto all = make("random-count:6", "steps:1", 6);
  CHECK(run(all, std::vector<double>(6, 1.0)) == "MMMMMM");
  CHECK(all.activations() == 6);
}

TEST_CASE("state() resumes every policy exactly, also mid-activation") {
  constexpr int kSteps = 300;
  const std::vector<double> losses = noisy_losses(kSteps);
  const std::vector<PolicySpec> specs = {
      {"loss-decrease:2", "steps:3"}, {"loss-decrease:1", "while-improving"},
      {"random-rate:0.2", "steps:3"}, {"random-count:40", "steps:3"},
      {"always", "steps:1"},          {"never", "steps:1"},
      {"plateau:3", "steps:2"},
  };
  for (const PolicySpec& spec : specs) {
    CAPTURE(spec.trigger);
    CAPTURE(spec.duration);
    MotivationPolicy whole(spec, kSteps, 11);
    const std::string expected = run(whole, losses);

    // Cut at the first step that continues an activation begun earlier (the
    // hardest place to resume), or half way where there is none (never).
    size_t cut = expected.find("MM") == std::string::npos ? kSteps / 2 : expected.find("MM") + 1;
    if (spec.trigger == "loss-decrease:2") REQUIRE(cut < kSteps / 2);

    MotivationPolicy first(spec, kSteps, 11);
    const std::vector<double> head(losses.begin(), losses.begin() + static_cast<long>(cut));
    const std::vector<double> tail(losses.begin() + static_cast<long>(cut), losses.end());
    std::string roles = run(first, head);
    const std::vector<double> saved = first.state();
    for (double v : saved) CHECK(std::isfinite(v));  // JSON-safe

    MotivationPolicy resumed(spec, kSteps, 11);
    resumed.load_state(saved);
    CHECK(resumed.step() == static_cast<int64_t>(cut));
    roles += run(resumed, tail);
    CHECK(roles == expected);
    CHECK(resumed.activation_steps() == whole.activation_steps());
    CHECK(resumed.motivated_steps() == whole.motivated_steps());
    CHECK(resumed.state() == whole.state());
  }
}

TEST_CASE("load_state refuses a state it cannot continue") {
  auto policy = make("loss-decrease:2", "steps:1");
  run(policy, noisy_losses(50));
  const std::vector<double> saved = policy.state();

  auto other_trigger = make("random-rate:0.5", "steps:1");
  CHECK_THROWS_WITH_AS(other_trigger.load_state(saved),
                       "motivation policy state: saved for another trigger or duration than "
                       "'random-rate:0.5 + steps:1'",
                       Error);
  auto other_duration = make("loss-decrease:2", "while-improving");
  CHECK_THROWS_AS(other_duration.load_state(saved), Error);

  auto target = make("loss-decrease:2", "steps:1");
  CHECK_THROWS_AS(target.load_state({}), Error);
  CHECK_THROWS_AS(target.load_state({saved.begin(), saved.end() - 1}), Error);
  std::vector<double> longer = saved;
  longer.push_back(0);
  CHECK_THROWS_AS(target.load_state(longer), Error);
  std::vector<double> fractional_step = saved;
  fractional_step[3] = 2.5;
  CHECK_THROWS_AS(target.load_state(fractional_step), Error);
  // A refused state leaves the policy as it was.
  CHECK(target.step() == 0);
  target.load_state(saved);
  CHECK(target.step() == 50);
}

TEST_CASE("bad specs are one clear error naming the spec") {
  const auto trigger_error = [](const std::string& trigger, int64_t total = 10) {
    try {
      MotivationPolicy(PolicySpec{trigger, "steps:1"}, total, 0);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const auto duration_error = [](const std::string& duration) {
    try {
      MotivationPolicy(PolicySpec{"never", duration}, 10, 0);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string expected_triggers =
      ": unknown trigger; expected loss-decrease:K, plateau:P, random-rate:P, random-count:N, "
      "always, never";
  CHECK(trigger_error("loss-decrese:3") == "trigger 'loss-decrese:3'" + expected_triggers);
  CHECK(trigger_error("") == "trigger ''" + expected_triggers);
  CHECK(trigger_error("always:1") == "trigger 'always:1'" + expected_triggers);
  CHECK(trigger_error("loss-decrease") == "trigger 'loss-decrease'" + expected_triggers);
  for (const char* k : {"loss-decrease:0", "loss-decrease:-1", "loss-decrease:x",
                        "loss-decrease:2.5", "loss-decrease:"})
    CHECK(trigger_error(k) == "trigger '" + std::string(k) + "': K must be an integer >= 1");
  for (const char* p : {"random-rate:1.5", "random-rate:-0.1", "random-rate:nan",
                        "random-rate:inf", "random-rate:0.5x"})
    CHECK(trigger_error(p) == "trigger '" + std::string(p) + "': P must be a probability in [0, 1]");
  CHECK(trigger_error("random-count:-1") == "trigger 'random-count:-1': N must be an integer >= 0");
  CHECK(trigger_error("random-count:11") ==
        "trigger 'random-count:11': N must be at most the run's 10 steps");
  CHECK(trigger_error("random-count:10") == "no error");

  CHECK(duration_error("forever") ==
        "duration 'forever': unknown duration; expected steps:M, while-improving");
  CHECK(duration_error("while-improving:2") ==
        "duration 'while-improving:2': unknown duration; expected steps:M, while-improving");
  for (const char* m : {"steps:0", "steps:1.5", "steps:"})
    CHECK(duration_error(m) == "duration '" + std::string(m) + "': M must be an integer >= 1");
  CHECK(duration_error("steps") ==
        "duration 'steps': unknown duration; expected steps:M, while-improving");

  CHECK_THROWS_AS(MotivationPolicy(PolicySpec{}, -1, 0), Error);
}

namespace {

// The chain's levels as a string, one digit a step.
std::string run_chain(ChainPolicy& policy, const std::vector<double>& losses) {
  std::string levels;
  for (double loss : losses) {
    levels += static_cast<char>('0' + policy.next_level());
    policy.observe(loss);
  }
  return levels;
}

ChainPolicy make_chain(const std::string& triggers, const std::string& durations, size_t levels,
                       int64_t total_steps = 1000, uint64_t seed = 7) {
  return ChainPolicy(chain_policy_specs(triggers, durations, levels), levels, total_steps, seed);
}

}  // namespace

TEST_CASE("a chain of two is the pair's policy, step for step, for every trigger") {
  const std::vector<double> losses = noisy_losses(300);
  for (const char* trigger :
       {"loss-decrease:1", "loss-decrease:2", "random-rate:0.2", "random-count:30", "always",
        "never"})
    for (const char* duration : {"steps:1", "steps:3", "while-improving"}) {
      INFO(trigger, " + ", duration);
      MotivationPolicy pair = make(trigger, duration, 300);
      ChainPolicy chain = make_chain(trigger, duration, 2, 300);
      std::string expected = run(pair, losses);
      for (char& c : expected) c = c == 'M' ? '1' : '0';
      CHECK(run_chain(chain, losses) == expected);
      CHECK(chain.activation_steps() == pair.activation_steps());
      CHECK(chain.motivated_steps() == pair.motivated_steps());
    }
}

TEST_CASE("a chain of three: a level is motivated when the level below it fires") {
  // loss-decrease:1 + steps:1 for both levels above the base.
  ChainPolicy chain = make_chain("loss-decrease:1", "steps:1", 3);
  std::string levels, started;
  //                                     step: 0    1    2    3    4    5    6    7
  for (double loss : std::vector<double>{5.0, 4.0, 9.0, 3.0, 8.0, 7.0, 2.0, 1.0}) {
    levels += static_cast<char>('0' + chain.next_level());
    chain.observe(loss);
    started += chain.last_started_activation() ? 'a' : '.';
  }
  // 0-1: base steps; 4 < 5 fires level 1's policy. 2: level 1 (its first loss,
  // 9). 3: base, 3 < 4 fires again. 4: level 1, 8 < 9: level 2's policy fires,
  // but waits for level 1's. 5-6: base, 7 is not below 3; 2 < 7 fires level 1,
  // and with level 2's armed, step 7 climbs to level 2.
  CHECK(levels == "00101002");
  CHECK(started == "..a.a..a");
  CHECK(chain.policy(1).activation_steps() == std::vector<int64_t>{2, 4, 7});
  // Level 2's policy counts only the steps that reached level 1: 2, 4, 7.
  CHECK(chain.policy(2).step() == 3);
  CHECK(chain.policy(2).activation_steps() == std::vector<int64_t>{2});
  CHECK(chain.motivated_steps() == 3);
  CHECK(chain.activations() == 3);
}

TEST_CASE("a chain's specs: one for all levels or one per level; its state resumes exactly") {
  CHECK(chain_policy_specs("loss-decrease:1", "steps:1", 3).size() == 2);
  const auto specs = chain_policy_specs("loss-decrease:1,loss-decrease:3", "steps:2", 3);
  CHECK(specs[1].trigger == "loss-decrease:3");
  CHECK(specs[1].duration == "steps:2");
  CHECK_THROWS_WITH_AS(chain_policy_specs("loss-decrease:1,always,never", "steps:1", 3),
                       doctest::Contains("3 specs for 2 levels above the base"), Error);
  CHECK_THROWS_WITH_AS(chain_policy_specs("always", "steps:1,steps:2", 2),
                       doctest::Contains("2 specs for 1 level above the base"), Error);

  const std::vector<double> losses = noisy_losses(200);
  ChainPolicy whole = make_chain("loss-decrease:1,random-rate:0.3", "steps:2", 3, 200);
  const std::string all = run_chain(whole, losses);
  CHECK(all.find('2') != std::string::npos);
  ChainPolicy first = make_chain("loss-decrease:1,random-rate:0.3", "steps:2", 3, 200);
  const std::string head = run_chain(first, {losses.begin(), losses.begin() + 77});
  ChainPolicy second = make_chain("loss-decrease:1,random-rate:0.3", "steps:2", 3, 200);
  second.load_state(first.state());
  CHECK(head + run_chain(second, {losses.begin() + 77, losses.end()}) == all);
  std::vector<double> truncated = first.state();
  truncated.pop_back();
  CHECK_THROWS_AS(second.load_state(truncated), Error);
}
