// Eigen, for every file of ours that uses it (include this, not <Eigen/Core>).
//
// GCC 12's own AVX-512 intrinsic headers initialise placeholders with
// themselves (`__m256d __Y = __Y;` in _mm256_undefined_pd, GCC bug 105593,
// fixed in GCC 13), and -Wmaybe-uninitialized (-Wuninitialized in the
// sanitizer build) reports that wherever Eigen's AVX-512 code (-march=native
// on an AVX-512 machine) inlines them, although both are system headers.
// GCC checks diagnostic pragmas at the warning's source location, so
// silencing the warnings around these includes, with the intrinsic headers
// included here first, silences them inside those headers' lines only: our
// own code keeps them, as errors.
#pragma once

// motive splits large GEMMs between OpenMP threads itself (kernels/cpu/matmul.cpp):
// Eigen's own GEMM threads spin while they wait for each other.
#ifndef EIGEN_DONT_PARALLELIZE
#define EIGEN_DONT_PARALLELIZE
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <Eigen/Core>
#pragma GCC diagnostic pop
#else  // clang (the fuzz build) has no such warning
#include <Eigen/Core>
#endif
