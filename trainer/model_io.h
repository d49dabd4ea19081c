// "Train once, deploy twice": either model of a finished (or running) run as a
// standalone safetensors checkpoint, and the test accuracy of such a file.
// An exported file holds, in motive's format, Model::named_tensors() of that
// model (its own running statistics; OHWI conv weights), or, in PyTorch's,
// Model::torch_state_dict() (torchvision/timm names and layouts, for
// load_state_dict(strict=True)); and metadata:
//   format "motive-model/1" or "torch-state-dict/1", arch (preset name),
//   family, in_channels, num_classes, image_height, image_width, data,
//   role (the level name: base, motivated, level<k>), run, recalibrated_batches.
#pragma once
#include <cstdint>
#include <string>

#include "trainer/evaluate.h"

namespace motive {

enum class ExportFormat { Motive, Torch };
ExportFormat parse_export_format(const std::string& name);  // motive | torch

// Exports the model called `level` (a level name of the run's chain:
// base, motivated, level<k>) from RUN_DIR's checkpoint to `out_path` (on the
// CPU; the data is needed only to recalibrate the running statistics over
// `recalibrate` training batches, as the run's evaluation does). Throws
// motive::Error.
void export_model(const std::string& run_dir, const std::string& level,
                  const std::string& out_path, int64_t recalibrate,
                  ExportFormat format = ExportFormat::Motive);

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

}  // namespace motive
