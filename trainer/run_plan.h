// Where each step of a run falls on its data, and its learning rate, under
// the changes its resumes made (RunConfig::changes).
//
// Without changes: epochs x ceil(images / batch_size) steps, epoch e's batch
// b at step e * steps_per_epoch + b, and the schedule's rate at the step.
//
// Changes from step 0 (a run resumed before its first checkpoint) are part
// of the plan: the run is then the run started with those settings.
//
// A change of --lr at step S: from S on, the rates are those of the same
// schedule with the new base rate (onecycle: peak).
//
// A change of --batch-size at step S: the epoch's shuffled order continues at
// the image where step S stood (so the new size must divide the images the
// epoch has used; every image is still seen once per epoch), and the run's
// remaining steps change. The schedule keeps its plan: it runs on a clock
// that counts the first planned steps, and from S on every step advances it
// by (planned steps left) / (steps left), so the rate continues from where it
// was and reaches the schedule's end with the run's last step (the clock is
// rounded to a whole step for the schedule). The policy's random-count
// activations stay drawn over the planned steps (planned_steps()).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "data/loader.h"
#include "engine/schedule.h"
#include "trainer/run_config.h"

namespace motive {

class RunPlan {
 public:
  // Throws motive::Error for a change that cannot apply (a batch size that
  // does not divide the images its epoch has used, a step past the run's
  // end), and for a schedule the run is too short for, saying what to change.
  RunPlan(const RunConfig& config, int64_t train_images);

  int64_t total_steps() const { return total_steps_; }
  // The steps of the run as first planned, before any batch-size change
  // after step 0.
  int64_t planned_steps() const { return planned_steps_; }
  // The batch step `step` trains on, in batches of its batch size.
  LoaderPosition position(int64_t step) const;
  // The batch size of step `step`.
  int64_t batch_size(int64_t step) const { return segment(step).batch_size; }
  double lr_at(int64_t step) const;

 private:
  // Steps from `from_step` on, until the next change.
  struct Segment {
    int64_t from_step;
    int64_t batch_size;
    int64_t epoch, image;  // where from_step stands: an image of an epoch's order
    double clock, rate;    // the schedule's step at from_step, and per step since
    std::shared_ptr<LRSchedule> schedule;
  };
  const Segment& segment(int64_t step) const;
  // Where `steps` steps after the start of `s` stand ({epoch, image}).
  std::pair<int64_t, int64_t> advance(const Segment& s, int64_t steps) const;
  // The steps left from where `s` starts to the end of the run.
  int64_t steps_left(const Segment& s) const;
  int64_t per_epoch(int64_t batch_size) const;

  int64_t images_, epochs_;
  int64_t planned_steps_ = 0, total_steps_ = 0;
  std::vector<Segment> segments_;
};

}  // namespace motive
