#include "kernels/cpu/cross_entropy.h"

#include <cmath>
#include <vector>

#include "kernels/cpu/column_sums.h"
#include "kernels/cpu/softmax.h"

namespace motive::cpu {

void cross_entropy_check_labels(int64_t n, int64_t c, const int32_t* labels, const BadLabel& bad) {
  for (int64_t i = 0; i < n; ++i)
    if (labels[i] < 0 || labels[i] >= c) return bad(i);
}

template <class T>
void cross_entropy_forward(int64_t n, int64_t c, const T* logits, const int32_t* labels,
                           double smoothing, T* grad, T* loss) {
  // The gradient's constants for a unit incoming gradient: (p - off) / n, and
  // (1 - s) / n less at the label.
  const double scale = 1.0 / static_cast<double>(n);
  const T k = static_cast<T>(scale), off = static_cast<T>(scale * smoothing / static_cast<double>(c));
  const T hit = static_cast<T>(scale * (1 - smoothing));
  double total = 0;
  column_sums(n, 1, &total, [&](int64_t begin, int64_t end, double* acc) {
    // Without grad the exponentials still need a row of scratch.
    std::vector<T> scratch(grad ? 0 : static_cast<size_t>(c));
    for (int64_t r = begin; r < end; ++r) {
      const T* x = logits + r * c;
      T* e = grad ? grad + r * c : scratch.data();
      T m;
      const double s = exp_shifted_row(x, c, e, &m);
      double row_sum = 0;
      for (int64_t j = 0; j < c; ++j) row_sum += x[j];
      const double lse = static_cast<double>(m) + std::log(s);
      acc[0] += lse - (1 - smoothing) * static_cast<double>(x[labels[r]]) -
                smoothing / static_cast<double>(c) * row_sum;
      if (grad) {
        const T inv = static_cast<T>(1.0 / s);
        for (int64_t j = 0; j < c; ++j) e[j] = k * (e[j] * inv) - off;
        e[labels[r]] -= hit;
      }
    }
  });
  *loss = static_cast<T>(total / static_cast<double>(n));
}

template <class T>
void cross_entropy_backward(int64_t count, const T* grad_loss, T* grad) {
  const T g = *grad_loss;
  if (g == T(1)) return;
#pragma omp parallel for if (count > (1 << 16))
  for (int64_t i = 0; i < count; ++i) grad[i] *= g;
}

#define MOTIVE_INSTANTIATE(T)                                                                \
  template void cross_entropy_forward<T>(int64_t, int64_t, const T*, const int32_t*, double, \
                                         T*, T*);                                            \
  template void cross_entropy_backward<T>(int64_t, const T*, T*);
MOTIVE_INSTANTIATE(float)
MOTIVE_INSTANTIATE(double)
#undef MOTIVE_INSTANTIATE

}  // namespace motive::cpu
