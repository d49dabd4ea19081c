// Fixed-width SIMD vectors through GCC/Clang vector extensions, for the
// hand-written CPU kernels. The compiler emits the instructions the build's
// -march allows (CMakeLists.txt's MOTIVE_ARCH): 64-byte vectors are one
// AVX-512 register, two AVX2 ones, or four SSE2 ones. a * b + c compiles to
// one FMA where the ISA has it (GCC and Clang contract by default in C++).
#pragma once
#include <cstring>

namespace motive::cpu::simd {

// Bytes of the widest vector register of the build: kernels size their
// register tiles from it.
#if defined(__AVX512F__)
inline constexpr int kNativeBytes = 64;
inline constexpr int kRegisters = 32;
#elif defined(__AVX__)
inline constexpr int kNativeBytes = 32;
inline constexpr int kRegisters = 16;
#else
inline constexpr int kNativeBytes = 16;
inline constexpr int kRegisters = 16;
#endif

// L lanes of T.
template <class T, int L>
struct Vec {
  typedef T type __attribute__((vector_size(L * sizeof(T))));
};
template <class T, int L>
using vec_t = typename Vec<T, L>::type;

// Unaligned load and store (memcpy compiles to one vector move).
template <class V, class T>
inline V load(const T* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class V, class T>
inline void store(T* p, const V& v) {
  std::memcpy(p, &v, sizeof v);
}
// Every lane x: x - 0 is exactly x for every x (-0.0 included), so the
// compiler folds the subtraction and emits one broadcast, often as the memory
// operand of the FMA that uses it. (V{} + x is not: -0.0 + 0 is +0.0, and a
// loop over the lanes compiles to one insert per lane.)
template <class V, class T>
inline V broadcast(T x) {
  return x - V{};
}

}  // namespace motive::cpu::simd
