// Transfer learning (trainer/transfer.h): --init-from loads exactly the
// tensors whose name and shape match, into the level the mapping rule picks,
// and refuses what it must; the classifier keeps the seed's initialisation
// when the class count differs; --freeze backbone leaves every backbone
// tensor bit-identical; a run from a file resumes exactly without reading it.
#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <set>

#include "engine/serialize.h"
#include "models/registry.h"
#include "tests/trainer_testing.h"
#include "trainer/checkpoint.h"
#include "trainer/model_io.h"
#include "trainer/run_parts.h"
#include "trainer/transfer.h"

using namespace motive;
using namespace motive::test;

namespace {

constexpr int64_t kSide = 28;

// An export as `trainer export` writes one: `arch` drawn from `seed`, for
// `classes` classes of 1-channel 28x28 images; `metadata` overrides keys.
std::string write_export(const TempDir& dir, const std::string& file, const std::string& arch,
                         int64_t classes, uint64_t seed,
                         const std::map<std::string, std::string>& metadata = {}) {
  Generator gen(seed);
  const auto model = build_model(*resolve_model(arch, {1, classes, kSide, kSide}), gen);
  std::map<std::string, std::string> meta = {{"format", "motive-model/1"},
                                             {"arch", arch},
                                             {"family", model->config().family()},
                                             {"in_channels", "1"},
                                             {"num_classes", std::to_string(classes)},
                                             {"data", "fashion-mnist"},
                                             {"role", "base"}};
  for (const auto& [key, value] : metadata) meta[key] = value;
  const std::string path = dir / file;
  save_safetensors(path, model->named_tensors(), meta);
  return path;
}

// A pair (or a chain) of `models` for `classes` classes, its data facts set
// as a run records them, starting from `init_from`.
RunConfig chain_config(const std::vector<std::string>& models, int64_t classes,
                       const std::string& init_from) {
  RunConfig c;
  c.base = models.front();
  c.middle.assign(models.begin() + 1, models.end() - 1);
  c.motivated = models.back();
  c.in_channels = 1;
  c.num_classes = classes;
  c.image_height = c.image_width = kSide;
  c.bn_stats = "separate";
  c.init_from = init_from;
  return c;
}

std::map<std::string, Tensor> by_name(const NamedTensors& tensors) {
  return {tensors.begin(), tensors.end()};
}

bool same(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.to_vector() == b.to_vector();
}

// Every tensor of every level of `a` and `b`: equal, or (with `except`) the
// names for which they differ.
std::set<std::string> differing(const NestedChain& a, const NestedChain& b) {
  std::set<std::string> out;
  const auto ta = by_name(a.named_tensors()), tb = by_name(b.named_tensors());
  for (const auto& [name, t] : ta)
    if (!same(t, tb.at(name))) out.insert(name);
  return out;
}

}  // namespace

TEST_CASE("--init-from: a base export goes into the base level; the classifier of another class "
          "count keeps the seed's initialisation") {
  TempDir dir;
  const std::string file = write_export(dir, "base.safetensors", "resnet20x0.25", 5, 7);
  const RunConfig config = chain_config({"resnet20x0.25", "resnet20x0.5"}, 3, file);
  const NestedChain fresh = build_chain(config), chain = build_chain(config);
  const InitReport report = load_init_from(config, chain);

  const SafetensorsFile exported = load_safetensors(file);
  CHECK(report.arch == "resnet20x0.25");
  CHECK(report.level == "base");
  CHECK(report.loaded == static_cast<int64_t>(exported.tensors.size()) - 2);
  CHECK(report.skipped == std::vector<std::string>{"head.fc.weight", "head.fc.bias"});
  CHECK(report.kept == std::vector<std::string>{"head.fc.weight", "head.fc.bias"});
  CHECK(report.crc32.size() == 8);

  // Each loaded tensor is the file's, bit for bit, as the base sees it.
  const auto base = by_name(chain.base().named_tensors());
  const auto fresh_base = by_name(fresh.base().named_tensors());
  for (const auto& [name, t] : exported.tensors) {
    if (name.rfind("head.fc.", 0) == 0) {
      CHECK_MESSAGE(same(base.at(name), fresh_base.at(name)), name);
      continue;
    }
    CHECK_MESSAGE(same(base.at(name), t), name);
  }
  // Outside the base's prefix, the motivated model is what the seed drew:
  // the motivated model's first conv equals the file's in its leading block
  // and the fresh one elsewhere.
  const Tensor stem = by_name(chain.largest().named_tensors()).at("stem.conv.weight");
  const Tensor fresh_stem = by_name(fresh.largest().named_tensors()).at("stem.conv.weight");
  const Tensor file_stem = by_name(exported.tensors).at("stem.conv.weight");
  CHECK(same(prefix_view(stem, file_stem.shape()), file_stem));
  CHECK(same(stem.slice(0, file_stem.size(0), stem.size(0)),
             fresh_stem.slice(0, file_stem.size(0), stem.size(0))));
  // The motivated model's own running statistics are not the base's.
  CHECK(differing(chain, fresh).count("motivated.stem.bn.running_mean") == 0);
}

TEST_CASE("--init-from: the mapping rule picks the file's architecture, else the level matching "
          "the most tensors") {
  TempDir dir;
  {  // a motivated export: the motivated level, every tensor, nothing left
    const std::string file = write_export(dir, "m.safetensors", "resnet20x0.5", 3, 1);
    const RunConfig config = chain_config({"resnet20x0.25", "resnet20x0.5"}, 3, file);
    const NestedChain chain = build_chain(config);
    const InitReport report = load_init_from(config, chain);
    CHECK(report.level == "motivated");
    CHECK(report.skipped.empty());
    CHECK(report.kept.empty());
    for (const auto& [name, t] : load_safetensors(file).tensors)
      CHECK_MESSAGE(same(by_name(chain.largest().named_tensors()).at(name), t), name);
  }
  {  // resnet20x0.5 is no level of resnet20x0.25 in resnet32x0.5: the deeper
     // model holds all its tensors by name and shape, the base almost none
    const std::string file = write_export(dir, "d.safetensors", "resnet20x0.5", 3, 2);
    const RunConfig config = chain_config({"resnet20x0.25", "resnet32x0.5"}, 3, file);
    const InitReport report = load_init_from(config, build_chain(config));
    CHECK(report.level == "motivated");
    CHECK(report.skipped.empty());
    CHECK(report.kept.size() > 0);  // the blocks resnet20 does not have
    CHECK(report.kept.front().find("stages.") == 0);
  }
  {  // --reinit-head: the classifier is left out even when it fits
    const std::string file = write_export(dir, "r.safetensors", "resnet20x0.25", 3, 3);
    RunConfig config = chain_config({"resnet20x0.25", "resnet20x0.5"}, 3, file);
    config.reinit_head = true;
    const InitReport report = load_init_from(config, build_chain(config));
    CHECK(report.skipped == std::vector<std::string>{"head.fc.weight", "head.fc.bias"});
  }
}

TEST_CASE("--init-from refuses, in one line with exit code 2, what it cannot load") {
  TempDir dir;
  const std::string run = " --data fashion-mnist --limit-train 64 --limit-test 32 --batch-size 32 "
                          "--epochs 1 --schedule constant --device cpu --quiet --base resnet20x0.25";
  write_text(dir / "garbage.safetensors", "not a safetensors file");
  const std::string vit = write_export(dir, "vit.safetensors", "resnet20x0.25", 10, 1,
                                       {{"family", "vit"}, {"arch", "vit-ti-p4"}});
  const std::string rgb =
      write_export(dir, "rgb.safetensors", "resnet20x0.25", 10, 1, {{"in_channels", "3"}});
  const std::string torch = write_export(dir, "torch.safetensors", "resnet20x0.25", 10, 1,
                                         {{"format", "torch-state-dict/1"}});
  const std::string wide = write_export(dir, "wide.safetensors", "resnet20x4", 5, 1);
  const struct {
    std::string args;
    std::vector<std::string> says;
  } cases[] = {
      {"--init-from " + (dir / "absent.safetensors"), {"--init-from", "absent.safetensors"}},
      {"--init-from " + (dir / "garbage.safetensors"), {"--init-from", "garbage.safetensors"}},
      {"--init-from " + vit, {"vit-ti-p4", "a vit model", "resnet"}},
      {"--init-from " + rgb, {"3 channels", "has 1"}},
      {"--init-from " + torch, {"not a model written by trainer export", "motive export"}},
      {"--init-from " + wide, {"nothing to load"}},
      {"--freeze backbone", {"--freeze backbone", "--init-from"}},
      {"--reinit-head", {"--reinit-head", "--init-from"}},
      {"--freeze all", {"--freeze"}},
  };
  for (const auto& c : cases) {
    const std::string out = dir / ("run" + std::to_string(&c - cases));
    const Exec e = run_trainer("train" + run + " --out " + out + " " + c.args, dir);
    CHECK_MESSAGE(e.code == 2, c.args, ": ", e.err);
    CHECK_MESSAGE(lines(e.err) == 1, c.args, ": ", e.err);
    check_mentions(e.err, c.says);
    CHECK_MESSAGE(!std::filesystem::exists(out), c.args);  // refused before anything is written
  }
}

TEST_CASE("--freeze backbone: the backbone stays bit-identical, the classifier trains, and the "
          "run resumes exactly without reading the file again") {
  TempDir dir;
  // Pre-train resnet20x0.25 on classes 0-4, export it, fine-tune on 5-9.
  RunConfig pre = tiny_run(dir / "pre");
  pre.motivated = "";
  pre.trigger = "never";
  pre.classes = "0-4";
  pre.limit_train = 64;
  pre.epochs = 1;
  pre.schedule = "constant";  // a few steps
  train_new(pre, quiet());
  const std::string file = dir / "pre.safetensors";
  export_model(pre.out, "base", file, 0);

  RunConfig tune = tiny_run(dir / "tune");
  tune.classes = "5-7";  // another class count: a fresh classifier
  tune.limit_train = 96;
  tune.limit_test = 32;
  tune.epochs = 2;
  tune.schedule = "constant";
  tune.init_from = file;
  tune.freeze = "backbone";
  tune.checkpoint_every = 2;
  train_new(tune, quiet());

  const nlohmann::json recorded = read_json(tune.out + "/config.json");
  CHECK(recorded.at("init_from") == file);
  CHECK(recorded.at("init_loaded").at("level") == "base");
  CHECK(recorded.at("init_loaded").at("skipped") ==
        nlohmann::json::array({"head.fc.weight", "head.fc.bias"}));

  // The state the run started from: its chain, the file loaded.
  RunConfig start = load_run_config(tune.out);
  const NestedChain initial = build_chain(start);
  load_init_from(start, initial);
  const NestedChain trained = build_chain(start);
  load_checkpoint_models(checkpoint_path(tune.out), trained);
  std::set<std::string> changed = differing(initial, trained);
  CHECK(changed == std::set<std::string>{"motivated.head.fc.weight", "motivated.head.fc.bias"});
  // The optimizer holds the classifiers alone (the base's is a view of the motivated one's).
  CHECK(make_optimizer(start, trained)->params().size() == 4);

  // Interrupted at its first checkpoint, the file removed, resumed: the same
  // losses and the same final tensors.
  RunConfig again = tune;
  again.out = dir / "again";
  TrainOptions stop = quiet();
  stop.after_checkpoint = [](const RunCounters&) { return false; };
  train_new(again, stop);
  std::filesystem::rename(file, dir / "moved.safetensors");
  train_resume(again.out, quiet());
  const auto losses = [](const std::string& run) {
    std::vector<double> out;
    for (const auto& r : read_records(run, "step")) out.push_back(r.at("loss").get<double>());
    return out;
  };
  CHECK(losses(again.out) == losses(tune.out));
  const NestedChain resumed = build_chain(start);
  load_checkpoint_models(checkpoint_path(again.out), resumed);
  CHECK(differing(resumed, trained).empty());

  // Stopped before its first checkpoint, a run reads the file again, and
  // refuses one that is not what it started from.
  std::filesystem::rename(dir / "moved.safetensors", file);
  RunConfig early = tune;
  early.out = dir / "early";
  early.checkpoint_every = 0;
  early.epochs = 1;
  train_new(early, quiet());
  std::filesystem::remove(checkpoint_path(early.out));
  const std::vector<double> first = losses(early.out);
  train_resume(early.out, quiet());
  CHECK(losses(early.out) == first);
  std::filesystem::remove(checkpoint_path(early.out));
  write_export(dir, "pre.safetensors", "resnet20x0.25", 5, 99);
  const std::string refused = error_of([&] { train_resume(early.out, quiet()); });
  check_mentions(refused, {"not the model the run", "crc32", "put that file back"});

  // --resume takes no --init-from.
  const Exec e = run_trainer("train --resume " + tune.out + " --init-from " + file, dir);
  CHECK(e.code == 2);
  check_mentions(e.err, {"--init-from"});
}

TEST_CASE("every family names its classifier: the weight and bias whose rows are the classes") {
  for (const ModelFamily* family : model_families()) {
    const NestingExample example = family->nesting_examples().front();
    Generator gen(0);
    const auto model = build_model(*resolve_model(example.chain.front(), example.shape), gen);
    std::vector<std::string> classifier;
    for (const auto& [name, t] : model->named_tensors()) {
      if (!model->is_classifier(name)) continue;
      classifier.push_back(name);
      CHECK_MESSAGE(t.size(0) == example.shape.num_classes, name);
    }
    CHECK_MESSAGE(classifier.size() == 2, family->name());
  }
}
