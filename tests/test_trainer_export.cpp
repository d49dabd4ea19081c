// Train once, deploy twice: either model exported from a run evaluates, as a
// standalone file, to exactly the accuracy the run measured for it.
#include <doctest/doctest.h>

#include "engine/serialize.h"
#include "tests/trainer_testing.h"
#include "trainer/model_io.h"
#include "trainer/train.h"

using namespace motive;
using namespace motive::test;

namespace {

// The "(correct/total" of `trainer eval`'s line, as a percentage.
double eval_line_percent(const std::string& line) {
  const size_t open = line.rfind('('), slash = line.rfind('/');
  REQUIRE(open != std::string::npos);
  REQUIRE(slash != std::string::npos);
  const double correct = std::stod(line.substr(open + 1, slash - open - 1));
  const double total = std::stod(line.substr(slash + 1));
  return 100.0 * correct / total;
}

}  // namespace

TEST_CASE("trainer export + eval: the exported models score what they scored in the run") {
  TempDir dir;
  RunConfig config = tiny_run(dir / "run");
  config.epochs = 1;
  config.recalibrate = 3;
  const nlohmann::json summary = train_new(config, quiet());

  {  // the base, through the library
    export_model(config.out, "base", dir / "base.safetensors", 0);
    const SafetensorsFile file = load_safetensors(dir / "base.safetensors");
    CHECK(file.metadata.at("arch") == "resnet20x0.25");
    CHECK(file.metadata.at("role") == "base");
    CHECK(file.tensors.front().first == "stem.conv.weight");
    EvalRequest request;
    request.checkpoint = dir / "base.safetensors";
    request.limit_test = config.limit_test;
    const EvalResult result = eval_model_file(request);
    CHECK(result.arch == "resnet20x0.25");
    CHECK(result.accuracy.total == 200);
    CHECK(result.accuracy.percent() == summary.at("acc_base").get<double>());
  }

  {  // the motivated model, recalibrated, through the program
    const Exec exported =
        run_trainer("export --run " + config.out + " --model motivated --recalibrate 3 --out " +
                        (dir / "motivated.safetensors"),
                    dir);
    REQUIRE_MESSAGE(exported.code == 0, exported.err);
    const Exec evaluated = run_trainer("eval --checkpoint " + (dir / "motivated.safetensors") +
                                           " --arch resnet20x0.5 --data fashion-mnist "
                                           "--limit-test 200 --device cpu",
                                       dir);
    REQUIRE_MESSAGE(evaluated.code == 0, evaluated.err);
    CHECK(eval_line_percent(evaluated.out) ==
          doctest::Approx(summary.at("acc_motivated_recalibrated").get<double>()).epsilon(1e-12));
  }
}

TEST_CASE("trainer eval: a run checkpoint or a wrong architecture is one clear error") {
  TempDir dir;
  RunConfig config = tiny_run(dir / "run");
  config.epochs = 1;
  train_new(config, quiet());
  EvalRequest request;
  request.limit_test = 10;
  request.checkpoint = config.out + "/checkpoint.safetensors";
  CHECK_THROWS_WITH_AS(eval_model_file(request), doctest::Contains("is a run checkpoint"), Error);
  export_model(config.out, "base", dir / "base.safetensors", 0);
  request.checkpoint = dir / "base.safetensors";
  request.arch = "resnet20";
  CHECK_THROWS_WITH_AS(eval_model_file(request), doctest::Contains("is not a resnet20"), Error);
}
