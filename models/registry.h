// Model families by name, as the command line gives them (`--base resnet20x0.5`,
// `--motivated vit-s-p4`): a name resolves to its family and a config of it
// (models/model.h). Every family lives in its own folder and is listed once in
// registry.cpp; nothing else in the project names a family.
//
// A family implements:
//   name()              "resnet", "vit"
//   claims(model)       whether a model name belongs to it (its grammar's prefix)
//   parse(model, shape) the config, with the data's channels, classes and image
//                       size; throws motive::Error naming what is wrong
//   grammar()           one line: the names it accepts
//   presets()           the names `trainer models` lists by default
//   nesting_examples()  small chains (smallest first, each contained in the next)
//                       with an input shape they run on: what the shared family
//                       tests (tests/test_nesting.cpp) train, at least a depth
//                       pair, a width pair and a chain of three
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/model.h"

namespace motive {

struct NestingExample {
  std::vector<std::string> chain;  // smallest first
  ModelShape shape;                // channels, classes and a (small) image size
};

class ModelFamily {
 public:
  virtual ~ModelFamily() = default;
  virtual const char* name() const = 0;
  virtual bool claims(const std::string& model) const = 0;
  virtual std::unique_ptr<ModelConfig> parse(const std::string& model,
                                             const ModelShape& shape) const = 0;
  virtual std::string grammar() const = 0;
  virtual std::vector<std::string> presets() const = 0;
  virtual std::vector<NestingExample> nesting_examples() const = 0;
};

// Every family, in the order tables list them.
const std::vector<const ModelFamily*>& model_families();

// The family that claims `model`; throws motive::Error listing every family's
// grammar when none does.
const ModelFamily& family_of(const std::string& model);

// family_of(model).parse(model, shape).
std::unique_ptr<ModelConfig> resolve_model(const std::string& model, const ModelShape& shape);

// Every family's presets, in table order.
std::vector<std::string> preset_names();

}  // namespace motive
