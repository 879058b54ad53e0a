// Softmax, log-softmax and fused softmax cross-entropy on the GPU, float32,
// over the last dimension of a row-major (rows, C) array; the contracts of
// csrc/cpu/softmax_xent.h (torch's semantics). Pointers are device
// pointers, `stream` a cudaStream_t. Class indices are checked on the GPU:
// `bad` (a device int, zeroed here on the stream) is set to 1 when one is
// neither in [0, C) nor ignore_index -- that row is never read with it
// (NaN loss, zero gradient) and the caller raises.
#pragma once
#include <cstdint>

#include "cpu/softmax_xent.h"  // XentArgs, Reduction (plain types; no CPU code is called)

namespace lg {
namespace cuda {

using lg::cpu::Reduction;
using lg::cpu::XentArgs;  // target/target_prob/weight as device pointers

void softmax_forward(int64_t rows, int64_t C, const float* x, float* y, void* stream);
void log_softmax_forward(int64_t rows, int64_t C, const float* x, float* y, void* stream);
void softmax_backward(int64_t rows, int64_t C, const float* y, const float* dy, float* dx,
                      void* stream);
void log_softmax_backward(int64_t rows, int64_t C, const float* y, const float* dy, float* dx,
                          void* stream);

// loss: N floats for Reduction::none, else 1. row_loss and row_weight are
// N-double workspaces (unused for none): per-row losses and target weights,
// summed by one block in a fixed order, so mean/sum are deterministic.
// Needs N >= 1 and C >= 1 (the caller fills the empty cases).
void softmax_xent_forward(const XentArgs& a, const float* logits, float* loss, double* row_loss,
                          double* row_weight, int* bad, void* stream);

// dlogits (N x C) from grad_loss (N floats for none, else 1). scalars is a
// 2-float workspace (the mean's 1/divisor and the summed class weight).
void softmax_xent_backward(const XentArgs& a, const float* logits, const float* grad_loss,
                           float* dlogits, float* scalars, int* bad, void* stream);

}  // namespace cuda
}  // namespace lg
