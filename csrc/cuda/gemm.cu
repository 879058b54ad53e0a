// SGEMM, row-major, C = alpha * op(A) op(B) + beta * C, strided-batched.
//
// FP32 kernels (sgemm_fp32_kernel): a BM x BN block tile, BK-deep k steps,
// each thread owning a TM x TN register block split into 4x4 sub-tiles
// spaced half a block tile apart, so a warp's float4 reads of a k row in
// shared memory are conflict-free (16 consecutive float4s, or broadcasts). Both op(A) and op(B) tiles are stored
// k-major (S[k][row]) so the inner loop reads one row of each. Two configs:
//   128x128x8, 256 threads, 8x8 per thread (the main one);
//   64x64x16,  128 threads, 8x4 per thread (when 128x128 tiles would not
//              give every SM a block, e.g. 1024^2 outputs on 132 SMs).
// TF32 kernels (sgemm_tf32_kernel, sm_80+): the same tiling and loaders, but
// warps run mma.sync.m16n8k8 on values rounded once (cvt.rna) on their way
// into shared memory; an operand that is k-contiguous in global memory stays
// row-major in shared memory (row stride BK+4) and one that is
// row-contiguous stays k-major (row stride BM+8): both strides make the
// fragment reads (lanes at rows g, columns t) hit 32 distinct banks.
//
// Every kernel is templated on the transposes, so each operand's global
// loads run along its contiguous dimension (coalesced), and on VEC: float4
// global loads and C accesses when the bases, leading dimensions and batch
// strides are multiples of 16 bytes (checked on the host; otherwise a
// scalar-load instantiation). Partial float4s at the matrix edges fall back
// to bounds-checked scalar loads. Double buffering: while the block computes
// on one shared-memory stage, each thread's global loads for the next k tile
// are already in flight into registers, stored to the other stage after the
// math; one __syncthreads per k tile.
//
// Grid: x = N tiles, y = M tiles (grouped by 8 rows of tiles so that blocks
// running together share A and B panels in L2), z = batch, or the k range
// for split-K (outputs with too few tiles for the SMs: partial products to a
// caller-provided workspace, then sgemm_split_k_reduce_kernel sums them in a
// fixed order). The host splits launches so that y and z stay <= 65535.
// A single GEMM with M == 1 or N == 1 runs on the two GEMV kernels instead.
// Index math on global memory is int64. Limits: none beyond int64 sizes and
// the device's memory. Not yet: cp.async/TMA pipelines, wgmma on sm_90.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "common/check.h"
#include "cuda/gemm.h"
#include "cuda/launch.h"

namespace lg {
namespace cuda {
namespace {

struct GemmArgs {
  int64_t M, N, K;
  float alpha, beta;
  const float* A;
  int64_t lda, stride_a;
  const float* B;
  int64_t ldb, stride_b;
  float* C;
  int64_t ldc, stride_c;
  // Split-K: > 0 means blockIdx.z picks the k range [z * k_split, +k_split)
  // of one GEMM (A and B not offset) and C + z * stride_c gets its partial.
  int64_t k_split;
};

__device__ __forceinline__ float round_tf32(float x) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return __uint_as_float(r);
#else
  return x;
#endif
}

// Block (tile_m, tile_n) for this block: consecutive block ids walk down
// groups of 8 tile rows before moving right, so a wave of blocks reuses a
// few panels of A and B from L2 instead of streaming all of B.
__device__ __forceinline__ void tile_coords(int64_t* tile_m, int64_t* tile_n) {
  constexpr int64_t GROUP = 8;
  const int64_t gx = gridDim.x, gy = gridDim.y;
  const int64_t pid = static_cast<int64_t>(blockIdx.y) * gx + blockIdx.x;
  const int64_t per_group = GROUP * gx;
  const int64_t first_m = pid / per_group * GROUP;
  const int64_t rows = min(gy - first_m, GROUP);
  const int64_t in_group = pid % per_group;
  *tile_m = first_m + in_group % rows;
  *tile_n = in_group / rows;
}

// Moves one ROWS x BK tile of op(X) from global memory into shared memory
// through registers, in groups of 4 consecutive elements along X's
// contiguous dimension. K_CONTIG: X[row * ld + k] (A not transposed, B
// transposed); otherwise X[k * ld + row]. Out-of-range elements read as 0.
template <int ROWS, int BK, int THREADS, bool K_CONTIG, bool VEC, bool TF32>
struct TileLoader {
  static_assert(ROWS * BK % (4 * THREADS) == 0, "tile must split into float4 groups");
  static constexpr int GROUPS = ROWS * BK / (4 * THREADS);
  float4 v[GROUPS];

  // Tile coordinates of group g's first element.
  __device__ __forceinline__ static void group_origin(int g, int* row, int* k) {
    const int e = static_cast<int>(threadIdx.x) + g * THREADS;
    if (K_CONTIG) {
      *row = e / (BK / 4);
      *k = e % (BK / 4) * 4;
    } else {
      *k = e / (ROWS / 4);
      *row = e % (ROWS / 4) * 4;
    }
  }

  __device__ __forceinline__ void load(const float* __restrict__ X, int64_t ld, int64_t rows,
                                       int64_t K, int64_t r0, int64_t k0) {
#pragma unroll
    for (int g = 0; g < GROUPS; ++g) {
      int row, k;
      group_origin(g, &row, &k);
      const int64_t gr = r0 + row, gk = k0 + k;
      // Along the contiguous dimension: position and extent of the 4 elements.
      const int64_t pos = K_CONTIG ? gk : gr, ext = K_CONTIG ? K : rows;
      const bool line_ok = K_CONTIG ? gr < rows : gk < K;
      float* out = reinterpret_cast<float*>(&v[g]);
      if (!line_ok) {
        v[g] = make_float4(0.f, 0.f, 0.f, 0.f);
        continue;
      }
      const float* p = K_CONTIG ? X + gr * ld + gk : X + gk * ld + gr;
      // __ldg: A and B are read-only here (out never overlaps them), and the
      // pointers arrive through a struct, so nvcc would otherwise emit
      // generic loads rather than global ones.
      if (VEC && pos + 3 < ext) {
        v[g] = __ldg(reinterpret_cast<const float4*>(p));
      } else {
#pragma unroll
        for (int c = 0; c < 4; ++c) out[c] = pos + c < ext ? __ldg(p + c) : 0.f;
      }
    }
  }

  // Shared-memory layout: K_MAJOR_SMEM: S[k * lds + row], else S[row * lds + k].
  template <bool K_MAJOR_SMEM>
  __device__ __forceinline__ void store(float* S, int lds) const {
#pragma unroll
    for (int g = 0; g < GROUPS; ++g) {
      int row, k;
      group_origin(g, &row, &k);
      float4 x = v[g];
      if (TF32) {
        x.x = round_tf32(x.x);
        x.y = round_tf32(x.y);
        x.z = round_tf32(x.z);
        x.w = round_tf32(x.w);
      }
      const float* e = reinterpret_cast<const float*>(&x);
      if (K_CONTIG != K_MAJOR_SMEM) {  // the 4 elements are contiguous in smem too
        float* s = K_MAJOR_SMEM ? S + k * lds + row : S + row * lds + k;
        *reinterpret_cast<float4*>(s) = x;
      } else if (K_CONTIG) {
#pragma unroll
        for (int c = 0; c < 4; ++c) S[(k + c) * lds + row] = e[c];
      } else {
#pragma unroll
        for (int c = 0; c < 4; ++c) S[(row + c) * lds + k] = e[c];
      }
    }
  }
};

// This block's output tile origin, its batch entry's matrices and k range.
struct BlockTile {
  int64_t m0, n0;
  const float* A;
  const float* B;
  float* C;
  int64_t k_begin, k_end;
};

template <int BM, int BN>
__device__ __forceinline__ BlockTile block_tile(const GemmArgs& p) {
  int64_t tile_m, tile_n;
  tile_coords(&tile_m, &tile_n);
  const int64_t z = blockIdx.z;
  if (p.k_split > 0)
    return {tile_m * BM, tile_n * BN, p.A, p.B, p.C + z * p.stride_c, z * p.k_split,
            min(p.K, (z + 1) * p.k_split)};
  return {tile_m * BM, tile_n * BN, p.A + z * p.stride_a, p.B + z * p.stride_b,
          p.C + z * p.stride_c, 0, p.K};
}

// The double-buffered k loop every kernel shares: stage 0 is filled; then,
// per k tile, the next tile's global loads are issued into registers,
// compute(as, bs) runs on the current stage, and the registers go to the
// other stage (last read before the previous barrier). One barrier per tile.
template <int BK, bool A_KMAJ, bool B_KMAJ, class LoaderA, class LoaderB, class Compute>
__device__ __forceinline__ void double_buffered_k_loop(const GemmArgs& p, const BlockTile& bt,
                                                       LoaderA& la, LoaderB& lb, float* As,
                                                       int a_stage, int lda_s, float* Bs,
                                                       int b_stage, int ldb_s,
                                                       Compute&& compute) {
  const int64_t nk = (bt.k_end - bt.k_begin + BK - 1) / BK;
  if (nk > 0) {
    la.load(bt.A, p.lda, p.M, bt.k_end, bt.m0, bt.k_begin);
    lb.load(bt.B, p.ldb, p.N, bt.k_end, bt.n0, bt.k_begin);
    la.template store<A_KMAJ>(As, lda_s);
    lb.template store<B_KMAJ>(Bs, ldb_s);
  }
  __syncthreads();
  for (int64_t t = 0; t < nk; ++t) {
    const int cur = static_cast<int>(t & 1);
    const bool more = t + 1 < nk;
    if (more) {
      la.load(bt.A, p.lda, p.M, bt.k_end, bt.m0, bt.k_begin + (t + 1) * BK);
      lb.load(bt.B, p.ldb, p.N, bt.k_end, bt.n0, bt.k_begin + (t + 1) * BK);
    }
    compute(As + cur * a_stage, Bs + cur * b_stage);
    if (more) {
      la.template store<A_KMAJ>(As + (cur ^ 1) * a_stage, lda_s);
      lb.template store<B_KMAJ>(Bs + (cur ^ 1) * b_stage, ldb_s);
    }
    __syncthreads();
  }
}

__device__ __forceinline__ float axpby(float acc, float alpha, float beta, const float* c) {
  return beta == 0.f ? alpha * acc : fmaf(alpha, acc, beta * *c);
}

// C[gm, gn .. gn+3] from 4 accumulators; float4 when VEC and all 4 are in range.
template <bool VEC>
__device__ __forceinline__ void store_c4(const GemmArgs& p, float* C, int64_t gm, int64_t gn,
                                         const float* acc) {
  if (gm >= p.M) return;
  float* c = C + gm * p.ldc + gn;
  if (VEC && gn + 3 < p.N) {
    float4 old = make_float4(0.f, 0.f, 0.f, 0.f);
    if (p.beta != 0.f) old = *reinterpret_cast<const float4*>(c);
    float4 r;
    r.x = axpby(acc[0], p.alpha, p.beta, &old.x);
    r.y = axpby(acc[1], p.alpha, p.beta, &old.y);
    r.z = axpby(acc[2], p.alpha, p.beta, &old.z);
    r.w = axpby(acc[3], p.alpha, p.beta, &old.w);
    *reinterpret_cast<float4*>(c) = r;
    return;
  }
#pragma unroll
  for (int j = 0; j < 4; ++j)
    if (gn + j < p.N) c[j] = axpby(acc[j], p.alpha, p.beta, c + j);
}

template <int BM, int BN, int BK, int TM, int TN, bool TA, bool TB, bool VEC>
__global__ void __launch_bounds__((BM / TM) * (BN / TN), 512 / ((BM / TM) * (BN / TN)))
sgemm_fp32_kernel(const GemmArgs p) {
  constexpr int TX = BN / TN, TY = BM / TM, THREADS = TX * TY;
  constexpr int LDA = BM + 4, LDB = BN + 4;  // keeps rows 16-byte aligned for float4 reads
  static_assert(TM % 4 == 0 && TN % 4 == 0, "register block is made of 4x4 sub-tiles");
  __shared__ __align__(16) float As[2][BK * LDA];  // As[k * LDA + m] = op(A)[m0 + m][k0 + k]
  __shared__ __align__(16) float Bs[2][BK * LDB];  // Bs[k * LDB + n] = op(B)[k0 + k][n0 + n]

  const BlockTile bt = block_tile<BM, BN>(p);
  const int tx = threadIdx.x % TX, ty = threadIdx.x / TX;

  TileLoader<BM, BK, THREADS, !TA, VEC, false> la;
  TileLoader<BN, BK, THREADS, TB, VEC, false> lb;
  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;

  double_buffered_k_loop<BK, true, true>(
      p, bt, la, lb, &As[0][0], BK * LDA, LDA, &Bs[0][0], BK * LDB, LDB,
      [&](const float* as, const float* bs) {
#pragma unroll
        for (int k = 0; k < BK; ++k) {
          float a[TM], b[TN];
#pragma unroll
          for (int i = 0; i < TM / 4; ++i)
            *reinterpret_cast<float4*>(&a[4 * i]) =
                *reinterpret_cast<const float4*>(as + k * LDA + i * TY * 4 + ty * 4);
#pragma unroll
          for (int j = 0; j < TN / 4; ++j)
            *reinterpret_cast<float4*>(&b[4 * j]) =
                *reinterpret_cast<const float4*>(bs + k * LDB + j * TX * 4 + tx * 4);
#pragma unroll
          for (int i = 0; i < TM; ++i)
#pragma unroll
            for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
      });

#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int64_t gm = bt.m0 + (i / 4) * TY * 4 + ty * 4 + i % 4;
#pragma unroll
    for (int j = 0; j < TN / 4; ++j)
      store_c4<VEC>(p, bt.C, gm, bt.n0 + j * TX * 4 + tx * 4, &acc[i][4 * j]);
  }
}

// TF32 tensor cores: WARPS_M x WARPS_N warps, each computing a
// (BM / WARPS_M) x (BN / WARPS_N) tile as 16x8 mma.sync tiles. Fragment
// layouts of m16n8k8 (g = lane / 4, t = lane % 4): a0 (g, t), a1 (g+8, t),
// a2 (g, t+4), a3 (g+8, t+4); b0 (k=t, n=g), b1 (k=t+4, n=g); c[q] at
// (g + 8 * (q / 2), 2t + q % 2).
template <int BM, int BN, int WARPS_M, int WARPS_N, bool TA, bool TB, bool VEC>
__global__ void __launch_bounds__(32 * WARPS_M * WARPS_N, 16 / (WARPS_M * WARPS_N))
sgemm_tf32_kernel(const GemmArgs p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  constexpr int BK = 16, THREADS = 32 * WARPS_M * WARPS_N;
  constexpr int WM = BM / WARPS_M, WN = BN / WARPS_N, MI = WM / 16, NI = WN / 8;
  static_assert(WM % 16 == 0 && WN % 8 == 0, "warp tile must be whole mma tiles");
  // k-contiguous operands stay row-major in smem (stride BK+4 = 20: rows g
  // land 20g mod 32 apart, plus t), the others k-major (stride +8: t*8 + g).
  constexpr bool A_KMAJ = TA, B_KMAJ = !TB;
  constexpr int LDA = A_KMAJ ? BM + 8 : BK + 4, LDB = B_KMAJ ? BN + 8 : BK + 4;
  constexpr int A_SIZE = A_KMAJ ? BK * LDA : BM * LDA, B_SIZE = B_KMAJ ? BK * LDB : BN * LDB;
  __shared__ __align__(16) float As[2][A_SIZE];
  __shared__ __align__(16) float Bs[2][B_SIZE];

  const BlockTile bt = block_tile<BM, BN>(p);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int wm = warp / WARPS_N, wn = warp % WARPS_N, g = lane / 4, t4 = lane % 4;

  TileLoader<BM, BK, THREADS, !TA, VEC, true> la;
  TileLoader<BN, BK, THREADS, TB, VEC, true> lb;
  float acc[MI][NI][4];
#pragma unroll
  for (int i = 0; i < MI; ++i)
#pragma unroll
    for (int j = 0; j < NI; ++j)
#pragma unroll
      for (int q = 0; q < 4; ++q) acc[i][j][q] = 0.f;

  auto a_at = [](const float* s, int row, int k) -> uint32_t {
    return __float_as_uint(A_KMAJ ? s[k * LDA + row] : s[row * LDA + k]);
  };
  auto b_at = [](const float* s, int row, int k) -> uint32_t {
    return __float_as_uint(B_KMAJ ? s[k * LDB + row] : s[row * LDB + k]);
  };

  double_buffered_k_loop<BK, A_KMAJ, B_KMAJ>(
      p, bt, la, lb, &As[0][0], A_SIZE, LDA, &Bs[0][0], B_SIZE, LDB,
      [&](const float* as, const float* bs) {
#pragma unroll
        for (int kk = 0; kk < BK; kk += 8) {
          uint32_t a[MI][4], b[NI][2];
#pragma unroll
          for (int i = 0; i < MI; ++i) {
            const int r = wm * WM + i * 16 + g;
            a[i][0] = a_at(as, r, kk + t4);
            a[i][1] = a_at(as, r + 8, kk + t4);
            a[i][2] = a_at(as, r, kk + t4 + 4);
            a[i][3] = a_at(as, r + 8, kk + t4 + 4);
          }
#pragma unroll
          for (int j = 0; j < NI; ++j) {
            const int c = wn * WN + j * 8 + g;
            b[j][0] = b_at(bs, c, kk + t4);
            b[j][1] = b_at(bs, c, kk + t4 + 4);
          }
#pragma unroll
          for (int i = 0; i < MI; ++i)
#pragma unroll
            for (int j = 0; j < NI; ++j)
              asm volatile(
                  "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
                  "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                  : "+f"(acc[i][j][0]), "+f"(acc[i][j][1]), "+f"(acc[i][j][2]),
                    "+f"(acc[i][j][3])
                  : "r"(a[i][0]), "r"(a[i][1]), "r"(a[i][2]), "r"(a[i][3]), "r"(b[j][0]),
                    "r"(b[j][1]));
        }
      });

#pragma unroll
  for (int i = 0; i < MI; ++i)
#pragma unroll
    for (int j = 0; j < NI; ++j)
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const int64_t gm = bt.m0 + wm * WM + i * 16 + g + 8 * (q / 2);
        const int64_t gn = bt.n0 + wn * WN + j * 8 + 2 * t4 + q % 2;
        if (gm < p.M && gn < p.N) {
          float* c = bt.C + gm * p.ldc + gn;
          *c = axpby(acc[i][j][q], p.alpha, p.beta, c);
        }
      }
#else
  __trap();  // never launched: the host picks the TF32 kernels only on sm_80+
#endif
}

// One tile configuration: its kernel for each (TA, TB, VEC) and its block shape.
template <int BM_, int BN_, int THREADS_>
struct Config {
  static constexpr int BM = BM_, BN = BN_, THREADS = THREADS_;
};
struct Fp32Big : Config<128, 128, 256> {
  template <bool TA, bool TB, bool VEC>
  static constexpr auto kernel = sgemm_fp32_kernel<128, 128, 8, 8, 8, TA, TB, VEC>;
  static constexpr const char* name = "sgemm_fp32_kernel<128x128x8>";
};
struct Fp32Small : Config<64, 64, 128> {
  template <bool TA, bool TB, bool VEC>
  static constexpr auto kernel = sgemm_fp32_kernel<64, 64, 16, 8, 4, TA, TB, VEC>;
  static constexpr const char* name = "sgemm_fp32_kernel<64x64x16>";
};
struct Tf32Big : Config<128, 128, 256> {
  template <bool TA, bool TB, bool VEC>
  static constexpr auto kernel = sgemm_tf32_kernel<128, 128, 2, 4, TA, TB, VEC>;
  static constexpr const char* name = "sgemm_tf32_kernel<128x128x16>";
};
struct Tf32Small : Config<64, 64, 128> {
  template <bool TA, bool TB, bool VEC>
  static constexpr auto kernel = sgemm_tf32_kernel<64, 64, 2, 2, TA, TB, VEC>;
  static constexpr const char* name = "sgemm_tf32_kernel<64x64x16>";
};

constexpr int64_t kMaxGridYZ = 65535;

// Launches over the whole batch and M, in pieces that keep grid y and z <= 65535.
template <class Cfg, bool TA, bool TB, bool VEC>
void launch(const GemmArgs& p, int64_t batch, cudaStream_t stream) {
  const int64_t gx = (p.N + Cfg::BN - 1) / Cfg::BN;
  LG_CHECK(gx <= 2147483647LL, "sgemm: N=", p.N, " too large for the grid");
  const int64_t rows_per_launch = kMaxGridYZ * Cfg::BM;
  for (int64_t b0 = 0; b0 < batch; b0 += kMaxGridYZ) {
    for (int64_t r0 = 0; r0 < p.M; r0 += rows_per_launch) {
      GemmArgs q = p;
      q.M = std::min(p.M - r0, rows_per_launch);
      q.A = p.A + b0 * p.stride_a + (TA ? r0 : r0 * p.lda);
      q.B = p.B + b0 * p.stride_b;
      q.C = p.C + b0 * p.stride_c + r0 * p.ldc;
      dim3 grid(static_cast<unsigned>(gx),
                static_cast<unsigned>((q.M + Cfg::BM - 1) / Cfg::BM),
                static_cast<unsigned>(std::min(batch - b0, kMaxGridYZ)));
      Cfg::template kernel<TA, TB, VEC><<<grid, Cfg::THREADS, 0, stream>>>(q);
      check_launch(Cfg::name);
    }
  }
}

template <class Cfg>
void dispatch(bool trans_a, bool trans_b, bool vec, const GemmArgs& p, int64_t batch,
              cudaStream_t s) {
  const int which = (trans_a ? 4 : 0) | (trans_b ? 2 : 0) | (vec ? 1 : 0);
  switch (which) {
    case 0: return launch<Cfg, false, false, false>(p, batch, s);
    case 1: return launch<Cfg, false, false, true>(p, batch, s);
    case 2: return launch<Cfg, false, true, false>(p, batch, s);
    case 3: return launch<Cfg, false, true, true>(p, batch, s);
    case 4: return launch<Cfg, true, false, false>(p, batch, s);
    case 5: return launch<Cfg, true, false, true>(p, batch, s);
    case 6: return launch<Cfg, true, true, false>(p, batch, s);
    default: return launch<Cfg, true, true, true>(p, batch, s);
  }
}

int device_attribute(cudaDeviceAttr attr) {
  int dev = 0, v = 0;
  cudaError_t err = cudaGetDevice(&dev);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&v, attr, dev);
  if (err != cudaSuccess) {
    cudaGetLastError();
    throw std::runtime_error(std::string("sgemm: cannot query the device: ") +
                             cudaGetErrorString(err));
  }
  return v;
}

bool aligned16(const void* ptr) { return reinterpret_cast<std::uintptr_t>(ptr) % 16 == 0; }

// C[m, n] = alpha * sum_s W[s][m, n] + beta * C[m, n], summing the split-K
// partials in a fixed order (deterministic). W is splits x M x N, packed.
__global__ void __launch_bounds__(256)
sgemm_split_k_reduce_kernel(const float* __restrict__ W, int64_t splits, int64_t M, int64_t N,
                            float alpha, float beta, float* __restrict__ C, int64_t ldc) {
  const int64_t mn = M * N;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < mn;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float acc = 0.f;
    for (int64_t s = 0; s < splits; ++s) acc += W[s * mn + i];
    float* c = C + (i / N) * ldc + i % N;
    *c = axpby(acc, alpha, beta, c);
  }
}

// GEMV (M == 1 or N == 1): y[i] = alpha * sum_k u[k] * W(i, k) + beta * y[i]
// for i < L, u and y strided. A 64-row tile would waste 63/64 of its work,
// and a GEMV is bandwidth-bound: these read W once, coalesced.
// Rows of W contiguous (W(i, k) = W[i * ldw + k]): one warp per output,
// lanes striding over k, then a shuffle reduction.
__global__ void __launch_bounds__(256)
sgemv_rows_kernel(int64_t L, int64_t K, float alpha, const float* __restrict__ W, int64_t ldw,
                  const float* __restrict__ u, int64_t us, float beta, float* __restrict__ y,
                  int64_t ys) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * 8 + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (i >= L) return;  // uniform per warp: the shuffles below see all 32 lanes
  const float* w = W + i * ldw;
  float acc = 0.f;
#pragma unroll 4
  for (int64_t k = lane; k < K; k += 32) acc = fmaf(__ldg(w + k), __ldg(u + k * us), acc);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, o);
  if (lane == 0) y[i * ys] = axpby(acc, alpha, beta, y + i * ys);
}

// Columns of W contiguous (W(i, k) = W[k * ldw + i]): lanes take 32
// consecutive outputs, the block's 16 warps split k, shared memory sums them.
__global__ void __launch_bounds__(512)
sgemv_cols_kernel(int64_t L, int64_t K, float alpha, const float* __restrict__ W, int64_t ldw,
                  const float* __restrict__ u, int64_t us, float beta, float* __restrict__ y,
                  int64_t ys) {
  constexpr int WARPS = 16;
  __shared__ float part[WARPS][33];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * 32 + lane;
  float acc = 0.f;
  if (i < L) {
#pragma unroll 4
    for (int64_t k = warp; k < K; k += WARPS)
      acc = fmaf(__ldg(W + k * ldw + i), __ldg(u + k * us), acc);
  }
  part[warp][lane] = acc;
  __syncthreads();
  if (warp == 0 && i < L) {
    float sum = 0.f;
#pragma unroll
    for (int w = 0; w < WARPS; ++w) sum += part[w][lane];
    y[i * ys] = axpby(sum, alpha, beta, y + i * ys);
  }
}

// M == 1 or N == 1 (one GEMM): as y = W u with W = op(B)^T or op(A).
void gemv(const GemmArgs& p, bool trans_a, bool trans_b, cudaStream_t s) {
  const float *W, *u;
  int64_t L, ldw, us, ys;
  bool rows;  // W's rows (index i) contiguous in k
  if (p.M == 1) {  // y = C[0, :], u = op(A)[0, :], W(n, k) = op(B)[k, n]
    L = p.N, ys = 1, u = p.A, us = trans_a ? p.lda : 1;
    W = p.B, ldw = p.ldb, rows = trans_b;
  } else {  // N == 1: y = C[:, 0], u = op(B)[:, 0], W(m, k) = op(A)[m, k]
    L = p.M, ys = p.ldc, u = p.B, us = trans_b ? 1 : p.ldb;
    W = p.A, ldw = p.lda, rows = !trans_a;
  }
  if (rows) {
    sgemv_rows_kernel<<<static_cast<unsigned>((L + 7) / 8), 256, 0, s>>>(
        L, p.K, p.alpha, W, ldw, u, us, p.beta, p.C, ys);
    check_launch("sgemv_rows_kernel");
  } else {
    sgemv_cols_kernel<<<static_cast<unsigned>((L + 31) / 32), 512, 0, s>>>(
        L, p.K, p.alpha, W, ldw, u, us, p.beta, p.C, ys);
    check_launch("sgemv_cols_kernel");
  }
}

// Picks the kernel family (TF32 or FP32) and tile size, then launches.
void run(const GemmArgs& p, int64_t batch, bool trans_a, bool trans_b, bool allow_tf32,
         cudaStream_t s) {
  const bool vec = aligned16(p.A) && aligned16(p.B) && aligned16(p.C) && p.lda % 4 == 0 &&
                   p.ldb % 4 == 0 && p.ldc % 4 == 0 && p.stride_a % 4 == 0 &&
                   p.stride_b % 4 == 0 && p.stride_c % 4 == 0 && p.k_split % 4 == 0;
  // Too few 128x128 tiles to give every SM a block: the 64x64 kernel has 4x as many.
  const int64_t big_tiles = ((p.M + 127) / 128) * ((p.N + 127) / 128) * batch;
  const bool small = big_tiles < device_attribute(cudaDevAttrMultiProcessorCount);
  if (allow_tf32 && device_attribute(cudaDevAttrComputeCapabilityMajor) >= 8) {
    if (small) return dispatch<Tf32Small>(trans_a, trans_b, vec, p, batch, s);
    return dispatch<Tf32Big>(trans_a, trans_b, vec, p, batch, s);
  }
  if (small) return dispatch<Fp32Small>(trans_a, trans_b, vec, p, batch, s);
  dispatch<Fp32Big>(trans_a, trans_b, vec, p, batch, s);
}

void check_sizes(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
                 int64_t lda, int64_t ldb, int64_t ldc) {
  LG_CHECK(batch >= 0 && M >= 0 && N >= 0 && K >= 0, "sgemm: negative size batch=", batch,
           " M=", M, " N=", N, " K=", K);
  LG_CHECK(lda >= (trans_a ? M : K) && ldb >= (trans_b ? K : N) && ldc >= N,
           "sgemm: leading dimensions too small: lda=", lda, " ldb=", ldb, " ldc=", ldc);
}

constexpr int64_t kMaxSplits = 32, kMinSplitDepth = 256;

}  // namespace

void sgemm_strided_batched(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N,
                           int64_t K, float alpha, const float* A, int64_t lda,
                           int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b,
                           float beta, float* C, int64_t ldc, int64_t stride_c, void* stream,
                           bool allow_tf32) {
  check_sizes(trans_a, trans_b, batch, M, N, K, lda, ldb, ldc);
  LG_CHECK(stride_a >= 0 && stride_b >= 0 && stride_c >= 0, "sgemm: negative batch stride");
  if (batch == 0 || M == 0 || N == 0) return;
  if (alpha == 0.f) K = 0;            // C = beta * C without reading A or B (BLAS)
  if (K == 0 && beta == 1.f) return;  // nothing to do
  const GemmArgs p{M,   N,        K,   alpha, beta,     A,        lda, stride_a,
                   B,   ldb,      stride_b, C,     ldc,      stride_c, 0};
  if (batch == 1 && (M == 1 || N == 1))
    return gemv(p, trans_a, trans_b, static_cast<cudaStream_t>(stream));
  run(p, batch, trans_a, trans_b, allow_tf32, static_cast<cudaStream_t>(stream));
}

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc, void* stream, bool allow_tf32) {
  sgemm_strided_batched(trans_a, trans_b, 1, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc,
                        0, stream, allow_tf32);
}

int64_t sgemm_split_k_count(int64_t M, int64_t N, int64_t K) {
  if (M <= 1 || N <= 1 || K < 2 * kMinSplitDepth) return 1;  // GEMV has its own kernels
  const int64_t sms = device_attribute(cudaDevAttrMultiProcessorCount);
  const int64_t tiles = ((M + 63) / 64) * ((N + 63) / 64);  // the 64x64 kernel's blocks
  if (tiles >= sms) return 1;
  const int64_t want = (2 * sms + tiles - 1) / tiles;  // about two blocks per SM
  return std::max<int64_t>(1, std::min({want, K / kMinSplitDepth, kMaxSplits}));
}

void sgemm_split_k(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                   float* C, int64_t ldc, float* workspace, int64_t splits, void* stream,
                   bool allow_tf32) {
  check_sizes(trans_a, trans_b, 1, M, N, K, lda, ldb, ldc);
  LG_CHECK(splits >= 1 && splits <= 65535, "sgemm_split_k: splits=", splits,
           " must be in [1, 65535]");
  if (splits == 1 || M == 0 || N == 0 || K == 0 || alpha == 0.f)
    return sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, stream,
                 allow_tf32);
  // k ranges of whole 16-deep k tiles (keeps float4 alignment); the last may be short.
  const int64_t k_split = ((K + splits - 1) / splits + 15) / 16 * 16;
  const int64_t used = (K + k_split - 1) / k_split;  // <= splits
  auto s = static_cast<cudaStream_t>(stream);
  const GemmArgs p{M,   N,        K,   1.f,       0.f, A, lda, 0,
                   B,   ldb,      0,   workspace, N,   M * N, k_split};
  run(p, used, trans_a, trans_b, allow_tf32, s);
  const int64_t blocks = std::min<int64_t>((M * N + 255) / 256, 65535);
  sgemm_split_k_reduce_kernel<<<static_cast<unsigned>(blocks), 256, 0, s>>>(
      workspace, used, M, N, alpha, beta, C, ldc);
  check_launch("sgemm_split_k_reduce_kernel");
}

}  // namespace cuda
}  // namespace lg
