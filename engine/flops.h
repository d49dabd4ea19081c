// Analytic FLOP accounting: a multiply-add is 2 FLOPs. Every op's forward adds
// its count (from the *_flops formula next to the op) to the thread's counter,
// so a caller can measure exactly what a forward pass cost.
#pragma once
#include <cstdint>

namespace motive {

void add_flops(int64_t n);
int64_t flop_count();       // FLOPs counted on this thread since the last reset
void reset_flop_count();

// Per-op formulas (forward). Declared here so tests and models can use them.
int64_t matmul_flops(int64_t batch, int64_t m, int64_t k, int64_t n);
int64_t conv2d_flops(int64_t n, int64_t h_out, int64_t w_out, int64_t c_out, int64_t k_h,
                     int64_t k_w, int64_t c_in_per_group);

// Normalisation, softmax and loss (formulas next to each op).
int64_t batch_norm2d_flops(int64_t numel, bool training);
int64_t layer_norm_flops(int64_t numel, bool affine);
int64_t softmax_flops(int64_t numel);
int64_t cross_entropy_flops(int64_t n, int64_t classes);

// Pooling: one FLOP per window element read (max compares, average adds).
int64_t pool2d_flops(int64_t n, int64_t h_out, int64_t w_out, int64_t c, int64_t kernel);

}  // namespace motive
