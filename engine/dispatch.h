// Dispatch helpers shared by the ops.
//
// dispatch_float runs a generic lambda with a value of the tensor's C++
// element type, so one templated kernel call serves float32 and float64:
//   dispatch_float(x.dtype(), "relu", [&](auto t) { using T = decltype(t); ... });
// dispatch_float_bf16 adds bfloat16, for the ops that have bf16 kernels (the
// ones a mixed-precision CNN step runs; engine/autocast.h lists them).
//
// MOTIVE_KERNEL(device, name, args...) calls cpu::name(args...) or
// cuda::name(args...): the CPU and CUDA kernels of an op share one signature
// (raw pointers, shapes, strides) and one name, in kernels/cpu/<op>.h and
// kernels/cuda/<op>.h. In a build without CUDA the CUDA branch is an error
// (unreachable in practice: CUDA tensors cannot be created there).
// MOTIVE_KERNEL_TF32 is the same for the kernels that may run float32 on TF32
// tensor cores (GEMM, convolution): their CUDA twin takes the process's switch
// (allow_tf32(), engine/device.h) as one more, last argument, so kernels/ never
// reads engine state; the CPU kernel has no such mode.
#pragma once
#include <utility>

#include "engine/device.h"
#include "engine/dtype.h"
#include "engine/error.h"
#include "kernels/bf16.h"

namespace motive {

template <class F>
decltype(auto) dispatch_float(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::F32: return f(float{});
    case DType::F64: return f(double{});
    default: fail(op, ": dtype ", dtype_name(dtype), " is not supported (float32/float64 only)");
  }
}

template <class F>
decltype(auto) dispatch_float_bf16(DType dtype, const char* op, F&& f) {
  if (dtype == DType::BF16) return f(bf16{});
  return dispatch_float(dtype, op, std::forward<F>(f));
}

[[noreturn]] void fail_no_cuda();

// MOTIVE_CUDA_ONLY(statement): the statement in CUDA builds, an error otherwise.
#ifdef MOTIVE_WITH_CUDA
#define MOTIVE_CUDA_ONLY(...) __VA_ARGS__
#else
#define MOTIVE_CUDA_ONLY(...) ::motive::fail_no_cuda()
#endif

#ifdef MOTIVE_WITH_CUDA
#define MOTIVE_KERNEL(device, kernel, ...)                                   \
  do {                                                                       \
    if ((device) == ::motive::Device::CUDA) ::motive::cuda::kernel(__VA_ARGS__); \
    else ::motive::cpu::kernel(__VA_ARGS__);                                  \
  } while (0)
#define MOTIVE_KERNEL_TF32(device, kernel, ...)                                  \
  do {                                                                           \
    if ((device) == ::motive::Device::CUDA)                                      \
      ::motive::cuda::kernel(__VA_ARGS__, ::motive::allow_tf32());               \
    else ::motive::cpu::kernel(__VA_ARGS__);                                      \
  } while (0)
#else
#define MOTIVE_KERNEL(device, kernel, ...)                                   \
  do {                                                                       \
    if ((device) == ::motive::Device::CUDA) ::motive::fail_no_cuda();        \
    ::motive::cpu::kernel(__VA_ARGS__);                                       \
  } while (0)
#define MOTIVE_KERNEL_TF32(device, kernel, ...) MOTIVE_KERNEL(device, kernel, __VA_ARGS__)
#endif

}  // namespace motive
