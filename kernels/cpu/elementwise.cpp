#include "kernels/cpu/elementwise.h"

#include <algorithm>
#include <vector>

#include "kernels/bf16.h"
#include "kernels/cpu/strided.h"
#include "kernels/layout.h"

namespace motive::cpu {
namespace {

template <class T, class F>
void apply(int64_t rank, const int64_t* shape, T* out, const int64_t* os, const T* a,
           const int64_t* as, const T* b, const int64_t* bs, F f) {
  if (is_dense(rank, shape, os) && is_dense(rank, shape, as) && is_dense(rank, shape, bs)) {
    const int64_t n = element_count(rank, shape);
    // Large dense tensors are split across cores; small ones stay serial.
#pragma omp parallel for if (n > (1 << 16))
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
    return;
  }
  for_each_offset<3>(shape, rank, {os, as, bs},
                     [&](int64_t o, int64_t i, int64_t j) { out[o] = f(a[i], b[j]); });
}

}  // namespace

template <class T>
void binary(BinaryOp op, int64_t rank, const int64_t* shape, T* out, const int64_t* os,
            const T* a, const int64_t* as, const T* b, const int64_t* bs) {
  switch (op) {
    case BinaryOp::Add: return apply(rank, shape, out, os, a, as, b, bs, [](T x, T y) { return x + y; });
    case BinaryOp::Sub: return apply(rank, shape, out, os, a, as, b, bs, [](T x, T y) { return x - y; });
    case BinaryOp::Mul: return apply(rank, shape, out, os, a, as, b, bs, [](T x, T y) { return x * y; });
    case BinaryOp::Div: return apply(rank, shape, out, os, a, as, b, bs, [](T x, T y) { return x / y; });
  }
}

template <class T>
void affine(int64_t n, const T* a, wide_t<T> scale, wide_t<T> shift, T* out) {
#pragma omp parallel for if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] * scale + shift;
}

template <class T>
void sum_into(int64_t rank, const int64_t* shape, T* out, const int64_t* os, const T* in,
              const int64_t* is) {
  // Accumulate into a dense double shadow of the output's span, then write back.
  int64_t span = 1;
  for (int64_t d = 0; d < rank; ++d)
    if (os[d] != 0) span = std::max(span, os[d] * shape[d]);
  std::vector<double> acc(static_cast<size_t>(span), 0.0);
  for_each_offset<2>(shape, rank, {os, is}, [&](int64_t o, int64_t i) { acc[o] += in[i]; });
  std::vector<int64_t> touched_shape(shape, shape + rank);
  for (int64_t d = 0; d < rank; ++d)
    if (os[d] == 0) touched_shape[d] = 1;
  for_each_offset<1>(touched_shape.data(), rank, {os},
                     [&](int64_t o) { out[o] += static_cast<T>(acc[o]); });
}

#define MOTIVE_INSTANTIATE(T)                                                                  \
  template void binary<T>(BinaryOp, int64_t, const int64_t*, T*, const int64_t*, const T*,     \
                          const int64_t*, const T*, const int64_t*);                           \
  template void affine<T>(int64_t, const T*, wide_t<T>, wide_t<T>, T*);                        \
  template void sum_into<T>(int64_t, const int64_t*, T*, const int64_t*, const T*,             \
                            const int64_t*);
MOTIVE_INSTANTIATE(float)
MOTIVE_INSTANTIATE(double)
MOTIVE_INSTANTIATE(bf16)

}  // namespace motive::cpu
