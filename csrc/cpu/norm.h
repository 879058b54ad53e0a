// Layer, group and (training-mode) batch normalisation on the CPU, forward and backward, with
// PyTorch's semantics (biased variance, eps inside the square root, optional affine).
#pragma once
#include <cstdint>

namespace lg {
namespace cpu {

// LayerNorm over the last dims: x is (M, N) row-major (N = prod(normalized_shape)); weight and
// bias are (N,) or null. Writes y (M, N) and the per-row mean and rstd = 1/sqrt(var + eps).
template <typename T>
void layer_norm_forward(int64_t M, int64_t N, const T* x, const T* weight, const T* bias,
                        double eps, T* y, T* mean, T* rstd);

// Gradients of layer_norm_forward from the saved mean/rstd (x-hat is recomputed). Any of dx,
// dw, db may be null (not wanted); dw/db need weight/bias to have existed. weight may be null.
template <typename T>
void layer_norm_backward(int64_t M, int64_t N, const T* dy, const T* x, const T* mean,
                         const T* rstd, const T* weight, T* dx, T* dw, T* db);

// GroupNorm: x is (N, C, HW) row-major, C divisible by G; each (n, g) normalises its C/G
// channels x HW values; weight and bias are per channel (C,) or null. mean, rstd: (N, G).
template <typename T>
void group_norm_forward(int64_t N, int64_t C, int64_t HW, int64_t G, const T* x,
                        const T* weight, const T* bias, double eps, T* y, T* mean, T* rstd);

// Gradients of group_norm_forward; dx, dw, db may each be null. weight may be null.
template <typename T>
void group_norm_backward(int64_t N, int64_t C, int64_t HW, int64_t G, const T* dy, const T* x,
                         const T* mean, const T* rstd, const T* weight, T* dx, T* dw, T* db);

// Training-mode BatchNorm: x is (N, C, HW) row-major; each channel is normalised over its N
// planes with the batch's mean and biased variance. weight, bias: (C,) or null. Writes y like
// x and per channel mean, var (biased) and rstd = 1/sqrt(var + eps) (NaN when N*HW == 0).
template <typename T>
void batch_norm_forward(int64_t N, int64_t C, int64_t HW, const T* x, const T* weight,
                        const T* bias, double eps, T* y, T* mean, T* var, T* rstd);

// Gradients of batch_norm_forward from the saved per-channel mean and rstd (x-hat is
// recomputed); dx, dw, db may each be null. weight may be null.
template <typename T>
void batch_norm_backward(int64_t N, int64_t C, int64_t HW, const T* dy, const T* x,
                         const T* mean, const T* rstd, const T* weight, T* dx, T* dw, T* db);

}  // namespace cpu
}  // namespace lg
