// Every setting of a training run, resolved (no "auto", no defaults left to
// guess), as `trainer train` writes it to RUN/config.json. A resumed run, an
// export and a reference comparison read the run back from that file, so what
// is here is the whole recipe: the same config and the same checkpoint give
// the same losses.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/dtype.h"

namespace motive {

// Settings that `trainer train --resume DIR` may change, from the step the run
// resumes at on (config.json "changes"): what the advice of a stopped run
// names (a lower --lr after a divergence, a smaller --batch-size or another
// --memory-limit after running out of memory, --workers). An absent value
// keeps the setting as it was.
struct RunChange {
  int64_t from_step = 0;
  std::optional<double> lr;
  std::optional<int64_t> batch_size;
  std::optional<int> workers;
  std::optional<int64_t> memory_limit_mib;

  bool empty() const { return !lr && !batch_size && !workers && !memory_limit_mib; }
};
// {"from_step": 120, "lr": 0.01} (only the changed settings); reading refuses
// unknown keys and wrong types, naming them.
void to_json(nlohmann::json& j, const RunChange& c);
void from_json(const nlohmann::json& j, RunChange& c);

// What --init-from loaded (trainer/transfer.h), as config.json records it
// under "init_loaded": the file's architecture and the level it went into,
// a crc32 of the file's tensors (names and bytes, in file order), how many
// tensors were loaded, the file's tensors that were not (no tensor of that
// name and shape at the level, or the classifier with --reinit-head) and the
// level's tensors left at the run's initialisation. All empty without it.
struct InitReport {
  std::string arch, level, crc32;
  int64_t loaded = 0;
  std::vector<std::string> skipped, kept;

  bool operator==(const InitReport& o) const {
    return arch == o.arch && level == o.level && crc32 == o.crc32 && loaded == o.loaded &&
           skipped == o.skipped && kept == o.kept;
  }
  template <class Self, class Visit>
  static void fields(Self& r, Visit&& visit) {
    visit("arch", r.arch);
    visit("level", r.level);
    visit("crc32", r.crc32);
    visit("loaded", r.loaded);
    visit("skipped", r.skipped);
    visit("kept", r.kept);
  }
};
void to_json(nlohmann::json& j, const InitReport& r);
void from_json(const nlohmann::json& j, InitReport& r);

struct RunConfig {
  // data (data/registry.h)
  std::string data = "fashion-mnist";
  std::string data_root;     // "" = default_data_root()
  int64_t limit_train = -1;  // first N images of a split (-1: all)
  int64_t limit_test = -1;
  std::string classes;  // a subset of the classes, relabelled 0..k-1 ("0-4"; "" = all)
  bool augment = true;  // the data set's standard training augmentation
  // the models (models/registry.h names), smallest first: the base, the models
  // between (a chain of three or more: --models), the motivated model; and the
  // policy (trainer/policy.h specs: one for every level above the base, or
  // one for all, comma-separated)
  std::string base = "resnet20x0.5";
  std::vector<std::string> middle;     // usually none: a pair
  std::string motivated = "resnet20";  // "" = none: standard training of the base
  // K = 1: in a short run (the default's three epochs) the motivated model
  // then trains on about a third of the steps; with K = 3 it gets ~4% of them
  // and stays near chance.
  std::string trigger = "loss-decrease:1";
  std::string duration = "steps:1";
  // separate | shared (models/nest.h), or none for models without running
  // statistics; "" until the run resolves it (separate where there are some)
  std::string bn_stats;
  // data parallel (docs/distributed.md): batch statistics over every rank's
  // shard (CPU backend); per-rank statistics otherwise, as PyTorch DDP
  bool sync_bn = false;
  int64_t recalibrate = 0;            // BN recalibration batches for evaluation (0: off)
  // transfer (trainer/transfer.h): an exported model to start from ("" = the
  // seed's initialisation), whether its classifier is left out even when its
  // shape fits, "backbone" to train the classifier alone (a linear probe;
  // "" = everything trains), and what the file gave (set when the run starts)
  std::string init_from;
  bool reinit_head = false;
  std::string freeze;
  InitReport init_loaded;
  int64_t checkpoint_every = 0;       // also checkpoint every N steps (0: at epoch ends only)
  // optimisation
  int64_t epochs = 3;
  int64_t batch_size = 128;
  std::string optimizer = "sgd";  // sgd | adamw
  double lr = 0.1;                // the schedule's base (onecycle: peak) rate
  double momentum = 0.9;          // SGD momentum; AdamW's beta1
  double weight_decay = 5e-4;
  std::string schedule = "onecycle";  // engine/schedule.h spec
  // machine
  std::string device = "cpu";  // cpu | cuda (resolved from auto)
  bool tf32 = false;
  // fp32, or bf16: every forward pass of the run (training, evaluation, BN
  // recalibration) under bf16 autocast (engine/autocast.h), float32 master
  // weights and optimizer state.
  std::string precision = "fp32";
  int workers = 0;  // loader threads (0: one per core); results do not depend on it
  int64_t memory_limit_mib = 0;  // cap on the device's tensor memory (0: none); same results
  uint64_t seed = 0;
  // what resumes changed, in order of from_step (RunChange)
  std::vector<RunChange> changes;
  // outputs
  std::string out;
  std::string reference;  // a standalone run of the motivated model, for F_Ratio ("" = none)
  // facts of the data, resolved when the run starts (export needs no data)
  int64_t in_channels = 0, num_classes = 0, image_height = 0, image_width = 0;

  bool has_motivated() const { return !motivated.empty(); }
  // The nested models, smallest first: base, middle..., motivated (or the base alone).
  std::vector<std::string> chain() const;
  Device run_device() const { return device == "cuda" ? Device::CUDA : Device::CPU; }
  // True for bf16; throws naming the setting for anything but fp32/bf16.
  bool bf16_autocast() const;
  // The settings step `step` trains with: these, with every change from a
  // step <= `step` applied in order.
  RunConfig at_step(int64_t step) const;

  // The config.json keys (trainer/json_fields.h).
  template <class Self, class Visit>
  static void fields(Self& c, Visit&& visit) {
    visit("data", c.data);
    visit("data_root", c.data_root);
    visit("limit_train", c.limit_train);
    visit("limit_test", c.limit_test);
    visit("classes", c.classes);
    visit("augment", c.augment);
    visit("base", c.base);
    visit("middle", c.middle);
    visit("motivated", c.motivated);
    visit("trigger", c.trigger);
    visit("duration", c.duration);
    visit("bn_stats", c.bn_stats);
    visit("sync_bn", c.sync_bn);
    visit("recalibrate", c.recalibrate);
    visit("init_from", c.init_from);
    visit("reinit_head", c.reinit_head);
    visit("freeze", c.freeze);
    visit("init_loaded", c.init_loaded);
    visit("checkpoint_every", c.checkpoint_every);
    visit("epochs", c.epochs);
    visit("batch_size", c.batch_size);
    visit("optimizer", c.optimizer);
    visit("lr", c.lr);
    visit("momentum", c.momentum);
    visit("weight_decay", c.weight_decay);
    visit("schedule", c.schedule);
    visit("device", c.device);
    visit("tf32", c.tf32);
    visit("precision", c.precision);
    visit("workers", c.workers);
    visit("memory_limit_mib", c.memory_limit_mib);
    visit("seed", c.seed);
    visit("changes", c.changes);
    visit("out", c.out);
    visit("reference", c.reference);
    visit("in_channels", c.in_channels);
    visit("num_classes", c.num_classes);
    visit("image_height", c.image_height);
    visit("image_width", c.image_width);
  }
};

// Refuses a setting outside what the trainer accepts (epochs 0, a device
// "tpu", lr 0, limit-test 0, changes out of order...) with one line that
// names it and the accepted values: by its flag when `file` is empty (the
// command line), else by its key in that file.
void check_run_config(const RunConfig& config, const std::string& file = "");

// Adds the keys a config.json (or a checkpoint's copy of it) from before they
// existed lacks, with the values that mean "not used": "changes" [] and the
// transfer settings off.
void add_absent_run_keys(nlohmann::json& config);

// RUN/config.json, written atomically (tmp + rename).
void save_run_config(const RunConfig& config, const std::string& run_dir);
// Throws motive::Error naming the file when it is missing, malformed or holds
// a setting check_run_config refuses.
RunConfig load_run_config(const std::string& run_dir);

// Shared JSON file helpers for the run directory: read a whole file as JSON,
// and write one atomically.
nlohmann::json read_json_file(const std::string& path);
void write_json_file(const std::string& path, const nlohmann::json& j);

}  // namespace motive
