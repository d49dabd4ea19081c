#include "kernels/cpu/softmax.h"

namespace motive::cpu {
namespace {
// Rows are independent: split them across cores once there is enough work.
constexpr int64_t kParallelMin = 1 << 15;
}  // namespace

template <class T>
void softmax_forward(int64_t rows, int64_t cols, const T* x, T* y) {
#pragma omp parallel for if (rows * cols > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    T m;
    T* yr = y + r * cols;
    const T inv = static_cast<T>(1.0 / exp_shifted_row(x + r * cols, cols, yr, &m));
    for (int64_t j = 0; j < cols; ++j) yr[j] *= inv;
  }
}

template <class T>
void softmax_backward(int64_t rows, int64_t cols, const T* y, const T* g, T* dx) {
#pragma omp parallel for if (rows * cols > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const T* yr = y + r * cols;
    const T* gr = g + r * cols;
    double dot = 0;
    for (int64_t j = 0; j < cols; ++j) dot += static_cast<double>(gr[j]) * yr[j];
    const T d = static_cast<T>(dot);
    for (int64_t j = 0; j < cols; ++j) dx[r * cols + j] = yr[j] * (gr[j] - d);
  }
}

#define MOTIVE_INSTANTIATE(T)                                                  \
  template void softmax_forward<T>(int64_t, int64_t, const T*, T*);           \
  template void softmax_backward<T>(int64_t, int64_t, const T*, const T*, T*);
MOTIVE_INSTANTIATE(float)
MOTIVE_INSTANTIATE(double)
#undef MOTIVE_INSTANTIATE

}  // namespace motive::cpu
