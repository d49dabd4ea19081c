#include "engine/schedule.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <vector>

#include "engine/error.h"

namespace motive {
namespace {

constexpr double kPi = 3.14159265358979323846;

void check_rate(const char* who, const char* what, double v) {
  MOTIVE_CHECK(std::isfinite(v) && v >= 0, who, ": ", what, " ", v, " must be finite and >= 0");
}

// From `start` at pct 0 to `end` at pct 1 along half a cosine: PyTorch's
// OneCycleLR._annealing_cos, also the usual cosine decay.
double anneal_cos(double start, double end, double pct) {
  return end + (start - end) / 2.0 * (std::cos(kPi * pct) + 1.0);
}

}  // namespace

double LRSchedule::lr_at(int64_t step) const {
  MOTIVE_CHECK(step >= 0, "lr schedule: step ", step, " must be >= 0");
  return compute(step);
}

// ---- constant ----

ConstantLR::ConstantLR(double lr) : lr_(lr) { check_rate("ConstantLR", "lr", lr); }

double ConstantLR::compute(int64_t) const { return lr_; }

// ---- step ----

StepLR::StepLR(double base_lr, int64_t step_size, double gamma)
    : base_lr_(base_lr), step_size_(step_size), gamma_(gamma) {
  check_rate("StepLR", "base lr", base_lr);
  MOTIVE_CHECK(step_size >= 1, "StepLR: step_size ", step_size, " must be >= 1");
  MOTIVE_CHECK(std::isfinite(gamma) && gamma > 0, "StepLR: gamma ", gamma, " must be > 0");
}

double StepLR::compute(int64_t step) const {
  return base_lr_ * std::pow(gamma_, static_cast<double>(step / step_size_));
}

// ---- cosine with warm-up ----

CosineLR::CosineLR(double base_lr, int64_t total_steps, int64_t warmup_steps, double min_lr,
                   double warmup_start_factor)
    : base_lr_(base_lr),
      total_steps_(total_steps),
      warmup_steps_(warmup_steps),
      min_lr_(min_lr),
      warmup_start_factor_(warmup_start_factor) {
  check_rate("CosineLR", "base lr", base_lr);
  check_rate("CosineLR", "min_lr", min_lr);
  MOTIVE_CHECK(warmup_steps >= 0 && warmup_steps < total_steps, "CosineLR: warmup_steps ",
               warmup_steps, " must lie in [0, total_steps = ", total_steps, ")");
  MOTIVE_CHECK(warmup_start_factor >= 0 && warmup_start_factor <= 1,
               "CosineLR: warmup_start_factor ", warmup_start_factor, " must lie in [0, 1]");
}

double CosineLR::compute(int64_t step) const {
  if (step < warmup_steps_) {
    const double ramp = static_cast<double>(step) / static_cast<double>(warmup_steps_);
    return base_lr_ * (warmup_start_factor_ + (1.0 - warmup_start_factor_) * ramp);
  }
  const double progress = static_cast<double>(std::min(step, total_steps_) - warmup_steps_) /
                          static_cast<double>(total_steps_ - warmup_steps_);
  return anneal_cos(base_lr_, min_lr_, progress);
}

// ---- one-cycle ----

OneCycleLR::OneCycleLR(int64_t total_steps, double max_lr, double pct_start, double div_factor,
                       double final_div_factor)
    : total_steps_(total_steps),
      max_lr_(max_lr),
      initial_lr_(max_lr / div_factor),
      min_lr_(max_lr / div_factor / final_div_factor),
      peak_step_(pct_start * static_cast<double>(total_steps) - 1.0) {
  check_rate("OneCycleLR", "max_lr", max_lr);
  MOTIVE_CHECK(std::isfinite(div_factor) && div_factor > 0 && std::isfinite(final_div_factor) &&
                   final_div_factor > 0,
               "OneCycleLR: div_factor ", div_factor, " and final_div_factor ", final_div_factor,
               " must be > 0");
  // Both phases need a positive length, or PyTorch's formulas divide by zero.
  MOTIVE_CHECK(pct_start < 1 && peak_step_ > 0, "OneCycleLR: pct_start ", pct_start,
               " with total_steps ", total_steps,
               " leaves an empty phase (need pct_start < 1 and pct_start * total_steps > 1)");
}

double OneCycleLR::compute(int64_t step) const {
  const double s = static_cast<double>(std::min(step, total_steps_ - 1));
  if (s <= peak_step_) return anneal_cos(initial_lr_, max_lr_, s / peak_step_);
  const double last = static_cast<double>(total_steps_ - 1);
  return anneal_cos(max_lr_, min_lr_, (s - peak_step_) / (last - peak_step_));
}

// ---- spec strings ----

namespace {

// A required argument's default.
constexpr double kRequired = std::numeric_limits<double>::quiet_NaN();

struct Kind {
  const char* name;
  std::vector<std::pair<const char*, double>> args;  // positional order, defaults
  std::function<std::unique_ptr<LRSchedule>(const std::vector<double>& args)> make;
};

int64_t to_count(const char* what, double v) {
  MOTIVE_CHECK(v == std::floor(v) && std::fabs(v) < 9e15, what, " ", v, " must be an integer");
  return static_cast<int64_t>(v);
}

double parse_number(const std::string& spec, const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  MOTIVE_CHECK(!text.empty() && end == text.c_str() + text.size() && std::isfinite(v),
               "schedule '", spec, "': '", text, "' is not a number");
  return v;
}

std::vector<std::string> split_spec(const std::string& spec) {
  std::vector<std::string> tokens(1);
  for (char c : spec) {
    if (c == ':' || c == ',') {
      tokens.emplace_back();
    } else {
      tokens.back() += c;
    }
  }
  return tokens;
}

}  // namespace

std::unique_ptr<LRSchedule> make_schedule(const std::string& spec, double base_lr,
                                          int64_t total_steps) {
  const std::vector<Kind> kinds = {
      {"constant", {}, [&](const auto&) { return std::make_unique<ConstantLR>(base_lr); }},
      {"step",
       {{"step_size", kRequired}, {"gamma", 0.1}},
       [&](const auto& a) {
         return std::make_unique<StepLR>(base_lr, to_count("step_size", a[0]), a[1]);
       }},
      {"cosine",
       {{"warmup", 0}, {"min_lr", 0}, {"warmup_start", 0}},
       [&](const auto& a) {
         return std::make_unique<CosineLR>(base_lr, total_steps, to_count("warmup", a[0]), a[1],
                                           a[2]);
       }},
      {"onecycle",
       {{"pct_start", 0.3}, {"div_factor", 25}, {"final_div_factor", 1e4}},
       [&](const auto& a) {
         return std::make_unique<OneCycleLR>(total_steps, base_lr, a[0], a[1], a[2]);
       }},
  };

  const std::vector<std::string> tokens = split_spec(spec);
  const auto kind = std::find_if(kinds.begin(), kinds.end(),
                                 [&](const Kind& k) { return tokens[0] == k.name; });
  MOTIVE_CHECK(kind != kinds.end(), "schedule '", spec, "': unknown schedule '", tokens[0],
               "' (constant, step, cosine, onecycle)");

  std::vector<double> values;
  std::vector<bool> given(kind->args.size(), false);
  for (const auto& arg : kind->args) values.push_back(arg.second);
  size_t positional = 0;
  bool keyed = false;
  for (size_t t = 1; t < tokens.size(); ++t) {
    const std::string& token = tokens[t];
    const size_t eq = token.find('=');
    size_t slot;
    if (eq == std::string::npos) {
      MOTIVE_CHECK(!keyed, "schedule '", spec, "': positional argument '", token,
                   "' after a key=value one");
      slot = positional++;
      MOTIVE_CHECK(slot < kind->args.size(), "schedule '", spec, "': too many arguments for '",
                   kind->name, "'");
    } else {
      keyed = true;
      const std::string key = token.substr(0, eq);
      const auto found = std::find_if(kind->args.begin(), kind->args.end(),
                                      [&](const auto& a) { return key == a.first; });
      MOTIVE_CHECK(found != kind->args.end(), "schedule '", spec, "': '", kind->name,
                   "' has no argument '", key, "'");
      slot = static_cast<size_t>(found - kind->args.begin());
    }
    MOTIVE_CHECK(!given[slot], "schedule '", spec, "': '", kind->args[slot].first,
                 "' given twice");
    given[slot] = true;
    values[slot] = parse_number(spec, eq == std::string::npos ? token : token.substr(eq + 1));
  }
  for (size_t a = 0; a < values.size(); ++a) {
    MOTIVE_CHECK(!std::isnan(values[a]), "schedule '", spec, "': '", kind->name, "' needs ",
                 kind->args[a].first);
  }
  try {
    return kind->make(values);
  } catch (const Error& e) {
    fail("schedule '", spec, "': ", e.what());
  }
}

}  // namespace motive
