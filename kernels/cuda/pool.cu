// Pooling kernels: one thread per output (forward) or input (backward) element,
// channels fastest, so each warp reads and writes 32 consecutive channels of a
// pixel (coalesced). Backward passes gather into each input element from the
// windows that cover it: no atomics, deterministic. The max backward visits
// those windows in ascending output order, the order in which the CPU kernel
// scatters, so its sums match the CPU's bit for bit.
#include <cmath>

#include "kernels/bf16.h"
#include "kernels/cuda/column_sums.cuh"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/pool.h"

namespace motive::cuda {
namespace {

// Element i of an NHWC tensor of rows x cols pixels and c channels.
struct Element {
  int64_t n, row, col, ch;
  __device__ Element(int64_t i, int64_t rows, int64_t cols, int64_t c)
      : n(i / c / cols / rows), row(i / c / cols % rows), col(i / c % cols), ch(i % c) {}
};

// f(ih, iw) for each tap of output pixel (oh, ow) inside the input, in (kh, kw) order.
template <class F>
__device__ void for_each_tap(const Window2d& v, int64_t oh, int64_t ow, F&& f) {
  for (int64_t kh = 0; kh < v.k_h; ++kh) {
    const int64_t ih = oh * v.stride - v.padding + kh * v.dilation;
    if (ih < 0 || ih >= v.h) continue;
    for (int64_t kw = 0; kw < v.k_w; ++kw) {
      const int64_t iw = ow * v.stride - v.padding + kw * v.dilation;
      if (iw >= 0 && iw < v.w) f(ih, iw);
    }
  }
}

// f(oh, ow) for each output pixel whose window reads input pixel (ih, iw), in
// ascending (oh, ow) order: taps backwards, since a later tap means an earlier output.
template <class F>
__device__ void for_each_output(const Window2d& v, int64_t ih, int64_t iw, F&& f) {
  for (int64_t kh = v.k_h - 1; kh >= 0; --kh) {
    const int64_t th = ih + v.padding - kh * v.dilation;
    if (th < 0 || th % v.stride != 0 || th / v.stride >= v.h_out) continue;
    for (int64_t kw = v.k_w - 1; kw >= 0; --kw) {
      const int64_t tw = iw + v.padding - kw * v.dilation;
      if (tw < 0 || tw % v.stride != 0 || tw / v.stride >= v.w_out) continue;
      f(th / v.stride, tw / v.stride);
    }
  }
}

#define MOTIVE_GRID_STRIDE(i, total)                                            \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (total); \
       i += int64_t(gridDim.x) * blockDim.x)

template <class T>
__global__ void max_forward(int64_t total, Window2d v, int64_t c, const T* x, T* y,
                            int32_t* argmax) {
  MOTIVE_GRID_STRIDE(i, total) {
    const Element o(i, v.h_out, v.w_out, c);
    T best = 0;
    int32_t pos = -1;
    // The first in-bounds tap seeds the max; NaN replaces it (propagates).
    for_each_tap(v, o.row, o.col, [&](int64_t ih, int64_t iw) {
      const T value = x[((o.n * v.h + ih) * v.w + iw) * c + o.ch];
      if (pos < 0 || value > best || isnan(value)) {
        best = value;
        pos = static_cast<int32_t>(ih * v.w + iw);
      }
    });
    y[i] = best;
    if (argmax) argmax[i] = pos;
  }
}

template <class T>
__global__ void max_backward(int64_t total, Window2d v, int64_t c, const T* dy,
                             const int32_t* argmax, T* dx) {
  MOTIVE_GRID_STRIDE(i, total) {
    const Element e(i, v.h, v.w, c);
    const int32_t me = static_cast<int32_t>(e.row * v.w + e.col);
    wide_t<T> acc = 0;
    for_each_output(v, e.row, e.col, [&](int64_t oh, int64_t ow) {
      const int64_t o = ((e.n * v.h_out + oh) * v.w_out + ow) * c + e.ch;
      if (argmax[o] == me) acc += dy[o];
    });
    dx[i] = acc;
  }
}

template <class T>
__global__ void avg_forward(int64_t total, Window2d v, int64_t c, const T* x, T* y) {
  const wide_t<T> scale = wide_t<T>(1) / static_cast<wide_t<T>>(v.k_h * v.k_w);
  MOTIVE_GRID_STRIDE(i, total) {
    const Element o(i, v.h_out, v.w_out, c);
    wide_t<T> acc = 0;
    for_each_tap(v, o.row, o.col, [&](int64_t ih, int64_t iw) {
      acc += x[((o.n * v.h + ih) * v.w + iw) * c + o.ch];
    });
    y[i] = acc * scale;
  }
}

template <class T>
__global__ void avg_backward(int64_t total, Window2d v, int64_t c, const T* dy, T* dx) {
  const wide_t<T> scale = wide_t<T>(1) / static_cast<wide_t<T>>(v.k_h * v.k_w);
  MOTIVE_GRID_STRIDE(i, total) {
    const Element e(i, v.h, v.w, c);
    wide_t<T> acc = 0;
    for_each_output(v, e.row, e.col, [&](int64_t oh, int64_t ow) {
      acc += dy[((e.n * v.h_out + oh) * v.w_out + ow) * c + e.ch];
    });
    dx[i] = acc * scale;
  }
}

template <class T>
__global__ void global_avg_backward(int64_t total, int64_t pixels, int64_t c, const T* dy, T* dx,
                                    wide_t<T> scale) {
  MOTIVE_GRID_STRIDE(i, total) { dx[i] = dy[i / (pixels * c) * c + i % c] * scale; }
}

#undef MOTIVE_GRID_STRIDE

template <class K, class... Args>
void launch(const char* op, K kernel, int64_t total, Args... args) {
  if (total == 0) return;
  kernel<<<blocks_for(total), 256, 0, stream()>>>(total, args...);
  MOTIVE_CUDA_LAUNCH_CHECK(op);
}

}  // namespace

template <class T>
void max_pool2d_forward(const Window2d& win, int64_t n, int64_t c, const T* x, T* y,
                        int32_t* argmax) {
  launch("max_pool2d", max_forward<T>, n * win.h_out * win.w_out * c, win, c, x, y, argmax);
}

template <class T>
void max_pool2d_backward(const Window2d& win, int64_t n, int64_t c, const T* dy,
                         const int32_t* argmax, T* dx) {
  launch("max_pool2d backward", max_backward<T>, n * win.h * win.w * c, win, c, dy, argmax, dx);
}

template <class T>
void avg_pool2d_forward(const Window2d& win, int64_t n, int64_t c, const T* x, T* y) {
  launch("avg_pool2d", avg_forward<T>, n * win.h_out * win.w_out * c, win, c, x, y);
}

template <class T>
void avg_pool2d_backward(const Window2d& win, int64_t n, int64_t c, const T* dy, T* dx) {
  launch("avg_pool2d backward", avg_backward<T>, n * win.h * win.w * c, win, c, dy, dx);
}

template <class T>
void global_avg_pool2d_forward(int64_t n, int64_t pixels, int64_t c, const T* x, T* y) {
  column_sums(n, pixels, c, x, y, 1.0 / static_cast<double>(pixels), "global_avg_pool2d");
}

template <class T>
void global_avg_pool2d_backward(int64_t n, int64_t pixels, int64_t c, const T* dy, T* dx) {
  launch("global_avg_pool2d backward", global_avg_backward<T>, n * pixels * c, pixels, c, dy, dx,
         wide_t<T>(1) / static_cast<wide_t<T>>(pixels));
}

#define MOTIVE_POOL_INSTANTIATE(T)                                                                \
  template void max_pool2d_forward<T>(const Window2d&, int64_t, int64_t, const T*, T*, int32_t*); \
  template void max_pool2d_backward<T>(const Window2d&, int64_t, int64_t, const T*,               \
                                       const int32_t*, T*);                                       \
  template void avg_pool2d_forward<T>(const Window2d&, int64_t, int64_t, const T*, T*);           \
  template void avg_pool2d_backward<T>(const Window2d&, int64_t, int64_t, const T*, T*);          \
  template void global_avg_pool2d_forward<T>(int64_t, int64_t, int64_t, const T*, T*);            \
  template void global_avg_pool2d_backward<T>(int64_t, int64_t, int64_t, const T*, T*);
MOTIVE_POOL_INSTANTIATE(float)
MOTIVE_POOL_INSTANTIATE(double)
MOTIVE_POOL_INSTANTIATE(bf16)
#undef MOTIVE_POOL_INSTANTIATE

}  // namespace motive::cuda
