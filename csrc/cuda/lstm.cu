// LSTM kernels on the GPU (see lstm.h for shapes and contracts).
//
// GEMM driver (any size). A sequence's input projection for all T steps is
// ONE sgemm, gates = x (T*N, I) · w_ihᵀ, written into the saved gates
// buffer; then per step one sgemm adds h_{t-1} · w_hhᵀ (beta = 1) and one
// fused pointwise kernel adds both biases, applies the activations in place
// and writes c_t, h_t (h_t is y_t itself). Backward walks the steps in
// reverse: a fused pointwise kernel turns (dy_t + dh_next, dc_next) into
// dgates_t and dc_{t-1}, one sgemm gives dh_{t-1} = dgates_t · w_hh; after the
// loop dx, dw_ih and dw_hh are whole-sequence GEMMs over T*N rows and db a
// column sum of dgates (never per-step accumulation). The products with few
// output tiles (dh per step, the weight gradients) are split over K into a
// workspace (see "split-K products").
//
// Persistent kernels (small batches). One cooperative launch runs all T
// steps. Block b owns `units` hidden units j and so all four gate rows of
// each (i, f, g, o of unit j), which keeps the pointwise update local; its
// slice of w_hh (4*units x H floats) is loaded into shared memory ONCE and
// stays there for the whole sequence. Each step stages h_{t-1} (N x H,
// read from y_{t-1} or h0) into shared memory, computes the recurrent dot
// products (each (unit, batch row) item split over `slices` lanes of a warp
// along H, float4 loads, shuffle reduction), finishes the cell in
// registers and writes gates_t, c_t, y_t to global memory; a grid-wide
// barrier (cooperative_groups::this_grid().sync(), which also orders the
// memory) then publishes y_t to every block before the next step. Needs H %
// 4 == 0, 16-byte aligned h0, w_hh and y (all read as float4: y_{t-1} is
// step t's h), cooperative launch support and every block resident
// (checked with the occupancy API); otherwise the GEMM driver runs. The
// persistent backward mirrors it (w_hh columns of its units on chip, dc in
// registers, dgates_t published by the barrier; only dgates is read as
// float4); the weight gradients stay whole-sequence GEMMs after it.
//
// Limits: sizes are int64 on the host and in index maths; element-wise
// kernels use grid-stride loops (no grid-size limit). Every zero-size case
// returns early with the same outputs as the CPU kernels. Activations use
// expf / tanhf (not the fast intrinsics) to stay close to the CPU results.
#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <string>
#include <utility>

#include "common/check.h"
#include "cuda/gemm.h"
#include "cuda/launch.h"
#include "cuda/lstm.h"

namespace cg = cooperative_groups;

namespace lg {
namespace cuda {
namespace {

constexpr int kPointwiseThreads = 256;
constexpr int kPersistentThreads = 256;

// A failed runtime call becomes std::runtime_error (RuntimeError) naming it;
// the error is cleared so a later launch check does not report it again.
void check_call(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return;
  cudaGetLastError();
  throw std::runtime_error(std::string(what) + ": " + cudaGetErrorName(err) + ": " +
                           cudaGetErrorString(err));
}

// Blocks for a grid-stride loop over n elements (the loop covers any excess).
unsigned grid_for(int64_t n, int threads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(blocks, 1), 1 << 20));
}

void zero(float* p, int64_t count, cudaStream_t s) {
  if (p && count > 0)
    check_call(cudaMemsetAsync(p, 0, count * sizeof(float), s), "lstm: cudaMemsetAsync");
}

void copy_or_zero(float* dst, const float* src, int64_t count, cudaStream_t s) {
  if (count <= 0) return;
  if (!src) return zero(dst, count, s);
  check_call(cudaMemcpyAsync(dst, src, count * sizeof(float), cudaMemcpyDeviceToDevice, s),
             "lstm: cudaMemcpyAsync");
}

// C (M x Nc, ldc = Nc) = op(A) · op(B) + beta·C; K = 0 gives beta·C.
void mm(bool ta, bool tb, int64_t M, int64_t Nc, int64_t K, const float* A, int64_t lda,
        const float* B, int64_t ldb, float beta, float* C, cudaStream_t s) {
  if (M == 0 || Nc == 0) return;
  if (K == 0) {
    if (beta == 0.f) zero(C, M * Nc, s);
    return;
  }
  sgemm(ta, tb, M, Nc, K, 1.f, A, lda, B, ldb, beta, C, Nc, s);
}

// ------------------------------------------------------------------ split-K products
// The backward's products with few output tiles -- dh = dgates_t · w_hh each
// step (N x H outputs, K = 4H) and the weight gradients (4H x I, 4H x H
// outputs, K = T*N) -- would leave most SMs idle in one GEMM. They run as S
// partial products over K chunks (one strided-batched sgemm) into a CuPy
// workspace; the consumer sums the S slabs (the next step's pointwise
// kernel, or lstm_sum_parts_kernel). Deterministic: no atomics.
constexpr int64_t kSplitTile = 64, kSplitMinK = 64, kSplitMax = 32;

int sm_count() {
  int dev = 0, sms = 0;
  check_call(cudaGetDevice(&dev), "lstm: cudaGetDevice");
  check_call(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev),
             "lstm: cudaDeviceGetAttribute");
  return sms;
}

// S (a power of two) for an M x Nc x K product: until ~2 blocks per SM.
int64_t splits_for(int64_t M, int64_t Nc, int64_t K, int sms) {
  const int64_t tiles = ((M + kSplitTile - 1) / kSplitTile) * ((Nc + kSplitTile - 1) / kSplitTile);
  int64_t S = 1;
  while (S < kSplitMax && tiles * S * 2 <= 2 * int64_t(sms) && K / (S * 2) >= kSplitMinK) S *= 2;
  return S;
}

// ws[p] (M x Nc) = op(A) · op(B) over the p-th of S K-chunks (the last one
// also takes the K % S leftover rows).
void partial_products(bool ta, bool tb, int64_t M, int64_t Nc, int64_t K, const float* A,
                      int64_t lda, const float* B, int64_t ldb, int64_t S, float* ws,
                      cudaStream_t s) {
  const int64_t KC = K / S, rest = K - S * KC;
  const int64_t step_a = ta ? KC * lda : KC, step_b = tb ? KC : KC * ldb;
  sgemm_strided_batched(ta, tb, S, M, Nc, KC, 1.f, A, lda, step_a, B, ldb, step_b, 0.f, ws, Nc,
                        M * Nc, s);
  if (rest > 0)
    sgemm(ta, tb, M, Nc, rest, 1.f, A + S * step_a, lda, B + S * step_b, ldb, 1.f,
          ws + (S - 1) * M * Nc, Nc, s);
}

// out = beta·out + Σ_p parts[p] (beta 0: out is not read).
__global__ void lstm_sum_parts_kernel(int64_t count, int64_t parts,
                                      const float* __restrict__ ws, float beta,
                                      float* __restrict__ out) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < count;
       e += int64_t(gridDim.x) * blockDim.x) {
    float acc = beta == 0.f ? 0.f : beta * out[e];
    for (int64_t p = 0; p < parts; ++p) acc += ws[p * count + e];
    out[e] = acc;
  }
}

void sum_parts(int64_t count, int64_t parts, const float* ws, float beta, float* out,
               cudaStream_t s) {
  lstm_sum_parts_kernel<<<grid_for(count, kPointwiseThreads), kPointwiseThreads, 0, s>>>(
      count, parts, ws, beta, out);
  check_launch("lstm_sum_parts_kernel");
}

// mm() split over K when that fills the GPU better and the workspace
// (ws_floats) holds the partial products.
void mm_split(bool ta, bool tb, int64_t M, int64_t Nc, int64_t K, const float* A, int64_t lda,
              const float* B, int64_t ldb, float beta, float* C, float* ws, int64_t ws_floats,
              int sms, cudaStream_t s) {
  const int64_t S = splits_for(M, Nc, K, sms);
  if (S == 1 || M * Nc == 0 || S * M * Nc > ws_floats)
    return mm(ta, tb, M, Nc, K, A, lda, B, ldb, beta, C, s);
  partial_products(ta, tb, M, Nc, K, A, lda, B, ldb, S, ws, s);
  sum_parts(M * Nc, S, ws, beta, C, s);
}

// Floats of workspace an M x Nc x K product split by mm_split needs (0: unsplit).
int64_t split_workspace(int64_t M, int64_t Nc, int64_t K, int sms) {
  const int64_t S = splits_for(M, Nc, K, sms);
  return S > 1 ? S * M * Nc : 0;
}

// ------------------------------------------------------------------ pointwise cell
__device__ __forceinline__ float sigmoid(float x) { return 1.f / (1.f + expf(-x)); }

__device__ __forceinline__ float bias_at(const float* b_ih, const float* b_hh, int64_t k) {
  return (b_ih ? b_ih[k] : 0.f) + (b_hh ? b_hh[k] : 0.f);
}

// Unit j of one batch row: pre-activations p* (without bias) -> activations
// stored in g_row (that row's 4H gates), c and h written to *c_out, *h_out.
__device__ __forceinline__ void cell_update(float* g_row, int64_t H, int64_t j, float pi,
                                            float pf, float pg, float po, const float* b_ih,
                                            const float* b_hh, float c_prev, float* c_out,
                                            float* h_out) {
  const float i = sigmoid(pi + bias_at(b_ih, b_hh, j));
  const float f = sigmoid(pf + bias_at(b_ih, b_hh, H + j));
  const float g = tanhf(pg + bias_at(b_ih, b_hh, 2 * H + j));
  const float o = sigmoid(po + bias_at(b_ih, b_hh, 3 * H + j));
  const float c = f * c_prev + i * g;
  g_row[j] = i;
  g_row[H + j] = f;
  g_row[2 * H + j] = g;
  g_row[3 * H + j] = o;
  *c_out = c;
  *h_out = o * tanhf(c);
}

// gates (N, 4H): pre-activations in, activations out (in place).
__global__ void lstm_pointwise_forward_kernel(int64_t N, int64_t H, float* gates,
                                              const float* __restrict__ b_ih,
                                              const float* __restrict__ b_hh,
                                              const float* __restrict__ c_prev,
                                              float* __restrict__ c_out,
                                              float* __restrict__ h_out) {
  const int64_t NH = N * H;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < NH;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = e / H, j = e - n * H;
    float* g = gates + n * 4 * H;
    cell_update(g, H, j, g[j], g[H + j], g[2 * H + j], g[3 * H + j], b_ih, b_hh, c_prev[e],
                c_out + e, h_out + e);
  }
}

// Unit j of one batch row: activations a_row (4H) and the states -> the
// pre-activation gradients in dg_row; returns dc_{t-1} = dc·f.
__device__ __forceinline__ float cell_backward_unit(const float* a_row, float* dg_row, int64_t H,
                                                    int64_t j, float c_prev, float c_cur,
                                                    float dh, float dc_next) {
  const float i = a_row[j], f = a_row[H + j], g = a_row[2 * H + j], o = a_row[3 * H + j];
  const float tc = tanhf(c_cur);
  const float dc = dc_next + dh * o * (1.f - tc * tc);
  dg_row[j] = dc * g * i * (1.f - i);
  dg_row[H + j] = dc * c_prev * f * (1.f - f);
  dg_row[2 * H + j] = dc * i * (1.f - g * g);
  dg_row[3 * H + j] = dh * tc * o * (1.f - o);
  return dc * f;
}

// dh = dh_next + dy, dc = dc_in + dh·o·(1 - tanh²c); null inputs are zero.
// dh_next is the sum of `dh_parts` (N, H) slabs (the split-K partial
// products of the previous step's dh GEMM). dc_out (= dc·f, may alias
// dc_in: each element is read before it is written by the same thread) may
// be null.
__global__ void lstm_pointwise_backward_kernel(int64_t N, int64_t H,
                                               const float* __restrict__ act,
                                               const float* __restrict__ c_prev,
                                               const float* __restrict__ c_cur,
                                               const float* __restrict__ dy,
                                               const float* __restrict__ dh_next,
                                               int64_t dh_parts, const float* dc_in,
                                               float* dc_out, float* __restrict__ dgates) {
  const int64_t NH = N * H;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < NH;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = e / H, j = e - n * H;
    float dh = dy ? dy[e] : 0.f;
    if (dh_next)
      for (int64_t p = 0; p < dh_parts; ++p) dh += dh_next[p * NH + e];
    const float dc = cell_backward_unit(act + n * 4 * H, dgates + n * 4 * H, H, j, c_prev[e],
                                        c_cur[e], dh, dc_in ? dc_in[e] : 0.f);
    if (dc_out) dc_out[e] = dc;
  }
}

// db[j] = Σ_r dg[r, j] over `rows` rows of width W. A block sums 32 columns
// (coalesced row segments) with kColSumRows row-strided partial sums, then
// reduces them in shared memory; deterministic (no atomics).
constexpr int kColSumRows = 16;
__global__ void lstm_bias_grad_kernel(int64_t rows, int64_t W, const float* __restrict__ dg,
                                      float* __restrict__ db) {
  __shared__ float part[kColSumRows][33];
  const int64_t col = blockIdx.x * int64_t(32) + threadIdx.x;
  float acc = 0.f;
  if (col < W)
    for (int64_t r = threadIdx.y; r < rows; r += kColSumRows) acc += dg[r * W + col];
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && col < W) {
    float sum = 0.f;
    for (int k = 0; k < kColSumRows; ++k) sum += part[k][threadIdx.x];
    db[col] = sum;
  }
}

void pointwise_forward(int64_t N, int64_t H, float* g, const float* b_ih, const float* b_hh,
                       const float* c_prev, float* c_out, float* h_out, cudaStream_t s) {
  lstm_pointwise_forward_kernel<<<grid_for(N * H, kPointwiseThreads), kPointwiseThreads, 0, s>>>(
      N, H, g, b_ih, b_hh, c_prev, c_out, h_out);
  check_launch("lstm_pointwise_forward_kernel");
}

void pointwise_backward(int64_t N, int64_t H, const float* act, const float* c_prev,
                        const float* c_cur, const float* dy, const float* dh_next,
                        int64_t dh_parts, const float* dc_in, float* dc_out, float* dg,
                        cudaStream_t s) {
  lstm_pointwise_backward_kernel<<<grid_for(N * H, kPointwiseThreads), kPointwiseThreads, 0, s>>>(
      N, H, act, c_prev, c_cur, dy, dh_next, dh_parts, dc_in, dc_out, dg);
  check_launch("lstm_pointwise_backward_kernel");
}

void bias_grad(int64_t rows, int64_t W, const float* dg, float* db, cudaStream_t s) {
  if (!db || W == 0) return;
  const unsigned blocks = static_cast<unsigned>((W + 31) / 32);  // W = 4H < 2^31 * 32
  lstm_bias_grad_kernel<<<blocks, dim3(32, kColSumRows), 0, s>>>(rows, W, dg, db);
  check_launch("lstm_bias_grad_kernel");
}

// ------------------------------------------------------------------ persistent forward
// Shared memory: w_s [4*units][H4] float4 (row q*units + u = w_hh row q*H +
// j0 + u), then h_s [NG*NB][ldh4] float4, NG = ceil(N / NB); rows N.. are
// zero padding (never staged), so the inner loop needs no guards. An item
// is (unit u, group of NB batch rows): each w float4 loaded from shared
// memory feeds NB rows (register blocking). Items, group fastest, are
// spread over groups of `slices` consecutive lanes, lane `ls` taking float4
// columns ls, ls + slices, ...; the xor-shuffle reduction leaves every lane
// of a group with the sums, and lane r % slices finishes row r. ldh4 is
// padded so the 8 lanes of a quarter-warp (one 128-bit shared-memory
// wavefront) mostly hit distinct bank groups.
template <int NB>
__global__ void __launch_bounds__(kPersistentThreads)
lstm_persistent_forward_kernel(int T, int N, int H, int units, int slices, int ldh4,
                               bool reverse, const float* h0, const float* c0,
                               const float* w_hh, const float* b_ih, const float* b_hh,
                               float* y, float* gates, float* cs) {
  // No __restrict__ / __ldg on y and cs: other blocks write them during the
  // kernel, and the non-coherent read path would not see those writes.
  extern __shared__ float4 smem4[];
  const int H4 = H / 4, NG = (N + NB - 1) / NB;
  float4* w_s = smem4;
  float4* h_s = smem4 + 4 * units * H4;
  const int j0 = blockIdx.x * units;
  const int my_units = min(units, H - j0);
  for (int e = threadIdx.x; e < 4 * units * H4; e += blockDim.x) {
    const int r = e / H4, k4 = e - r * H4, q = r / units, u = r - q * units;
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (u < my_units)
      v = reinterpret_cast<const float4*>(w_hh + (int64_t(q) * H + j0 + u) * H)[k4];
    w_s[e] = v;
  }
  for (int e = N * ldh4 + threadIdx.x; e < NG * NB * ldh4; e += blockDim.x)
    h_s[e] = make_float4(0.f, 0.f, 0.f, 0.f);
  cg::grid_group grid = cg::this_grid();
  const int64_t NH = int64_t(N) * H, G = 4 * int64_t(H);
  const int items = my_units * NG;
  const int ls = threadIdx.x % slices;
  const int item_stride = blockDim.x / slices;
  for (int s = 0; s < T; ++s) {
    const int64_t t = reverse ? T - 1 - s : s;
    const int64_t tp = reverse ? t + 1 : t - 1;
    const float* h_prev = s == 0 ? h0 : y + tp * NH;
    const float* c_prev = s == 0 ? c0 : cs + tp * NH;
    const float4* h_prev4 = reinterpret_cast<const float4*>(h_prev);
    for (int e = threadIdx.x; e < N * H4; e += blockDim.x) {
      const int n = e / H4;
      h_s[n * ldh4 + (e - n * H4)] = h_prev4[e];
    }
    __syncthreads();
    // Uniform trip count across the block: the shuffles need whole warps.
    for (int base = 0; base < items; base += item_stride) {
      const int item = base + threadIdx.x / slices;
      const bool valid = item < items;
      const int u = valid ? item / NG : 0, n0 = valid ? (item - u * NG) * NB : 0;
      float acc[4][NB];
#pragma unroll
      for (int q = 0; q < 4; ++q)
#pragma unroll
        for (int r = 0; r < NB; ++r) acc[q][r] = 0.f;
      if (valid) {
        const float4* hr = h_s + n0 * ldh4;
        const float4* wr = w_s + u * H4;
#pragma unroll 2
        for (int k = ls; k < H4; k += slices) {
          float4 hv[NB];
#pragma unroll
          for (int r = 0; r < NB; ++r) hv[r] = hr[r * ldh4 + k];
#pragma unroll
          for (int q = 0; q < 4; ++q) {
            const float4 w = wr[q * units * H4 + k];
#pragma unroll
            for (int r = 0; r < NB; ++r)
              acc[q][r] = fmaf(w.x, hv[r].x, fmaf(w.y, hv[r].y,
                               fmaf(w.z, hv[r].z, fmaf(w.w, hv[r].w, acc[q][r]))));
          }
        }
      }
      for (int off = slices / 2; off > 0; off >>= 1)  // groups never straddle a warp
#pragma unroll
        for (int q = 0; q < 4; ++q)
#pragma unroll
          for (int r = 0; r < NB; ++r) acc[q][r] += __shfl_xor_sync(0xffffffffu, acc[q][r], off);
#pragma unroll
      for (int r = 0; r < NB; ++r) {
        const int n = n0 + r;
        if (!valid || n >= N || (r & (slices - 1)) != ls) continue;
        const int64_t j = j0 + u, e = int64_t(n) * H + j;
        float* g = gates + (t * N + n) * G;  // holds x_t · w_ihᵀ from the input GEMM
        cell_update(g, H, j, g[j] + acc[0][r], g[H + j] + acc[1][r], g[2 * H + j] + acc[2][r],
                    g[3 * H + j] + acc[3][r], b_ih, b_hh, c_prev[e], cs + t * NH + e,
                    y + t * NH + e);
      }
    }
    // Publishes y_t / c_t to every block and frees h_s for the next step.
    if (s + 1 < T) grid.sync();
  }
}

// Persistent backward (BPTT), the same ownership as the forward: block b
// owns `units` hidden units j, keeps column j of w_hh (its 4H entries,
// float4 along r) in shared memory for the whole sequence, and keeps dc of
// its (n, j) cells in registers. Step k: dh_t[n, j] = Σ_r dgates_{t+1}[n, r]
// · w_hh[r, j] from the previous step's dgates (written by every block,
// published by the grid barrier, staged through shared memory in chunks of
// `chunk4` float4 columns), then the pointwise backward writes dgates_t.
// After the last step one more product gives dh0. Items are (unit, group
// of NB rows) as in the forward; each thread has at most one item (the host
// checks), so the dc registers stay with their cells.
template <int NB>
__global__ void __launch_bounds__(kPersistentThreads)
lstm_persistent_backward_kernel(int T, int N, int H, int units, int slices, int chunk4, int ldd4,
                                bool reverse, const float* dy, const float* dh_n,
                                const float* dc_n, const float* c0, const float* w_hh,
                                const float* gates, const float* cs, float* dgates, float* dh0,
                                float* dc0) {
  // dgates is written by other blocks during the kernel: plain loads only.
  extern __shared__ float4 smem4[];
  const int NG = (N + NB - 1) / NB, G = 4 * H;
  float4* w_s = smem4;                // [units][H] float4: rows 4r4 .. 4r4+3 of column j
  float4* d_s = smem4 + units * H;    // [NG*NB][ldd4] float4: a chunk of dgates_{t+1}
  const int j0 = blockIdx.x * units;
  const int my_units = min(units, H - j0);
  for (int e = threadIdx.x; e < units * H; e += blockDim.x) {
    const int u = e / H, r4 = e - u * H;
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (u < my_units) {
      const float* col = w_hh + int64_t(4 * r4) * H + j0 + u;
      v = make_float4(col[0], col[H], col[2 * int64_t(H)], col[3 * int64_t(H)]);
    }
    w_s[e] = v;
  }
  for (int e = N * ldd4 + threadIdx.x; e < NG * NB * ldd4; e += blockDim.x)
    d_s[e] = make_float4(0.f, 0.f, 0.f, 0.f);
  cg::grid_group grid = cg::this_grid();
  const int64_t NH = int64_t(N) * H;
  const int ls = threadIdx.x % slices, item = threadIdx.x / slices;
  const bool valid = item < my_units * NG;
  const int u = valid ? item / NG : 0, n0 = valid ? (item - u * NG) * NB : 0;
  const int64_t j = j0 + u;
  bool own[NB];  // row r of the item is finished by lane r % slices
  float dc[NB];
#pragma unroll
  for (int r = 0; r < NB; ++r) {
    own[r] = valid && n0 + r < N && (r & (slices - 1)) == ls;
    dc[r] = own[r] && dc_n ? dc_n[int64_t(n0 + r) * H + j] : 0.f;
  }
  for (int step = 0; step <= T; ++step) {
    float dh[NB];
    if (step == 0) {
#pragma unroll
      for (int r = 0; r < NB; ++r) dh[r] = own[r] && dh_n ? dh_n[int64_t(n0 + r) * H + j] : 0.f;
    } else {
      grid.sync();  // dgates of the previous step, from every block, is visible
      const int64_t tq = reverse ? step - 1 : T - step;  // the step processed last
      const float4* dgp = reinterpret_cast<const float4*>(dgates + tq * N * G);
#pragma unroll
      for (int r = 0; r < NB; ++r) dh[r] = 0.f;
      for (int c = 0; c < H; c += chunk4) {  // H float4s = the 4H columns of dgates
        const int cw = min(chunk4, H - c);
        __syncthreads();  // the previous chunk is consumed
        for (int e = threadIdx.x; e < N * cw; e += blockDim.x) {
          const int n = e / cw, k = e - n * cw;
          d_s[n * ldd4 + k] = dgp[int64_t(n) * H + c + k];
        }
        __syncthreads();
        if (valid) {
          const float4* wr = w_s + u * H + c;
          const float4* dr = d_s + n0 * ldd4;
          for (int k = ls; k < cw; k += slices) {
            const float4 w = wr[k];
#pragma unroll
            for (int r = 0; r < NB; ++r) {
              const float4 d = dr[r * ldd4 + k];
              dh[r] = fmaf(w.x, d.x, fmaf(w.y, d.y, fmaf(w.z, d.z, fmaf(w.w, d.w, dh[r]))));
            }
          }
        }
      }
      for (int off = slices / 2; off > 0; off >>= 1)  // groups never straddle a warp
#pragma unroll
        for (int r = 0; r < NB; ++r) dh[r] += __shfl_xor_sync(0xffffffffu, dh[r], off);
    }
    if (step == T) {
#pragma unroll
      for (int r = 0; r < NB; ++r)
        if (own[r]) {
          const int64_t e = int64_t(n0 + r) * H + j;
          dh0[e] = dh[r];
          dc0[e] = dc[r];
        }
      break;
    }
    const int64_t t = reverse ? step : T - 1 - step;  // reverse of the forward order
    const bool first = reverse ? t == T - 1 : t == 0;
    const int64_t tp = reverse ? t + 1 : t - 1;
#pragma unroll
    for (int r = 0; r < NB; ++r)
      if (own[r]) {
        const int64_t n = n0 + r, e = n * H + j;
        const float dhv = dh[r] + (dy ? dy[t * NH + e] : 0.f);
        dc[r] = cell_backward_unit(gates + (t * N + n) * G, dgates + (t * N + n) * G, H, j,
                                   first ? c0[e] : cs[tp * NH + e], cs[t * NH + e], dhv, dc[r]);
      }
  }
}

bool fail(std::string* why, std::string msg) {
  *why = std::move(msg);
  return false;
}

struct PersistentPlan {
  const void* kernel = nullptr;
  int units = 0, blocks = 0, slices = 0, chunk4 = 0, ld4 = 0;
  size_t smem = 0;
};

// Auto choice of the persistent backward: at most this many bytes of
// dgates_t read from L2 by all blocks together per step (a guess, untuned:
// ~3 us of L2 bandwidth on an H100).
constexpr int64_t kPersistentBackwardMaxStepBytes = int64_t(16) << 20;

// Batch rows per item: register blocking pays once a group is mostly full.
constexpr int kRowsBlocked = 4, kRowsBlockedMinBatch = 8;

// A launch configuration of the persistent forward (backward = false) or
// backward kernel with every block resident, or false and the reason.
// `aligned`: the float4-read operands (forward: h0, w_hh and y; backward:
// dgates) are 16-byte aligned.
bool plan_persistent(bool backward, int64_t T, int64_t N, int64_t H, bool aligned,
                     PersistentPlan* plan, std::string* why) {
  if (H % 4 != 0) return fail(why, "hidden size must be a multiple of 4");
  if (T > INT_MAX - 1 || (N + kRowsBlocked) * 4 * H > INT_MAX / 4)
    return fail(why, "sizes exceed the int range");
  if (!aligned)
    return fail(why, backward ? "dgates must be 16-byte aligned"
                              : "h0, w_hh and y must be 16-byte aligned");
  int dev = 0, coop = 0, sms = 0, optin = 0;
  check_call(cudaGetDevice(&dev), "lstm: cudaGetDevice");
  check_call(cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, dev),
             "lstm: cudaDeviceGetAttribute");
  if (!coop) return fail(why, "the device does not support cooperative launches");
  check_call(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev),
             "lstm: cudaDeviceGetAttribute");
  check_call(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev),
             "lstm: cudaDeviceGetAttribute");
  const int nb = N >= kRowsBlockedMinBatch ? kRowsBlocked : 1;
  const void* kernel =
      backward ? (nb == 1 ? reinterpret_cast<const void*>(lstm_persistent_backward_kernel<1>)
                          : reinterpret_cast<const void*>(
                                lstm_persistent_backward_kernel<kRowsBlocked>))
               : (nb == 1 ? reinterpret_cast<const void*>(lstm_persistent_forward_kernel<1>)
                          : reinterpret_cast<const void*>(
                                lstm_persistent_forward_kernel<kRowsBlocked>));
  check_call(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, optin),
             "lstm: cudaFuncSetAttribute");
  const int64_t rows = (N + nb - 1) / nb * nb, f4 = sizeof(float4);
  // Fewest units per block (most blocks, most parallelism) whose grid is resident.
  for (int64_t units = std::max<int64_t>(1, (H + sms - 1) / sms); units <= H; ++units) {
    const int64_t items = units * (rows / nb);
    if (backward && items > kPersistentThreads)
      return fail(why, "batch too large for the persistent backward (one item per thread)");
    int slices = 1;
    while (slices < 32 && items * slices * 2 <= kPersistentThreads) slices *= 2;
    const int64_t pad = nb == 1 ? slices % 8 : (slices < 8 ? 1 : 0);
    const int64_t w4 = units * H;  // the w_hh slice: 4*units rows (or columns) of H floats
    // forward: all of h (H/4 float4 per row); backward: as many float4
    // columns of dgates per chunk as fit (all 4H when they do).
    const int64_t chunk4 =
        backward ? std::min<int64_t>(H, ((optin / f4 - w4) / rows - pad) / 8 * 8) : H / 4;
    if (chunk4 <= 0) return fail(why, "the w_hh slice leaves no shared memory for staging");
    const int64_t ld4 = (chunk4 + 7) / 8 * 8 + pad;
    const int64_t smem = (w4 + rows * ld4) * f4;
    if (smem > optin)
      return fail(why, "w_hh slice and h (" + std::to_string(smem) +
                           " B) exceed shared memory (" + std::to_string(optin) + " B per block)");
    const int64_t blocks = (H + units - 1) / units;
    int per_sm = 0;
    check_call(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kPersistentThreads,
                                                             size_t(smem)),
               "lstm: cudaOccupancyMaxActiveBlocksPerMultiprocessor");
    if (int64_t(per_sm) * sms >= blocks) {
      *plan = {kernel, int(units), int(blocks), slices, int(chunk4), int(ld4), size_t(smem)};
      return true;
    }
  }
  return fail(why, "no resident grid found");
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Plans the persistent kernel when `mode` asks for it (1) or allows it (0,
// small batch); mode 1 and no plan is an error naming the reason.
bool choose_persistent(const char* fn, int mode, bool backward, int64_t T, int64_t N, int64_t H,
                       bool aligned, PersistentPlan* plan) {
  if (mode < 0 || (mode == 0 && N > kLstmPersistentMaxBatch)) return false;
  std::string why;
  const bool ok = plan_persistent(backward, T, N, H, aligned, plan, &why);
  LG_CHECK(ok || mode == 0, fn, ": the persistent kernel cannot run (T=", T, ", N=", N, ", H=", H,
           "): ", why);
  return ok;
}

void launch_cooperative(const PersistentPlan& p, void** args, const char* name, cudaStream_t s) {
  check_call(cudaLaunchCooperativeKernel(p.kernel, dim3(p.blocks), dim3(kPersistentThreads), args,
                                         p.smem, s),
             name);
  check_launch(name);
}

void launch_persistent_forward(const PersistentPlan& p, int64_t T, int64_t N, int64_t H,
                               bool reverse, const float* h0, const float* c0, const float* w_hh,
                               const float* b_ih, const float* b_hh, float* y, float* gates,
                               float* cs, cudaStream_t s) {
  int t = int(T), n = int(N), h = int(H), units = p.units, slices = p.slices, ldh4 = p.ld4;
  void* args[] = {&t, &n, &h, &units, &slices, &ldh4, &reverse, &h0, &c0,
                  &w_hh, &b_ih, &b_hh, &y, &gates, &cs};
  launch_cooperative(p, args, "lstm_persistent_forward_kernel", s);
}

void launch_persistent_backward(const PersistentPlan& p, int64_t T, int64_t N, int64_t H,
                                bool reverse, const float* dy, const float* dh_n,
                                const float* dc_n, const float* c0, const float* w_hh,
                                const float* gates, const float* cs, float* dgates, float* dh0,
                                float* dc0, cudaStream_t s) {
  int t = int(T), n = int(N), h = int(H), units = p.units, slices = p.slices;
  int chunk4 = p.chunk4, ldd4 = p.ld4;
  void* args[] = {&t,    &n,    &h,  &units, &slices, &chunk4, &ldd4,   &reverse, &dy,
                  &dh_n, &dc_n, &c0, &w_hh,  &gates,  &cs,     &dgates, &dh0,     &dc0};
  launch_cooperative(p, args, "lstm_persistent_backward_kernel", s);
}

}  // namespace

int64_t lstm_sequence_backward_workspace(int64_t T, int64_t N, int64_t I, int64_t H) {
  if (T * N == 0 || H == 0) return 0;
  const int sms = sm_count();
  const int64_t G = 4 * H;
  return std::max({split_workspace(N, H, G, sms), split_workspace(G, I, T * N, sms),
                   split_workspace(G, H, (T - 1) * N, sms)});
}

// ------------------------------------------------------------------ cell
void lstm_cell_forward(int64_t N, int64_t I, int64_t H, const float* x, const float* h,
                       const float* c, const float* w_ih, const float* w_hh, const float* b_ih,
                       const float* b_hh, float* h_out, float* c_out, float* gates,
                       void* stream) {
  if (N == 0 || H == 0) return;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t G = 4 * H;
  mm(false, true, N, G, I, x, I, w_ih, I, 0.f, gates, s);
  mm(false, true, N, G, H, h, H, w_hh, H, 1.f, gates, s);
  pointwise_forward(N, H, gates, b_ih, b_hh, c, c_out, h_out, s);
}

void lstm_cell_backward(int64_t N, int64_t I, int64_t H, const float* dh_out,
                        const float* dc_out, const float* x, const float* h, const float* c,
                        const float* w_ih, const float* w_hh, const float* gates,
                        const float* c_out, float* dgates, float* dx, float* dh, float* dc,
                        float* dw_ih, float* dw_hh, float* db, void* stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t G = 4 * H;
  if (N == 0 || H == 0) {
    zero(dx, N * I, s);
    zero(dh, N * H, s);
    zero(dc, N * H, s);
    zero(dw_ih, G * I, s);
    zero(dw_hh, G * H, s);
    zero(db, G, s);
    return;
  }
  pointwise_backward(N, H, gates, c, c_out, nullptr, dh_out, 1, dc_out, dc, dgates, s);
  if (dx) mm(false, false, N, I, G, dgates, G, w_ih, I, 0.f, dx, s);
  if (dh) mm(false, false, N, H, G, dgates, G, w_hh, H, 0.f, dh, s);
  if (dw_ih) mm(true, false, G, I, N, dgates, G, x, I, 0.f, dw_ih, s);
  if (dw_hh) mm(true, false, G, H, N, dgates, G, h, H, 0.f, dw_hh, s);
  bias_grad(N, G, dgates, db, s);
}

// ------------------------------------------------------------------ sequence
LstmPath lstm_sequence_forward(int64_t T, int64_t N, int64_t I, int64_t H, bool reverse,
                               const float* x, const float* h0, const float* c0,
                               const float* w_ih, const float* w_hh, const float* b_ih,
                               const float* b_hh, float* y, float* h_n, float* c_n,
                               float* gates, float* cs, int mode, void* stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t G = 4 * H, NH = N * H;
  if (T == 0 || NH == 0) {  // no step: the state passes through
    copy_or_zero(h_n, h0, NH, s);
    copy_or_zero(c_n, c0, NH, s);
    return LstmPath::kGemm;
  }
  PersistentPlan plan;
  const bool persistent = choose_persistent("lstm_sequence_forward", mode, false, T, N, H,
                                            aligned16(h0) && aligned16(w_hh) && aligned16(y),
                                            &plan);
  mm(false, true, T * N, G, I, x, I, w_ih, I, 0.f, gates, s);
  if (persistent) {
    launch_persistent_forward(plan, T, N, H, reverse, h0, c0, w_hh, b_ih, b_hh, y, gates, cs, s);
  } else {
    for (int64_t step = 0; step < T; ++step) {
      const int64_t t = reverse ? T - 1 - step : step;
      const int64_t tp = reverse ? t + 1 : t - 1;  // the step before t in processing order
      const float* h_prev = step == 0 ? h0 : y + tp * NH;
      const float* c_prev = step == 0 ? c0 : cs + tp * NH;
      float* g = gates + t * N * G;
      mm(false, true, N, G, H, h_prev, H, w_hh, H, 1.f, g, s);
      pointwise_forward(N, H, g, b_ih, b_hh, c_prev, cs + t * NH, y + t * NH, s);
    }
  }
  const int64_t last = reverse ? 0 : T - 1;
  copy_or_zero(h_n, y + last * NH, NH, s);
  copy_or_zero(c_n, cs + last * NH, NH, s);
  return persistent ? LstmPath::kPersistent : LstmPath::kGemm;
}

LstmPath lstm_sequence_backward(int64_t T, int64_t N, int64_t I, int64_t H, bool reverse,
                                const float* dy, const float* dh_n, const float* dc_n,
                                const float* x, const float* h0, const float* c0,
                                const float* w_ih, const float* w_hh, const float* y,
                                const float* gates, const float* cs, float* dgates, float* dx,
                                float* dh0, float* dc0, float* dw_ih, float* dw_hh, float* db,
                                float* ws, int64_t ws_floats, int mode, void* stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t G = 4 * H, NH = N * H, TN = T * N;
  // dh0 / dc0 carry dh_next / dc_next through the loop.
  copy_or_zero(dh0, dh_n, NH, s);
  copy_or_zero(dc0, dc_n, NH, s);
  if (TN == 0 || H == 0) {
    zero(dx, TN * I, s);
    zero(dw_ih, G * I, s);
    zero(dw_hh, G * H, s);
    zero(db, G, s);
    return LstmPath::kGemm;
  }
  const int sms = sm_count();
  PersistentPlan plan;
  bool persistent = choose_persistent("lstm_sequence_backward", mode, true, T, N, H,
                                      aligned16(dgates), &plan);
  // Every block of the persistent backward reads all of dgates_t each step
  // (4x the forward's h_t): left to choose, take it only while that L2
  // traffic stays small next to the GEMM driver's per-step cost.
  if (persistent && mode == 0 &&
      int64_t(plan.blocks) * N * G * int64_t(sizeof(float)) > kPersistentBackwardMaxStepBytes)
    persistent = false;
  // GEMM driver: dh of each step as split-K partial products in ws when
  // that pays (and fits), summed by the next step's pointwise kernel; else
  // straight into dh0.
  const int64_t S = splits_for(N, H, G, sms);
  const bool split = !persistent && S > 1 && S * NH <= ws_floats;
  const float* dh_next = dh0;
  int64_t dh_parts = 1;
  if (persistent)
    launch_persistent_backward(plan, T, N, H, reverse, dy, dh_n, dc_n, c0, w_hh, gates, cs,
                               dgates, dh0, dc0, s);
  for (int64_t step = 0; step < (persistent ? 0 : T); ++step) {
    const int64_t t = reverse ? step : T - 1 - step;  // reverse of the forward order
    const bool first = reverse ? t == T - 1 : t == 0;  // first step of the forward pass
    const int64_t tp = reverse ? t + 1 : t - 1;
    const float* c_prev = first ? c0 : cs + tp * NH;
    float* dg = dgates + t * N * G;
    pointwise_backward(N, H, gates + t * N * G, c_prev, cs + t * NH, dy ? dy + t * NH : nullptr,
                       dh_next, dh_parts, dc0, dc0, dg, s);
    if (split) {
      partial_products(false, false, N, H, G, dg, G, w_hh, H, S, ws, s);
      dh_next = ws;
      dh_parts = S;
    } else {
      mm(false, false, N, H, G, dg, G, w_hh, H, 0.f, dh0, s);
    }
  }
  if (split) sum_parts(NH, S, ws, 0.f, dh0, s);
  if (dx) mm(false, false, TN, I, G, dgates, G, w_ih, I, 0.f, dx, s);
  if (dw_ih) mm_split(true, false, G, I, TN, dgates, G, x, I, 0.f, dw_ih, ws, ws_floats, sms, s);
  if (dw_hh) {
    // h_{t-1} is h0 for the first step and y of the neighbouring step
    // otherwise; the other T-1 steps are one contiguous slab of each.
    const int64_t first = reverse ? T - 1 : 0;
    mm(true, false, G, H, N, dgates + first * N * G, G, h0, H, 0.f, dw_hh, s);
    if (T > 1) {
      const float* dg_rest = reverse ? dgates : dgates + N * G;
      const float* h_rest = reverse ? y + NH : y;
      mm_split(true, false, G, H, (T - 1) * N, dg_rest, G, h_rest, H, 1.f, dw_hh, ws, ws_floats,
               sms, s);
    }
  }
  bias_grad(TN, G, dgates, db, s);
  return persistent ? LstmPath::kPersistent : LstmPath::kGemm;
}

}  // namespace cuda
}  // namespace lg
