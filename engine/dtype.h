// Element types and devices. float64 exists for gradient checks; bf16 is the
// storage type of mixed precision (engine/autocast.h); int32 holds class labels
// and indices.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/bf16.h"

namespace motive {

enum class DType : uint8_t { F32, F64, BF16, I32 };
enum class Device : uint8_t { CPU, CUDA };

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // safetensors spelling: "F32", "F64", "BF16", "I32"
const char* device_name(Device d);

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::F32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::F64; };
template <> struct dtype_of<bf16> { static constexpr DType value = DType::BF16; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::I32; };

}  // namespace motive
