// Element types and devices. float64 exists for gradient checks; bf16 is the
// storage type of mixed precision (engine/autocast.h, the type itself in
// kernels/bf16.h); int32 holds class labels and indices.
//
// One of the two engine headers kernels/ may include (with engine/error.h):
// it includes nothing of motive's and is defined here in full, so the kernels
// library needs neither the engine's other headers nor its library.
#pragma once
#include <cstddef>
#include <cstdint>

namespace motive {

struct bf16;  // kernels/bf16.h

enum class DType : uint8_t { F32, F64, BF16, I32 };
enum class Device : uint8_t { CPU, CUDA };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::BF16: return 2;
    case DType::I32: return 4;
  }
  return 0;
}

// The safetensors spelling: "F32", "F64", "BF16", "I32".
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::BF16: return "BF16";
    case DType::I32: return "I32";
  }
  return "?";
}

inline const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::F32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::F64; };
template <> struct dtype_of<bf16> { static constexpr DType value = DType::BF16; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::I32; };

}  // namespace motive
