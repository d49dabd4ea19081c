// Eigen's special functions (erf for arrays), with the same guard against
// GCC 12's warnings inside its AVX-512 intrinsic headers as kernels/cpu/eigen.h.
#pragma once

#include "kernels/cpu/eigen.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <unsupported/Eigen/SpecialFunctions>
#pragma GCC diagnostic pop
#else
#include <unsupported/Eigen/SpecialFunctions>
#endif
