#include "kernels/cpu/optim.h"

#include "kernels/cpu/strided.h"
#include "kernels/optim_rules.h"

namespace motive::cpu {
namespace {

// Calls f(e) for every element of the view, e being its offset from element 0.
// Trailing dims that nest contiguously merge into one run (a contiguous
// parameter is a single run, a 2-D sub-block one run per row); for_each_offset
// walks the remaining dims, and each run is a plain loop that the compiler
// vectorises (8x faster than visiting every element through for_each_offset).
template <class F>
void for_each_element(int64_t rank, const int64_t* shape, const int64_t* strides, const F& f) {
  if (rank == 0) {
    f(int64_t{0});
    return;
  }
  int64_t outer = rank - 1, run = shape[outer];
  const int64_t stride = strides[outer];
  while (outer > 0 && strides[outer - 1] == stride * run) run *= shape[--outer];
  for_each_offset<1>(shape, outer, {strides}, [&](int64_t first) {
    if (stride == 1) {
      for (int64_t k = 0; k < run; ++k) f(first + k);
    } else {
      for (int64_t k = 0; k < run; ++k) f(first + k * stride);
    }
  });
}

// Calls f(param[e], grad[e], e) for every element e of u's view. The
// pointers are locals: read through `u` inside the loop, they would be
// reloaded every element (the compiler cannot prove the stores leave them
// alone), which costs 4x here; the same goes for the captures of f.
template <class T, class F>
void visit(const ParamUpdate<T>& u, const F& f) {
  T* const param = u.param;
  const T* const grad = u.grad;
  for_each_element(u.rank, u.shape, u.strides, [&](int64_t e) { f(param[e], grad[e], e); });
}

// Parameters are spread over the threads (they share no elements): one
// parallel region for the whole update, as the CUDA twin's one launch.
// Below this many elements in all, one thread does it.
constexpr int64_t kParallelElements = 1 << 16;

template <class T>
int64_t total_elements(int64_t count, const ParamUpdate<T>* params) {
  int64_t n = 0;
  for (int64_t i = 0; i < count; ++i) {
    int64_t e = 1;
    for (int64_t d = 0; d < params[i].rank; ++d) e *= params[i].shape[d];
    n += e;
  }
  return n;
}

}  // namespace

template <class T>
void sgd_step(int64_t count, const ParamUpdate<T>* params, const SgdHyper& h) {
  const SgdConstants<T> c = sgd_constants<T>(h);
#pragma omp parallel for schedule(dynamic) if (total_elements(count, params) > kParallelElements)
  for (int64_t i = 0; i < count; ++i) {
    const SgdCoef<T> k = sgd_coef<T>(h, params[i]);
    T* const buf = params[i].state[0];
    if (buf) {
      visit(params[i], [&](T& p, T g, int64_t e) { sgd_update<true>(c, k, p, g, buf[e]); });
    } else {
      visit(params[i], [&](T& p, T g, int64_t) {
        T unused = 0;
        sgd_update<false>(c, k, p, g, unused);
      });
    }
  }
}

template <class T>
void adamw_step(int64_t count, const ParamUpdate<T>* params, const AdamWHyper& h) {
  const AdamWConstants<T> c = adamw_constants<T>(h);
#pragma omp parallel for schedule(dynamic) if (total_elements(count, params) > kParallelElements)
  for (int64_t i = 0; i < count; ++i) {
    const AdamWCoef<T> k = adamw_coef<T>(h, params[i]);
    T* const m = params[i].state[0];
    T* const v = params[i].state[1];
    visit(params[i], [&](T& p, T g, int64_t e) { adamw_update(c, k, p, g, m[e], v[e]); });
  }
}

#define MOTIVE_OPTIM_INSTANTIATE(T)                                                \
  template void sgd_step<T>(int64_t, const ParamUpdate<T>*, const SgdHyper&);      \
  template void adamw_step<T>(int64_t, const ParamUpdate<T>*, const AdamWHyper&);
MOTIVE_OPTIM_INSTANTIATE(float)
MOTIVE_OPTIM_INSTANTIATE(double)
#undef MOTIVE_OPTIM_INSTANTIATE

}  // namespace motive::cpu
