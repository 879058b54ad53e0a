// LSTM cell and sequence kernels (see lstm.h for shapes).
//
// Algorithm. Forward of a sequence: the input projection of all T steps is
// ONE GEMM, gates = x (T*N, I) · w_ihᵀ, written straight into the saved gates
// buffer; then per step the recurrent product adds h_{t-1} · w_hhᵀ into
// gates_t and a fused pointwise pass adds both biases, applies the
// activations in place and produces c_t, h_t. Backward walks the steps in
// reverse: a fused pointwise pass turns (dy_t + dh_next, dc_next) into the
// pre-activation gradient dgates_t and dc_{t-1}, and the recurrent product
// gives dh_{t-1} = dgates_t · w_hh. The recurrence of a whole sequence runs in
// one parallel region with the hidden units split over the threads
// (UnitRecurrence, recurrence.h): each thread owns the same units in every gate, so
// its product and its pointwise pass need no barrier between them, it
// packs its slice of w_hh once and keeps it in its cache for all T steps,
// and one barrier per step publishes h_t (dgates_t). The products run the
// GEMM's microkernels on MR-row panels and a few-row register kernel for
// batches of <= 4 rows and for a 1..4-row tail.
// The weight gradients are NOT accumulated per step: after the loop,
// dw_ih = dgatesᵀ · x and dx = dgates · w_ih are single GEMMs over T*N rows,
// and dw_hh = Σ_t dgates_tᵀ · h_{t-1} is two GEMMs (the first step against h0,
// the other T-1 steps against y shifted by one step, which is contiguous);
// db is a column sum of dgates.
//
// Saved for backward: the gate activations (T, N, 4H) and c_t (T, N, H); h_t
// is the output y itself and tanh(c_t) is recomputed (cheaper than storing).
//
// Limits and threading: sizes are int64; every zero-size case returns early
// with well-defined outputs. The big GEMMs thread themselves; the recurrence
// uses min(threads, unit blocks) threads once a step has ~2^16 multiply-adds
// (each unit's column is computed whole by one thread in a fixed order, so
// results do not depend on the thread count); the cell's pointwise pass and
// the bias sums use OpenMP only when big enough (threads_for), and no GEMM
// is called from inside a parallel region. Re-entrant: all scratch
// (combined bias, packed w_hh and A) is allocated per call, before any
// parallel region; partial tiles go through a stack array.
//
// float32 uses a polynomial exp (Cephes-style, ~1 ulp on the reduced range)
// so the activation loops vectorise; on x86 with GCC those loops are also
// compiled for x86-64-v4 (AVX-512) and x86-64-v3 (AVX2+FMA) and picked at load
// time (target_clones; the AVX-512 clone is not measured here),
// keeping the rest of the library generic x86-64. float64 uses std::exp /
// std::tanh: it serves gradcheck and reference work, where accuracy matters.
#include "cpu/lstm.h"

#include <vector>

#include "cpu/recurrence.h"

namespace lg {
namespace cpu {
namespace {

// ------------------------------------------------------------------ pointwise passes
// Rows [n0, n1), hidden units [j0, j1) of one step. g: pre-activations
// (N, 4H) without bias, turned into activations in place; bias (4H) =
// b_ih + b_hh.
template <typename T>
LG_RNN_INLINE void forward_rows(int64_t n0, int64_t n1, int64_t j0, int64_t j1, int64_t H, T* g,
                                 const T* bias, const T* c_prev, T* c_out, T* h_out) {
  for (int64_t n = n0; n < n1; ++n) {
    // Separate restrict pointers per gate: GCC vectorises these, not bias[H + j].
    T* __restrict gi = g + n * 4 * H;
    T* __restrict gf = gi + H;
    T* __restrict gg = gi + 2 * H;
    T* __restrict go = gi + 3 * H;
    const T* __restrict bi = bias;
    const T* __restrict bf = bias + H;
    const T* __restrict bg = bias + 2 * H;
    const T* __restrict bo = bias + 3 * H;
    const T* __restrict cp = c_prev + n * H;
    T* __restrict co = c_out + n * H;
    T* __restrict ho = h_out + n * H;
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) {
      const T i = sigmoid_of(gi[j] + bi[j]);
      const T f = sigmoid_of(gf[j] + bf[j]);
      const T gv = tanh_of(gg[j] + bg[j]);
      const T o = sigmoid_of(go[j] + bo[j]);
      const T c = f * cp[j] + i * gv;
      gi[j] = i;
      gf[j] = f;
      gg[j] = gv;
      go[j] = o;
      co[j] = c;
      ho[j] = o * tanh_of(c);
    }
  }
}

// dh = dy + dh_next (dy only when HasDy); dc_in -> dc_out may alias (in place).
template <typename T, bool HasDy>
LG_RNN_INLINE void backward_rows(int64_t n0, int64_t n1, int64_t j0, int64_t j1, int64_t H,
                                  const T* act, const T* c_prev, const T* c_cur, const T* dy,
                                  const T* dh_next, const T* dc_in, T* dc_out, T* dg) {
  for (int64_t n = n0; n < n1; ++n) {
    const T* __restrict ai = act + n * 4 * H;
    const T* __restrict af = ai + H;
    const T* __restrict ag = ai + 2 * H;
    const T* __restrict ao = ai + 3 * H;
    const T* __restrict cp = c_prev + n * H;
    const T* __restrict cc = c_cur + n * H;
    const T* __restrict dyr = HasDy ? dy + n * H : nullptr;
    const T* dhr = dh_next + n * H;
    const T* dcr = dc_in + n * H;  // may alias dco
    T* dco = dc_out + n * H;
    T* __restrict dgi = dg + n * 4 * H;
    T* __restrict dgf = dgi + H;
    T* __restrict dgg = dgi + 2 * H;
    T* __restrict dgo = dgi + 3 * H;
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) {
      const T i = ai[j], f = af[j], gv = ag[j], o = ao[j];
      const T tc = tanh_of(cc[j]);
      const T dh = HasDy ? dhr[j] + dyr[j] : dhr[j];
      const T dc = dcr[j] + dh * o * (T(1) - tc * tc);
      dgi[j] = dc * gv * i * (T(1) - i);
      dgf[j] = dc * cp[j] * f * (T(1) - f);
      dgg[j] = dc * i * (T(1) - gv * gv);
      dgo[j] = dh * tc * o * (T(1) - o);
      dco[j] = dc * f;
    }
  }
}

// Non-template entry points so the float loops can carry target_clones.
LG_RNN_CLONES void forward_rows_f32(int64_t n0, int64_t n1, int64_t j0, int64_t j1, int64_t H,
                                     float* g, const float* bias, const float* c_prev,
                                     float* c_out, float* h_out) {
  forward_rows<float>(n0, n1, j0, j1, H, g, bias, c_prev, c_out, h_out);
}
LG_RNN_CLONES void backward_rows_f32(int64_t n0, int64_t n1, int64_t j0, int64_t j1, int64_t H,
                                      const float* act, const float* c_prev, const float* c_cur,
                                      const float* dy, const float* dh_next, const float* dc_in,
                                      float* dc_out, float* dg) {
  if (dy)
    backward_rows<float, true>(n0, n1, j0, j1, H, act, c_prev, c_cur, dy, dh_next, dc_in, dc_out,
                               dg);
  else
    backward_rows<float, false>(n0, n1, j0, j1, H, act, c_prev, c_cur, dy, dh_next, dc_in,
                                dc_out, dg);
}
void forward_rows_any(int64_t n0, int64_t n1, int64_t j0, int64_t j1, int64_t H, float* g,
                      const float* b, const float* cp, float* co, float* ho) {
  forward_rows_f32(n0, n1, j0, j1, H, g, b, cp, co, ho);
}
void forward_rows_any(int64_t n0, int64_t n1, int64_t j0, int64_t j1, int64_t H, double* g,
                      const double* b, const double* cp, double* co, double* ho) {
  forward_rows<double>(n0, n1, j0, j1, H, g, b, cp, co, ho);
}
void backward_rows_any(int64_t n0, int64_t n1, int64_t j0, int64_t j1, int64_t H, const float* a,
                       const float* cp, const float* cc, const float* dy, const float* dh,
                       const float* dci, float* dco, float* dg) {
  backward_rows_f32(n0, n1, j0, j1, H, a, cp, cc, dy, dh, dci, dco, dg);
}
void backward_rows_any(int64_t n0, int64_t n1, int64_t j0, int64_t j1, int64_t H,
                       const double* a, const double* cp, const double* cc, const double* dy,
                       const double* dh, const double* dci, double* dco, double* dg) {
  if (dy)
    backward_rows<double, true>(n0, n1, j0, j1, H, a, cp, cc, dy, dh, dci, dco, dg);
  else
    backward_rows<double, false>(n0, n1, j0, j1, H, a, cp, cc, dy, dh, dci, dco, dg);
}
// ~10 ns of work per element: a thread needs a few thousand to pay for a fork.
constexpr int64_t kPointwiseMinPerThread = 8192;

// Split rows over threads; a step of N = 1 and large H stays on one thread.
template <typename F>
void for_rows(int64_t N, int64_t H, F body) {
  const int nt = threads_for(N * H, kPointwiseMinPerThread);
  if (nt <= 1 || N < 2) {
    body(0, N);
    return;
  }
#pragma omp parallel for num_threads(std::min<int64_t>(nt, N)) schedule(static)
  for (int64_t n = 0; n < N; ++n) body(n, n + 1);
}

template <typename T>
void step_forward(int64_t N, int64_t H, T* g, const T* bias, const T* c_prev, T* c_out,
                  T* h_out) {
  for_rows(N, H, [&](int64_t a, int64_t b) {
    forward_rows_any(a, b, 0, H, H, g, bias, c_prev, c_out, h_out);
  });
}

template <typename T>
void step_backward(int64_t N, int64_t H, const T* act, const T* c_prev, const T* c_cur,
                   const T* dy, const T* dh_next, const T* dc_in, T* dc_out, T* dg) {
  for_rows(N, H, [&](int64_t a, int64_t b) {
    backward_rows_any(a, b, 0, H, H, act, c_prev, c_cur, dy, dh_next, dc_in, dc_out, dg);
  });
}

template <typename T>
std::vector<T> combined_bias(int64_t H, const T* b_ih, const T* b_hh) {
  std::vector<T> b(static_cast<size_t>(4 * H), T(0));
  for (int64_t j = 0; j < 4 * H; ++j) b[j] = (b_ih ? b_ih[j] : T(0)) + (b_hh ? b_hh[j] : T(0));
  return b;
}

}  // namespace

// ------------------------------------------------------------------ cell
template <typename T>
void lstm_cell_forward(int64_t N, int64_t I, int64_t H, const T* x, const T* h, const T* c,
                       const T* w_ih, const T* w_hh, const T* b_ih, const T* b_hh, T* h_out,
                       T* c_out, T* gates) {
  if (N == 0 || H == 0) return;
  const std::vector<T> bias = combined_bias(H, b_ih, b_hh);
  gemm<T>(false, true, N, 4 * H, I, T(1), x, I, w_ih, I, T(0), gates, 4 * H);
  gemm<T>(false, true, N, 4 * H, H, T(1), h, H, w_hh, H, T(1), gates, 4 * H);
  step_forward(N, H, gates, bias.data(), c, c_out, h_out);
}

template <typename T>
void lstm_cell_backward(int64_t N, int64_t I, int64_t H, const T* dh_out, const T* dc_out,
                        const T* x, const T* h, const T* c, const T* w_ih, const T* w_hh,
                        const T* gates, const T* c_out, T* dgates, T* dx, T* dh, T* dc,
                        T* dw_ih, T* dw_hh, T* db) {
  const int64_t G = 4 * H;
  if (N == 0 || H == 0) {
    if (dx) std::fill(dx, dx + N * I, T(0));
    if (dh) std::fill(dh, dh + N * H, T(0));
    if (dc) std::fill(dc, dc + N * H, T(0));
    if (dw_ih) std::fill(dw_ih, dw_ih + G * I, T(0));
    if (dw_hh) std::fill(dw_hh, dw_hh + G * H, T(0));
    if (db) std::fill(db, db + G, T(0));
    return;
  }
  // Null upstream gradients are zeros; a null dc still needs scratch space.
  std::vector<T> zeros, dc_scratch;
  if (!dh_out || !dc_out) zeros.assign(static_cast<size_t>(N * H), T(0));
  if (!dc) dc_scratch.resize(static_cast<size_t>(N * H));
  step_backward<T>(N, H, gates, c, c_out, nullptr, dh_out ? dh_out : zeros.data(),
                   dc_out ? dc_out : zeros.data(), dc ? dc : dc_scratch.data(), dgates);
  if (dx) gemm<T>(false, false, N, I, G, T(1), dgates, G, w_ih, I, T(0), dx, I);
  if (dh) gemm<T>(false, false, N, H, G, T(1), dgates, G, w_hh, H, T(0), dh, H);
  if (dw_ih) gemm<T>(true, false, G, I, N, T(1), dgates, G, x, I, T(0), dw_ih, I);
  if (dw_hh) gemm<T>(true, false, G, H, N, T(1), dgates, G, h, H, T(0), dw_hh, H);
  if (db) column_sum(N, G, dgates, db);
}

// ------------------------------------------------------------------ sequence
template <typename T>
void lstm_sequence_forward(int64_t T_, int64_t N, int64_t I, int64_t H, bool reverse,
                           const T* x, const T* h0, const T* c0, const T* w_ih, const T* w_hh,
                           const T* b_ih, const T* b_hh, T* y, T* h_n, T* c_n, T* gates, T* cs) {
  const int64_t G = 4 * H, NH = N * H;
  if (T_ == 0 || NH == 0) {  // no step: the state passes through
    std::copy(h0, h0 + NH, h_n);
    std::copy(c0, c0 + NH, c_n);
    return;
  }
  const std::vector<T> bias = combined_bias(H, b_ih, b_hh);
  gemm<T>(false, true, T_ * N, G, I, T(1), x, I, w_ih, I, T(0), gates, G);
  UnitRecurrence<T> rec(N, H, H, 4, /*trans_w=*/true, w_hh);  // gates_t += h · w_hhᵀ
  run_forward(
      rec, T_, N, H, reverse, h0, y, [&](int64_t t) { return gates + t * N * G; }, G, T(1),
      [&](int64_t u0, int64_t u1, int64_t t, int64_t prev) {
        const T* c_prev = prev < 0 ? c0 : cs + prev * NH;
        forward_rows_any(0, N, u0, u1, H, gates + t * N * G, bias.data(), c_prev, cs + t * NH,
                         y + t * NH);
      });
  const int64_t last = reverse ? 0 : T_ - 1;
  std::copy(y + last * NH, y + (last + 1) * NH, h_n);
  std::copy(cs + last * NH, cs + (last + 1) * NH, c_n);
}

template <typename T>
void lstm_sequence_backward(int64_t T_, int64_t N, int64_t I, int64_t H, bool reverse,
                            const T* dy, const T* dh_n, const T* dc_n, const T* x, const T* h0,
                            const T* c0, const T* w_ih, const T* w_hh, const T* y,
                            const T* gates, const T* cs, T* dgates, T* dx, T* dh0, T* dc0,
                            T* dw_ih, T* dw_hh, T* db) {
  const int64_t G = 4 * H, NH = N * H, TN = T_ * N;
  // dh0 / dc0 carry dh_next / dc_next through the loop.
  copy_or_zero(dh0, dh_n, NH);
  copy_or_zero(dc0, dc_n, NH);
  if (TN == 0 || H == 0) {
    if (dx) std::fill(dx, dx + TN * I, T(0));
    if (dw_ih) std::fill(dw_ih, dw_ih + G * I, T(0));
    if (dw_hh) std::fill(dw_hh, dw_hh + G * H, T(0));
    if (db) std::fill(db, db + G, T(0));
    return;
  }
  // Each thread reads and writes only its own units of the dh0 / dc0 carries.
  UnitRecurrence<T> rec(N, H, G, 1, /*trans_w=*/false, w_hh);  // dh = dgates_t · w_hh
  run_backward(rec, T_, H, 4, reverse, dh0, T(0),
               [&](int64_t u0, int64_t u1, int64_t t, int64_t prev) -> const T* {
                 const T* c_prev = prev < 0 ? c0 : cs + prev * NH;
                 T* dg = dgates + t * N * G;
                 backward_rows_any(0, N, u0, u1, H, gates + t * N * G, c_prev, cs + t * NH,
                                   dy ? dy + t * NH : nullptr, dh0, dc0, dc0, dg);
                 return dg;
               });
  if (dx) gemm<T>(false, false, TN, I, G, T(1), dgates, G, w_ih, I, T(0), dx, I);
  if (dw_ih) gemm<T>(true, false, G, I, TN, T(1), dgates, G, x, I, T(0), dw_ih, I);
  if (dw_hh) recurrent_weight_grad(T_, N, H, G, reverse, dgates, h0, y, dw_hh);
  if (db) column_sum(TN, G, dgates, db);
}

#define LG_LSTM_INSTANTIATE(T)                                                                  \
  template void lstm_cell_forward<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*,  \
                                     const T*, const T*, const T*, const T*, T*, T*, T*);       \
  template void lstm_cell_backward<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, \
                                      const T*, const T*, const T*, const T*, const T*,         \
                                      const T*, T*, T*, T*, T*, T*, T*, T*);                    \
  template void lstm_sequence_forward<T>(int64_t, int64_t, int64_t, int64_t, bool, const T*,   \
                                         const T*, const T*, const T*, const T*, const T*,      \
                                         const T*, T*, T*, T*, T*, T*);                         \
  template void lstm_sequence_backward<T>(int64_t, int64_t, int64_t, int64_t, bool, const T*,  \
                                          const T*, const T*, const T*, const T*, const T*,     \
                                          const T*, const T*, const T*, const T*, const T*, T*, \
                                          T*, T*, T*, T*, T*, T*);
LG_LSTM_INSTANTIATE(float)
LG_LSTM_INSTANTIATE(double)
#undef LG_LSTM_INSTANTIATE

}  // namespace cpu
}  // namespace lg
