#include "trainer/run_plan.h"

#include <cmath>
#include <tuple>

#include "engine/error.h"

namespace motive {
namespace {

// The largest batch size up to `wanted` that divides `images`.
int64_t divisor_up_to(int64_t images, int64_t wanted) {
  for (int64_t d = wanted; d > 1; --d)
    if (images % d == 0) return d;
  return 1;
}

}  // namespace

RunPlan::RunPlan(const RunConfig& config, int64_t train_images)
    : images_(train_images), epochs_(config.epochs) {
  MOTIVE_CHECK(images_ > 0, "the training split of ", config.data, " is empty");
  // Changes from step 0 (a resume of a run that stopped before its first
  // checkpoint) make the plan itself: that run is the run started with them.
  const RunConfig first = config.at_step(0);
  planned_steps_ = epochs_ * per_epoch(first.batch_size);
  // The spec as the run gives it; a run too short for it is told so in its
  // own terms, not the schedule's parameters.
  const auto schedule = [&](double lr) -> std::shared_ptr<LRSchedule> {
    try {
      return make_schedule(config.schedule, lr, planned_steps_);
    } catch (const Error&) {
      // A spec that is bad whatever the run's length throws its own error here.
      make_schedule(config.schedule, lr, int64_t{1} << 40);
      fail("the run has only ", planned_steps_, " steps (", epochs_,
           epochs_ == 1 ? " epoch" : " epochs", " of ", per_epoch(first.batch_size),
           " batches of ", first.batch_size,
           "), fewer than --schedule ", config.schedule,
           " needs: give --schedule constant, or more steps (more data with --limit-train, more "
           "--epochs or a smaller --batch-size)");
    }
  };
  segments_.push_back({0, first.batch_size, 0, 0, 0.0, 1.0, schedule(first.lr)});
  for (const RunChange& change : config.changes) {
    if (change.from_step == 0) continue;
    const Segment& last = segments_.back();
    const int64_t end = last.from_step + steps_left(last);
    MOTIVE_CHECK(change.from_step >= last.from_step && change.from_step <= end, "a change at step ",
                 change.from_step, " is outside the run's steps ", last.from_step, " to ", end);
    const int64_t steps = change.from_step - last.from_step;
    Segment next = last;
    next.from_step = change.from_step;
    std::tie(next.epoch, next.image) = advance(last, steps);
    next.clock = last.clock + static_cast<double>(steps) * last.rate;
    if (change.batch_size && *change.batch_size != last.batch_size) {
      const int64_t size = *change.batch_size;
      MOTIVE_CHECK(next.image % size == 0, "--batch-size ", size, ": at step ", next.from_step,
                   " the run stands ", next.image, " images into epoch ", next.epoch + 1,
                   ", not a whole number of batches of ", size, "; give a size that divides ",
                   next.image, " (e.g. ", divisor_up_to(next.image, size), ")");
      next.batch_size = size;
      const int64_t left = steps_left(next);
      next.rate = left > 0 ? (static_cast<double>(planned_steps_) - next.clock) / left : 1.0;
    }
    if (change.lr) next.schedule = schedule(*change.lr);
    segments_.push_back(std::move(next));
  }
  total_steps_ = segments_.back().from_step + steps_left(segments_.back());
}

int64_t RunPlan::per_epoch(int64_t batch_size) const {
  return (images_ + batch_size - 1) / batch_size;
}

const RunPlan::Segment& RunPlan::segment(int64_t step) const {
  for (size_t i = segments_.size(); i-- > 1;)
    if (segments_[i].from_step <= step) return segments_[i];
  return segments_.front();
}

int64_t RunPlan::steps_left(const Segment& s) const {
  if (s.epoch >= epochs_) return 0;
  const int64_t per = per_epoch(s.batch_size);
  return per - s.image / s.batch_size + (epochs_ - s.epoch - 1) * per;
}

std::pair<int64_t, int64_t> RunPlan::advance(const Segment& s, int64_t steps) const {
  const int64_t per = per_epoch(s.batch_size);
  const int64_t left_in_epoch = per - s.image / s.batch_size;
  if (steps < left_in_epoch) return {s.epoch, s.image + steps * s.batch_size};
  steps -= left_in_epoch;
  return {s.epoch + 1 + steps / per, steps % per * s.batch_size};
}

LoaderPosition RunPlan::position(int64_t step) const {
  const Segment& s = segment(step);
  const auto [epoch, image] = advance(s, step - s.from_step);
  return {epoch, image / s.batch_size};
}

double RunPlan::lr_at(int64_t step) const {
  const Segment& s = segment(step);
  const double clock = s.clock + static_cast<double>(step - s.from_step) * s.rate;
  return s.schedule->lr_at(std::llround(clock));
}

}  // namespace motive
