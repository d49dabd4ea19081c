// The build reports its CUDA status coherently; on a machine without a GPU the
// GPU tests (tests/test_cuda_*) skip with the line printed here.
#include <doctest/doctest.h>

#include <iostream>

#include "engine/device.h"

using namespace motive;

TEST_CASE("device discovery is coherent") {
  const std::string line = cuda_describe();
  std::cout << line << "\n";
  CHECK(line.rfind("cuda:", 0) == 0);
  if (!cuda_built()) CHECK(!cuda_available());
  if (cuda_available()) CHECK(line.find("device 0") != std::string::npos);
}
