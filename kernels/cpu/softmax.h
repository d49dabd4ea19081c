// Softmax over the last dim of a dense [rows, cols] array, numerically stable
// (the row maximum is subtracted before exp, so no logit overflows).
#pragma once
#include <cmath>
#include <cstdint>

namespace motive::cpu {

// Writes e = exp(x - max(x)) into e[0, n) and returns sum(e) (accumulated in
// double); *row_max receives max(x). log-sum-exp(x) = row_max + log(sum).
// Shared with cross_entropy's fused log-softmax.
template <class T>
inline double exp_shifted_row(const T* x, int64_t n, T* e, T* row_max) {
  T m = x[0];
  for (int64_t j = 1; j < n; ++j) m = x[j] > m ? x[j] : m;
  double s = 0;
  for (int64_t j = 0; j < n; ++j) {
    e[j] = std::exp(x[j] - m);
    s += e[j];
  }
  *row_max = m;
  return s;
}

// y = softmax(x) row by row. cols >= 1.
template <class T>
void softmax_forward(int64_t rows, int64_t cols, const T* x, T* y);

// dx = y * (g - sum(g * y)) row by row (y the forward output).
template <class T>
void softmax_backward(int64_t rows, int64_t cols, const T* y, const T* g, T* dx);

}  // namespace motive::cpu
