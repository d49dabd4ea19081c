// The sliding-window geometry shared by convolution and pooling (NHWC): which
// input pixels an output pixel reads, and (its transpose) which output pixels
// read an input pixel. Backward kernels use the transpose to *gather* into
// each input pixel, so they parallelise over input rows without write races.
#pragma once
#include <cstdint>

namespace motive::cpu {

struct Window2d {
  int64_t h, w;          // input spatial size
  int64_t h_out, w_out;  // output spatial size
  int64_t k_h, k_w, stride, padding, dilation;

  int64_t taps() const { return k_h * k_w; }

  // True when every tap of output pixel (oh, ow) lands inside the input.
  bool interior(int64_t oh, int64_t ow) const {
    const int64_t ih = oh * stride - padding, iw = ow * stride - padding;
    return ih >= 0 && iw >= 0 && ih + (k_h - 1) * dilation < h && iw + (k_w - 1) * dilation < w;
  }

  // f(tap, ih, iw) for each tap (kh * k_w + kw, in order) of output pixel
  // (oh, ow) that lands inside the input; padding taps are skipped.
  template <class F>
  void for_each_tap(int64_t oh, int64_t ow, F&& f) const {
    for (int64_t kh = 0; kh < k_h; ++kh) {
      const int64_t ih = oh * stride - padding + kh * dilation;
      if (ih < 0 || ih >= h) continue;
      for (int64_t kw = 0; kw < k_w; ++kw) {
        const int64_t iw = ow * stride - padding + kw * dilation;
        if (iw >= 0 && iw < w) f(kh * k_w + kw, ih, iw);
      }
    }
  }

  // f(tap, oh, ow) for each output pixel whose tap `tap` reads input pixel (ih, iw).
  template <class F>
  void for_each_output(int64_t ih, int64_t iw, F&& f) const {
    for (int64_t kh = 0; kh < k_h; ++kh) {
      const int64_t th = ih + padding - kh * dilation;
      if (th < 0 || th % stride != 0 || th / stride >= h_out) continue;
      for (int64_t kw = 0; kw < k_w; ++kw) {
        const int64_t tw = iw + padding - kw * dilation;
        if (tw < 0 || tw % stride != 0 || tw / stride >= w_out) continue;
        f(kh * k_w + kw, th / stride, tw / stride);
      }
    }
  }
};

// Output length of a window sweep (floor mode); 0 when the window does not fit.
inline int64_t window_out_size(int64_t in, int64_t k, int64_t stride, int64_t padding,
                               int64_t dilation) {
  const int64_t span = in + 2 * padding - dilation * (k - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

}  // namespace motive::cpu
