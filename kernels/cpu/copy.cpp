#include "kernels/cpu/copy.h"

#include <cstring>

#include "engine/error.h"
#include "kernels/bf16.h"
#include "kernels/cpu/strided.h"
#include "kernels/layout.h"

namespace motive::cpu {
namespace {

// Calls f with a value of the C++ type of `type` (every dtype a copy can touch).
template <class F>
void with_type(DType type, F&& f) {
  switch (type) {
    case DType::F32: return f(float{});
    case DType::F64: return f(double{});
    case DType::BF16: return f(bf16{});
    case DType::I32: return f(int32_t{});
    default: fail("copy: dtype ", dtype_name(type), " is not supported on the CPU");
  }
}

}  // namespace

void copy_strided(int64_t rank, const int64_t* shape, void* dst, DType dst_type,
                  const int64_t* dst_strides, const void* src, DType src_type,
                  const int64_t* src_strides) {
  if (dst_type == src_type && is_dense(rank, shape, dst_strides) &&
      is_dense(rank, shape, src_strides)) {
    const int64_t n = element_count(rank, shape);
    // Empty tensors may have null data: memcpy with a null pointer is UB even for 0 bytes.
    if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * dtype_size(dst_type));
    return;
  }
  with_type(dst_type, [&](auto d) {
    using D = decltype(d);
    with_type(src_type, [&](auto s) {
      using S = decltype(s);
      D* out = static_cast<D*>(dst);
      const S* in = static_cast<const S*>(src);
      for_each_offset<2>(shape, rank, {dst_strides, src_strides},
                         [&](int64_t o, int64_t i) { out[o] = static_cast<D>(in[i]); });
    });
  });
}

void fill_strided(int64_t rank, const int64_t* shape, void* dst, DType type,
                  const int64_t* strides, double value) {
  with_type(type, [&](auto t) {
    using T = decltype(t);
    T* out = static_cast<T*>(dst);
    const T v = static_cast<T>(value);
    for_each_offset<1>(shape, rank, {strides}, [&](int64_t o) { out[o] = v; });
  });
}

}  // namespace motive::cpu
