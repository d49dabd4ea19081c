#include "engine/flops.h"

namespace motive {
namespace {
thread_local int64_t g_flops = 0;
}

void add_flops(int64_t n) { g_flops += n; }
int64_t flop_count() { return g_flops; }
void reset_flop_count() { g_flops = 0; }

}  // namespace motive
