// GRU sequence kernels (see gru.h for shapes and gate maths).
//
// Algorithm, as the LSTM's (lstm.cpp): the input projection of all T steps is
// ONE GEMM, written straight into the first 3H columns of the saved acts
// (ldc = 4H); the recurrence of the whole sequence runs in one parallel
// region with the hidden units split over the threads (UnitRecurrence,
// recurrence.h): per step each thread forms its units' columns of
// gh = h_{t-1} · w_hhᵀ (three gate groups) in a step scratch, then its fused
// pointwise pass turns (gx, gh, biases) into r, z, n, hn and h_t, and one
// barrier per step publishes h_t. Backward walks the steps in reverse: the
// pointwise pass gives the pre-activation gradients of both projections,
// dgx = (dr, dz, dn) and dgh = (dr, dz, dn ⊙ r), and leaves z ⊙ dh in the
// carry; the recurrent product adds dgh_t · w_hh to it (beta = 1), giving
// dh_{t-1}. Weight gradients are whole-sequence GEMMs after the loop
// (dw_ih = dgxᵀ · x, dx = dgx · w_ih, dw_hh = Σ_t dgh_tᵀ · h_{t-1} as two
// GEMMs over contiguous slabs), biases column sums.
//
// Saved for backward: acts (T, N, 4H) = r, z, n, hn per step; h_t is y.
//
// Limits and threading: sizes are int64; zero-size cases return early with
// well-defined outputs; threading as in lstm.cpp (results do not depend on
// the thread count for what the recurrence produces). Re-entrant: all
// scratch is allocated per call, before any parallel region.
#include "cpu/gru.h"

#include <vector>

#include "cpu/recurrence.h"

namespace lg {
namespace cpu {
namespace {

// Forward, rows [n0, n1), units [j0, j1) of one step. a: the step's acts
// (N, 4H), gx in the first 3H columns on entry, r z n hn on exit; gh (N, 3H)
// the recurrent product without bias; bias (4H) = (b_ir + b_hr, b_iz + b_hz,
// b_in, b_hn).
template <typename T>
LG_RNN_INLINE void gru_forward_rows(int64_t n0, int64_t n1, int64_t j0, int64_t j1, int64_t H,
                                    T* a, const T* gh, const T* bias, const T* h_prev,
                                    T* h_out) {
  for (int64_t n = n0; n < n1; ++n) {
    T* __restrict ar = a + n * 4 * H;
    T* __restrict az = ar + H;
    T* __restrict an = ar + 2 * H;
    T* __restrict ahn = ar + 3 * H;
    const T* __restrict hr = gh + n * 3 * H;
    const T* __restrict hz = hr + H;
    const T* __restrict hh = hr + 2 * H;
    const T* __restrict br = bias;
    const T* __restrict bz = bias + H;
    const T* __restrict bn = bias + 2 * H;
    const T* __restrict bhn = bias + 3 * H;
    const T* __restrict hp = h_prev + n * H;
    T* __restrict ho = h_out + n * H;
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) {
      const T r = sigmoid_of(ar[j] + hr[j] + br[j]);
      const T z = sigmoid_of(az[j] + hz[j] + bz[j]);
      const T hn = hh[j] + bhn[j];
      const T nv = tanh_of(an[j] + bn[j] + r * hn);
      ar[j] = r;
      az[j] = z;
      an[j] = nv;
      ahn[j] = hn;
      ho[j] = (T(1) - z) * nv + z * hp[j];
    }
  }
}

// Backward, rows [n0, n1), units [j0, j1): dh = carry (+ dy); writes the
// step's dgx and dgh (N, 3H) and leaves z ⊙ dh in the carry.
template <typename T, bool HasDy>
LG_RNN_INLINE void gru_backward_rows(int64_t n0, int64_t n1, int64_t j0, int64_t j1, int64_t H,
                                     const T* a, const T* h_prev, const T* dy, T* carry, T* dgx,
                                     T* dgh) {
  for (int64_t n = n0; n < n1; ++n) {
    const T* __restrict ar = a + n * 4 * H;
    const T* __restrict az = ar + H;
    const T* __restrict an = ar + 2 * H;
    const T* __restrict ahn = ar + 3 * H;
    const T* __restrict hp = h_prev + n * H;
    const T* __restrict dyr = HasDy ? dy + n * H : nullptr;
    T* __restrict dh = carry + n * H;
    T* __restrict xr = dgx + n * 3 * H;
    T* __restrict xz = xr + H;
    T* __restrict xn = xr + 2 * H;
    T* __restrict gr = dgh + n * 3 * H;
    T* __restrict gz = gr + H;
    T* __restrict gn = gr + 2 * H;
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) {
      const T r = ar[j], z = az[j], nv = an[j];
      const T d = HasDy ? dh[j] + dyr[j] : dh[j];
      const T dn = d * (T(1) - z) * (T(1) - nv * nv);
      const T dz = d * (hp[j] - nv) * z * (T(1) - z);
      const T dr = dn * ahn[j] * r * (T(1) - r);
      xr[j] = dr;
      xz[j] = dz;
      xn[j] = dn;
      gr[j] = dr;
      gz[j] = dz;
      gn[j] = dn * r;
      dh[j] = d * z;
    }
  }
}

LG_RNN_CLONES void gru_forward_rows_f32(int64_t n0, int64_t n1, int64_t j0, int64_t j1,
                                        int64_t H, float* a, const float* gh, const float* bias,
                                        const float* h_prev, float* h_out) {
  gru_forward_rows<float>(n0, n1, j0, j1, H, a, gh, bias, h_prev, h_out);
}
LG_RNN_CLONES void gru_backward_rows_f32(int64_t n0, int64_t n1, int64_t j0, int64_t j1,
                                         int64_t H, const float* a, const float* h_prev,
                                         const float* dy, float* carry, float* dgx, float* dgh) {
  if (dy)
    gru_backward_rows<float, true>(n0, n1, j0, j1, H, a, h_prev, dy, carry, dgx, dgh);
  else
    gru_backward_rows<float, false>(n0, n1, j0, j1, H, a, h_prev, dy, carry, dgx, dgh);
}

void gru_forward_rows_any(int64_t n0, int64_t n1, int64_t j0, int64_t j1, int64_t H, float* a,
                          const float* gh, const float* bias, const float* hp, float* ho) {
  gru_forward_rows_f32(n0, n1, j0, j1, H, a, gh, bias, hp, ho);
}
void gru_forward_rows_any(int64_t n0, int64_t n1, int64_t j0, int64_t j1, int64_t H, double* a,
                          const double* gh, const double* bias, const double* hp, double* ho) {
  gru_forward_rows<double>(n0, n1, j0, j1, H, a, gh, bias, hp, ho);
}
void gru_backward_rows_any(int64_t n0, int64_t n1, int64_t j0, int64_t j1, int64_t H,
                           const float* a, const float* hp, const float* dy, float* carry,
                           float* dgx, float* dgh) {
  gru_backward_rows_f32(n0, n1, j0, j1, H, a, hp, dy, carry, dgx, dgh);
}
void gru_backward_rows_any(int64_t n0, int64_t n1, int64_t j0, int64_t j1, int64_t H,
                           const double* a, const double* hp, const double* dy, double* carry,
                           double* dgx, double* dgh) {
  if (dy)
    gru_backward_rows<double, true>(n0, n1, j0, j1, H, a, hp, dy, carry, dgx, dgh);
  else
    gru_backward_rows<double, false>(n0, n1, j0, j1, H, a, hp, dy, carry, dgx, dgh);
}

// (b_ir + b_hr, b_iz + b_hz, b_in, b_hn); null biases are zeros.
template <typename T>
std::vector<T> gru_bias(int64_t H, const T* b_ih, const T* b_hh) {
  std::vector<T> b(static_cast<size_t>(4 * H), T(0));
  for (int64_t j = 0; j < 2 * H; ++j) b[j] = (b_ih ? b_ih[j] : T(0)) + (b_hh ? b_hh[j] : T(0));
  for (int64_t j = 0; j < H; ++j) {
    b[2 * H + j] = b_ih ? b_ih[2 * H + j] : T(0);
    b[3 * H + j] = b_hh ? b_hh[2 * H + j] : T(0);
  }
  return b;
}

}  // namespace

template <typename T>
void gru_sequence_forward(int64_t T_, int64_t N, int64_t I, int64_t H, bool reverse, const T* x,
                          const T* h0, const T* w_ih, const T* w_hh, const T* b_ih,
                          const T* b_hh, T* y, T* h_n, T* acts) {
  const int64_t G = 3 * H, A = 4 * H, NH = N * H;
  if (T_ == 0 || NH == 0) {  // no step: the state passes through
    std::copy(h0, h0 + NH, h_n);
    return;
  }
  const std::vector<T> bias = gru_bias(H, b_ih, b_hh);
  gemm<T>(false, true, T_ * N, G, I, T(1), x, I, w_ih, I, T(0), acts, A);  // gx into acts
  std::vector<T> gh(static_cast<size_t>(N * G));  // the step's h · w_hhᵀ, own columns per thread
  UnitRecurrence<T> rec(N, H, H, 3, /*trans_w=*/true, w_hh);
  run_forward(
      rec, T_, N, H, reverse, h0, y, [&](int64_t) { return gh.data(); }, G, T(0),
      [&](int64_t u0, int64_t u1, int64_t t, int64_t prev) {
        gru_forward_rows_any(0, N, u0, u1, H, acts + t * N * A, gh.data(), bias.data(),
                             prev < 0 ? h0 : y + prev * NH, y + t * NH);
      });
  const int64_t last = reverse ? 0 : T_ - 1;
  std::copy(y + last * NH, y + (last + 1) * NH, h_n);
}

template <typename T>
void gru_sequence_backward(int64_t T_, int64_t N, int64_t I, int64_t H, bool reverse,
                           const T* dy, const T* dh_n, const T* x, const T* h0, const T* w_ih,
                           const T* w_hh, const T* y, const T* acts, T* dgx, T* dgh, T* dx,
                           T* dh0, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh) {
  const int64_t G = 3 * H, A = 4 * H, NH = N * H, TN = T_ * N;
  copy_or_zero(dh0, dh_n, NH);
  if (TN == 0 || H == 0) {
    if (dx) std::fill(dx, dx + TN * I, T(0));
    if (dw_ih) std::fill(dw_ih, dw_ih + G * I, T(0));
    if (dw_hh) std::fill(dw_hh, dw_hh + G * H, T(0));
    if (db_ih) std::fill(db_ih, db_ih + G, T(0));
    if (db_hh) std::fill(db_hh, db_hh + G, T(0));
    return;
  }
  // dh0 carries dh_next; each thread touches only its own units.
  UnitRecurrence<T> rec(N, H, G, 1, /*trans_w=*/false, w_hh);  // dh += dgh_t · w_hh
  run_backward(rec, T_, H, 3, reverse, dh0, T(1),
               [&](int64_t u0, int64_t u1, int64_t t, int64_t prev) -> const T* {
                 gru_backward_rows_any(0, N, u0, u1, H, acts + t * N * A,
                                       prev < 0 ? h0 : y + prev * NH,
                                       dy ? dy + t * NH : nullptr, dh0, dgx + t * N * G,
                                       dgh + t * N * G);
                 return dgh + t * N * G;
               });
  if (dx) gemm<T>(false, false, TN, I, G, T(1), dgx, G, w_ih, I, T(0), dx, I);
  if (dw_ih) gemm<T>(true, false, G, I, TN, T(1), dgx, G, x, I, T(0), dw_ih, I);
  if (dw_hh) recurrent_weight_grad(T_, N, H, G, reverse, dgh, h0, y, dw_hh);
  if (db_ih) column_sum(TN, G, dgx, db_ih);
  if (db_hh) column_sum(TN, G, dgh, db_hh);
}

#define LG_GRU_INSTANTIATE(T)                                                                  \
  template void gru_sequence_forward<T>(int64_t, int64_t, int64_t, int64_t, bool, const T*,   \
                                        const T*, const T*, const T*, const T*, const T*, T*, \
                                        T*, T*);                                               \
  template void gru_sequence_backward<T>(int64_t, int64_t, int64_t, int64_t, bool, const T*,  \
                                         const T*, const T*, const T*, const T*, const T*,     \
                                         const T*, const T*, T*, T*, T*, T*, T*, T*, T*, T*);
LG_GRU_INSTANTIATE(float)
LG_GRU_INSTANTIATE(double)
#undef LG_GRU_INSTANTIATE

}  // namespace cpu
}  // namespace lg
