// bfloat16: the storage type of mixed precision (activations and the GEMM/conv
// copies of weights). 1 sign, 8 exponent and 7 mantissa bits: float32's range
// at 2-3 significant digits. Arithmetic is never done in bf16: a value widens
// to float (exactly) for every operation and rounds back (to nearest, ties to
// even) only when stored, so every kernel accumulates in float or wider.
//
// The same struct serves the CPU kernels and the CUDA kernels (host and device
// code); it has __nv_bfloat16's bit layout, which is what cuBLAS and cuDNN read.
#pragma once
#include <cstdint>
#include <cstring>
#include <limits>

#include "kernels/host_device.h"

namespace motive {

struct bf16 {
  uint16_t bits;

  bf16() = default;
  MOTIVE_HOST_DEVICE bf16(float f) : bits(round_to_bits(f)) {}  // NOLINT: implicit by design
  MOTIVE_HOST_DEVICE operator float() const { return bits_to_float(bits); }

  MOTIVE_HOST_DEVICE bf16& operator+=(float v) { return *this = bf16(float(*this) + v); }
  MOTIVE_HOST_DEVICE bf16& operator-=(float v) { return *this = bf16(float(*this) - v); }
  MOTIVE_HOST_DEVICE bf16& operator*=(float v) { return *this = bf16(float(*this) * v); }
  MOTIVE_HOST_DEVICE bf16& operator/=(float v) { return *this = bf16(float(*this) / v); }

  MOTIVE_HOST_DEVICE static bf16 from_bits(uint16_t b) {
    bf16 h;
    h.bits = b;
    return h;
  }

  // Round to nearest even on the 16 dropped bits; NaN stays a (quiet) NaN,
  // overflow rounds to infinity as IEEE rounding does.
  MOTIVE_HOST_DEVICE static uint16_t round_to_bits(float f) {
    const uint32_t u = float_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
    return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  }
  MOTIVE_HOST_DEVICE static float bits_to_float(uint16_t b) {
    const uint32_t u = static_cast<uint32_t>(b) << 16;
#if defined(__CUDA_ARCH__)
    return __uint_as_float(u);
#else
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
#endif
  }
  MOTIVE_HOST_DEVICE static uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
    return __float_as_uint(f);
#else
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
#endif
  }
};
static_assert(sizeof(bf16) == 2, "bf16 must be two bytes (cuBLAS/cuDNN read it as such)");

// The type arithmetic on T runs in, and the type of the float parameters an op
// keeps beside T data (batch-norm scale and statistics): float for bf16.
template <class T> struct wide { using type = T; };
template <> struct wide<bf16> { using type = float; };
template <class T> using wide_t = typename wide<T>::type;

}  // namespace motive

namespace std {
template <>
struct numeric_limits<motive::bf16> {
  static constexpr bool is_specialized = true;
  static constexpr bool has_infinity = true;
  static constexpr bool has_quiet_NaN = true;
  MOTIVE_HOST_DEVICE static motive::bf16 infinity() { return motive::bf16::from_bits(0x7f80); }
  MOTIVE_HOST_DEVICE static motive::bf16 quiet_NaN() { return motive::bf16::from_bits(0x7fc0); }
  MOTIVE_HOST_DEVICE static motive::bf16 lowest() { return motive::bf16::from_bits(0xff7f); }
  MOTIVE_HOST_DEVICE static motive::bf16 max() { return motive::bf16::from_bits(0x7f7f); }
  MOTIVE_HOST_DEVICE static motive::bf16 epsilon() { return motive::bf16::from_bits(0x3c00); }  // 2^-7
};
}  // namespace std
