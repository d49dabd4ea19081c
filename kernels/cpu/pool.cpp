#include "kernels/cpu/pool.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/bf16.h"

namespace motive::cpu {
namespace {

// Below this many scalar operations a parallel region costs more than it saves.
constexpr int64_t kParallelWork = 1 << 15;

// Offset of pixel (row, col) of image i in an NHWC tensor of `rows` x `cols` pixels.
inline int64_t pixel(int64_t i, int64_t row, int64_t col, int64_t rows, int64_t cols, int64_t c) {
  return ((i * rows + row) * cols + col) * c;
}

// Scalar operations of one pass over every window.
inline int64_t window_work(const Window2d& win, int64_t n, int64_t c) {
  return n * win.h_out * win.w_out * win.taps() * c;
}

}  // namespace

template <class T>
void max_pool2d_forward(const Window2d& win, int64_t n, int64_t c, const T* x, T* y,
                        int32_t* argmax) {
#pragma omp parallel for collapse(2) schedule(static) if (window_work(win, n, c) > kParallelWork)
  for (int64_t i = 0; i < n; ++i)
    for (int64_t oh = 0; oh < win.h_out; ++oh)
      for (int64_t ow = 0; ow < win.w_out; ++ow) {
        const int64_t o = pixel(i, oh, ow, win.h_out, win.w_out, c);
        T* out = y + o;
        int32_t* idx = argmax ? argmax + o : nullptr;
        bool first = true;
        win.for_each_tap(oh, ow, [&](int64_t, int64_t ih, int64_t iw) {
          const T* xp = x + pixel(i, ih, iw, win.h, win.w, c);
          const auto pos = static_cast<int32_t>(ih * win.w + iw);
          if (first) {  // the first in-bounds tap seeds the max (no -inf sentinel to lose)
            std::copy(xp, xp + c, out);
            if (idx) std::fill(idx, idx + c, pos);
            first = false;
            return;
          }
          for (int64_t ch = 0; ch < c; ++ch)
            if (xp[ch] > out[ch] || std::isnan(xp[ch])) {
              out[ch] = xp[ch];
              if (idx) idx[ch] = pos;
            }
        });
      }
}

template <class T>
void max_pool2d_backward(const Window2d& win, int64_t n, int64_t c, const T* dy,
                         const int32_t* argmax, T* dx) {
  using W = wide_t<T>;
  const int64_t in_pixels = win.h * win.w, out_pixels = win.h_out * win.w_out;
  // Windows overlap within an image, so each image is one thread's scatter, in
  // ascending output order (as the CUDA kernel gathers). bf16 sums in a float
  // image and rounds once, as the CUDA kernel does.
#pragma omp parallel if (n * (in_pixels + out_pixels) * c > kParallelWork)
  {
    std::vector<W> sums(std::is_same_v<T, W> ? 0 : static_cast<size_t>(in_pixels * c));
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      T* dxi = dx + i * in_pixels * c;
      W* acc = sums.data();
      if constexpr (std::is_same_v<T, W>) acc = dxi;
      std::fill(acc, acc + in_pixels * c, W(0));
      for (int64_t p = 0; p < out_pixels; ++p) {
        const int64_t o = (i * out_pixels + p) * c;
        for (int64_t ch = 0; ch < c; ++ch) acc[argmax[o + ch] * c + ch] += dy[o + ch];
      }
      if constexpr (!std::is_same_v<T, W>) std::copy(acc, acc + in_pixels * c, dxi);
    }
  }
}

// The sums of the averaging kernels run in wide_t<T> (float for bf16), in a
// per-thread row of c accumulators, and round once when stored.
template <class T>
struct ChannelSums {
  std::vector<wide_t<T>> acc;
  explicit ChannelSums(int64_t c) : acc(static_cast<size_t>(c)) {}
  void clear() { std::fill(acc.begin(), acc.end(), wide_t<T>(0)); }
  void add(const T* row) {
    for (size_t ch = 0; ch < acc.size(); ++ch) acc[ch] += row[ch];
  }
  void store_scaled(T* out, wide_t<T> scale) const {
    for (size_t ch = 0; ch < acc.size(); ++ch) out[ch] = static_cast<T>(acc[ch] * scale);
  }
};

// Average pooling both ways is a gather: each pixel (i, r, q) of dst, an image
// of rows x cols, is scale times the sum of the src pixels (i, sr, sq) that
// each_source(r, q, f) passes to f(_, sr, sq); src images are src_rows x
// src_cols. Forward gathers the taps of a window, backward the windows over an
// input pixel (no write races either way).
template <class T, class EachSource>
void gather_average(const Window2d& win, int64_t n, int64_t c, int64_t rows, int64_t cols,
                    const T* src, int64_t src_rows, int64_t src_cols, T* dst,
                    EachSource each_source) {
  const wide_t<T> scale = wide_t<T>(1) / static_cast<wide_t<T>>(win.taps());
#pragma omp parallel if (window_work(win, n, c) > kParallelWork)
  {
    ChannelSums<T> sums(c);
#pragma omp for collapse(2) schedule(static)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t q = 0; q < cols; ++q) {
          sums.clear();
          each_source(r, q, [&](int64_t, int64_t sr, int64_t sq) {
            sums.add(src + pixel(i, sr, sq, src_rows, src_cols, c));
          });
          sums.store_scaled(dst + pixel(i, r, q, rows, cols, c), scale);
        }
  }
}

template <class T>
void avg_pool2d_forward(const Window2d& win, int64_t n, int64_t c, const T* x, T* y) {
  gather_average(win, n, c, win.h_out, win.w_out, x, win.h, win.w, y,
                 [&](int64_t oh, int64_t ow, const auto& f) { win.for_each_tap(oh, ow, f); });
}

template <class T>
void avg_pool2d_backward(const Window2d& win, int64_t n, int64_t c, const T* dy, T* dx) {
  gather_average(win, n, c, win.h, win.w, dy, win.h_out, win.w_out, dx,
                 [&](int64_t ih, int64_t iw, const auto& f) { win.for_each_output(ih, iw, f); });
}

template <class T>
void global_avg_pool2d_forward(int64_t n, int64_t pixels, int64_t c, const T* x, T* y) {
  const wide_t<T> scale = wide_t<T>(1) / static_cast<wide_t<T>>(pixels);
#pragma omp parallel if (n * pixels * c > kParallelWork)
  {
    ChannelSums<T> sums(c);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      sums.clear();
      for (int64_t p = 0; p < pixels; ++p) sums.add(x + (i * pixels + p) * c);
      sums.store_scaled(y + i * c, scale);
    }
  }
}

template <class T>
void global_avg_pool2d_backward(int64_t n, int64_t pixels, int64_t c, const T* dy, T* dx) {
  const wide_t<T> scale = wide_t<T>(1) / static_cast<wide_t<T>>(pixels);
#pragma omp parallel for collapse(2) schedule(static) if (n * pixels * c > kParallelWork)
  for (int64_t i = 0; i < n; ++i)
    for (int64_t p = 0; p < pixels; ++p) {
      T* dst = dx + (i * pixels + p) * c;
      for (int64_t ch = 0; ch < c; ++ch) dst[ch] = dy[i * c + ch] * scale;
    }
}

#define MOTIVE_POOL_INSTANTIATE(T)                                                              \
  template void max_pool2d_forward<T>(const Window2d&, int64_t, int64_t, const T*, T*, int32_t*); \
  template void max_pool2d_backward<T>(const Window2d&, int64_t, int64_t, const T*,            \
                                       const int32_t*, T*);                                     \
  template void avg_pool2d_forward<T>(const Window2d&, int64_t, int64_t, const T*, T*);         \
  template void avg_pool2d_backward<T>(const Window2d&, int64_t, int64_t, const T*, T*);        \
  template void global_avg_pool2d_forward<T>(int64_t, int64_t, int64_t, const T*, T*);          \
  template void global_avg_pool2d_backward<T>(int64_t, int64_t, int64_t, const T*, T*);
MOTIVE_POOL_INSTANTIATE(float)
MOTIVE_POOL_INSTANTIATE(double)
MOTIVE_POOL_INSTANTIATE(bf16)
#undef MOTIVE_POOL_INSTANTIATE

}  // namespace motive::cpu
