// LSTM on the GPU, float32: the same contracts, shapes and gate order
// (i, f, g, o) as lg::cpu (cpu/lstm.h). Every pointer is a device pointer
// the caller (CuPy) allocated; nullable inputs mean zero, nullable outputs
// are skipped. Launches go on `stream` (a cudaStream_t, CuPy's current).
//
// Shapes (row-major): x (N, I) for a cell, (T, N, I) for a sequence; h, c
// (N, H); w_ih (4H, I); w_hh (4H, H); b_ih, b_hh (4H) or null; gates
// (N, 4H) / (T, N, 4H) receives the activations (sigmoid i, sigmoid f,
// tanh g, sigmoid o); cs (T, N, H) the cell state after each step. Backward
// writes db (4H) once: the gradient of each bias.
#pragma once
#include <cstdint>

namespace lg {
namespace cuda {

// Which sequence-forward path runs (lstm_sequence_forward's `mode` and
// return value).
enum class LstmPath : int { kGemm = 0, kPersistent = 1 };
// mode: -1 the GEMM driver only, 0 choose (persistent when it fits and
// N <= kLstmPersistentMaxBatch; the backward also bounds its per-step L2
// traffic), 1 the persistent kernel or std::invalid_argument saying why it
// cannot run.
constexpr int64_t kLstmPersistentMaxBatch = 64;

void lstm_cell_forward(int64_t N, int64_t I, int64_t H, const float* x, const float* h,
                       const float* c, const float* w_ih, const float* w_hh, const float* b_ih,
                       const float* b_hh, float* h_out, float* c_out, float* gates,
                       void* stream);

// dgates (N, 4H) is a workspace; dh_out, dc_out may be null (zero); dx, dh,
// dc, dw_ih, dw_hh, db may each be null.
void lstm_cell_backward(int64_t N, int64_t I, int64_t H, const float* dh_out,
                        const float* dc_out, const float* x, const float* h, const float* c,
                        const float* w_ih, const float* w_hh, const float* gates,
                        const float* c_out, float* dgates, float* dx, float* dh, float* dc,
                        float* dw_ih, float* dw_hh, float* db, void* stream);

// One direction over a sequence (reverse: t = T-1 .. 0); y (T, N, H) in
// input time order. Returns the path that ran.
LstmPath lstm_sequence_forward(int64_t T, int64_t N, int64_t I, int64_t H, bool reverse,
                               const float* x, const float* h0, const float* c0,
                               const float* w_ih, const float* w_hh, const float* b_ih,
                               const float* b_hh, float* y, float* h_n, float* c_n,
                               float* gates, float* cs, int mode, void* stream);

// dy, dh_n, dc_n may be null (zero); dgates (T, N, 4H) is a workspace; dh0,
// dc0 are required (they carry the recurrence); dx, dw_ih, dw_hh, db may be
// null. ws (ws_floats floats, may be null / 0) holds split-K partial
// products; with less than lstm_sequence_backward_workspace() floats the
// products run unsplit (same results up to rounding, slower).
// `mode` as for the forward (the persistent backward kernel or the GEMM
// driver); returns the path that ran.
LstmPath lstm_sequence_backward(int64_t T, int64_t N, int64_t I, int64_t H, bool reverse,
                                const float* dy, const float* dh_n, const float* dc_n,
                                const float* x, const float* h0, const float* c0,
                                const float* w_ih, const float* w_hh, const float* y,
                                const float* gates, const float* cs, float* dgates, float* dx,
                                float* dh0, float* dc0, float* dw_ih, float* dw_hh, float* db,
                                float* ws, int64_t ws_floats, int mode, void* stream);

// Floats of workspace lstm_sequence_backward uses on the current device.
int64_t lstm_sequence_backward_workspace(int64_t T, int64_t N, int64_t I, int64_t H);

}  // namespace cuda
}  // namespace lg
