// Packed, cache-blocked GEMM driver (GotoBLAS/BLIS scheme), row-major.
//
// Loops: jc over NC columns of C -> pc over KC of K (pack op(B) block KC x NC
// into NR-wide micro-panels) -> ic over MC rows (pack op(A) block MC x KC
// into MR-tall micro-panels) -> jr over NR -> ir over MR -> microkernel
// (gemm_ukernel_*.cpp). A B micro-panel (KC x NR) stays in L1 across the ir
// loop, the A block in L2, the B block in L3. KC: KC x NR fills half of L1;
// MC: MC x KC half of L2; NC: KC x NC a quarter of L3, at most 4096 (on Zen 3,
// float AVX2: KC 256, MC 126, NC 4096). The caches are clamped first (a VM
// here reports a 256 MiB L3), and blocks are evened out so none is a sliver.
//
// Threads: one parallel region per GEMM; C is split over a tm x tn thread
// grid picked from the shape (tall C: split M, wide C: split N), and each
// thread runs the loop nest above on its block with private packs and no
// barriers (see run_packed). (Packing each B block once, all threads
// together, with a barrier per block, measured 1-4 % slower on the 2-core
// Zen 3 even at 2048^3: the duplicated packing costs less than the barriers.)
// min(M, N) <= 4 (GEMV and small-batch shapes; bandwidth-bound) skips
// packing entirely and splits the long dimension, or, when it streams the
// big operand's rows over a long K, fixed K blocks whose partial products are
// summed in order (see run_skinny). Batched calls run whole small GEMMs per
// thread and large ones one after another, each threaded inside.
//
// LOOMGRAD_GEMM_ISA=generic|avx2|avx512 (read once) forces a lower kernel
// family; a request the CPU cannot run, or an unknown value, is ignored, and
// gemm_isa() always names the family in use.
//
// All scratch (packed panels, edge tiles) is allocated per call, 64-byte
// aligned, before any parallel region: no global mutable state, and an
// allocation failure throws instead of terminating inside OpenMP.
#include "cpu/gemm.h"
#include "cpu/gemm_packed.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "common/cpu_features.h"
#include "common/parallel.h"
#include "cpu/gemm_internal.h"

namespace lg {
namespace cpu {
namespace {

using detail::KernelSet;

// ------------------------------------------------------------ ISA selection
enum class Isa { generic = 0, avx2 = 1, avx512 = 2 };

Isa detect_isa() {
  const CpuFeatures& f = cpu_features();
  Isa best = Isa::generic;
  if (f.avx2 && f.fma && detail::kernels_avx2_f32().micro) best = Isa::avx2;
  if (f.avx512f && f.avx512dq && f.fma && detail::kernels_avx512_f32().micro) best = Isa::avx512;
  // LOOMGRAD_GEMM_ISA may only lower the choice: a path the CPU lacks would crash.
  if (const char* env = std::getenv("LOOMGRAD_GEMM_ISA")) {
    Isa want = best;
    if (std::strcmp(env, "generic") == 0) want = Isa::generic;
    else if (std::strcmp(env, "avx2") == 0) want = Isa::avx2;
    else if (std::strcmp(env, "avx512") == 0) want = Isa::avx512;
    best = std::min(best, want);
  }
  return best;
}

Isa active_isa() {
  static const Isa isa = detect_isa();  // read once; immutable afterwards
  return isa;
}

template <typename T>
KernelSet<T> kernels_for(Isa isa);
template <>
KernelSet<float> kernels_for<float>(Isa isa) {
  if (isa == Isa::avx512) return detail::kernels_avx512_f32();
  if (isa == Isa::avx2) return detail::kernels_avx2_f32();
  return detail::kernels_generic_f32();
}
template <>
KernelSet<double> kernels_for<double>(Isa isa) {
  if (isa == Isa::avx512) return detail::kernels_avx512_f64();
  if (isa == Isa::avx2) return detail::kernels_avx2_f64();
  return detail::kernels_generic_f64();
}

// ------------------------------------------------------------ helpers
#ifdef _OPENMP
int thread_id() { return omp_get_thread_num(); }
int team_size() { return omp_get_num_threads(); }
#else
int thread_id() { return 0; }
int team_size() { return 1; }
#endif

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// Zero-initialised is not needed: packing writes every element it exposes.
template <typename T>
std::unique_ptr<T[], FreeDeleter> alloc_aligned(int64_t elems) {
  const size_t bytes = static_cast<size_t>(round_up(std::max<int64_t>(elems, 1) * sizeof(T), 64));
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  return std::unique_ptr<T[], FreeDeleter>(static_cast<T*>(p));
}

// Elements per 64-byte line: sub-buffers start on their own cache line.
template <typename T>
constexpr int64_t kLine = 64 / sizeof(T);

template <typename T>
struct Problem {
  bool ta, tb;
  int64_t M, N, K;
  T alpha;
  const T* A;
  int64_t lda;
  const T* B;
  int64_t ldb;
  T beta;
  T* C;
  int64_t ldc;
  const GemmPackedB<T>* packed_b = nullptr;  // op(B) already packed: B, ldb unused
  // op(A)(i, k) and op(B)(k, j), for packing and the GEMV paths.
  const T* a_at(int64_t i, int64_t k) const { return ta ? A + k * lda + i : A + i * lda + k; }
  const T* b_at(int64_t k, int64_t j) const { return tb ? B + j * ldb + k : B + k * ldb + j; }
};

// C = beta * C over an M x N block (beta == 0: C is written, not read).
template <typename T>
void scale_rows(T* C, int64_t ldc, int64_t m0, int64_t m1, int64_t N, T beta) {
  for (int64_t i = m0; i < m1; ++i) {
    T* c = C + i * ldc;
    if (beta == T(0)) std::fill(c, c + N, T(0));
    else if (beta != T(1))
      for (int64_t j = 0; j < N; ++j) c[j] *= beta;
  }
}

// ------------------------------------------------------------ packing
// Both operands pack the same way: a kc x len region, element (k, c) at
// src[k*ld + c] (`c_contiguous`) or src[c*ld + k], into w-wide micro-panels
// (w = MR for A, NR for B) of kc x w, zero-padded.
//
// The c-contiguous case walks k in the outer loop so each source row is read
// front to back across all panels: one sequential stream per row, which the
// hardware prefetchers follow (a panel-at-a-time walk would touch kc rows,
// often kc pages, per 64 bytes). Both packers are the ISA's (compiled with
// its vector width): pack_rows for the c-contiguous case, the register-
// transpose packer for the other, a panel at a time.
template <typename T>
void pack_panels(const KernelSet<T>& ks, int64_t kc, int64_t len, const T* src, int64_t ld,
                 bool c_contiguous, int w, T* dst) {
  if (c_contiguous) return ks.pack_rows(kc, len, src, ld, w, dst);
  for (int64_t c = 0; c < len; c += w, dst += w * kc)
    ks.pack_trans(kc, std::min<int64_t>(w, len - c), w, src + c * ld, ld, dst);
}

// op(A) rows [i0, i0+mc), cols [p0, p0+kc) -> MR-tall micro-panels.
template <typename T>
void pack_a(const Problem<T>& P, const KernelSet<T>& ks, int64_t i0, int64_t mc, int64_t p0,
            int64_t kc, T* dst) {
  pack_panels(ks, kc, mc, P.a_at(i0, p0), P.lda, P.ta, ks.mr, dst);
}

// NR-wide micro-panels [jp0, jp1) of op(B) rows [p0, p0+kc), cols from j0 (ncur wide).
template <typename T>
void pack_b(const Problem<T>& P, const KernelSet<T>& ks, int64_t p0, int64_t kc, int64_t j0,
            int64_t ncur, int64_t jp0, int64_t jp1, T* buf) {
  const int64_t c0 = jp0 * ks.nr, c1 = std::min(ncur, jp1 * ks.nr);
  if (c0 >= c1) return;
  pack_panels(ks, kc, c1 - c0, P.b_at(p0, j0 + c0), P.ldb, !P.tb, ks.nr, buf + jp0 * ks.nr * kc);
}

// ------------------------------------------------------------ planning
template <typename T>
struct Plan {
  KernelSet<T> ks;
  bool skinny = false;  // min(M, N) <= kSkinnyMax: no packing (see run_skinny)
  int nt = 1, tm = 1, tn = 1;
  int64_t mc = 0, kc = 0, nc = 0;
  int64_t b_elems = 0, a_elems = 0;  // packed B and packed A, per thread
  int64_t skinny_elems = 0;          // skinny: X (S x K, contiguous), then Y (kblocks x S x len)
  int64_t kblocks = 1;               // skinny axpy: K cut into this many fixed blocks
  int64_t workspace_elems() const {
    return skinny ? skinny_elems : int64_t(nt) * (b_elems + a_elems);
  }
};

// Cache sizes as the blocking should see them. Clamped because sysconf can be
// wrong inside VMs (one reports a 256 MiB L3); an L3 share of 32 MiB is already
// more than a KC x NC panel wants.
struct Caches {
  int64_t l1, l2, l3;
};
Caches blocking_caches() {
  const CpuFeatures& f = cpu_features();
  return {std::clamp<int64_t>(f.l1d_bytes, 16 << 10, 64 << 10),
          std::clamp<int64_t>(f.l2_bytes, 128 << 10, 2 << 20),
          std::clamp<int64_t>(f.l3_bytes, 1 << 20, 32 << 20)};
}

// Even out `total` into ceil(total / limit) blocks, each a multiple of `mult`.
int64_t balanced_block(int64_t total, int64_t limit, int64_t mult) {
  if (total <= 0) return mult;
  const int64_t blocks = ceil_div(total, limit);
  return std::min(round_up(ceil_div(total, blocks), mult), round_up(limit, mult));
}

// KC: a B micro-panel (KC x NR) fills half of L1, leaving room for A and C;
// K is cut into even blocks of at most that. Shared by the plan and by
// GemmPackedB, whose pack must use the blocks the driver will walk.
template <typename T>
int64_t choose_kc(int64_t K, const KernelSet<T>& ks) {
  const int64_t kc_max =
      std::clamp<int64_t>((blocking_caches().l1 / 2) / (ks.nr * int64_t(sizeof(T))) / 8 * 8, 64, 1024);
  return balanced_block(K, kc_max, 1);
}

template <typename T>
Plan<T> make_plan(const Problem<T>& P, int max_threads) {
  Plan<T> pl;
  pl.ks = kernels_for<T>(active_isa());
  const int64_t M = P.M, N = P.N, K = P.K;
  if (std::min(M, N) <= detail::kSkinnyMax && !P.packed_b) {
    pl.skinny = true;
    const int64_t s = std::min(M, N), len = M <= N ? N : M;
    pl.nt = std::min<int>(max_threads, threads_for(s * len * K, int64_t(1) << 15));
    pl.nt = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(pl.nt, len / kLine<T>)));
    // The streaming (axpy) case with a long K: fixed blocks of K, each its
    // own partial Y, summed in block order afterwards (see run_skinny).
    const bool axpy = M <= N ? !P.tb : P.ta;
    if (axpy && K >= 2 * detail::kSkinnyKBlock) pl.kblocks = ceil_div(K, detail::kSkinnyKBlock);
    pl.skinny_elems = round_up(s * K, kLine<T>) + pl.kblocks * round_up(s * len, kLine<T>);
    return pl;
  }
  const int mr = pl.ks.mr, nr = pl.ks.nr;
  const Caches cs = blocking_caches();
  const int64_t es = sizeof(T);
  // MC: the packed A block (MC x KC) fills about half of L2.
  // NC: the packed B panel (KC x NC) takes a quarter of L3, at most 4096 wide.
  pl.kc = P.packed_b ? P.packed_b->kc() : choose_kc(K, pl.ks);
  const int64_t mc_max = std::max<int64_t>(mr, (cs.l2 / 2) / (pl.kc * es) / mr * mr);
  const int64_t nc_max = std::clamp<int64_t>((cs.l3 / 4) / (pl.kc * es) / nr * nr, nr, 4096);

  // Threads: enough work each (64^3-ish multiply-adds), no more than micro-tiles.
  const int64_t mp = ceil_div(M, mr), np = ceil_div(N, nr);
  int nt = std::min<int>(max_threads, threads_for(M * N * K, int64_t(1) << 18));
  nt = static_cast<int>(std::min<int64_t>(nt, mp * np));
  // Grid: the factorisation whose per-thread block of C is closest to square.
  for (; nt > 1; --nt) {
    double best = 1e300;
    int best_tm = 0;
    for (int tm = 1; tm <= nt; ++tm) {
      if (nt % tm || tm > mp || nt / tm > np) continue;
      const double rows = double(M) / tm, cols = double(N) / (nt / tm);
      const double score = std::fabs(std::log(rows / cols));
      if (score < best - 1e-9) best = score, best_tm = tm;
    }
    if (best_tm) {
      pl.tm = best_tm;
      pl.tn = nt / best_tm;
      break;
    }
  }
  pl.nt = std::max(nt, 1);
  if (pl.nt == 1) pl.tm = pl.tn = 1;
  pl.mc = balanced_block(ceil_div(M, pl.tm), mc_max, mr);
  pl.nc = balanced_block(ceil_div(N, pl.tn), nc_max, nr);
  pl.b_elems = P.packed_b ? 0 : round_up(pl.nc * pl.kc, kLine<T>);
  pl.a_elems = round_up(pl.mc * pl.kc, kLine<T>);
  return pl;
}

// ------------------------------------------------------------ skinny (min(M, N) <= 4)
// C has S <= 4 rows (M small: activations of a small batch) or S columns.
// The S-long side's operand becomes X (S x K, contiguous), the other operand
// streams once from memory through the ISA's axpy/dot kernels, and the long
// dimension of C is split over the threads. Packing would read and write the
// big operand once more, and an MR-tall tile would waste (MR - S) / MR.
template <typename T>
struct Skinny {
  bool rows;       // C is S x len (M small); else len x S (N small)
  int64_t s, len;
  const T* X;      // S x K
  int64_t ldx;
  const T* big;    // the streamed operand
  int64_t ldbig;
  bool dot;        // big's rows run along K (dot products); else along len (axpy)
};

template <typename T>
Skinny<T> skinny_setup(const Problem<T>& P, T* scratch) {
  Skinny<T> sk;
  sk.rows = P.M <= P.N;
  sk.s = sk.rows ? P.M : P.N;
  sk.len = sk.rows ? P.N : P.M;
  // X rows are op(A) rows (M small) or op(B) columns (N small); copied only
  // when they are strided in memory.
  const bool contiguous = sk.rows ? !P.ta : P.tb;
  if (contiguous) {
    sk.X = sk.rows ? P.A : P.B;
    sk.ldx = sk.rows ? P.lda : P.ldb;
  } else {
    for (int64_t r = 0; r < sk.s; ++r)
      for (int64_t k = 0; k < P.K; ++k)
        scratch[r * P.K + k] = sk.rows ? *P.a_at(r, k) : *P.b_at(k, r);
    sk.X = scratch;
    sk.ldx = P.K;
  }
  if (sk.rows) {
    sk.big = P.B, sk.ldbig = P.ldb, sk.dot = P.tb;
  } else {
    sk.big = P.A, sk.ldbig = P.lda, sk.dot = !P.ta;
  }
  return sk;
}

// Thread `tid` of `nt`. One K block: the thread computes its slice [j0, j1)
// of the long dimension. Several (kblocks > 1, the streaming case): thread
// tid computes the partial products of K blocks tid, tid + nt, ..., each
// over the whole long dimension, so each thread streams whole rows of the
// big operand (long contiguous runs instead of one slice of every row);
// after a barrier each thread sums its slice of the partials in block order.
// The blocks do not depend on nt, so the result is the same for any number
// of threads.
template <typename T>
void run_skinny(const Problem<T>& P, const Plan<T>& pl, const Skinny<T>& sk, T* Y, int tid,
                int nt) {
  const int si = static_cast<int>(sk.s) - 1;
  const int64_t y_elems = round_up(sk.s * sk.len, kLine<T>);
  if (pl.kblocks > 1) {
    for (int64_t b = tid; b < pl.kblocks; b += nt) {
      const int64_t k0 = b * detail::kSkinnyKBlock;
      const int64_t kb = std::min(P.K, k0 + detail::kSkinnyKBlock) - k0;
      pl.ks.axpy[si](kb, sk.len, sk.X + k0, sk.ldx, sk.big + k0 * sk.ldbig, sk.ldbig,
                     Y + b * y_elems, sk.len);
    }
#pragma omp barrier
  }
  const int64_t chunk = round_up(ceil_div(sk.len, nt), kLine<T>);
  const int64_t j0 = std::min(sk.len, tid * chunk), j1 = std::min(sk.len, j0 + chunk);
  if (j0 >= j1) return;
  if (pl.kblocks > 1) {
    for (int64_t b = 1; b < pl.kblocks; ++b)
      for (int64_t r = 0; r < sk.s; ++r) {
        T* __restrict y = Y + r * sk.len;
        const T* __restrict yb = Y + b * y_elems + r * sk.len;
        for (int64_t j = j0; j < j1; ++j) y[j] += yb[j];
      }
  } else if (sk.dot) {
    pl.ks.dot[si](P.K, j1 - j0, sk.X, sk.ldx, sk.big + j0 * sk.ldbig, sk.ldbig, Y + j0, sk.len);
  } else {
    pl.ks.axpy[si](P.K, j1 - j0, sk.X, sk.ldx, sk.big + j0, sk.ldbig, Y + j0, sk.len);
  }
  for (int64_t r = 0; r < sk.s; ++r) {
    const T* y = Y + r * sk.len;
    T* c = sk.rows ? P.C + r * P.ldc : P.C + r;
    const int64_t step = sk.rows ? 1 : P.ldc;
    for (int64_t j = j0; j < j1; ++j)
      c[j * step] = P.beta == T(0) ? P.alpha * y[j] : P.alpha * y[j] + P.beta * c[j * step];
  }
}

// ------------------------------------------------------------ packed GEMM
// Rows [m0, m1) of C's columns [jc, jc + ncur) over the K block [pc, pc +
// kcur): pack each MC block of op(A) into abuf, multiply it by the packed B
// block (bbuf, or the pre-packed operand's panels).
template <typename T>
void multiply_rows(const Problem<T>& P, const Plan<T>& pl, int64_t m0, int64_t m1, int64_t jc,
                   int64_t ncur, int64_t pc, int64_t kcur, const T* bbuf, T* abuf) {
  const int mr = pl.ks.mr, nr = pl.ks.nr;
  const int64_t jps = ceil_div(ncur, nr);
  const T beta = pc == 0 ? P.beta : T(1);
  alignas(64) T tile[16 * 32];  // edge tiles: MR x NR <= 12 x 32 for every kernel
  for (int64_t ic = m0; ic < m1; ic += pl.mc) {
    const int64_t mcur = std::min(pl.mc, m1 - ic);
    pack_a(P, pl.ks, ic, mcur, pc, kcur, abuf);
    for (int64_t jp = 0; jp < jps; ++jp) {
      const int64_t jr = jp * nr;
      const int64_t cols = std::min<int64_t>(nr, ncur - jr);
      const T* bp = P.packed_b ? P.packed_b->panel(pc, (jc + jr) / nr) : bbuf + jp * nr * kcur;
      for (int64_t ir = 0; ir < mcur; ir += mr) {
        const int64_t rows = std::min<int64_t>(mr, mcur - ir);
        const T* ap = abuf + ir * kcur;
        T* c = P.C + (ic + ir) * P.ldc + jc + jr;
        if (cols == nr && rows == mr) {
          pl.ks.micro(kcur, ap, bp, c, P.ldc, P.alpha, beta);
        } else if (cols == nr && pl.ks.micro_edge[rows - 1]) {
          pl.ks.micro_edge[rows - 1](kcur, ap, bp, c, P.ldc, P.alpha, beta);
        } else {
          pl.ks.micro(kcur, ap, bp, tile, nr, T(1), T(0));
          for (int64_t r = 0; r < rows; ++r) {
            T* cr = c + r * P.ldc;
            const T* tr = tile + r * nr;
            if (beta == T(0))
              for (int64_t j = 0; j < cols; ++j) cr[j] = P.alpha * tr[j];
            else
              for (int64_t j = 0; j < cols; ++j) cr[j] = P.alpha * tr[j] + beta * cr[j];
          }
        }
      }
    }
  }
}

// Rows (or columns) [0, n) in whole w-wide panels, part `i` of `parts`.
inline int64_t panel_split(int64_t n, int w, int i, int parts) {
  const int64_t panels = ceil_div(n, w);
  return std::min(n, panels * i / parts * w);
}

// Thread `tid` of the plan's tm x tn grid computes its own block of C from
// start to end with private packed A and B: no barriers, so a thread that
// the OS preempts (other processes on the cores) delays only the final join.
// Duplicated packing is cheap where it happens: several row blocks (tm > 1)
// only when M is large, so each packed B element serves many rows.
template <typename T>
void run_packed(const Problem<T>& P, const Plan<T>& pl, T* ws, int tid) {
  const int im = tid / pl.tn, in = tid % pl.tn;
  const int64_t m0 = panel_split(P.M, pl.ks.mr, im, pl.tm);
  const int64_t m1 = panel_split(P.M, pl.ks.mr, im + 1, pl.tm);
  const int64_t n0 = panel_split(P.N, pl.ks.nr, in, pl.tn);
  const int64_t n1 = panel_split(P.N, pl.ks.nr, in + 1, pl.tn);
  T* bbuf = ws;
  T* abuf = ws + pl.b_elems;
  for (int64_t jc = n0; jc < n1; jc += pl.nc) {
    const int64_t ncur = std::min(pl.nc, n1 - jc);
    for (int64_t pc = 0; pc < P.K; pc += pl.kc) {
      const int64_t kcur = std::min(pl.kc, P.K - pc);
      if (!P.packed_b) pack_b(P, pl.ks, pc, kcur, jc, ncur, 0, ceil_div(ncur, pl.ks.nr), bbuf);
      multiply_rows(P, pl, m0, m1, jc, ncur, pc, kcur, bbuf, abuf);
    }
  }
}

// One GEMM with its plan, on `ws` (plan.workspace_elems() elements). Opens a
// parallel region only when the plan has more than one thread.
template <typename T>
void run_plan(const Problem<T>& P, const Plan<T>& pl, T* ws) {
  if (pl.skinny) {
    const Skinny<T> sk = skinny_setup(P, ws);
    T* Y = ws + round_up(std::min(P.M, P.N) * P.K, kLine<T>);
    if (pl.nt > 1) {
#pragma omp parallel num_threads(pl.nt)
      run_skinny(P, pl, sk, Y, thread_id(), team_size());
    } else {
      run_skinny(P, pl, sk, Y, 0, 1);
    }
    return;
  }
  if (pl.nt == 1) return run_packed(P, pl, ws, 0);
  const int64_t per_thread = pl.b_elems + pl.a_elems;
#pragma omp parallel num_threads(pl.nt)
  {
    // A runtime that grants fewer threads than asked (OMP_THREAD_LIMIT)
    // leaves some blocks to be done by the threads it did start.
    for (int t = thread_id(); t < pl.nt; t += team_size())
      run_packed(P, pl, ws + thread_id() * per_thread, t);
  }
}

// K == 0 or alpha == 0: C = beta * C, and A, B are not read (as in BLAS).
template <typename T>
bool trivial(const Problem<T>& P, int max_threads) {
  if (P.K != 0 && P.alpha != T(0)) return false;
  const int nt = std::min(max_threads, threads_for(P.M * P.N, int64_t(1) << 16));
  if (nt > 1) {
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < P.M; ++i) scale_rows(P.C, P.ldc, i, i + 1, P.N, P.beta);
  } else {
    scale_rows(P.C, P.ldc, 0, P.M, P.N, P.beta);
  }
  return true;
}

// Threads this call may use: one when already inside a parallel region, so a
// GEMM called from another kernel's OpenMP loop never nests.
int call_threads() {
#ifdef _OPENMP
  if (omp_in_parallel()) return 1;
#endif
  return num_threads();
}

}  // namespace

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  const Problem<T> P{trans_a, trans_b, M, N, std::max<int64_t>(K, 0), alpha, A, lda, B, ldb,
                     beta, C, ldc};
  const int max_threads = call_threads();
  if (trivial(P, max_threads)) return;
  const Plan<T> pl = make_plan(P, max_threads);
  auto ws = alloc_aligned<T>(pl.workspace_elems());
  run_plan(P, pl, ws.get());
}

template <typename T>
void gemm_strided_batched(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N,
                          int64_t K, T alpha, const T* A, int64_t lda, int64_t stride_a,
                          const T* B, int64_t ldb, int64_t stride_b, T beta, T* C,
                          int64_t ldc, int64_t stride_c) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  K = std::max<int64_t>(K, 0);
  auto problem = [&](int64_t b) {
    return Problem<T>{trans_a, trans_b, M, N, K, alpha, A + b * stride_a, lda,
                      B + b * stride_b, ldb, beta, C + b * stride_c, ldc};
  };
  const int nt_all = call_threads();
  const Plan<T> one = make_plan(problem(0), nt_all);
  // Small GEMMs (up to ~160^3 multiply-adds, where a fork-join per matrix
  // starts to cost) run whole, one per thread, across the batch; larger ones,
  // or batches too short to feed every thread, run threaded inside.
  const int nt_batch = static_cast<int>(std::min<int64_t>(nt_all, batch));
  const bool small = M * N * K <= (int64_t(1) << 22) || one.nt < nt_all;
  if (batch < nt_all || !small || nt_batch <= 1) {
    auto ws = alloc_aligned<T>(one.workspace_elems());
    for (int64_t b = 0; b < batch; ++b) {
      const Problem<T> P = problem(b);
      if (!trivial(P, nt_all)) run_plan(P, one, ws.get());
    }
    return;
  }
  const Plan<T> serial = make_plan(problem(0), 1);
  const int64_t per = round_up(serial.workspace_elems(), kLine<T>);
  auto ws = alloc_aligned<T>(per * nt_batch);
#pragma omp parallel num_threads(nt_batch)
  {
    T* my_ws = ws.get() + per * thread_id();
#pragma omp for schedule(static)
    for (int64_t b = 0; b < batch; ++b) {
      const Problem<T> P = problem(b);
      if (!trivial(P, 1)) run_plan(P, serial, my_ws);
    }
  }
}

// ------------------------------------------------------------ pre-packed B
template <typename T>
GemmPackedB<T>::GemmPackedB(bool trans_b, int64_t K, int64_t N, const T* B, int64_t ldb)
    : K_(std::max<int64_t>(K, 0)), N_(std::max<int64_t>(N, 0)) {
  const KernelSet<T> ks = kernels_for<T>(active_isa());
  nr_ = ks.nr;
  kc_ = choose_kc(K_, ks);
  n_pad_ = round_up(N_, nr_);
  auto buf = alloc_aligned<T>(K_ * n_pad_);
  data_ = std::shared_ptr<T>(buf.release(), FreeDeleter());
  // The same Problem view the driver packs from; only op(B) is read.
  const Problem<T> P{false, trans_b, 0, N_, K_, T(1), nullptr, 0, B, ldb, T(0), nullptr, 0};
  const int64_t panels = ceil_div(N_, nr_);
  const int nt = static_cast<int>(std::min<int64_t>(
      std::min(call_threads(), threads_for(K_ * n_pad_, int64_t(1) << 16)), panels));
  // Each thread packs one contiguous range of panels, so the c-contiguous
  // case reads long runs of each source row (see pack_panels).
  auto pack_range = [&](int t, int nthreads) {
    const int64_t jp0 = panels * t / nthreads, jp1 = panels * (t + 1) / nthreads;
    for (int64_t p0 = 0; p0 < K_; p0 += kc_)
      pack_b(P, ks, p0, std::min(kc_, K_ - p0), 0, N_, jp0, jp1, data_.get() + p0 * n_pad_);
  };
  if (nt <= 1) {
    pack_range(0, 1);
    return;
  }
#pragma omp parallel num_threads(nt)
  pack_range(thread_id(), team_size());
}

template <typename T>
void gemm_packed_b(bool trans_a, int64_t M, T alpha, const T* A, int64_t lda,
                   const GemmPackedB<T>& B, T beta, T* C, int64_t ldc) {
  if (M <= 0 || B.n() <= 0) return;
  const Problem<T> P{trans_a, false, M, B.n(), B.k(), alpha, A, lda, nullptr, 0,
                     beta, C, ldc, &B};
  const int max_threads = call_threads();
  if (trivial(P, max_threads)) return;
  const Plan<T> pl = make_plan(P, max_threads);
  auto ws = alloc_aligned<T>(pl.workspace_elems());
  run_plan(P, pl, ws.get());
}

namespace detail {
template <typename T>
KernelSet<T> active_kernel_set() {
  return kernels_for<T>(active_isa());
}
template KernelSet<float> active_kernel_set<float>();
template KernelSet<double> active_kernel_set<double>();
}  // namespace detail

template class GemmPackedB<float>;
template class GemmPackedB<double>;
template void gemm_packed_b<float>(bool, int64_t, float, const float*, int64_t,
                                   const GemmPackedB<float>&, float, float*, int64_t);
template void gemm_packed_b<double>(bool, int64_t, double, const double*, int64_t,
                                    const GemmPackedB<double>&, double, double*, int64_t);

const char* gemm_isa() {
  switch (active_isa()) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2+fma";
    default: return "generic";
  }
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t);
template void gemm_strided_batched<float>(bool, bool, int64_t, int64_t, int64_t, int64_t, float,
                                          const float*, int64_t, int64_t, const float*, int64_t,
                                          int64_t, float, float*, int64_t, int64_t);
template void gemm_strided_batched<double>(bool, bool, int64_t, int64_t, int64_t, int64_t, double,
                                           const double*, int64_t, int64_t, const double*,
                                           int64_t, int64_t, double, double*, int64_t, int64_t);
}  // namespace cpu
}  // namespace lg
