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

// TF32 tensor-core math for float32 GEMMs and convolutions on CUDA (10-bit
// mantissa inputs, fp32 accumulation: ~3e-4 relative error, several times the
// fp32 rate). Off by default so parity tests compare exact fp32; float64 and
// the CPU never change.
void set_allow_tf32(bool on);
bool allow_tf32();

}  // namespace motive
