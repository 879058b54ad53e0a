// Softmax, log-softmax and fused softmax cross-entropy over the last
// dimension of a row-major (rows, C) array, with PyTorch's semantics.
#pragma once
#include <cstdint>

namespace lg {
namespace cpu {

// y = softmax(x) / log_softmax(x) along each row.
template <typename T>
void softmax_forward(int64_t rows, int64_t C, const T* x, T* y);
template <typename T>
void log_softmax_forward(int64_t rows, int64_t C, const T* x, T* y);
// Backward from the forward's output y: dx = y * (dy - sum(dy * y)) and
// dx = dy - exp(y) * sum(dy) respectively.
template <typename T>
void softmax_backward(int64_t rows, int64_t C, const T* y, const T* dy, T* dx);
template <typename T>
void log_softmax_backward(int64_t rows, int64_t C, const T* y, const T* dy, T* dx);

enum class Reduction { none = 0, mean = 1, sum = 2 };

// Cross-entropy of softmax(logits) against either class indices (`target`,
// int64, N; `ignore_index` rows contribute nothing) or class probabilities
// (`target_prob`, N x C) -- exactly one of the two is non-null. `weight` (C)
// may be null. As torch: with weights, mean divides by the summed weight of
// the non-ignored targets (index targets) or by N (probability targets);
// label smoothing mixes (1 - ls) * nll with ls/C * sum_c w_c * (-log p_c).
struct XentArgs {
  int64_t N = 0, C = 0;
  const int64_t* target = nullptr;
  const void* target_prob = nullptr;  // const T*
  const void* weight = nullptr;       // const T*
  int64_t ignore_index = -100;
  Reduction reduction = Reduction::mean;
  double label_smoothing = 0.0;
};

// Throws (invalid_argument) if a class index is neither in [0, C) nor
// ignore_index, or label_smoothing is outside [0, 1].
void xent_check(const XentArgs& a);

// loss: N values for Reduction::none, else 1.
template <typename T>
void softmax_xent_forward(const XentArgs& a, const T* logits, T* loss);

// dlogits (N x C) from grad_loss (N values for none, else 1). Needs nothing
// saved from the forward: the softmax is recomputed (cheaper than storing it).
template <typename T>
void softmax_xent_backward(const XentArgs& a, const T* logits, const T* grad_loss, T* dlogits);

}  // namespace cpu
}  // namespace lg
