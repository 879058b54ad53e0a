// LSTM on the CPU: a fused cell (forward + backward) and a sequence driver,
// float32 and float64, PyTorch's gate order (i, f, g, o) and layouts.
//
// Shapes (row-major): x (N, I) for a cell, (T, N, I) for a sequence; h, c
// (N, H); w_ih (4H, I); w_hh (4H, H); b_ih, b_hh (4H) or null. "gates" is the
// (N, 4H) / (T, N, 4H) buffer of gate activations (sigmoid i, sigmoid f,
// tanh g, sigmoid o) that forward fills and backward reads; cs (T, N, H) are
// the cell states after each step. Backward writes the bias gradient once
// (db, 4H): db_ih and db_hh are the same array. Every output and workspace
// comes from the caller; nullable outputs are skipped. See lstm.cpp for the
// algorithm.
#pragma once
#include <cstdint>

namespace lg {
namespace cpu {

// h', c' and the gate activations for one step.
template <typename T>
void lstm_cell_forward(int64_t N, int64_t I, int64_t H, const T* x, const T* h, const T* c,
                       const T* w_ih, const T* w_hh, const T* b_ih, const T* b_hh, T* h_out,
                       T* c_out, T* gates);

// Gradients of one step from dh', dc' (either may be null: zero). dgates
// (N, 4H) is a workspace. dx, dh, dc, dw_ih, dw_hh, db may each be null.
template <typename T>
void lstm_cell_backward(int64_t N, int64_t I, int64_t H, const T* dh_out, const T* dc_out,
                        const T* x, const T* h, const T* c, const T* w_ih, const T* w_hh,
                        const T* gates, const T* c_out, T* dgates, T* dx, T* dh, T* dc,
                        T* dw_ih, T* dw_hh, T* db);

// A whole sequence in one direction (reverse: t runs T-1 .. 0, as the
// backward half of a bidirectional layer). y (T, N, H) holds h after each
// step, in input time order; h_n, c_n the final states; gates and cs are
// saved for backward.
template <typename T>
void lstm_sequence_forward(int64_t T_, int64_t N, int64_t I, int64_t H, bool reverse,
                           const T* x, const T* h0, const T* c0, const T* w_ih, const T* w_hh,
                           const T* b_ih, const T* b_hh, T* y, T* h_n, T* c_n, T* gates, T* cs);

// Backward of lstm_sequence_forward. dy (T, N, H), dh_n, dc_n may be null
// (zero). dgates (T, N, 4H) is a workspace; dh0 and dc0 (N, H) are required
// (they carry the recurrence); dx, dw_ih, dw_hh, db may be null.
template <typename T>
void lstm_sequence_backward(int64_t T_, int64_t N, int64_t I, int64_t H, bool reverse,
                            const T* dy, const T* dh_n, const T* dc_n, const T* x, const T* h0,
                            const T* c0, const T* w_ih, const T* w_hh, const T* y,
                            const T* gates, const T* cs, T* dgates, T* dx, T* dh0, T* dc0,
                            T* dw_ih, T* dw_hh, T* db);

}  // namespace cpu
}  // namespace lg
