#include "kernels/cpu/conv2d.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "kernels/cpu/conv2d_direct.h"
#include "kernels/cpu/depthwise_conv2d.h"
#include "kernels/cpu/matmul.h"

namespace motive::cpu {
namespace {

// Below this many scalar operations a parallel region costs more than it saves.
constexpr int64_t kParallelWork = 1 << 15;
// Target size of one chunk's patch matrix: small enough to stay in the last-level
// cache between im2col and the GEMM that reads it.
constexpr int64_t kChunkBytes = int64_t{4} << 20;

// Sizes derived from a Conv2dShape, named once.
struct Dims {
  int64_t c_in_g, c_out_g, cols, pixels;  // cols = taps * c_in_g; pixels = h_out * w_out
  explicit Dims(const Conv2dShape& s)
      : c_in_g(s.c_in / s.groups),
        c_out_g(s.c_out / s.groups),
        cols(s.win.taps() * c_in_g),
        pixels(s.win.h_out * s.win.w_out) {}
};

bool is_depthwise(const Conv2dShape& s) { return s.groups == s.c_in && s.c_out == s.c_in; }

// 1x1, stride 1, no padding: the NHWC input is already the patch matrix.
bool is_pointwise(const Conv2dShape& s) {
  return s.win.k_h == 1 && s.win.k_w == 1 && s.win.stride == 1 && s.win.padding == 0;
}

// Whole images per chunk so the chunk's patch matrix is about kChunkBytes.
int64_t chunk_images(const Conv2dShape& s, const Dims& d, size_t elem_size) {
  const int64_t per_image =
      std::max<int64_t>(1, d.pixels * d.cols * static_cast<int64_t>(elem_size));
  return std::clamp<int64_t>(kChunkBytes / per_image, 1, std::max<int64_t>(s.n, 1));
}

// Patch rows of images [n0, n1) for group g: col[(n - n0) * pixels + p, tap * c_in_g + c].
template <class T>
void im2col(const Conv2dShape& s, const Dims& d, const T* x, int64_t n0, int64_t n1, int64_t g,
            T* col) {
  const Window2d& win = s.win;
  const size_t bytes = static_cast<size_t>(d.c_in_g) * sizeof(T);
  const bool parallel = (n1 - n0) * d.pixels * d.cols > kParallelWork;
#pragma omp parallel for collapse(2) schedule(static) if (parallel)
  for (int64_t n = n0; n < n1; ++n)
    for (int64_t oh = 0; oh < win.h_out; ++oh)
      for (int64_t ow = 0; ow < win.w_out; ++ow) {
        T* row = col + ((n - n0) * d.pixels + oh * win.w_out + ow) * d.cols;
        if (!win.interior(oh, ow)) std::fill(row, row + d.cols, T(0));
        win.for_each_tap(oh, ow, [&](int64_t tap, int64_t ih, int64_t iw) {
          const T* src = x + ((n * win.h + ih) * win.w + iw) * s.c_in + g * d.c_in_g;
          std::memcpy(row + tap * d.c_in_g, src, bytes);
        });
      }
}

// The transpose of im2col: dx[n, ih, iw, group g channels] = the sum of the
// patch-gradient entries read from that pixel. Overwrites those channels.
template <class T>
void col2im(const Conv2dShape& s, const Dims& d, const T* col, int64_t n0, int64_t n1, int64_t g,
            T* dx) {
  const Window2d& win = s.win;
  const bool parallel = (n1 - n0) * d.pixels * d.cols > kParallelWork;
#pragma omp parallel for collapse(2) schedule(static) if (parallel)
  for (int64_t n = n0; n < n1; ++n)
    for (int64_t ih = 0; ih < win.h; ++ih)
      for (int64_t iw = 0; iw < win.w; ++iw) {
        T* dst = dx + ((n * win.h + ih) * win.w + iw) * s.c_in + g * d.c_in_g;
        std::fill(dst, dst + d.c_in_g, T(0));
        win.for_each_output(ih, iw, [&](int64_t tap, int64_t oh, int64_t ow) {
          const T* src =
              col + ((n - n0) * d.pixels + oh * win.w_out + ow) * d.cols + tap * d.c_in_g;
          for (int64_t c = 0; c < d.c_in_g; ++c) dst[c] += src[c];
        });
      }
}

// Runs f(acc, begin, end) on each thread over a share of [0, rows), each thread
// adding into its own zeroed accumulator of `len` values; out = their sum.
template <class T, class F>
void parallel_reduce_rows(int64_t rows, int64_t len, int64_t work, T* out, F&& f) {
  const int threads = work > kParallelWork ? omp_get_max_threads() : 1;
  std::vector<T> partial(static_cast<size_t>(threads * len), T(0));
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    f(partial.data() + t * len, rows * t / nt, rows * (t + 1) / nt);
  }
  std::fill(out, out + len, T(0));
  for (int t = 0; t < threads; ++t)
    for (int64_t i = 0; i < len; ++i) out[i] += partial[t * len + i];
}

// How many threads for_each_chunk asks for (at most one per image).
int64_t chunk_threads(const Conv2dShape& s, const Dims& d) {
  const int64_t work = s.n * d.pixels * d.cols * s.c_out;
  return work > kParallelWork ? std::min<int64_t>(omp_get_max_threads(), s.n) : 1;
}

// Splits the batch into one share of images per thread, and each share into
// chunks of about kChunkBytes of patches: f(t, n0, n1, first, col) runs for
// chunk [n0, n1) on thread t, with `first` set on a thread's first chunk and
// `col` that thread's own patch buffer. Inside this one parallel region the
// kernels and Eigen's GEMM run single-threaded, so a step costs one fork/join
// and each thread's patches stay in its own cache. With fewer images than
// threads (or little work) it runs on the caller, and the kernels parallelise
// inside instead. Returns the number of threads that ran.
template <class T, class F>
int64_t for_each_chunk(const Conv2dShape& s, const Dims& d, F&& f) {
  const int64_t step = chunk_images(s, d, sizeof(T));
  const int64_t threads = chunk_threads(s, d);
  const int64_t buffer = step * d.pixels * d.cols;
  const std::unique_ptr<T[]> col(new T[static_cast<size_t>(threads * buffer)]);
  int64_t used = 1;
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    if (t == 0) used = nt;
    const int64_t begin = s.n * t / nt, end = s.n * (t + 1) / nt;
    for (int64_t n0 = begin; n0 < end; n0 += step)
      f(t, n0, std::min(end, n0 + step), n0 == begin, col.get() + t * buffer);
  }
  return used;
}

// The filter as the dense OHWI matrix the im2col path multiplies: w itself,
// or a packed copy of a strided view (s.w_stride_*) in `buffer`.
template <class T>
const T* dense_filter(const Conv2dShape& s, const T* w, std::vector<T>& buffer) {
  const Dims d(s);
  const int64_t k_w = s.win.k_w, so = s.w_stride_o, sh = s.w_stride_h, sw = s.w_stride_w;
  if (so == 0 || (so == d.cols && sh == k_w * d.c_in_g && sw == d.c_in_g)) return w;
  buffer.resize(static_cast<size_t>(s.c_out * d.cols));
  for (int64_t co = 0; co < s.c_out; ++co)
    for (int64_t t = 0; t < s.win.taps(); ++t)
      std::copy_n(w + co * so + (t / k_w) * sh + (t % k_w) * sw, d.c_in_g,
                  buffer.data() + co * d.cols + t * d.c_in_g);
  return buffer.data();
}

}  // namespace

template <class T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y) {
  const Dims d(s);
  const int64_t rows = s.n * d.pixels;
  if (rows == 0) return;
  if (direct_forward_fits<T>(s)) return direct_conv_forward(s, x, w, b, y);
  std::vector<T> packed;
  w = dense_filter(s, w, packed);
  if (is_depthwise(s)) return depthwise_conv2d_forward(s, x, w, b, y);
  if (b) {
#pragma omp parallel for schedule(static) if (rows * s.c_out > kParallelWork)
    for (int64_t r = 0; r < rows; ++r) std::copy(b, b + s.c_out, y + r * s.c_out);
  }
  // Per group g: y[:, g block] (+)= patches_g [rows, cols] * w_g^T, with w_g the
  // row-major [c_out_g, cols] block of the OHWI filter.
  const bool acc = b != nullptr;
  auto w_g = [&](int64_t g) { return w + g * d.c_out_g * d.cols; };
  if (is_pointwise(s)) {
    for (int64_t g = 0; g < s.groups; ++g)
      gemm<T>(rows, d.c_out_g, d.cols, x + g * d.c_in_g, {s.c_in, 1}, w_g(g), {1, d.cols},
              y + g * d.c_out_g, s.c_out, acc);
    return;
  }
  for_each_chunk<T>(s, d, [&](int64_t, int64_t n0, int64_t n1, bool, T* col) {
    for (int64_t g = 0; g < s.groups; ++g) {
      im2col(s, d, x, n0, n1, g, col);
      gemm<T>((n1 - n0) * d.pixels, d.c_out_g, d.cols, col, {d.cols, 1}, w_g(g), {1, d.cols},
              y + n0 * d.pixels * s.c_out + g * d.c_out_g, s.c_out, acc);
    }
  });
}

template <class T>
void conv2d_backward(const Conv2dShape& s, const T* x, const T* w, const T* dy, T* dx, T* dw,
                     T* db) {
  const Dims d(s);
  const int64_t rows = s.n * d.pixels;
  if (db) {
    auto sum_rows = [&](T* part, int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r)
        for (int64_t c = 0; c < s.c_out; ++c) part[c] += dy[r * s.c_out + c];
    };
    parallel_reduce_rows(rows, s.c_out, rows * s.c_out, db, sum_rows);
  }
  if (rows == 0) {  // no pixels: the filter gradient is an empty sum
    if (dw) std::fill(dw, dw + s.c_out * d.cols, T(0));
    return;
  }
  if (dx && direct_backward_data_fits<T>(s)) {
    direct_conv_backward_data(s, w, dy, dx);
    dx = nullptr;
  }
  if (dw && direct_backward_filter_fits<T>(s)) {
    direct_conv_backward_filter(s, x, dy, dw);
    dw = nullptr;
  }
  if (!dx && !dw) return;
  std::vector<T> packed;
  if (dx) w = dense_filter(s, w, packed);
  if (is_depthwise(s)) {
    if (dx) depthwise_conv2d_backward_data(s, w, dy, dx);
    if (dw) depthwise_conv2d_backward_filter(s, x, dy, dw);
    return;
  }
  // Per group g, with P the patch matrix and dY_g the group's [rows, c_out_g] block:
  // dw_g = dY_g^T P (summed over chunks), dP = dY_g w_g, dx = col2im(dP).
  auto w_g = [&](int64_t g) { return w + g * d.c_out_g * d.cols; };
  if (is_pointwise(s)) {
    for (int64_t g = 0; g < s.groups; ++g) {
      const T* dy_g = dy + g * d.c_out_g;
      if (dw)
        gemm<T>(d.c_out_g, d.cols, rows, dy_g, {1, s.c_out}, x + g * d.c_in_g, {s.c_in, 1},
                dw + g * d.c_out_g * d.cols, d.cols, false);
      if (dx)
        gemm<T>(rows, d.cols, d.c_out_g, dy_g, {s.c_out, 1}, w_g(g), {d.cols, 1}, dx + g * d.c_in_g,
                s.c_in, false);
    }
    return;
  }
  // Each thread sums its filter gradient into its own slot of `partial`
  // (thread 0 straight into dw); the slots are added up at the end.
  const int64_t w_size = s.c_out * d.cols;
  std::vector<T> partial;
  if (dw) partial.resize(static_cast<size_t>(w_size * (chunk_threads(s, d) - 1)));
  auto chunk = [&](int64_t t, int64_t n0, int64_t n1, bool first, T* col) {
    const int64_t chunk_rows = (n1 - n0) * d.pixels;
    T* dw_t = t == 0 ? dw : partial.data() + (t - 1) * w_size;
    for (int64_t g = 0; g < s.groups; ++g) {
      const T* dy_g = dy + n0 * d.pixels * s.c_out + g * d.c_out_g;
      if (dw) {
        im2col(s, d, x, n0, n1, g, col);
        gemm<T>(d.c_out_g, d.cols, chunk_rows, dy_g, {1, s.c_out}, col, {d.cols, 1},
                dw_t + g * d.c_out_g * d.cols, d.cols, !first);
      }
      if (dx) {
        gemm<T>(chunk_rows, d.cols, d.c_out_g, dy_g, {s.c_out, 1}, w_g(g), {d.cols, 1}, col, d.cols,
                false);
        col2im(s, d, col, n0, n1, g, dx);
      }
    }
  };
  const int64_t used = for_each_chunk<T>(s, d, chunk);
  if (dw)
    for (int64_t t = 1; t < used; ++t)
      for (int64_t i = 0; i < w_size; ++i) dw[i] += partial[(t - 1) * w_size + i];
}

// ---------------------------------------------------------------- bf16 ----

namespace {

// A float copy of a bf16 buffer of n values (or, with widen = false, float
// space for an output of n values); a null buffer stays null.
class Widened {
 public:
  Widened(const bf16* src, int64_t n, bool widen = true)
      : present_(src != nullptr), data_(present_ ? static_cast<size_t>(n) : 0) {
    if (present_ && widen) std::copy(src, src + n, data_.begin());
  }
  float* get() { return present_ ? data_.data() : nullptr; }
  // The single rounding of each output.
  void round_into(bf16* dst) const {
    if (dst) std::copy(data_.begin(), data_.end(), dst);
  }

 private:
  bool present_;
  std::vector<float> data_;
};

struct Sizes {
  int64_t x, w, y;
  explicit Sizes(const Conv2dShape& s)
      : x(s.n * s.win.h * s.win.w * s.c_in),
        w(s.c_out * Dims(s).cols),
        y(s.n * Dims(s).pixels * s.c_out) {}
};

}  // namespace

template <>
void conv2d_forward<bf16>(const Conv2dShape& s, const bf16* x, const bf16* w, const bf16* b,
                          bf16* y) {
  const Sizes n(s);
  Widened wx(x, n.x), ww(w, n.w), wb(b, s.c_out), wy(y, n.y, false);
  conv2d_forward<float>(s, wx.get(), ww.get(), wb.get(), wy.get());
  wy.round_into(y);
}

template <>
void conv2d_backward<bf16>(const Conv2dShape& s, const bf16* x, const bf16* w, const bf16* dy,
                           bf16* dx, bf16* dw, bf16* db) {
  const Sizes n(s);
  // x is read only for dw, w only for dx.
  Widened wx(dw ? x : nullptr, n.x), ww(dx ? w : nullptr, n.w), wdy(dy, n.y);
  Widened wdx(dx, n.x, false), wdw(dw, n.w, false), wdb(db, s.c_out, false);
  conv2d_backward<float>(s, wx.get(), ww.get(), wdy.get(), wdx.get(), wdw.get(), wdb.get());
  wdx.round_into(dx);
  wdw.round_into(dw);
  wdb.round_into(db);
}

template void conv2d_forward<float>(const Conv2dShape&, const float*, const float*, const float*,
                                    float*);
template void conv2d_forward<double>(const Conv2dShape&, const double*, const double*,
                                     const double*, double*);
template void conv2d_backward<float>(const Conv2dShape&, const float*, const float*, const float*,
                                     float*, float*, float*);
template void conv2d_backward<double>(const Conv2dShape&, const double*, const double*,
                                      const double*, double*, double*, double*);

}  // namespace motive::cpu
