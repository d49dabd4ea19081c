// "Train once, deploy twice": either model of a finished (or running) run as a
// standalone safetensors checkpoint, and the test accuracy of such a file.
// An exported file holds ResNet::named_tensors() of that model (its own BN
// statistics; PyTorch's names, OHWI conv weights) and metadata:
//   format "motive-model/1", arch (preset name), in_channels, num_classes,
//   data, role (base|motivated), run, recalibrated_batches.
#pragma once
#include <cstdint>
#include <string>

#include "models/nest.h"
#include "trainer/evaluate.h"

namespace motive {

// Exports `role`'s model from RUN_DIR's checkpoint to `out_path` (on the CPU;
// the data is needed only to recalibrate the BN statistics over `recalibrate`
// training batches, as the run's evaluation does). Throws motive::Error.
void export_model(const std::string& run_dir, Role role, const std::string& out_path,
                  int64_t recalibrate);

struct EvalRequest {
  std::string checkpoint;
  std::string arch;  // "" = the file's metadata
  std::string data;  // "" = the file's metadata
  std::string data_root;
  int64_t limit_test = -1;
  int64_t batch_size = 256;
  std::string device = "cpu";  // resolved: cpu | cuda
  int workers = 0;
};

struct EvalResult {
  std::string arch, data;
  Accuracy accuracy;
};

// Builds the model named by the request (with the data's channels and
// classes), loads the file into it (names and shapes must match exactly) and
// measures its test accuracy as a run's evaluation does.
EvalResult eval_model_file(const EvalRequest& request);

Role parse_role(const std::string& name);  // base | motivated

}  // namespace motive
