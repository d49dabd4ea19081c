#include "kernels/cpu/pool.h"

#include <algorithm>
#include <cmath>

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
  const int64_t in_pixels = win.h * win.w, out_pixels = win.h_out * win.w_out;
  // Windows overlap within an image, so each image is one thread's scatter.
#pragma omp parallel for schedule(static) if (n * (in_pixels + out_pixels) * c > kParallelWork)
  for (int64_t i = 0; i < n; ++i) {
    T* dxi = dx + i * in_pixels * c;
    std::fill(dxi, dxi + in_pixels * c, T(0));
    for (int64_t p = 0; p < out_pixels; ++p) {
      const int64_t o = (i * out_pixels + p) * c;
      for (int64_t ch = 0; ch < c; ++ch) dxi[argmax[o + ch] * c + ch] += dy[o + ch];
    }
  }
}

template <class T>
void avg_pool2d_forward(const Window2d& win, int64_t n, int64_t c, const T* x, T* y) {
  const T scale = T(1) / static_cast<T>(win.taps());
#pragma omp parallel for collapse(2) schedule(static) if (window_work(win, n, c) > kParallelWork)
  for (int64_t i = 0; i < n; ++i)
    for (int64_t oh = 0; oh < win.h_out; ++oh)
      for (int64_t ow = 0; ow < win.w_out; ++ow) {
        T* out = y + pixel(i, oh, ow, win.h_out, win.w_out, c);
        std::fill(out, out + c, T(0));
        win.for_each_tap(oh, ow, [&](int64_t, int64_t ih, int64_t iw) {
          const T* xp = x + pixel(i, ih, iw, win.h, win.w, c);
          for (int64_t ch = 0; ch < c; ++ch) out[ch] += xp[ch];
        });
        for (int64_t ch = 0; ch < c; ++ch) out[ch] *= scale;
      }
}

template <class T>
void avg_pool2d_backward(const Window2d& win, int64_t n, int64_t c, const T* dy, T* dx) {
  const T scale = T(1) / static_cast<T>(win.taps());
  // Gather into each input pixel from the windows that cover it: no write races.
#pragma omp parallel for collapse(2) schedule(static) if (window_work(win, n, c) > kParallelWork)
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ih = 0; ih < win.h; ++ih)
      for (int64_t iw = 0; iw < win.w; ++iw) {
        T* dst = dx + pixel(i, ih, iw, win.h, win.w, c);
        std::fill(dst, dst + c, T(0));
        win.for_each_output(ih, iw, [&](int64_t, int64_t oh, int64_t ow) {
          const T* gp = dy + pixel(i, oh, ow, win.h_out, win.w_out, c);
          for (int64_t ch = 0; ch < c; ++ch) dst[ch] += gp[ch];
        });
        for (int64_t ch = 0; ch < c; ++ch) dst[ch] *= scale;
      }
}

template <class T>
void global_avg_pool2d_forward(int64_t n, int64_t pixels, int64_t c, const T* x, T* y) {
  const T scale = T(1) / static_cast<T>(pixels);
#pragma omp parallel for schedule(static) if (n * pixels * c > kParallelWork)
  for (int64_t i = 0; i < n; ++i) {
    T* out = y + i * c;
    std::fill(out, out + c, T(0));
    for (int64_t p = 0; p < pixels; ++p) {
      const T* xp = x + (i * pixels + p) * c;
      for (int64_t ch = 0; ch < c; ++ch) out[ch] += xp[ch];
    }
    for (int64_t ch = 0; ch < c; ++ch) out[ch] *= scale;
  }
}

template <class T>
void global_avg_pool2d_backward(int64_t n, int64_t pixels, int64_t c, const T* dy, T* dx) {
  const T scale = T(1) / static_cast<T>(pixels);
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
#undef MOTIVE_POOL_INSTANTIATE

}  // namespace motive::cpu
