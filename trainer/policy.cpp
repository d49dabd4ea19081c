// The motivation policy (policy.h). The exact rules, where the paper leaves
// room for choice:
//
// * A step either continues the current activation, starts a new one, or
//   trains the base. "Candidate" steps below are the ones not continuing an
//   activation; only they can start one.
// * plateau:P also looks at base steps only. Their losses are smoothed with an
//   exponential moving average (ema = 0.9 ema + 0.1 loss, the first loss as
//   it is); a base step whose average is strictly below the lowest so far is
//   an improvement and resets the count of stale base steps, any other adds
//   one. When P base steps in a row brought no improvement the next step
//   starts an activation, the count restarts from 0 and the lowest average
//   becomes the current one, so the next activation needs P more stale steps.
// * loss-decrease:K looks at base steps only. After each base step the streak
//   grows when its loss is strictly below the previous base step's loss and
//   drops to 0 otherwise (the first base step has nothing to compare with:
//   streak 0). When the streak reaches K the next step starts an activation and
//   the streak restarts from 0. Motivated steps neither break nor extend the
//   streak, and the previous base loss survives an activation: the first base
//   step after it is compared with the last base step before it.
// * random-rate:P draws one uniform number per candidate step from Philox keyed
//   by (seed, step index); below P, that step starts an activation. Steps
//   inside an activation draw nothing, which changes no other step's draw.
// * random-count:N draws N distinct indices in [0, total_steps) at
//   construction. Activation i starts at the first candidate step at or after
//   index i: an index inside an ongoing activation is deferred to the step
//   after it ends, so with steps:1 every activation starts exactly at its
//   index. Deferred activations the run has no room left for are lost.
// * always is one activation at step 0 that lasts the whole run (the duration
//   does not apply); never has no activations.
// * steps:M: an activation is exactly M motivated steps (cut short only by the
//   end of the run).
// * while-improving: after each motivated step the activation goes on while its
//   loss is strictly below the previous motivated step's loss, which may belong
//   to an earlier activation (the motivated model's own loss curve). The very
//   first motivated step of a run has no predecessor and counts as improving.
#include "trainer/policy.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <unordered_set>

#include "engine/error.h"
#include "kernels/philox.h"

namespace motive {

namespace {

enum class Trigger { LossDecrease, RandomRate, RandomCount, Always, Never, Plateau };
enum class Duration { Steps, WhileImproving };

// Philox keys of the policy's two random streams, so they are independent of
// every other stream drawn from the same run seed (data order, dropout, ...).
constexpr uint64_t kRateStream = 0x706f6c6963792d72ull;   // "policy-r"
constexpr uint64_t kCountStream = 0x706f6c6963792d63ull;  // "policy-c"

// Bumped when the layout of state() changes, so an old checkpoint is refused
// with a clear message instead of being misread.
constexpr double kStateVersion = 2;
// plateau:P's smoothing: ema = kPlateauDecay ema + (1 - kPlateauDecay) loss.
constexpr double kPlateauDecay = 0.9;

// Parses all of `text` as a T (integer or double); false on any leftover.
template <class T>
bool parse_number(const std::string& text, T& out) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end && !text.empty();
}

// Splits "name:arg" into its name and argument; `has_arg` tells whether the
// colon was there (so "always:" is not mistaken for "always").
void split_spec(const std::string& spec, std::string& name, std::string& arg, bool& has_arg) {
  const auto colon = spec.find(':');
  has_arg = colon != std::string::npos;
  name = spec.substr(0, colon);
  arg = has_arg ? spec.substr(colon + 1) : std::string();
}

// A uniform 64-bit integer, the `i`-th of stream `key`.
uint64_t philox_u64(uint64_t key, uint64_t i) {
  const Philox4 r = philox4x32(key, i);
  return static_cast<uint64_t>(r.v[0]) << 32 | r.v[1];
}

}  // namespace

struct MotivationPolicy::Impl {
  // ---- the spec, fixed at construction ----
  std::string trigger_spec, duration_spec;
  Trigger trigger = Trigger::Never;
  Duration duration = Duration::Steps;
  int64_t k = 0;       // loss-decrease:K, plateau:P
  double p = 0;        // random-rate:P
  int64_t m = 1;       // steps:M
  int64_t total_steps = 0;
  uint64_t seed = 0;

  // ---- mutable state (everything state() carries) ----
  int64_t step = 0;
  int64_t motivated_steps = 0;
  int64_t streak = 0;               // loss-decrease: strict decreases in a row
  bool has_prev_base = false;       // previous base loss, when there is one
  double prev_base_loss = 0;
  bool armed = false;               // loss-decrease fired: the next step activates
  bool continuing = false;          // the next step continues the current activation
  int64_t done_in_activation = 0;   // motivated steps run in the current activation
  bool has_prev_motivated = false;  // previous motivated loss, when there is one
  double prev_motivated_loss = 0;
  double ema = 0;                   // plateau: smoothed base loss (valid with has_prev_base)
  double best_ema = 0;              // plateau: its lowest value since the last activation
  std::vector<int64_t> activation_steps;
  std::vector<int64_t> count_indices;  // random-count: sorted activation indices

  void parse_trigger(const std::string& spec);
  void parse_duration(const std::string& spec);
  void draw_count_indices(int64_t n);
  bool starts_activation() const;  // whether candidate step `step` starts one
};

void MotivationPolicy::Impl::parse_trigger(const std::string& spec) {
  trigger_spec = spec;
  std::string name, arg;
  bool has_arg = false;
  split_spec(spec, name, arg, has_arg);
  const auto bad = [&](const std::string& why) { fail("trigger '", spec, "': ", why); };
  if ((name == "loss-decrease" || name == "plateau") && has_arg) {
    if (!parse_number(arg, k) || k < 1)
      bad(name == "plateau" ? "P must be an integer >= 1" : "K must be an integer >= 1");
    trigger = name == "plateau" ? Trigger::Plateau : Trigger::LossDecrease;
  } else if (name == "random-rate" && has_arg) {
    // from_chars also accepts "nan" and "inf"; the range test rejects both.
    if (!parse_number(arg, p) || !(p >= 0 && p <= 1)) bad("P must be a probability in [0, 1]");
    trigger = Trigger::RandomRate;
  } else if (name == "random-count" && has_arg) {
    int64_t n = 0;
    if (!parse_number(arg, n) || n < 0) bad("N must be an integer >= 0");
    if (n > total_steps)
      bad("N must be at most the run's " + std::to_string(total_steps) + " steps");
    trigger = Trigger::RandomCount;
    draw_count_indices(n);
  } else if (spec == "always") {
    trigger = Trigger::Always;
  } else if (spec == "never") {
    trigger = Trigger::Never;
  } else {
    bad("unknown trigger; expected loss-decrease:K, plateau:P, random-rate:P, random-count:N, "
        "always, never");
  }
}

void MotivationPolicy::Impl::parse_duration(const std::string& spec) {
  duration_spec = spec;
  std::string name, arg;
  bool has_arg = false;
  split_spec(spec, name, arg, has_arg);
  if (name == "steps" && has_arg) {
    if (!parse_number(arg, m) || m < 1) fail("duration '", spec, "': M must be an integer >= 1");
    duration = Duration::Steps;
  } else if (spec == "while-improving") {
    duration = Duration::WhileImproving;
  } else {
    fail("duration '", spec, "': unknown duration; expected steps:M, while-improving");
  }
}

// Floyd's algorithm: n distinct indices, uniform over all n-subsets of
// [0, total_steps), in O(n) draws whatever the ratio n / total_steps. The
// modulo's bias is below total_steps / 2^64, far under anything measurable.
void MotivationPolicy::Impl::draw_count_indices(int64_t n) {
  std::unordered_set<int64_t> chosen;
  chosen.reserve(static_cast<size_t>(n));
  for (int64_t j = total_steps - n; j < total_steps; ++j) {
    const auto t = static_cast<int64_t>(philox_u64(kCountStream ^ seed, static_cast<uint64_t>(j)) %
                                        static_cast<uint64_t>(j + 1));
    chosen.insert(chosen.count(t) ? j : t);
  }
  count_indices.assign(chosen.begin(), chosen.end());
  std::sort(count_indices.begin(), count_indices.end());
}

bool MotivationPolicy::Impl::starts_activation() const {
  switch (trigger) {
    case Trigger::LossDecrease:
    case Trigger::Plateau:
      return armed;
    case Trigger::RandomRate: {
      // 32 random bits: P has a resolution of 2^-32, and P = 1 always fires.
      const uint32_t bits = philox4x32(kRateStream ^ seed, static_cast<uint64_t>(step)).v[0];
      return static_cast<double>(bits) * 0x1p-32 < p;
    }
    case Trigger::RandomCount: {
      const size_t started = activation_steps.size();
      return started < count_indices.size() && count_indices[started] <= step;
    }
    case Trigger::Always:
      return step == 0;
    case Trigger::Never:
      return false;
  }
  return false;
}

MotivationPolicy::MotivationPolicy(const PolicySpec& spec, int64_t total_steps, uint64_t seed)
    : impl_(std::make_unique<Impl>()) {
  MOTIVE_CHECK(total_steps >= 0, "motivation policy: total_steps must be >= 0, got ",
               total_steps);
  impl_->total_steps = total_steps;
  impl_->seed = seed;
  impl_->parse_trigger(spec.trigger);
  impl_->parse_duration(spec.duration);
}

MotivationPolicy::~MotivationPolicy() = default;
MotivationPolicy::MotivationPolicy(MotivationPolicy&&) noexcept = default;
MotivationPolicy& MotivationPolicy::operator=(MotivationPolicy&&) noexcept = default;

Role MotivationPolicy::next_role() const {
  return impl_->continuing || impl_->starts_activation() ? Role::Motivated : Role::Base;
}

void MotivationPolicy::observe(double loss) {
  Impl& s = *impl_;
  if (next_role() == Role::Motivated) {
    if (!s.continuing) {  // this step started an activation
      s.activation_steps.push_back(s.step);
      s.done_in_activation = 0;
      s.armed = false;
    }
    ++s.done_in_activation;
    ++s.motivated_steps;
    const bool improving = !s.has_prev_motivated || loss < s.prev_motivated_loss;
    if (s.trigger == Trigger::Always)
      s.continuing = true;
    else if (s.duration == Duration::Steps)
      s.continuing = s.done_in_activation < s.m;
    else
      s.continuing = improving;
    s.has_prev_motivated = true;
    s.prev_motivated_loss = loss;
  } else if (s.trigger == Trigger::LossDecrease) {
    s.streak = s.has_prev_base && loss < s.prev_base_loss ? s.streak + 1 : 0;
    s.has_prev_base = true;
    s.prev_base_loss = loss;
    if (s.streak >= s.k) {
      s.armed = true;
      s.streak = 0;
    }
  } else if (s.trigger == Trigger::Plateau) {
    // `streak` counts the stale base steps here.
    s.ema = s.has_prev_base ? kPlateauDecay * s.ema + (1 - kPlateauDecay) * loss : loss;
    const bool improved = !s.has_prev_base || s.ema < s.best_ema;
    s.has_prev_base = true;
    if (improved) {
      s.best_ema = s.ema;
      s.streak = 0;
    } else if (++s.streak >= s.k) {
      s.armed = true;
      s.streak = 0;
      s.best_ema = s.ema;
    }
  }
  ++s.step;
}

int64_t MotivationPolicy::step() const { return impl_->step; }
int64_t MotivationPolicy::activations() const {
  return static_cast<int64_t>(impl_->activation_steps.size());
}
int64_t MotivationPolicy::motivated_steps() const { return impl_->motivated_steps; }
const std::vector<int64_t>& MotivationPolicy::activation_steps() const {
  return impl_->activation_steps;
}

std::string MotivationPolicy::describe() const {
  const Impl& s = *impl_;
  // always / never have no activations with a length, so the duration is noise.
  if (s.trigger == Trigger::Always || s.trigger == Trigger::Never) return s.trigger_spec;
  return s.trigger_spec + " + " + s.duration_spec;
}

// Layout: version, trigger kind, duration kind, the scalars in the order
// below, then two length-prefixed lists (activation steps, random-count
// indices). Every value is a finite double (booleans as 0/1, step indices
// exact below 2^53), so the state survives JSON as well as safetensors.
std::vector<double> MotivationPolicy::state() const {
  const Impl& s = *impl_;
  std::vector<double> out = {kStateVersion,
                             static_cast<double>(s.trigger),
                             static_cast<double>(s.duration),
                             static_cast<double>(s.step),
                             static_cast<double>(s.motivated_steps),
                             static_cast<double>(s.streak),
                             s.has_prev_base ? 1.0 : 0.0,
                             s.prev_base_loss,
                             s.armed ? 1.0 : 0.0,
                             s.continuing ? 1.0 : 0.0,
                             static_cast<double>(s.done_in_activation),
                             s.has_prev_motivated ? 1.0 : 0.0,
                             s.prev_motivated_loss,
                             s.ema,
                             s.best_ema};
  for (const auto* list : {&s.activation_steps, &s.count_indices}) {
    out.push_back(static_cast<double>(list->size()));
    for (int64_t v : *list) out.push_back(static_cast<double>(v));
  }
  return out;
}

void MotivationPolicy::load_state(const std::vector<double>& state) {
  size_t pos = 0;
  const auto next = [&]() {
    MOTIVE_CHECK(pos < state.size(), "motivation policy state: truncated (", state.size(),
                 " values)");
    return state[pos++];
  };
  // Counts, indices and flags must be whole numbers in range; a corrupt
  // checkpoint fails here rather than steering the run somewhere odd.
  const auto next_int = [&](const char* what, double lo, double hi) {
    const double v = next();
    MOTIVE_CHECK(v == std::floor(v) && v >= lo && v <= hi, "motivation policy state: bad ", what,
                 " ", v);
    return static_cast<int64_t>(v);
  };
  const auto next_loss = [&](const char* what) {
    const double v = next();
    MOTIVE_CHECK(std::isfinite(v), "motivation policy state: bad ", what, " ", v);
    return v;
  };
  constexpr double kMax = 9007199254740992.0;  // 2^53: exact in a double

  Impl n = *impl_;  // the spec stays; only a fully valid state replaces the old one
  MOTIVE_CHECK(next() == kStateVersion, "motivation policy state: unknown version ", state[0]);
  MOTIVE_CHECK(next_int("trigger", 0, 5) == static_cast<int64_t>(n.trigger) &&
                   next_int("duration", 0, 1) == static_cast<int64_t>(n.duration),
               "motivation policy state: saved for another trigger or duration than '",
               describe(), "'");
  n.step = next_int("step", 0, kMax);
  n.motivated_steps = next_int("motivated steps", 0, static_cast<double>(n.step));
  n.streak = next_int("streak", 0, kMax);
  n.has_prev_base = next_int("flag", 0, 1) != 0;
  n.prev_base_loss = next_loss("previous base loss");
  n.armed = next_int("flag", 0, 1) != 0;
  n.continuing = next_int("flag", 0, 1) != 0;
  n.done_in_activation = next_int("activation length", 0, kMax);
  n.has_prev_motivated = next_int("flag", 0, 1) != 0;
  n.prev_motivated_loss = next_loss("previous motivated loss");
  n.ema = next_loss("smoothed base loss");
  n.best_ema = next_loss("lowest smoothed base loss");
  for (auto* list : {&n.activation_steps, &n.count_indices}) {
    const int64_t size = next_int("list length", 0, static_cast<double>(state.size()));
    list->resize(static_cast<size_t>(size));
    for (int64_t& v : *list) v = next_int("step index", 0, kMax);
  }
  MOTIVE_CHECK(pos == state.size(), "motivation policy state: ", state.size() - pos,
               " values too many");
  *impl_ = std::move(n);
}

ChainPolicy::ChainPolicy(const std::vector<PolicySpec>& specs, size_t levels,
                         int64_t total_steps, uint64_t seed)
    : levels_(levels) {
  MOTIVE_CHECK(levels >= 1 && specs.size() == std::max<size_t>(levels - 1, 1),
               "motivation policy: ", specs.size(), " policies for a chain of ", levels,
               " models");
  for (size_t i = 0; i < specs.size(); ++i)
    policies_.emplace_back(specs[i], total_steps, seed ^ (static_cast<uint64_t>(i) << 48));
}

size_t ChainPolicy::next_level() const {
  size_t level = 0;
  while (level + 1 < levels_ && policies_[level].next_role() == Role::Motivated) ++level;
  return level;
}

void ChainPolicy::observe(double loss) {
  const size_t level = next_level();
  const int64_t before = level > 0 ? policy(level).activations() : 0;
  for (size_t i = 0; i <= level && i < policies_.size(); ++i) policies_[i].observe(loss);
  last_started_ = level > 0 && policy(level).activations() > before;
}

std::string ChainPolicy::describe() const {
  std::string out;
  for (const MotivationPolicy& p : policies_) {
    const std::string d = p.describe();
    if (out.empty() || out.find(d) == std::string::npos) out += (out.empty() ? "" : ", ") + d;
  }
  return out;
}

std::vector<double> ChainPolicy::state() const {
  std::vector<double> out;
  for (const MotivationPolicy& p : policies_) {
    const std::vector<double> s = p.state();
    out.push_back(static_cast<double>(s.size()));
    out.insert(out.end(), s.begin(), s.end());
  }
  return out;
}

void ChainPolicy::load_state(const std::vector<double>& state) {
  size_t pos = 0;
  for (MotivationPolicy& p : policies_) {
    MOTIVE_CHECK(pos < state.size(), "motivation policy state: truncated (", state.size(),
                 " values)");
    const double n = state[pos++];
    MOTIVE_CHECK(n == std::floor(n) && n >= 0 && n <= static_cast<double>(state.size() - pos),
                 "motivation policy state: bad length ", n);
    const auto begin = state.begin() + static_cast<std::ptrdiff_t>(pos);
    p.load_state(std::vector<double>(begin, begin + static_cast<std::ptrdiff_t>(n)));
    pos += static_cast<size_t>(n);
  }
  MOTIVE_CHECK(pos == state.size(), "motivation policy state: ", state.size() - pos,
               " values too many");
}

namespace {

std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t comma; (comma = list.find(',', start)) != std::string::npos; start = comma + 1)
    out.push_back(list.substr(start, comma - start));
  out.push_back(list.substr(start));
  return out;
}

}  // namespace

std::vector<PolicySpec> chain_policy_specs(const std::string& triggers,
                                           const std::string& durations, size_t levels) {
  const size_t n = std::max<size_t>(levels, 2) - 1;
  const std::vector<std::string> t = split_list(triggers), d = split_list(durations);
  for (const auto* list : {&t, &d})
    MOTIVE_CHECK(list->size() == 1 || list->size() == n, "'",
                 list == &t ? triggers : durations, "': ", list->size(),
                 " specs for ", n, " level", n == 1 ? "" : "s",
                 " above the base (give one for all, or one per level)");
  std::vector<PolicySpec> specs;
  for (size_t i = 0; i < n; ++i)
    specs.push_back({t[t.size() == 1 ? 0 : i], d[d.size() == 1 ? 0 : i]});
  return specs;
}

}  // namespace motive
