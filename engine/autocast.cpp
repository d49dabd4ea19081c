#include "engine/autocast.h"

#include "engine/ops.h"

namespace motive {
namespace {
thread_local bool g_autocast = false;
}  // namespace

Autocast::Autocast(bool enabled) : previous_(g_autocast) { g_autocast = enabled; }
Autocast::~Autocast() { g_autocast = previous_; }

bool autocast_enabled() { return g_autocast; }

Tensor autocast_operand(const Tensor& x) {
  if (!g_autocast || !x.defined() || x.dtype() != DType::F32) return x;
  return cast(x, DType::BF16);
}

Tensor widen_bf16(const Tensor& x) {
  if (!x.defined() || x.dtype() != DType::BF16) return x;
  return cast(x, DType::F32);
}

}  // namespace motive
