#include "kernels/cpu/cross_entropy.h"

#include <cmath>
#include <vector>

#include "kernels/cpu/column_sums.h"
#include "kernels/cpu/softmax.h"

namespace motive::cpu {

void cross_entropy_check_labels(int64_t n, int64_t c, const int32_t* labels, int64_t* first_bad) {
  *first_bad = -1;
  for (int64_t i = 0; i < n; ++i)
    if (labels[i] < 0 || labels[i] >= c) {
      *first_bad = i;
      return;
    }
}

template <class T>
void cross_entropy_forward(int64_t n, int64_t c, const T* logits, const int32_t* labels,
                           double smoothing, T* probs, T* loss) {
  double total = 0;
  column_sums(n, 1, &total, [&](int64_t begin, int64_t end, double* acc) {
    // Without probs the exponentials still need a row of scratch.
    std::vector<T> scratch(probs ? 0 : static_cast<size_t>(c));
    for (int64_t r = begin; r < end; ++r) {
      const T* x = logits + r * c;
      T* e = probs ? probs + r * c : scratch.data();
      T m;
      const double s = exp_shifted_row(x, c, e, &m);
      double row_sum = 0;
      for (int64_t j = 0; j < c; ++j) row_sum += x[j];
      const double lse = static_cast<double>(m) + std::log(s);
      acc[0] += lse - (1 - smoothing) * static_cast<double>(x[labels[r]]) -
                smoothing / static_cast<double>(c) * row_sum;
      if (probs) {
        const T inv = static_cast<T>(1.0 / s);
        for (int64_t j = 0; j < c; ++j) e[j] *= inv;
      }
    }
  });
  *loss = static_cast<T>(total / static_cast<double>(n));
}

template <class T>
void cross_entropy_backward(int64_t n, int64_t c, const T* probs, const int32_t* labels,
                            double smoothing, const T* grad_loss, T* dx) {
  const double scale = static_cast<double>(*grad_loss) / static_cast<double>(n);
  const T k = static_cast<T>(scale),
          off = static_cast<T>(scale * smoothing / static_cast<double>(c));
  const T hit = static_cast<T>(scale * (1 - smoothing));
#pragma omp parallel for if (n * c > (1 << 15))
  for (int64_t r = 0; r < n; ++r) {
    const T* p = probs + r * c;
    T* d = dx + r * c;
    for (int64_t j = 0; j < c; ++j) d[j] = k * p[j] - off;
    d[labels[r]] -= hit;
  }
}

#define MOTIVE_INSTANTIATE(T)                                                                 \
  template void cross_entropy_forward<T>(int64_t, int64_t, const T*, const int32_t*, double,  \
                                         T*, T*);                                             \
  template void cross_entropy_backward<T>(int64_t, int64_t, const T*, const int32_t*, double, \
                                          const T*, T*);
MOTIVE_INSTANTIATE(float)
MOTIVE_INSTANTIATE(double)
#undef MOTIVE_INSTANTIATE

}  // namespace motive::cpu
