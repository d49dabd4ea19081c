// What accelerators this process can use. GPU tests call cuda_available() and
// skip with one clear line when it is false (CPU-only builds, machines without
// a GPU such as CI).
#pragma once
#include <string>

namespace motive {

bool cuda_built();      // compiled with the CUDA backend (MOTIVE_CUDA)
bool cuda_available();  // built with CUDA and at least one device is usable
// One line for logs: "cuda: 1 device (NVIDIA H200, sm_90)" or why there is none.
std::string cuda_describe();

}  // namespace motive
