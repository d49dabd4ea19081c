#include "trainer/model_io.h"

#include "engine/random.h"
#include "engine/serialize.h"
#include "trainer/checkpoint.h"
#include "trainer/run_parts.h"

namespace motive {
namespace {

constexpr const char* kModelFormat = "motive-model/1";

std::string metadata_or(const SafetensorsFile& file, const std::string& key,
                        const std::string& given) {
  if (!given.empty()) return given;
  const auto it = file.metadata.find(key);
  return it == file.metadata.end() ? "" : it->second;
}

}  // namespace

Role parse_role(const std::string& name) {
  if (name == role_name(Role::Base)) return Role::Base;
  if (name == role_name(Role::Motivated)) return Role::Motivated;
  fail("unknown model '", name, "': expected base or motivated");
}

void export_model(const std::string& run_dir, Role role, const std::string& out_path,
                  int64_t recalibrate_batches) {
  RunConfig config = load_run_config(run_dir);
  config.device = "cpu";
  MOTIVE_CHECK(role == Role::Base || config.has_motivated(), "export: the run in '", run_dir,
               "' trained ", config.base, " alone; it has no motivated model");
  const NestedPair pair = build_pair(config);
  load_checkpoint_pair(checkpoint_path(run_dir), pair);
  const ResNet& model = pair.model(role);
  if (recalibrate_batches > 0) {
    const DataSplits data = open_run_data(config);
    recalibrate(model, recalibrate_batches, *make_train_loader(config, data));
  }
  save_safetensors(out_path, model.named_tensors(),
                   {{"format", kModelFormat},
                    {"arch", model.config().name},
                    {"in_channels", std::to_string(config.in_channels)},
                    {"num_classes", std::to_string(config.num_classes)},
                    {"data", config.data},
                    {"role", role_name(role)},
                    {"run", run_dir},
                    {"recalibrated_batches", std::to_string(recalibrate_batches)}});
}

EvalResult eval_model_file(const EvalRequest& request) {
  const SafetensorsFile file = load_safetensors(request.checkpoint);
  EvalResult result;
  result.arch = metadata_or(file, "arch", request.arch);
  result.data = metadata_or(file, "data", request.data);
  MOTIVE_CHECK(metadata_or(file, "format", "").rfind("motive-run", 0) != 0, "eval: '",
               request.checkpoint,
               "' is a run checkpoint (both models); export one first: trainer export --run DIR "
               "--model base|motivated --out FILE");
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
  ResNetOptions options;
  options.device = config.run_device();
  const ResNet model(resnet_preset(result.arch, {config.in_channels, config.num_classes}), gen,
                     options);
  try {
    model.load_state(file.tensors);
  } catch (const Error& e) {
    fail("eval: '", request.checkpoint, "' is not a ", result.arch, " for ", result.data, ": ",
         e.what());
  }
  result.accuracy = test_accuracy(model, *make_test_loader(config, data));
  return result;
}

}  // namespace motive
