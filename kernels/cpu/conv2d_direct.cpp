#include "kernels/cpu/conv2d_direct.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/cpu/simd.h"

namespace motive::cpu {
namespace {

// Lanes of the build's widest vector of T.
template <class T>
constexpr int kLanes = simd::kNativeBytes / static_cast<int>(sizeof(T));

// Vector lanes for a vectorised channel count: the native width when it
// divides c, else half of it (8-channel layers on AVX-512); 0 when neither does.
template <class T>
int lanes_for(int64_t c) {
  if (c % kLanes<T> == 0) return kLanes<T>;
  if (c % (kLanes<T> / 2) == 0) return kLanes<T> / 2;
  return 0;
}

// Register tiles hold MR x NR accumulators of one vector each, NR <= 2
// vectors across the channels: MR as large as the register file allows with
// the NR filter vectors and a broadcast beside them.
constexpr int kMaxRows1 = simd::kRegisters == 32 ? 16 : 12;  // NR = 1
constexpr int kMaxRows2 = simd::kRegisters == 32 ? 12 : 6;   // NR = 2
constexpr int max_rows(int nr) { return nr == 1 ? kMaxRows1 : kMaxRows2; }

// Channel vectors per tile: 2 when the count of vectors is even, else 1.
int vectors_per_tile(int64_t channels, int lanes) { return (channels / lanes) % 2 == 0 ? 2 : 1; }

// Calls f(start, count) for tiles of at most `max` that cover [0, n) with
// sizes differing by at most one (28 pixels at most 12 -> 10, 9, 9).
template <class F>
void split_tiles(int64_t n, int64_t max, F&& f) {
  if (n <= 0) return;
  const int64_t tiles = (n + max - 1) / max, base = n / tiles, extra = n % tiles;
  for (int64_t t = 0, start = 0; t < tiles; ++t) {
    const int64_t count = base + (t < extra ? 1 : 0);
    f(start, count);
    start += count;
  }
}

// One segment of a tile's reduction: where its a and b operands start.
struct Segment {
  int64_t a, b;
};

// The register tile. With V a vector of L lanes, computes for i < MR, j < NR
//   acc[i][j] = (bias[j*L..] or 0) + sum over segments s and k < depth of
//               a[s.a + i*a_i + k*a_k] * b[s.b + k*b_k + j*L .. + L)
// and stores it to out + i*out_i + j*L (adding what is there when accumulate).
// AI, when not 0, is a_i known at compile time: the MR row addresses are then
// one pointer plus constant displacements, where a run-time a_i needs a
// register per row (and spills some of them).
template <class T, int L, int MR, int NR, int AI>
void tile(const T* a, int64_t a_i_arg, int64_t a_k, const T* b, int64_t b_k, const Segment* segs,
          int nsegs, int64_t depth, T* out, int64_t out_i, const T* bias, bool accumulate) {
  using V = simd::vec_t<T, L>;
  const int64_t a_i = AI != 0 ? AI : a_i_arg;
  V acc[MR][NR];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
    for (int j = 0; j < NR; ++j) acc[i][j] = bias ? simd::load<V>(bias + j * L) : V{};
  for (int s = 0; s < nsegs; ++s) {
    const T* ap = a + segs[s].a;
    const T* bp = b + segs[s].b;
    for (int64_t k = 0; k < depth; ++k, ap += a_k, bp += b_k) {
      V bv[NR];
#pragma GCC unroll 2
      for (int j = 0; j < NR; ++j) bv[j] = simd::load<V>(bp + j * L);
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) {
        const V av = simd::broadcast<V>(ap[i * a_i]);
#pragma GCC unroll 2
        for (int j = 0; j < NR; ++j) acc[i][j] += av * bv[j];
      }
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
    for (int j = 0; j < NR; ++j) {
      T* o = out + i * out_i + j * L;
      simd::store(o, accumulate ? acc[i][j] + simd::load<V>(o) : acc[i][j]);
    }
}

template <class T>
using TileFn = void (*)(const T*, int64_t, int64_t, const T*, int64_t, const Segment*, int,
                        int64_t, T*, int64_t, const T*, bool);

template <class T, int L, int NR, int AI, size_t... M>
constexpr std::array<TileFn<T>, sizeof...(M)> tile_table(std::index_sequence<M...>) {
  return {&tile<T, L, static_cast<int>(M) + 1, NR, AI>...};
}

// All mr in [1, max_rows(NR)] for one (L, NR, AI).
template <class T, int L, int NR, int AI>
const TileFn<T>* tiles() {
  static constexpr auto table =
      tile_table<T, L, NR, AI>(std::make_index_sequence<max_rows(NR)>());
  return table.data();
}

// The tile function for (lanes, nr, mr), mr in [1, max_rows(nr)], specialised
// for the row strides of ResNet's float layers (1 in backward filter; the
// channel counts 8..64 at stride 1, twice them at stride 2); double (the
// gradient checks) and other strides take the run-time one.
template <class T>
TileFn<T> tile_fn(int lanes, int nr, int64_t mr, int64_t a_i) {
  constexpr int kFull = kLanes<T>, kHalf = kLanes<T> / 2;
  const TileFn<T>* table = nullptr;
  if constexpr (std::is_same_v<T, float>) {
    if (lanes == kFull && nr == 1) {
      table = a_i == 1    ? tiles<T, kFull, 1, 1>()
              : a_i == 16 ? tiles<T, kFull, 1, 16>()
              : a_i == 32 ? tiles<T, kFull, 1, 32>()
              : a_i == 64 ? tiles<T, kFull, 1, 64>()
                          : nullptr;
    } else if (lanes == kFull && nr == 2) {
      table = a_i == 1     ? tiles<T, kFull, 2, 1>()
              : a_i == 32  ? tiles<T, kFull, 2, 32>()
              : a_i == 64  ? tiles<T, kFull, 2, 64>()
              : a_i == 128 ? tiles<T, kFull, 2, 128>()
                           : nullptr;
    } else if (lanes == kHalf && nr == 1) {
      table = a_i == 1    ? tiles<T, kHalf, 1, 1>()
              : a_i == 8  ? tiles<T, kHalf, 1, 8>()
              : a_i == 16 ? tiles<T, kHalf, 1, 16>()
                          : nullptr;
    }
  }
  if (table == nullptr) {
    table = lanes == kFull ? (nr == 1 ? tiles<T, kFull, 1, 0>() : tiles<T, kFull, 2, 0>())
                           : (nr == 1 ? tiles<T, kHalf, 1, 0>() : tiles<T, kHalf, 2, 0>());
  }
  return table[mr - 1];
}

// The filter's strides along (c_out, k_h, k_w); channels are unit-stride.
struct FilterStrides {
  int64_t o, h, w;
  explicit FilterStrides(const Conv2dShape& s)
      : o(s.w_stride_o ? s.w_stride_o : s.win.taps() * s.c_in),
        h(s.w_stride_h ? s.w_stride_h : s.win.k_w * s.c_in),
        w(s.w_stride_w ? s.w_stride_w : s.c_in) {}
  int64_t at(int64_t co, int64_t tap, int64_t k_w, int64_t ci) const {
    return co * o + (tap / k_w) * h + (tap % k_w) * w + ci;
  }
};

// Images with zero margins left and right: image n's rows copied into
// [h][left + w + right][c], the margins zeroed once. With no margins the
// image is read where it lies.
template <class T>
class PaddedRows {
 public:
  PaddedRows(int64_t h, int64_t w, int64_t c, int64_t left, int64_t right)
      : h_(h), w_(w), c_(c), left_(left), row_(left + w + right) {
    if (left != 0 || right != 0) buf_.assign(static_cast<size_t>(h * row_ * c), T(0));
  }
  int64_t row_pixels() const { return row_; }
  // Image n of the NHWC tensor src, with (0, 0) at its first margin pixel.
  const T* image(const T* src, int64_t n) {
    const T* img = src + n * h_ * w_ * c_;
    if (buf_.empty()) return img;
    for (int64_t r = 0; r < h_; ++r)
      std::copy(img + r * w_ * c_, img + (r + 1) * w_ * c_, buf_.data() + (r * row_ + left_) * c_);
    return buf_.data();
  }

 private:
  int64_t h_, w_, c_, left_, row_;
  std::vector<T> buf_;
};

// Right margin so that output column w_out - 1 at the last tap reads inside.
int64_t right_margin(const Window2d& win) {
  return std::max<int64_t>(0, (win.w_out - 1) * win.stride + win.k_w - 1 - win.padding -
                                  (win.w - 1));
}

// Runs f(n, t) for each image n on the thread t that owns it (whole images
// per thread, static shares), with `threads` threads.
template <class F>
void for_each_image(int64_t images, int threads, F&& f) {
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    for (int64_t n = images * t / nt; n < images * (t + 1) / nt; ++n) f(n, t);
  }
}

// Threads for a call of `flops` multiply-adds over `images` images.
int threads_for(int64_t images, int64_t flops) {
  constexpr int64_t kParallelFlops = 1 << 18;
  if (flops < kParallelFlops) return 1;
  return static_cast<int>(std::min<int64_t>(omp_get_max_threads(), std::max<int64_t>(images, 1)));
}

int64_t macs(const Conv2dShape& s) {
  return s.n * s.win.h_out * s.win.w_out * s.c_out * s.win.taps() * s.c_in;
}

// The direct kernels' tiles run along an output row, so a narrow image (4
// pixels in resnet18-cifar's last stage) leaves them too few accumulators to
// hide the loads: there, with many channels, im2col + GEMM is faster (a
// resnet18-cifar step at one thread took about 10% less CPU time than with
// the direct kernels at every width, measured once with a build that had no
// width limit). Up to 64
// channels the direct kernels win at any width (im2col's copy costs more than
// the GEMM saves).
constexpr int64_t kDirectMinWidth = 8;
constexpr int64_t kDirectAnyWidthChannels = 64;

bool direct_serves(const Conv2dShape& s) {
  const bool fills_tiles = s.win.w_out >= kDirectMinWidth ||
                           std::max(s.c_in, s.c_out) <= kDirectAnyWidthChannels;
  return s.groups == 1 && s.win.dilation == 1 && fills_tiles;
}

}  // namespace

template <class T>
bool direct_forward_fits(const Conv2dShape& s) {
  return direct_serves(s) && lanes_for<T>(s.c_out) != 0;
}
template <class T>
bool direct_backward_data_fits(const Conv2dShape& s) {
  return direct_serves(s) && lanes_for<T>(s.c_in) != 0;
}
template <class T>
bool direct_backward_filter_fits(const Conv2dShape& s) {
  return direct_serves(s) && lanes_for<T>(s.c_in) != 0;
}

template <class T>
void direct_conv_forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y) {
  const Window2d& win = s.win;
  const int64_t taps = win.taps(), c_in = s.c_in, c_out = s.c_out;
  const int lanes = lanes_for<T>(c_out), nr = vectors_per_tile(c_out, lanes);
  const int64_t block = nr * lanes, blocks = c_out / block;
  // wp[cb][tap][ci][block]: one contiguous stream per channel block.
  const std::unique_ptr<T[]> wp(new T[static_cast<size_t>(c_out * taps * c_in)]);
  const FilterStrides ws(s);
  for (int64_t cb = 0; cb < blocks; ++cb)
    for (int64_t t = 0; t < taps; ++t)
      for (int64_t ci = 0; ci < c_in; ++ci)
        for (int64_t j = 0; j < block; ++j)
          wp[((cb * taps + t) * c_in + ci) * block + j] = w[ws.at(cb * block + j, t, win.k_w, ci)];

  const int threads = threads_for(s.n, macs(s));
  std::vector<PaddedRows<T>> pads;
  for (int t = 0; t < threads; ++t)
    pads.emplace_back(win.h, win.w, c_in, win.padding, right_margin(win));
  const int64_t row = pads[0].row_pixels();
  // Per output row, the taps that land inside the image; the input column of
  // output column 0 at tap kw is kw in the padded row.
  std::vector<std::vector<Segment>> row_segs(static_cast<size_t>(win.h_out));
  for (int64_t oh = 0; oh < win.h_out; ++oh)
    for (int64_t kh = 0; kh < win.k_h; ++kh) {
      const int64_t ih = oh * win.stride - win.padding + kh;
      if (ih < 0 || ih >= win.h) continue;
      for (int64_t kw = 0; kw < win.k_w; ++kw)
        row_segs[oh].push_back({(ih * row + kw) * c_in, (kh * win.k_w + kw) * c_in * block});
    }
  for_each_image(s.n, threads, [&](int64_t n, int64_t t) {
    const T* xp = pads[t].image(x, n);
    for (int64_t oh = 0; oh < win.h_out; ++oh) {
      const std::vector<Segment>& segs = row_segs[oh];
      T* y_row = y + (n * win.h_out + oh) * win.w_out * c_out;
      for (int64_t cb = 0; cb < blocks; ++cb)
        split_tiles(win.w_out, max_rows(nr), [&](int64_t ow0, int64_t mr) {
          tile_fn<T>(lanes, nr, mr, win.stride * c_in)(xp + ow0 * win.stride * c_in,
                                                       win.stride * c_in, 1,
                                    wp.get() + cb * taps * c_in * block, block, segs.data(),
                                    static_cast<int>(segs.size()), c_in,
                                    y_row + ow0 * c_out + cb * block, c_out,
                                    bias ? bias + cb * block : nullptr, false);
        });
    }
  });
}

template <class T>
void direct_conv_backward_data(const Conv2dShape& s, const T* w, const T* dy, T* dx) {
  const Window2d& win = s.win;
  const int64_t taps = win.taps(), c_in = s.c_in, c_out = s.c_out, st = win.stride;
  const int lanes = lanes_for<T>(c_in), nr = vectors_per_tile(c_in, lanes);
  const int64_t block = nr * lanes, blocks = c_in / block;
  // wq[cb][tap][co][block]: the filter transposed per tap.
  const std::unique_ptr<T[]> wq(new T[static_cast<size_t>(c_out * taps * c_in)]);
  const FilterStrides ws(s);
  for (int64_t cb = 0; cb < blocks; ++cb)
    for (int64_t t = 0; t < taps; ++t)
      for (int64_t co = 0; co < c_out; ++co)
        for (int64_t j = 0; j < block; ++j)
          wq[((cb * taps + t) * c_out + co) * block + j] = w[ws.at(co, t, win.k_w, cb * block + j)];

  // Input column iw = st * j + r (class r) is read by tap kw of output column
  // ow = j + d with d = (r + padding - kw) / st, when that divides exactly.
  // The margins of the padded dy rows cover every such ow outside [0, w_out).
  auto floor_div = [](int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); };
  auto columns = [&](int64_t r) { return r < win.w ? (win.w - r + st - 1) / st : 0; };
  int64_t left = 0, right = 0;
  for (int64_t r = 0; r < st; ++r)
    for (int64_t kw = 0; kw < win.k_w; ++kw) {
      const int64_t off = r + win.padding - kw;
      if (columns(r) == 0 || floor_div(off, st) * st != off) continue;
      const int64_t d = off / st;
      left = std::max(left, -d);
      right = std::max(right, columns(r) - 1 + d - (win.w_out - 1));
    }

  const int threads = threads_for(s.n, macs(s));
  std::vector<PaddedRows<T>> pads;
  for (int t = 0; t < threads; ++t) pads.emplace_back(win.h_out, win.w_out, c_out, left, right);
  const int64_t row = pads[0].row_pixels();
  // Per input row ih and column class r, the taps that read it.
  std::vector<std::vector<Segment>> class_segs(static_cast<size_t>(win.h * st));
  for (int64_t ih = 0; ih < win.h; ++ih)
    for (int64_t r = 0; r < st; ++r)
      for (int64_t kh = 0; kh < win.k_h; ++kh) {
        const int64_t top = ih + win.padding - kh;
        if (top < 0 || top % st != 0 || top / st >= win.h_out) continue;
        for (int64_t kw = 0; kw < win.k_w; ++kw) {
          const int64_t off = r + win.padding - kw;
          if (floor_div(off, st) * st != off) continue;
          class_segs[ih * st + r].push_back(
              {((top / st) * row + off / st + left) * c_out, (kh * win.k_w + kw) * c_out * block});
        }
      }
  for_each_image(s.n, threads, [&](int64_t n, int64_t t) {
    const T* dyp = pads[t].image(dy, n);
    for (int64_t ih = 0; ih < win.h; ++ih)
      for (int64_t r = 0; r < st; ++r) {
        if (columns(r) == 0) continue;
        const std::vector<Segment>& segs = class_segs[ih * st + r];
        T* dx_row = dx + ((n * win.h + ih) * win.w + r) * c_in;
        for (int64_t cb = 0; cb < blocks; ++cb)
          split_tiles(columns(r), max_rows(nr), [&](int64_t j0, int64_t mr) {
            tile_fn<T>(lanes, nr, mr, c_out)(dyp + j0 * c_out, c_out, 1,
                                      wq.get() + cb * taps * c_out * block, block, segs.data(),
                                      static_cast<int>(segs.size()), c_out,
                                      dx_row + j0 * st * c_in + cb * block, st * c_in, nullptr,
                                      false);
          });
      }
  });
}

template <class T>
void direct_conv_backward_filter(const Conv2dShape& s, const T* x, const T* dy, T* dw) {
  const Window2d& win = s.win;
  const int64_t taps = win.taps(), c_in = s.c_in, c_out = s.c_out, st = win.stride;
  const int lanes = lanes_for<T>(c_in), nr = vectors_per_tile(c_in, lanes);
  const int64_t block = nr * lanes, blocks = c_in / block, w_size = c_out * taps * c_in;
  const int threads = threads_for(s.n, macs(s));
  // Thread 0 sums into dw (dense OHWI), the others into their own partials
  // (fully written by each thread's first image, so left uninitialised).
  const std::unique_ptr<T[]> partial(new T[static_cast<size_t>(w_size * (threads - 1))]);
  // Per tap, the output columns [lo, hi) whose input column lands inside the
  // image (the reduction runs over them: no padded copy of x is needed), and
  // one segment per output row whose tap row lands inside.
  std::vector<std::vector<Segment>> tap_segs(static_cast<size_t>(taps));
  std::vector<int64_t> tap_depth(static_cast<size_t>(taps));
  for (int64_t tap = 0; tap < taps; ++tap) {
    const int64_t kh = tap / win.k_w, kw = tap % win.k_w;
    int64_t lo = 0, hi = win.w_out;
    while (lo < hi && lo * st - win.padding + kw < 0) ++lo;
    while (hi > lo && (hi - 1) * st - win.padding + kw >= win.w) --hi;
    tap_depth[tap] = hi - lo;
    for (int64_t oh = 0; oh < win.h_out; ++oh) {
      const int64_t ih = oh * st - win.padding + kh;
      if (ih >= 0 && ih < win.h && hi > lo)
        tap_segs[tap].push_back({(oh * win.w_out + lo) * c_out,
                                 (ih * win.w + lo * st - win.padding + kw) * c_in});
    }
  }
  std::vector<char> started(static_cast<size_t>(threads), 0);
  for_each_image(s.n, threads, [&](int64_t n, int64_t t) {
    const T* x_img = x + n * win.h * win.w * c_in;
    const T* dy_img = dy + n * win.h_out * win.w_out * c_out;
    T* dw_t = t == 0 ? dw : partial.get() + (t - 1) * w_size;
    const bool accumulate = started[t];
    started[t] = 1;
    for (int64_t tap = 0; tap < taps; ++tap) {
      const std::vector<Segment>& segs = tap_segs[tap];
      split_tiles(c_out, max_rows(nr), [&](int64_t co0, int64_t mr) {
        for (int64_t cb = 0; cb < blocks; ++cb)
          tile_fn<T>(lanes, nr, mr, 1)(dy_img + co0, 1, c_out, x_img + cb * block, st * c_in,
                                       segs.data(), static_cast<int>(segs.size()),
                                       tap_depth[tap],
                                    dw_t + (co0 * taps + tap) * c_in + cb * block, taps * c_in,
                                    nullptr, accumulate);
      });
    }
  });
  if (!started[0]) std::fill(dw, dw + w_size, T(0));
  for (int t = 1; t < threads; ++t)
    if (started[t])
      for (int64_t i = 0; i < w_size; ++i) dw[i] += partial[(t - 1) * w_size + i];
}

#define MOTIVE_INSTANTIATE(T)                                                                  \
  template bool direct_forward_fits<T>(const Conv2dShape&);                                    \
  template bool direct_backward_data_fits<T>(const Conv2dShape&);                              \
  template bool direct_backward_filter_fits<T>(const Conv2dShape&);                            \
  template void direct_conv_forward<T>(const Conv2dShape&, const T*, const T*, const T*, T*);  \
  template void direct_conv_backward_data<T>(const Conv2dShape&, const T*, const T*, T*);      \
  template void direct_conv_backward_filter<T>(const Conv2dShape&, const T*, const T*, T*);
MOTIVE_INSTANTIATE(float)
MOTIVE_INSTANTIATE(double)
#undef MOTIVE_INSTANTIATE

}  // namespace motive::cpu
