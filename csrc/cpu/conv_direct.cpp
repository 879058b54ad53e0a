// Direct stride-1 convolution, AVX2+FMA: no im2col, no packing of the input
// beyond one zero-padded copy of a band of rows.
//
// One "correlation" reads `cin` input planes (Hin x Win) per group and
// writes `cout` output planes (Ho x Wo) per group with an R x S kernel,
// dilation (dh, dw) and padding (ph, pw), stride 1:
//   out[o, oh, ow] = sum_{c, r, s} A[o, (c, r, s)] * in[c, oh - ph + r*dh, ow - pw + s*dw].
// The forward pass is one (A = w); backward-data is another (in = dy,
// A[c, (k, r, s)] = w[k, c, R-1-r, S-1-s], padding dh*(R-1) - ph, which may
// be negative), so one kernel serves both.
//
// Layout trick: a band of input rows of one image and group is copied into
// a zero-padded buffer with row pitch Wp = Wo + (S-1)*dw. In that buffer the
// output pixel (oh, ow), flattened as q = oh*Wp + ow, reads tap (c, r, s) at
// c*plane + r*dh*Wp + s*dw + q: for fixed (c, r, s) consecutive q's read
// consecutive floats, across row ends too. So an output tile of NR = 2
// vectors of consecutive q's takes each tap with two unaligned loads, and
// the register tile is MR = 6 output channels x NR pixels (12 accumulators,
// 2 B vectors, 1 broadcast of the packed weights: 15 of 16 ymm registers).
// The q's with ow >= Wo are computed and thrown away: Wp/Wo - 1 of the work
// (3.5% for 3x3 on 56x56). Where that is more than rounding each row up to
// whole tiles, tiles start at row starts instead (14-wide rows, 5x5: 16
// lanes per row, not Wp = 18); a row-start tile's tail lanes read into the
// next row and are thrown away likewise.
//
// Blocking: weights packed once per call, [group][MR block][tap][MR]
// (zero rows past cout). A band is as many output rows as keep its padded
// input (cin x (rows + (R-1)*dh) x Wp) within ~160 KiB, i.e. in L2; per band
// the loop runs MR blocks outside, tiles inside, so an MR block's weights
// (6 x taps) stay in L1/L2 while the band streams from L2. All taps are
// summed in registers (no split of the reduction), and the store adds the
// bias.
//
// Threading: the (image, group, band) items are split statically over the
// threads; every output is produced by one tile kernel over the same taps
// in the same order, so results do not depend on the thread count.
// Limits: stride 1 only; conv_direct_fits_* turn away geometries whose
// garbage columns or band would be large (huge dilation or padding).
#include "cpu/conv_direct.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "common/cpu_features.h"
#include "common/parallel.h"

#if defined(LG_X86) && defined(__GNUC__)
#define LG_CONV_DIRECT_AVX2 1
#include <immintrin.h>
#endif

namespace lg {
namespace cpu {
namespace {

constexpr int kMR = 6;
constexpr int64_t kBandBytes = 160 * 1024;

// One stride-1 correlation, per group: cin input planes -> cout output planes.
struct Plan {
  int64_t N = 0, groups = 1, cin = 0, cout = 0;
  int64_t Hin = 0, Win = 0, Ho = 0, Wo = 0;
  int64_t R = 1, S = 1, dh = 1, dw = 1, ph = 0, pw = 0;
  int64_t taps() const { return cin * R * S; }
  int64_t pitch() const { return Wo + (S - 1) * dw; }  // Wp
  int64_t halo() const { return (R - 1) * dh; }        // extra input rows per band
};

Plan forward_plan(const Conv2dShape& s) {
  Plan p;
  p.N = s.N; p.groups = s.groups; p.cin = s.C / s.groups; p.cout = s.K / s.groups;
  p.Hin = s.H; p.Win = s.W; p.Ho = s.OH; p.Wo = s.OW;
  p.R = s.R; p.S = s.S; p.dh = s.dil_h; p.dw = s.dil_w; p.ph = s.pad_h; p.pw = s.pad_w;
  return p;
}

Plan backward_data_plan(const Conv2dShape& s) {
  Plan p = forward_plan(s);
  std::swap(p.cin, p.cout);
  p.Hin = s.OH; p.Win = s.OW; p.Ho = s.H; p.Wo = s.W;
  p.ph = s.dil_h * (s.R - 1) - s.pad_h;
  p.pw = s.dil_w * (s.S - 1) - s.pad_w;
  return p;
}

// Output rows per band: the padded input band within kBandBytes, at least one row.
int64_t band_rows(const Plan& p, int64_t elem_bytes) {
  const int64_t row_bytes = std::max<int64_t>(p.cin * p.pitch() * elem_bytes, 1);
  const int64_t rows = kBandBytes / row_bytes - p.halo();
  return std::clamp<int64_t>(rows, 1, std::max<int64_t>(p.Ho, 1));
}

// Input channels per pass over a tile: the tile's input lines (cin x R rows
// x about two cache lines) stay in L1 while every MR block of output
// channels reads them, and the weights of the pass (cout x chunk x R x S)
// stay in L2. Passes after the first add into the output.
int64_t channel_chunk(const Plan& p, int64_t tile_bytes, int64_t elem_bytes) {
  const int64_t per_channel_l1 = p.R * (tile_bytes + 64 + (p.S - 1) * p.dw * elem_bytes);
  const int64_t per_channel_l2 = (p.cout + kMR) * p.R * p.S * elem_bytes;
  const int64_t by_l1 = (24 * 1024) / std::max<int64_t>(per_channel_l1, 1);
  const int64_t by_l2 = (256 * 1024) / std::max<int64_t>(per_channel_l2, 1);
  const int64_t c = std::max<int64_t>(1, std::min(by_l1, by_l2));
  const int64_t passes = (p.cin + c - 1) / c;
  return (p.cin + passes - 1) / passes;  // even passes
}

bool fits(const Plan& p) {
  if (p.Ho <= 0 || p.Wo <= 0 || p.cin <= 0 || p.cout <= 0) return false;
  // At most half the computed columns are thrown away, the halo is a few
  // rows, and the band buffer of one thread stays below 64 MiB of doubles.
  if ((p.S - 1) * p.dw > std::max<int64_t>(p.Wo, 16) || p.halo() > 64) return false;
  const int64_t band = p.cin * (p.halo() + 1) * p.pitch();
  return band <= (int64_t(1) << 23);
}

#ifdef LG_CONV_DIRECT_AVX2
#pragma GCC push_options
#pragma GCC target("avx2,fma")

template <typename T>
struct Vec;
template <>
struct Vec<float> {
  using V = __m256;
  static constexpr int L = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
};
template <>
struct Vec<double> {
  using V = __m256d;
  static constexpr int L = 4;
  static V zero() { return _mm256_setzero_pd(); }
  static V load(const double* p) { return _mm256_loadu_pd(p); }
  static V bcast(const double* p) { return _mm256_broadcast_sd(p); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static void store(double* p, V v) { _mm256_storeu_pd(p, v); }
};

// tile[m*NR + j] = sum_k a[k*kMR + m] * base[off[k] + j] for m < M, j < NR.
// Named accumulators, not an array: GCC keeps an array of vectors in memory
// and stores it back on every step.
template <typename T, int M>
void tile_kernel(int64_t taps, const T* a, const T* base, const int64_t* off, T* tile) {
  using W = Vec<T>;
  using V = typename W::V;
  constexpr int L = W::L;
  V c00 = W::zero(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  V c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t k = 0; k < taps; ++k) {
    const T* b = base + off[k];
    const V b0 = W::load(b), b1 = W::load(b + L);
    const T* ak = a + k * kMR;
    V av = W::bcast(ak);
    c00 = W::fma(av, b0, c00);
    c01 = W::fma(av, b1, c01);
    if constexpr (M > 1) {
      av = W::bcast(ak + 1);
      c10 = W::fma(av, b0, c10);
      c11 = W::fma(av, b1, c11);
    }
    if constexpr (M > 2) {
      av = W::bcast(ak + 2);
      c20 = W::fma(av, b0, c20);
      c21 = W::fma(av, b1, c21);
    }
    if constexpr (M > 3) {
      av = W::bcast(ak + 3);
      c30 = W::fma(av, b0, c30);
      c31 = W::fma(av, b1, c31);
    }
    if constexpr (M > 4) {
      av = W::bcast(ak + 4);
      c40 = W::fma(av, b0, c40);
      c41 = W::fma(av, b1, c41);
    }
    if constexpr (M > 5) {
      av = W::bcast(ak + 5);
      c50 = W::fma(av, b0, c50);
      c51 = W::fma(av, b1, c51);
    }
  }
  const V rows[kMR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  for (int m = 0; m < M; ++m) {
    W::store(tile + m * 2 * L, rows[m][0]);
    W::store(tile + m * 2 * L + L, rows[m][1]);
  }
}

template <typename T>
using TileFn = void (*)(int64_t, const T*, const T*, const int64_t*, T*);

template <typename T>
TileFn<T> tile_fn(int64_t m) {
  switch (m) {
    case 1: return &tile_kernel<T, 1>;
    case 2: return &tile_kernel<T, 2>;
    case 3: return &tile_kernel<T, 3>;
    case 4: return &tile_kernel<T, 4>;
    case 5: return &tile_kernel<T, 5>;
    default: return &tile_kernel<T, 6>;
  }
}

// Rows [oh0, oh0 + hb - halo) of the output need input rows oh0 - ph + i,
// i < hb: each copied into buf[c*plane + i*Wp + j] = in[c, oh0 - ph + i, j - pw]
// (zero outside the image).
template <typename T>
void fill_band(const Plan& p, const T* in, int64_t oh0, int64_t hb, int64_t plane, T* buf) {
  const int64_t Wp = p.pitch();
  const int64_t lo = std::clamp<int64_t>(p.pw, 0, Wp);
  const int64_t hi = std::clamp<int64_t>(p.pw + p.Win, lo, Wp);
  for (int64_t c = 0; c < p.cin; ++c) {
    const T* xc = in + c * p.Hin * p.Win;
    for (int64_t i = 0; i < hb; ++i) {
      T* dst = buf + c * plane + i * Wp;
      const int64_t ih = oh0 - p.ph + i;
      if (ih < 0 || ih >= p.Hin || lo >= hi) {
        std::memset(dst, 0, sizeof(T) * static_cast<size_t>(Wp));
        continue;
      }
      std::memset(dst, 0, sizeof(T) * static_cast<size_t>(lo));
      std::memcpy(dst + lo, xc + ih * p.Win + (lo - p.pw), sizeof(T) * static_cast<size_t>(hi - lo));
      std::memset(dst + hi, 0, sizeof(T) * static_cast<size_t>(Wp - hi));
    }
  }
}

// out (N, groups*cout, Ho, Wo) = correlation of in (N, groups*cin, Hin, Win)
// with the packed weights, plus bias (may be null).
template <typename T>
void run(const Plan& p, const T* in, const T* wpack, const T* bias, T* out) {
  constexpr int64_t NR = 2 * Vec<T>::L;
  const int64_t Wp = p.pitch(), rows = band_rows(p, sizeof(T));
  const int64_t plane = (rows + p.halo()) * Wp;
  const int64_t nbands = (p.Ho + rows - 1) / rows;
  const int64_t taps = p.taps(), nmb = (p.cout + kMR - 1) / kMR, RS = p.R * p.S;
  // Tiles either run through the flattened band (wasting the Wp - Wo
  // columns of each row) or start at each row (wasting the last tile's
  // tail): whichever computes fewer lanes. 14-wide rows with a 5x5 kernel
  // (Wp = 18): 16 lanes per row instead of 18.
  const int64_t tiles_per_row = (p.Wo + NR - 1) / NR;
  const bool row_tiles = tiles_per_row * NR < Wp;
  const int64_t chunk = channel_chunk(p, NR * int64_t(sizeof(T)), sizeof(T));
  std::vector<int64_t> off(static_cast<size_t>(taps));
  for (int64_t c = 0; c < p.cin; ++c)
    for (int64_t r = 0; r < p.R; ++r)
      for (int64_t q = 0; q < p.S; ++q)
        off[static_cast<size_t>((c * p.R + r) * p.S + q)] = c * plane + r * p.dh * Wp + q * p.dw;
  // A tile past the band's last row reads up to NR + (S-1)*dw past the last plane.
  const int64_t buf_elems = p.cin * plane + NR + (p.S - 1) * p.dw;
  const int64_t items = p.N * p.groups * nbands;
  const int64_t in_plane = p.Hin * p.Win, out_plane = p.Ho * p.Wo;
  const double flops = 2.0 * double(p.N * p.groups * p.cout) * double(taps) * double(out_plane);
  const int nt = static_cast<int>(std::min<int64_t>(
      threads_for(flops >= 9e18 ? INT64_MAX : static_cast<int64_t>(flops), int64_t(1) << 21),
      items));
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    // Zeroed once, so rows a short last band leaves stale are finite numbers.
    std::unique_ptr<T[]> buf(new T[static_cast<size_t>(buf_elems)]());
    alignas(64) T tile[kMR * NR];
#pragma omp for schedule(static)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t band = item % nbands, ng = item / nbands;
      const int64_t g = ng % p.groups;
      const T* xin = in + ng * p.cin * in_plane;
      T* yout = out + ng * p.cout * out_plane;
      const int64_t oh0 = band * rows, nr = std::min(rows, p.Ho - oh0);
      fill_band(p, xin, oh0, nr + p.halo(), plane, buf.get());
      const int64_t qn = nr * Wp;
      const int64_t ntiles = row_tiles ? nr * tiles_per_row : (qn + NR - 1) / NR;
      for (int64_t c0 = 0; c0 < p.cin; c0 += chunk) {
        const int64_t tap0 = c0 * RS, ntaps = std::min(chunk, p.cin - c0) * RS;
        const bool first = c0 == 0;
        for (int64_t t = 0; t < ntiles; ++t) {
          int64_t q0 = t * NR, qend = std::min(q0 + NR, qn);
          if (row_tiles) {
            const int64_t row = t / tiles_per_row;
            q0 = row * Wp + (t - row * tiles_per_row) * NR;
            qend = std::min(q0 + NR, row * Wp + p.Wo);
          }
          for (int64_t mb = 0; mb < nmb; ++mb) {
            const int64_t M = std::min<int64_t>(kMR, p.cout - mb * kMR);
            const T* a = wpack + ((g * nmb + mb) * taps + tap0) * kMR;
            tile_fn<T>(M)(ntaps, a, buf.get() + q0, off.data() + tap0, tile);
            for (int64_t q = q0; q < qend;) {  // one output-row run at a time
              const int64_t oh = q / Wp, ow = q - oh * Wp;
              const int64_t run_len = std::min(qend, (oh + 1) * Wp) - q;
              const int64_t valid = std::min(run_len, p.Wo - ow);
              for (int64_t m = 0; m < M && valid > 0; ++m) {
                const int64_t o = mb * kMR + m;
                const T* src = tile + m * NR + (q - q0);
                T* dst = yout + o * out_plane + (oh0 + oh) * p.Wo + ow;
                if (first) {
                  const T bv = bias ? bias[g * p.cout + o] : T(0);
                  for (int64_t j = 0; j < valid; ++j) dst[j] = src[j] + bv;
                } else {
                  for (int64_t j = 0; j < valid; ++j) dst[j] += src[j];
                }
              }
              q += run_len;
            }
          }
        }
      }
    }
  }
}

#pragma GCC pop_options
#endif  // LG_CONV_DIRECT_AVX2

// Packs the per-group weights of a plan, [group][MR block][tap][kMR], from
// weight(g, o, tap); rows o >= cout are zero.
template <typename T, typename Weight>
std::vector<T> pack_weights(const Plan& p, Weight weight) {
  const int64_t taps = p.taps(), nmb = (p.cout + kMR - 1) / kMR;
  std::vector<T> packed(static_cast<size_t>(p.groups * nmb * taps * kMR), T(0));
  for (int64_t g = 0; g < p.groups; ++g)
    for (int64_t mb = 0; mb < nmb; ++mb) {
      T* dst = packed.data() + (g * nmb + mb) * taps * kMR;
      const int64_t M = std::min<int64_t>(kMR, p.cout - mb * kMR);
      for (int64_t m = 0; m < M; ++m)
        for (int64_t k = 0; k < taps; ++k) dst[k * kMR + m] = weight(g, mb * kMR + m, k);
    }
  return packed;
}

}  // namespace

bool conv_direct_available() {
#ifdef LG_CONV_DIRECT_AVX2
  const CpuFeatures& f = cpu_features();
  return f.avx2 && f.fma;
#else
  return false;
#endif
}

bool conv_direct_fits_forward(const Conv2dShape& s) {
  return s.stride_h == 1 && s.stride_w == 1 && fits(forward_plan(s));
}

bool conv_direct_fits_backward_data(const Conv2dShape& s) {
  return s.stride_h == 1 && s.stride_w == 1 && fits(backward_data_plan(s));
}

template <typename T>
void conv2d_direct_forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y) {
#ifdef LG_CONV_DIRECT_AVX2
  const Plan p = forward_plan(s);
  const int64_t taps = p.taps();
  const auto packed = pack_weights<T>(p, [&](int64_t g, int64_t o, int64_t k) {
    return w[(g * p.cout + o) * taps + k];
  });
  run<T>(p, x, packed.data(), bias, y);
#else
  (void)s; (void)x; (void)w; (void)bias; (void)y;
#endif
}

template <typename T>
void conv2d_direct_backward_data(const Conv2dShape& s, const T* dy, const T* w, T* dx) {
#ifdef LG_CONV_DIRECT_AVX2
  const Plan p = backward_data_plan(s);
  const int64_t RS = s.R * s.S, Cg = p.cout, Kg = p.cin;
  // tap (k, r, s) of output plane c is w[k, c, R-1-r, S-1-s].
  const auto packed = pack_weights<T>(p, [&](int64_t g, int64_t c, int64_t tap) {
    const int64_t k = tap / RS, rs = tap - k * RS;
    return w[((g * Kg + k) * Cg + c) * RS + (RS - 1 - rs)];
  });
  run<T>(p, dy, packed.data(), nullptr, dx);
#else
  (void)s; (void)dy; (void)w; (void)dx;
#endif
}

template void conv2d_direct_forward<float>(const Conv2dShape&, const float*, const float*,
                                           const float*, float*);
template void conv2d_direct_forward<double>(const Conv2dShape&, const double*, const double*,
                                            const double*, double*);
template void conv2d_direct_backward_data<float>(const Conv2dShape&, const float*, const float*,
                                                 float*);
template void conv2d_direct_backward_data<double>(const Conv2dShape&, const double*,
                                                  const double*, double*);

}  // namespace cpu
}  // namespace lg
