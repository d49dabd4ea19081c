#include "trainer/model_io.h"

#include "engine/random.h"
#include "engine/serialize.h"
#include "models/registry.h"
#include "trainer/checkpoint.h"
#include "trainer/finite.h"
#include "trainer/run_parts.h"

namespace motive {
namespace {

constexpr const char* kModelFormat = "motive-model/1";
constexpr const char* kTorchFormat = "torch-state-dict/1";

std::string metadata_or(const SafetensorsFile& file, const std::string& key,
                        const std::string& given) {
  if (!given.empty()) return given;
  const auto it = file.metadata.find(key);
  return it == file.metadata.end() ? "" : it->second;
}

}  // namespace

ExportFormat parse_export_format(const std::string& name) {
  if (name == "motive") return ExportFormat::Motive;
  if (name == "torch") return ExportFormat::Torch;
  fail("unknown export format '", name, "': expected motive or torch");
}

void export_model(const std::string& run_dir, const std::string& level,
                  const std::string& out_path, int64_t recalibrate_batches, ExportFormat format) {
  RunConfig config = load_run_config(run_dir);
  config.device = "cpu";
  const NestedChain chain = build_chain(config);
  std::string levels;
  size_t index = chain.size();
  for (size_t i = 0; i < chain.size(); ++i) {
    levels += (i ? ", " : "") + level_name(i, chain.size());
    if (level_name(i, chain.size()) == level) index = i;
  }
  MOTIVE_CHECK(index < chain.size(), "export: the run in '", run_dir, "' has no ", level,
               " model (its models: ", levels, ")");
  load_checkpoint_models(checkpoint_path(run_dir), chain);
  const Model& model = chain.model(index);
  if (recalibrate_batches > 0) {
    const DataSplits data = open_run_data(config);
    recalibrate(model, recalibrate_batches, *make_train_loader(config, data));
  }
  // A model with a NaN or an infinity is no model to deploy.
  if (!all_finite(model.named_tensors()))
    fail("export: the ", level, " model of '", run_dir, "' holds ",
         find_non_finite(model.named_tensors()).value_or("a value that is not finite"),
         "; nothing written");
  const bool torch = format == ExportFormat::Torch;
  save_safetensors(out_path, torch ? model.torch_state_dict() : model.named_tensors(),
                   {{"format", torch ? kTorchFormat : kModelFormat},
                    {"arch", model.name()},
                    {"family", model.config().family()},
                    {"in_channels", std::to_string(config.in_channels)},
                    {"num_classes", std::to_string(config.num_classes)},
                    {"image_height", std::to_string(config.image_height)},
                    {"image_width", std::to_string(config.image_width)},
                    {"data", config.data},
                    {"role", level},
                    {"run", run_dir},
                    {"recalibrated_batches", std::to_string(recalibrate_batches)}});
}

EvalResult eval_model_file(const EvalRequest& request) {
  const SafetensorsFile file = load_safetensors(request.checkpoint);
  EvalResult result;
  result.arch = metadata_or(file, "arch", request.arch);
  result.data = metadata_or(file, "data", request.data);
  const std::string format = metadata_or(file, "format", "");
  MOTIVE_CHECK(format.rfind("motive-run", 0) != 0, "eval: '", request.checkpoint,
               "' is a run checkpoint (every model of the run); export one first: trainer export "
               "--run DIR --model base|motivated --out FILE");
  MOTIVE_CHECK(format != kTorchFormat, "eval: '", request.checkpoint,
               "' is a PyTorch export (--format torch); evaluate the motive export of the model");
  MOTIVE_CHECK(!result.arch.empty(), "eval: '", request.checkpoint,
               "' does not name its architecture; give --arch");
  MOTIVE_CHECK(!result.data.empty(), "eval: '", request.checkpoint,
               "' does not name its data set; give --data");

  RunConfig config;  // only the data and loader settings matter here
  config.data = result.data;
  config.data_root = request.data_root;
  config.limit_train = 1;  // the test split is what is measured
  config.limit_test = request.limit_test;
  config.batch_size = request.batch_size;
  config.device = request.device;
  config.workers = request.workers;
  const DataSplits data = open_run_data(config);
  record_data_facts(config, data);

  Generator gen(0);  // every tensor is then loaded from the file
  ModelOptions options;
  options.device = config.run_device();
  const auto model = build_model(*resolve_model(result.arch, model_shape(config)), gen, options);
  try {
    model->load_state(file.tensors);
  } catch (const Error& e) {
    fail("eval: '", request.checkpoint, "' is not a ", result.arch, " for ", result.data, ": ",
         e.what());
  }
  result.accuracy = test_accuracy(*model, *make_test_loader(config, data));
  return result;
}

}  // namespace motive
