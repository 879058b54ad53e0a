// 2-D convolution on the GPU: forward, backward-data, backward-weight, bias
// gradient; float32, NCHW, (K, C/groups, R, S) weights (see conv.h).
//
// The three passes are one implicit-GEMM kernel (conv_implicit_gemm_kernel)
// over operand "gathers" (FwdOp, DataOp / Data1x1Op, WeightOp): nothing is lowered
// to memory; each block gathers its tiles of the weight and of the virtual
// im2col matrix straight from x / dy into shared memory (zero for padding or
// for taps that fall between strides). Per group g, with CKK = C/g * R * S:
//   forward      y  (K/g x N*OH*OW)   = w (K/g x CKK) * im2col(x) (CKK x N*OH*OW)
//   backward-dx  dx (C/g x N*H*W)     = wᵀ (C/g x K/g*R*S) * gather(dy): for input pixel
//                (ih, iw) and tap (r, s), dy at ((ih + pad - r*dil) / stride, ...) when that
//                divides exactly (a gather: no atomics, deterministic); a strided 1x1
//                conv instead multiplies only on the stride grid (Data1x1Op) and
//                scatters into a zeroed dx
//   backward-dw  dw (K/g x CKK)       = dy (K/g x N*OH*OW) * im2col(x)ᵀ, the long
//                N*OH*OW reduction split over blockIdx.z (split-K) into partial sums
//                in a caller-provided workspace, summed in a second kernel in a fixed
//                order (deterministic, no atomics)
// Blocking: 256 threads, BK = 8, block tile BM x 128 with BM = 128 / 64 / 32
// chosen by the GEMM's row count (8x8 / 4x8 / 4x4 registers per thread, read
// from shared memory as float4 pairs half a tile apart: no bank conflicts);
// two shared-memory stages: the next tile is gathered into registers while the
// current one is multiplied, then stored to the other stage (one
// __syncthreads per BK step). A thread's reduction index advances by BK per
// step, so the digits of k = (c, r, s) or (n, oh, ow) are carried in a
// mixed-radix counter (Digits) instead of being divided out per load.
// Grid: x = column tiles, y = (group, row tile) (looped past 65535), z = split.
//
// GEMMs with fewer than kDirectBelow rows (depthwise and near-depthwise
// convs) would waste most of a tile: they run direct kernels instead, one
// thread per output (forward, backward-data) or one block per weight
// element (backward-weight, and the bias gradient), with warp-shuffle block
// sums.
//
// Index maths: per-image sizes are limited to 2^30 (checked on the host:
// check_limits) so in-image coordinates are int; everything that spans
// images or channels is int64.
//
// Limits: FP32 FFMA only (no tensor cores); backward-data of a strided conv
// larger than 1x1 multiplies the zero taps between strides too (up to
// s_h*s_w times the useful work).
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>

#include "common/check.h"
#include "cuda/conv.h"
#include "cuda/launch.h"

namespace lg {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int BK = 8;
constexpr int BN = 128;
constexpr int64_t kDirectBelow = 4;  // GEMM rows below which the direct kernels run
constexpr int64_t kMaxDim = int64_t(1) << 30;

// Sizes as the kernels use them: in-image coordinates as int.
struct Geo {
  int64_t N, C, K, HW, P, CHW, KP;
  int H, W, OH, OW, R, S, RS, Cg, Kg, CKK, sh, sw, ph, pw, dh, dw;
};

// A mixed-radix counter (hi, mid, lo) for a linear index k = (hi*mid_radix + mid)*lo_radix
// + lo, advanced by a fixed step without divisions.
struct Radix {
  int mid = 1, lo = 1;                        // radices of the two low digits
  int step_mid = 0, step_lo = 0;              // the step in this radix
  int64_t step_hi = 0;
};

struct Digits {
  int64_t k, hi;
  int mid, lo;
};

Radix make_radix(int64_t mid, int64_t lo, int64_t step) {
  Radix r;
  r.mid = static_cast<int>(std::max<int64_t>(mid, 1));
  r.lo = static_cast<int>(std::max<int64_t>(lo, 1));
  r.step_lo = static_cast<int>(step % r.lo);
  r.step_mid = static_cast<int>((step / r.lo) % r.mid);
  r.step_hi = step / (int64_t(r.lo) * r.mid);
  return r;
}

__device__ __forceinline__ Digits digits_of(const Radix& r, int64_t k) {
  Digits d;
  d.k = k;
  const int64_t t = k / r.lo;
  d.lo = static_cast<int>(k - t * r.lo);
  d.hi = t / r.mid;
  d.mid = static_cast<int>(t - d.hi * r.mid);
  return d;
}

// Radices < 2^30, so lo + step_lo and mid + step_mid + 1 cannot overflow.
__device__ __forceinline__ void advance(const Radix& r, int64_t step, Digits& d) {
  d.k += step;
  d.lo += r.step_lo;
  const int carry = d.lo >= r.lo;
  if (carry) d.lo -= r.lo;
  d.mid += r.step_mid + carry;
  if (d.mid >= r.mid) {
    d.mid -= r.mid;
    ++d.hi;
  }
  d.hi += r.step_hi;
}

__device__ __forceinline__ bool inside(int i, int n) {
  return static_cast<unsigned>(i) < static_cast<unsigned>(n);
}

// ------------------------------------------------------------ operand gathers
// Each Op describes one GEMM per group: rows x cols, reduction `red`.
// a_row/b_row: per-thread state of one row of A (rows x red) / one column of
// B (red x cols), computed once per block; a_load/b_load: the element at
// reduction digits d (only called in range); c_col + store: the epilogue.
// kAFastK / kBFastK: whether consecutive threads should walk the reduction
// index (true) or the row / column index (false) for coalesced loads.

struct FwdOp {  // y = w * im2col(x) (+ bias)
  static constexpr bool kAFastK = true, kBFastK = false;
  Geo g;
  Radix ra, rb;  // A: linear k; B: k = (c, r, s)
  const float* __restrict__ x;
  const float* __restrict__ w;
  const float* __restrict__ bias;
  float* __restrict__ y;

  struct ARow { int64_t off; };
  struct BRow { int64_t base; int ih0, iw0; };
  struct CCol { int64_t off; };

  __device__ ARow a_row(int64_t grp, int64_t m) const { return {(grp * g.Kg + m) * g.CKK}; }
  __device__ float a_load(const ARow& a, const Digits& d) const { return __ldg(w + a.off + d.k); }
  __device__ BRow b_row(int64_t grp, int64_t col) const {
    const int64_t n = col / g.P;
    const int p = static_cast<int>(col - n * g.P);
    const int oh = p / g.OW, ow = p - oh * g.OW;
    return {(n * g.C + grp * g.Cg) * g.HW, oh * g.sh - g.ph, ow * g.sw - g.pw};
  }
  __device__ float b_load(const BRow& b, const Digits& d) const {
    const int ih = b.ih0 + d.mid * g.dh, iw = b.iw0 + d.lo * g.dw;
    if (!inside(ih, g.H) || !inside(iw, g.W)) return 0.f;
    return __ldg(x + b.base + d.hi * g.HW + int64_t(ih) * g.W + iw);
  }
  __device__ CCol c_col(int64_t grp, int64_t col) const {
    const int64_t n = col / g.P;
    return {(n * g.K + grp * g.Kg) * g.P + (col - n * g.P)};
  }
  __device__ void store(int64_t grp, int, int64_t m, const CCol& c, float v) const {
    if (bias) v += __ldg(bias + grp * g.Kg + m);
    y[c.off + m * g.P] = v;
  }
};

struct DataOp {  // dx = wᵀ * gather(dy); rows = input channels c, k = (m, r, s)
  static constexpr bool kAFastK = true, kBFastK = false;
  Geo g;
  Radix ra, rb;  // both k = (m, r, s)
  const float* __restrict__ dy;
  const float* __restrict__ w;
  float* __restrict__ dx;

  struct ARow { int64_t off; };
  struct BRow { int64_t base; int th, tw; };
  struct CCol { int64_t off; };

  __device__ ARow a_row(int64_t grp, int64_t c) const {
    return {(grp * g.Kg * g.Cg + c) * g.RS};
  }
  __device__ float a_load(const ARow& a, const Digits& d) const {
    return __ldg(w + a.off + d.hi * g.CKK + d.mid * g.S + d.lo);
  }
  __device__ BRow b_row(int64_t grp, int64_t col) const {
    const int64_t n = col / g.HW, q = col - n * g.HW;
    const int ih = static_cast<int>(q / g.W), iw = static_cast<int>(q - int64_t(ih) * g.W);
    return {(n * g.K + grp * g.Kg) * g.P, ih + g.ph, iw + g.pw};
  }
  __device__ float b_load(const BRow& b, const Digits& d) const {
    const int a = b.th - d.mid * g.dh, c = b.tw - d.lo * g.dw;
    if (a < 0 || c < 0) return 0.f;
    const int oh = a / g.sh, ow = c / g.sw;
    if (oh * g.sh != a || ow * g.sw != c || oh >= g.OH || ow >= g.OW) return 0.f;
    return __ldg(dy + b.base + d.hi * g.P + int64_t(oh) * g.OW + ow);
  }
  __device__ CCol c_col(int64_t grp, int64_t col) const {
    const int64_t n = col / g.HW;
    return {(n * g.C + grp * g.Cg) * g.HW + (col - n * g.HW)};
  }
  __device__ void store(int64_t, int, int64_t c, const CCol& cc, float v) const {
    dx[cc.off + c * g.HW] = v;
  }
};

struct WeightOp {  // dw = dy * im2col(x)ᵀ; reduction j = (n, oh, ow), cols = (c, r, s)
  static constexpr bool kAFastK = true, kBFastK = true;
  Geo g;
  Radix ra, rb;  // both j = (n, oh, ow)
  const float* __restrict__ dy;
  const float* __restrict__ x;
  float* __restrict__ out;  // dw, or the split-K partial sums (splits, K, CKK)

  struct ARow { int64_t off; };
  struct BRow { int64_t base; int roff, soff; };
  struct CCol { int64_t off; };

  __device__ ARow a_row(int64_t grp, int64_t m) const { return {(grp * g.Kg + m) * g.P}; }
  __device__ float a_load(const ARow& a, const Digits& d) const {
    return __ldg(dy + d.hi * g.KP + a.off + int64_t(d.mid) * g.OW + d.lo);
  }
  __device__ BRow b_row(int64_t grp, int64_t col) const {
    const int c = static_cast<int>(col / g.RS);
    const int rs = static_cast<int>(col - int64_t(c) * g.RS);
    const int r = rs / g.S, s = rs - r * g.S;
    return {(grp * g.Cg + c) * g.HW, r * g.dh - g.ph, s * g.dw - g.pw};
  }
  __device__ float b_load(const BRow& b, const Digits& d) const {
    const int ih = d.mid * g.sh + b.roff, iw = d.lo * g.sw + b.soff;
    if (!inside(ih, g.H) || !inside(iw, g.W)) return 0.f;
    return __ldg(x + d.hi * g.CHW + b.base + int64_t(ih) * g.W + iw);
  }
  __device__ CCol c_col(int64_t, int64_t col) const { return {col}; }
  __device__ void store(int64_t grp, int split, int64_t m, const CCol& c, float v) const {
    out[(split * g.K + grp * g.Kg + m) * g.CKK + c.off] = v;
  }
};

// A strided 1x1 conv's dx is nonzero only on the stride grid, where it is one
// product per pixel: dx[:, c, oh*sh - ph, ow*sw - pw] = wᵀ * dy[:, :, oh, ow].
// A GEMM over output pixels (N*OH*OW columns, not N*H*W) scattered into a
// zeroed dx, instead of DataOp's multiplications by the off-grid zeros.
struct Data1x1Op {
  static constexpr bool kAFastK = false, kBFastK = false;
  Geo g;
  Radix ra, rb;  // both linear k = m
  const float* __restrict__ dy;
  const float* __restrict__ w;
  float* __restrict__ dx;

  struct ARow { int64_t off; };
  struct BRow { int64_t off; };
  struct CCol { int64_t off; };  // -1: the pixel falls in the padding

  __device__ ARow a_row(int64_t grp, int64_t c) const { return {grp * g.Kg * g.Cg + c}; }
  __device__ float a_load(const ARow& a, const Digits& d) const {
    return __ldg(w + a.off + d.k * g.Cg);
  }
  __device__ BRow b_row(int64_t grp, int64_t col) const {
    const int64_t n = col / g.P;
    return {(n * g.K + grp * g.Kg) * g.P + (col - n * g.P)};
  }
  __device__ float b_load(const BRow& b, const Digits& d) const {
    return __ldg(dy + b.off + d.k * g.P);
  }
  __device__ CCol c_col(int64_t grp, int64_t col) const {
    const int64_t n = col / g.P;
    const int p = static_cast<int>(col - n * g.P), oh = p / g.OW, ow = p - oh * g.OW;
    const int ih = oh * g.sh - g.ph, iw = ow * g.sw - g.pw;
    if (!inside(ih, g.H) || !inside(iw, g.W)) return {-1};
    return {(n * g.C + grp * g.Cg) * g.HW + int64_t(ih) * g.W + iw};
  }
  __device__ void store(int64_t, int, int64_t c, const CCol& cc, float v) const {
    if (cc.off >= 0) dx[cc.off + c * g.HW] = v;
  }
};

// ------------------------------------------------------------ implicit GEMM
struct GemmDims {
  int64_t rows, cols, red;  // per group
  int64_t groups, row_tiles;
  int64_t chunk;            // reduction length per blockIdx.z
};

// Which (row, k) of a BX x BK operand tile a thread loads as its i-th
// element. Either way a thread keeps one k (so one reduction counter) and
// loads L rows: with kFastK consecutive threads take consecutive k (8
// threads per row), else consecutive rows (a warp per k, 32 rows apart).
template <int BX, bool kFastK>
struct TileMap {
  static constexpr int L = BX * BK / kThreads;  // elements per thread
  static_assert(L >= 1 && BX * BK == L * kThreads && BX % 32 == 0, "tile must split evenly");
  __device__ static int row(int tid, int i) {
    return kFastK ? tid / BK + i * (kThreads / BK) : tid % 32 + 32 * i;
  }
  __device__ static int kk(int tid) { return kFastK ? tid % BK : tid / 32; }
};

// Position in the tile of a thread's i-th accumulator row (or column): TX/4
// float4 groups spaced BX*4/TX apart, so a warp's shared-memory reads of one
// k row touch distinct banks.
template <int BX, int TX>
__device__ __forceinline__ int frag_pos(int t, int i) {
  return (i / 4) * (BX * 4 / TX) + t * 4 + (i % 4);
}

template <class Op, int BM, int TM, int TN>
__global__ void __launch_bounds__(kThreads)
conv_implicit_gemm_kernel(const Op op, const GemmDims dims) {
  static_assert((BM / TM) * (BN / TN) == kThreads, "one accumulator block per thread");
  static_assert(TM % 4 == 0 && TN % 4 == 0, "float4 fragments");
  using MA = TileMap<BM, Op::kAFastK>;
  using MB = TileMap<BN, Op::kBFastK>;
  // [stage][k][row]; +4 keeps rows 16-byte aligned and spreads the k-major
  // stores of the fast-k loads over the banks.
  __shared__ __align__(16) float As[2][BK][BM + 4];
  __shared__ __align__(16) float Bs[2][BK][BN + 4];

  const int tid = threadIdx.x;
  const int tx = tid % (BN / TN), ty = tid / (BN / TN);
  const int64_t col0 = int64_t(blockIdx.x) * BN;
  const int64_t kbeg = int64_t(blockIdx.z) * dims.chunk;
  const int64_t kend = min(dims.red, kbeg + dims.chunk);

  for (int64_t gy = blockIdx.y; gy < dims.groups * dims.row_tiles; gy += gridDim.y) {
    const int64_t grp = gy / dims.row_tiles;
    const int64_t row0 = (gy - grp * dims.row_tiles) * BM;

    typename Op::ARow arow[MA::L];
    typename Op::BRow brow[MB::L];
    bool aok[MA::L], bok[MB::L];
#pragma unroll
    for (int i = 0; i < MA::L; ++i) {
      const int64_t r = row0 + MA::row(tid, i);
      aok[i] = r < dims.rows;
      arow[i] = op.a_row(grp, r);
    }
#pragma unroll
    for (int i = 0; i < MB::L; ++i) {
      const int64_t c = col0 + MB::row(tid, i);
      bok[i] = c < dims.cols;
      brow[i] = op.b_row(grp, c);
    }
    Digits ka = digits_of(op.ra, kbeg + MA::kk(tid)), kb = digits_of(op.rb, kbeg + MB::kk(tid));

    float va[MA::L], vb[MB::L];
    auto fetch = [&]() {
#pragma unroll
      for (int i = 0; i < MA::L; ++i)
        va[i] = aok[i] && ka.k < kend ? op.a_load(arow[i], ka) : 0.f;
#pragma unroll
      for (int i = 0; i < MB::L; ++i)
        vb[i] = bok[i] && kb.k < kend ? op.b_load(brow[i], kb) : 0.f;
    };
    auto stash = [&](int stage) {
#pragma unroll
      for (int i = 0; i < MA::L; ++i) As[stage][MA::kk(tid)][MA::row(tid, i)] = va[i];
#pragma unroll
      for (int i = 0; i < MB::L; ++i) Bs[stage][MB::kk(tid)][MB::row(tid, i)] = vb[i];
    };

    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;

    fetch();
    stash(0);
    __syncthreads();
    int stage = 0;
    for (int64_t k0 = kbeg; k0 < kend; k0 += BK) {
      const bool more = k0 + BK < kend;
      if (more) {  // gather the next tile while this one is multiplied
        advance(op.ra, BK, ka);
        advance(op.rb, BK, kb);
        fetch();
      }
#pragma unroll
      for (int kk = 0; kk < BK; ++kk) {
        float a[TM], b[TN];
#pragma unroll
        for (int i = 0; i < TM; i += 4) {
          const float4 v = *reinterpret_cast<const float4*>(&As[stage][kk][frag_pos<BM, TM>(ty, i)]);
          a[i] = v.x; a[i + 1] = v.y; a[i + 2] = v.z; a[i + 3] = v.w;
        }
#pragma unroll
        for (int j = 0; j < TN; j += 4) {
          const float4 v = *reinterpret_cast<const float4*>(&Bs[stage][kk][frag_pos<BN, TN>(tx, j)]);
          b[j] = v.x; b[j + 1] = v.y; b[j + 2] = v.z; b[j + 3] = v.w;
        }
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
          for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
      }
      // The other stage was last read before the previous barrier: safe to fill.
      if (more) stash(stage ^ 1);
      __syncthreads();
      stage ^= 1;
    }

    typename Op::CCol ccol[TN];
    bool cok[TN];
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int64_t c = col0 + frag_pos<BN, TN>(tx, j);
      cok[j] = c < dims.cols;
      ccol[j] = op.c_col(grp, c);
    }
#pragma unroll
    for (int i = 0; i < TM; ++i) {
      const int64_t m = row0 + frag_pos<BM, TM>(ty, i);
      if (m >= dims.rows) continue;
#pragma unroll
      for (int j = 0; j < TN; ++j)
        if (cok[j]) op.store(grp, blockIdx.z, m, ccol[j], acc[i][j]);
    }
  }
}

template <class Op, int BM, int TM, int TN>
void launch_gemm_tile(const Op& op, GemmDims d, int splits, cudaStream_t st, const char* name) {
  d.row_tiles = (d.rows + BM - 1) / BM;
  const int64_t col_tiles = (d.cols + BN - 1) / BN;
  LG_CHECK(col_tiles <= INT_MAX, name, ": too many output columns (", d.cols, ")");
  const dim3 grid(static_cast<unsigned>(col_tiles),
                  static_cast<unsigned>(std::min<int64_t>(d.groups * d.row_tiles, 65535)),
                  static_cast<unsigned>(splits));
  conv_implicit_gemm_kernel<Op, BM, TM, TN><<<grid, kThreads, 0, st>>>(op, d);
  check_launch(name);
}

// The row tile that wastes least: 128 rows (8x8 per thread) for wide GEMMs,
// 64 (4x8) or 32 (4x4) for narrow ones.
template <class Op>
void launch_gemm(const Op& op, const GemmDims& d, int splits, cudaStream_t st, const char* name) {
  if (d.rows > 64) launch_gemm_tile<Op, 128, 8, 8>(op, d, splits, st, name);
  else if (d.rows > 32) launch_gemm_tile<Op, 64, 4, 8>(op, d, splits, st, name);
  else launch_gemm_tile<Op, 32, 4, 4>(op, d, splits, st, name);
}

// ------------------------------------------------------------ direct kernels
struct Nchw {
  int64_t n, c;
  int h, w;
};

// Coordinates of linear index i in a C-contiguous (N, C, H, W) array.
__device__ __forceinline__ Nchw unravel_nchw(int64_t i, int64_t C, int H, int W) {
  const int64_t t = i / W, t2 = t / H;
  return {t2 / C, t2 % C, static_cast<int>(t - t2 * H), static_cast<int>(i - t * W)};
}

// One thread per output element, for GEMMs too narrow to tile (depthwise).
__global__ void __launch_bounds__(kThreads)
conv_forward_direct_kernel(const Geo g, const float* __restrict__ x, const float* __restrict__ w,
                           const float* __restrict__ bias, float* __restrict__ y, int64_t total) {
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * kThreads) {
    const Nchw o = unravel_nchw(i, g.K, g.OH, g.OW);
    const int64_t n = o.n, k = o.c, grp = k / g.Kg;
    const int oh = o.h, ow = o.w;
    const float* xg = x + (n * g.C + grp * g.Cg) * g.HW;
    const float* wk = w + k * g.CKK;
    const int ih0 = oh * g.sh - g.ph, iw0 = ow * g.sw - g.pw;
    float acc = bias ? __ldg(bias + k) : 0.f;
    for (int c = 0; c < g.Cg; ++c) {
      for (int r = 0; r < g.R; ++r) {
        const int ih = ih0 + r * g.dh;
        if (!inside(ih, g.H)) continue;
        const float* xrow = xg + c * g.HW + int64_t(ih) * g.W;
        const float* wrow = wk + (c * g.R + r) * g.S;
        for (int s = 0; s < g.S; ++s) {
          const int iw = iw0 + s * g.dw;
          if (inside(iw, g.W)) acc = fmaf(__ldg(xrow + iw), __ldg(wrow + s), acc);
        }
      }
    }
    y[i] = acc;
  }
}

// One thread per input pixel: the taps (r, s) whose output pixel lands
// exactly on the stride grid. Taps are visited with ih + pad - r*dil
// decreasing in r, so the first negative one ends the loop.
__global__ void __launch_bounds__(kThreads)
conv_backward_data_direct_kernel(const Geo g, const float* __restrict__ dy,
                                 const float* __restrict__ w, float* __restrict__ dx,
                                 int64_t total) {
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * kThreads) {
    const Nchw o = unravel_nchw(i, g.C, g.H, g.W);
    const int64_t n = o.n, c = o.c, grp = c / g.Cg;
    const int ih = o.h, iw = o.w;
    const float* dyg = dy + (n * g.K + grp * g.Kg) * g.P;
    const float* wg = w + (grp * g.Kg * g.Cg + (c - grp * g.Cg)) * g.RS;
    float acc = 0.f;
    for (int m = 0; m < g.Kg; ++m) {
      for (int r = 0; r < g.R; ++r) {
        const int a = ih + g.ph - r * g.dh;
        if (a < 0) break;
        const int oh = a / g.sh;
        if (oh * g.sh != a || oh >= g.OH) continue;
        for (int s = 0; s < g.S; ++s) {
          const int b = iw + g.pw - s * g.dw;
          if (b < 0) break;
          const int ow = b / g.sw;
          if (ow * g.sw != b || ow >= g.OW) continue;
          acc = fmaf(__ldg(dyg + int64_t(m) * g.P + int64_t(oh) * g.OW + ow),
                     __ldg(wg + int64_t(m) * g.CKK + r * g.S + s), acc);
        }
      }
    }
    dx[i] = acc;
  }
}

// Sum over the block (result in thread 0): warp shuffles, then one warp.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float part[kThreads / 32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
#pragma unroll
  for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
  if (lane == 0) part[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < kThreads / 32 ? part[lane] : 0.f;
#pragma unroll
    for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
  }
  return v;
}

// One block per output: kWeight: dw[k, c, r, s] = sum over (n, oh, ow) of
// dy * x(shifted); else db[k] = sum of dy[:, k]. `rad` walks (n, oh, ow) by
// kThreads per step.
template <bool kWeight>
__global__ void __launch_bounds__(kThreads)
conv_channel_reduce_kernel(const Geo g, const Radix rad, const float* __restrict__ dy,
                           const float* __restrict__ x, float* __restrict__ out) {
  const int64_t o = blockIdx.x;
  int64_t k = o;
  const float* xc = nullptr;
  int roff = 0, soff = 0;
  if (kWeight) {
    k = o / g.CKK;
    const int q = static_cast<int>(o - k * g.CKK);
    const int c = q / g.RS, rs = q - c * g.RS, r = rs / g.S, s = rs - r * g.S;
    xc = x + ((k / g.Kg) * g.Cg + c) * g.HW;
    roff = r * g.dh - g.ph;
    soff = s * g.dw - g.pw;
  }
  const float* dyk = dy + k * g.P;
  float acc = 0.f;
  for (Digits d = digits_of(rad, threadIdx.x); d.hi < g.N; advance(rad, kThreads, d)) {
    const float v = __ldg(dyk + d.hi * g.KP + int64_t(d.mid) * g.OW + d.lo);
    if (kWeight) {
      const int ih = d.mid * g.sh + roff, iw = d.lo * g.sw + soff;
      if (inside(ih, g.H) && inside(iw, g.W))
        acc = fmaf(v, __ldg(xc + d.hi * g.CHW + int64_t(ih) * g.W + iw), acc);
    } else {
      acc += v;
    }
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) out[o] = acc;
}

// dw[i] = sum over splits of the partial sums, in split order.
__global__ void __launch_bounds__(kThreads)
conv_split_reduce_kernel(const float* __restrict__ part, float* __restrict__ dw, int64_t total,
                         int splits) {
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * kThreads) {
    float s = 0.f;
    for (int z = 0; z < splits; ++z) s += part[z * total + i];
    dw[i] = s;
  }
}

// ------------------------------------------------------------ host side
cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }

// Grid for a grid-stride loop over `total` elements.
unsigned elementwise_blocks(int64_t total) {
  return static_cast<unsigned>(std::min<int64_t>((total + kThreads - 1) / kThreads, 1 << 20));
}

void check_limits(const Conv2dShape& s, const char* fn) {
  LG_CHECK(s.N >= 0 && s.C >= 0 && s.H >= 0 && s.W >= 0 && s.K >= 0 && s.R >= 1 && s.S >= 1 &&
               s.groups >= 1 && s.C % s.groups == 0 && s.K % s.groups == 0 && s.OH >= 0 &&
               s.OW >= 0 && s.stride_h >= 1 && s.stride_w >= 1 && s.pad_h >= 0 &&
               s.pad_w >= 0 && s.dil_h >= 1 && s.dil_w >= 1,
           fn, ": invalid convolution shape");
  const int64_t Cg = s.C / s.groups, Kg = s.K / s.groups, RS = s.R * s.S;
  LG_CHECK(s.H + 2 * s.pad_h <= kMaxDim && s.W + 2 * s.pad_w <= kMaxDim && RS <= kMaxDim &&
               Cg * RS <= kMaxDim && Kg * RS <= kMaxDim && s.OH * s.OW <= kMaxDim,
           fn, ": sizes too large for the CUDA kernels (padded image, kernel taps, channels "
           "per group x taps and output pixels per image must each be at most 2^30)");
}

Geo make_geo(const Conv2dShape& s) {
  Geo g;
  g.N = s.N; g.C = s.C; g.K = s.K;
  g.HW = s.H * s.W; g.P = s.OH * s.OW; g.CHW = s.C * g.HW; g.KP = s.K * g.P;
  g.H = static_cast<int>(s.H); g.W = static_cast<int>(s.W);
  g.OH = static_cast<int>(s.OH); g.OW = static_cast<int>(s.OW);
  g.R = static_cast<int>(s.R); g.S = static_cast<int>(s.S); g.RS = g.R * g.S;
  g.Cg = static_cast<int>(s.C / s.groups); g.Kg = static_cast<int>(s.K / s.groups);
  g.CKK = g.Cg * g.RS;
  g.ph = static_cast<int>(s.pad_h); g.pw = static_cast<int>(s.pad_w);
  // A stride or dilation only ever multiplies an index that is 0 when its
  // output size or kernel size is 1: replace it by 1 there (the legal
  // 2^31 values would not fit an int; elsewhere they are < 2^30 by the limits).
  g.sh = s.OH > 1 ? static_cast<int>(s.stride_h) : 1;
  g.sw = s.OW > 1 ? static_cast<int>(s.stride_w) : 1;
  g.dh = s.R > 1 ? static_cast<int>(s.dil_h) : 1;
  g.dw = s.S > 1 ? static_cast<int>(s.dil_w) : 1;
  return g;
}

struct WeightPlan {
  bool direct = false;
  int splits = 1;
  int64_t chunk = 0;  // reduction length per split
};

WeightPlan plan_backward_weight(const Conv2dShape& s) {
  WeightPlan p;
  const int64_t Kg = s.K / s.groups, CKK = s.C / s.groups * s.R * s.S, red = s.N * s.OH * s.OW;
  p.chunk = red;
  if (Kg < kDirectBelow) {
    p.direct = true;
    return p;
  }
  int dev = 0, sms = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
    cudaGetLastError();  // no device: the launch will report it
    sms = 1;
  }
  const int64_t bm = Kg > 64 ? 128 : Kg > 32 ? 64 : 32;
  const int64_t blocks = s.groups * ((Kg + bm - 1) / bm) * ((CKK + BN - 1) / BN);
  // Two waves' worth of blocks, each split at least 32 BK steps long.
  const int64_t want = (2 * int64_t(sms) + blocks - 1) / blocks;
  const int64_t most = std::min<int64_t>(256, red / (32 * BK));
  const int64_t splits = std::max<int64_t>(1, std::min(want, most));
  if (splits > 1) {
    p.chunk = ((red + splits - 1) / splits + BK - 1) / BK * BK;
    p.splits = static_cast<int>((red + p.chunk - 1) / p.chunk);
  }
  return p;
}

}  // namespace

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y, void* stream) {
  check_limits(s, "conv2d_forward");
  if (s.N == 0 || s.K == 0 || s.OH * s.OW == 0) return;
  const Geo g = make_geo(s);
  const cudaStream_t st = as_stream(stream);
  if (g.Kg < kDirectBelow) {
    const int64_t total = s.N * s.K * g.P;
    conv_forward_direct_kernel<<<elementwise_blocks(total), kThreads, 0, st>>>(g, x, w, bias, y,
                                                                               total);
    check_launch("conv2d_forward_direct");
    return;
  }
  const FwdOp op{g, make_radix(1, 1, BK), make_radix(g.R, g.S, BK), x, w, bias, y};
  const GemmDims d{g.Kg, s.N * g.P, g.CKK, s.groups, 0, g.CKK};
  launch_gemm(op, d, 1, st, "conv2d_forward_implicit_gemm");
}

void conv2d_backward_data(const Conv2dShape& s, const float* dy, const float* w, float* dx,
                          void* stream) {
  check_limits(s, "conv2d_backward_data");
  const int64_t total = s.N * s.C * s.H * s.W;
  if (total == 0) return;
  const cudaStream_t st = as_stream(stream);
  if (s.K == 0 || s.OH * s.OW == 0) {  // nothing flows back: dx = 0
    if (cudaMemsetAsync(dx, 0, sizeof(float) * static_cast<size_t>(total), st) != cudaSuccess)
      check_launch("conv2d_backward_data (memset)");
    return;
  }
  const Geo g = make_geo(s);
  if (g.Cg < kDirectBelow) {
    conv_backward_data_direct_kernel<<<elementwise_blocks(total), kThreads, 0, st>>>(g, dy, w,
                                                                                    dx, total);
    check_launch("conv2d_backward_data_direct");
    return;
  }
  if (g.RS == 1 && (g.sh > 1 || g.sw > 1)) {
    if (cudaMemsetAsync(dx, 0, sizeof(float) * static_cast<size_t>(total), st) != cudaSuccess)
      check_launch("conv2d_backward_data (memset)");
    const Radix rm = make_radix(1, 1, BK);
    const Data1x1Op op{g, rm, rm, dy, w, dx};
    const GemmDims d{g.Cg, s.N * g.P, g.Kg, s.groups, 0, g.Kg};
    launch_gemm(op, d, 1, st, "conv2d_backward_data_1x1_strided");
    return;
  }
  const Radix rk = make_radix(g.R, g.S, BK);
  const DataOp op{g, rk, rk, dy, w, dx};
  const GemmDims d{g.Cg, s.N * g.HW, int64_t(g.Kg) * g.RS, s.groups, 0, int64_t(g.Kg) * g.RS};
  launch_gemm(op, d, 1, st, "conv2d_backward_data_implicit_gemm");
}

int64_t conv2d_backward_weight_workspace(const Conv2dShape& s) {
  check_limits(s, "conv2d_backward_weight");
  if (s.K * s.C == 0 || s.N * s.OH * s.OW == 0) return 0;  // dw empty, or set to 0
  const WeightPlan p = plan_backward_weight(s);
  return p.splits > 1 ? p.splits * s.K * (s.C / s.groups * s.R * s.S) : 0;
}

void conv2d_backward_weight(const Conv2dShape& s, const float* dy, const float* x, float* dw,
                            float* workspace, int64_t workspace_elems, void* stream) {
  check_limits(s, "conv2d_backward_weight");
  const int64_t wsize = s.K * (s.C / s.groups) * s.R * s.S;
  if (wsize == 0) return;
  const cudaStream_t st = as_stream(stream);
  if (s.N * s.OH * s.OW == 0) {  // no terms: dw = 0
    if (cudaMemsetAsync(dw, 0, sizeof(float) * static_cast<size_t>(wsize), st) != cudaSuccess)
      check_launch("conv2d_backward_weight (memset)");
    return;
  }
  const Geo g = make_geo(s);
  const WeightPlan p = plan_backward_weight(s);
  if (p.direct) {
    LG_CHECK(wsize <= INT_MAX, "conv2d_backward_weight: too many weights (", wsize, ")");
    conv_channel_reduce_kernel<true><<<static_cast<unsigned>(wsize), kThreads, 0, st>>>(
        g, make_radix(g.OH, g.OW, kThreads), dy, x, dw);
    check_launch("conv2d_backward_weight_direct");
    return;
  }
  const int64_t need = p.splits > 1 ? p.splits * wsize : 0;
  LG_CHECK(workspace_elems >= need && (need == 0 || workspace != nullptr),
           "conv2d_backward_weight: workspace of ", workspace_elems, " floats, need ", need);
  const Radix rj = make_radix(g.OH, g.OW, BK);
  const WeightOp op{g, rj, rj, dy, x, p.splits > 1 ? workspace : dw};
  const GemmDims d{g.Kg, g.CKK, s.N * g.P, s.groups, 0, p.chunk};
  launch_gemm(op, d, p.splits, st, "conv2d_backward_weight_implicit_gemm");
  if (p.splits > 1) {
    conv_split_reduce_kernel<<<elementwise_blocks(wsize), kThreads, 0, st>>>(workspace, dw, wsize,
                                                                            p.splits);
    check_launch("conv2d_backward_weight_split_reduce");
  }
}

void conv2d_backward_bias(const Conv2dShape& s, const float* dy, float* db, void* stream) {
  LG_CHECK(s.N >= 0 && s.K >= 0 && s.OH >= 0 && s.OW >= 0 && s.OH * s.OW <= kMaxDim,
           "conv2d_backward_bias: invalid or too large grad_out shape");
  if (s.K == 0) return;
  LG_CHECK(s.K <= INT_MAX, "conv2d_backward_bias: too many channels (", s.K, ")");
  Geo g{};
  g.N = s.OH * s.OW == 0 ? 0 : s.N;  // no terms: every db[k] = 0
  g.K = s.K; g.OH = static_cast<int>(s.OH); g.OW = static_cast<int>(s.OW);
  g.P = s.OH * s.OW; g.KP = s.K * g.P;
  const cudaStream_t st = as_stream(stream);
  conv_channel_reduce_kernel<false><<<static_cast<unsigned>(s.K), kThreads, 0, st>>>(
      g, make_radix(g.OH, g.OW, kThreads), dy, nullptr, db);
  check_launch("conv2d_backward_bias");
}

}  // namespace cuda
}  // namespace lg
