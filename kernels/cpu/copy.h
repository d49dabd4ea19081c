// Strided copy with dtype conversion, and strided fill: what Tensor::copy_,
// contiguous() and fill_ run on the CPU.
#pragma once
#include <cstdint>

#include "engine/dtype.h"

namespace motive::cpu {

void copy_strided(int64_t rank, const int64_t* shape, void* dst, DType dst_type,
                  const int64_t* dst_strides, const void* src, DType src_type,
                  const int64_t* src_strides);

void fill_strided(int64_t rank, const int64_t* shape, void* dst, DType type,
                  const int64_t* strides, double value);

}  // namespace motive::cpu
