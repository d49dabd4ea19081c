// Runs a generic lambda with a value of the tensor's C++ element type, so one
// templated kernel call serves float32 and float64:
//   dispatch_float(x.dtype(), "relu", [&](auto t) { using T = decltype(t); ... });
#pragma once
#include "engine/dtype.h"
#include "engine/error.h"

namespace motive {

template <class F>
decltype(auto) dispatch_float(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::F32: return f(float{});
    case DType::F64: return f(double{});
    default: fail(op, ": dtype ", dtype_name(dtype), " is not supported (float32/float64 only)");
  }
}

}  // namespace motive
