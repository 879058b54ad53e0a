// GRU on the CPU: a sequence driver, float32 and float64, PyTorch's gate
// order (r, z, n) and layouts:
//   r = σ(x W_irᵀ + b_ir + h W_hrᵀ + b_hr),  z = σ(... z ...),
//   n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn)),  h' = (1 - z) ⊙ n + z ⊙ h.
//
// Shapes (row-major): x (T, N, I); h (N, H); w_ih (3H, I); w_hh (3H, H);
// b_ih, b_hh (3H) or null. "acts" (T, N, 4H) is what forward saves for
// backward: per step r, z, n and hn = h W_hnᵀ + b_hn. Every output and
// workspace comes from the caller; nullable outputs are skipped. See gru.cpp
// for the algorithm.
#pragma once
#include <cstdint>

namespace lg {
namespace cpu {

// A whole sequence in one direction (reverse: t runs T-1 .. 0). y (T, N, H)
// holds h after each step, in input time order; h_n the final state.
template <typename T>
void gru_sequence_forward(int64_t T_, int64_t N, int64_t I, int64_t H, bool reverse, const T* x,
                          const T* h0, const T* w_ih, const T* w_hh, const T* b_ih,
                          const T* b_hh, T* y, T* h_n, T* acts);

// Backward of gru_sequence_forward. dy (T, N, H) and dh_n (N, H) may be null
// (zero). dgx and dgh (T, N, 3H) are workspaces (the gradients of the input
// and hidden projections); dh0 (N, H) is required (it carries the
// recurrence); dx, dw_ih, dw_hh, db_ih, db_hh may be null.
template <typename T>
void gru_sequence_backward(int64_t T_, int64_t N, int64_t I, int64_t H, bool reverse,
                           const T* dy, const T* dh_n, const T* x, const T* h0, const T* w_ih,
                           const T* w_hh, const T* y, const T* acts, T* dgx, T* dgh, T* dx,
                           T* dh0, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh);

}  // namespace cpu
}  // namespace lg
