// Pre-packed B operand: pack op(B) (K x N, e.g. a weight matrix) once into
// the GEMM's micro-panel layout, then run any number of GEMMs against it
// (conv over many images, a recurrence over many steps, Linear forward and
// backward) without packing it again.
//
//   lg::cpu::GemmPackedB<float> w(/*trans_b=*/true, K, N, W, ldw);
//   lg::cpu::gemm_packed_b(false, M, 1.f, X, ldx, w, 0.f, Y, ldy);  // Y = X op(W)
//
// Layout (private to gemm.cpp): for each KC block of K (the block size the
// driver would pick for this K), all ceil(N / NR) NR-wide micro-panels of
// that block, zero-padded to NR: element (k, j) of block p0 at
// data[p0 * n_pad + (j / NR) * NR * kcur + (k - p0) * NR + j % NR]. The
// pack belongs to the GEMM path (ISA) active when it was made, which is
// fixed for the life of the process. Immutable after construction, so one
// pack may be used by any number of threads at once.
#pragma once
#include <cstdint>
#include <memory>

namespace lg {
namespace cpu {

template <typename T>
class GemmPackedB {
 public:
  // Packs op(B): B is K x N (row stride ldb >= N), or N x K when trans_b
  // (ldb >= K). Throws std::bad_alloc when the pack does not fit in memory.
  GemmPackedB(bool trans_b, int64_t K, int64_t N, const T* B, int64_t ldb);

  int64_t k() const { return K_; }
  int64_t n() const { return N_; }
  int64_t bytes() const { return K_ * n_pad_ * static_cast<int64_t>(sizeof(T)); }

  // For the driver: the KC block size, the panel width and micro-panel jp
  // of the KC block that starts at row p0 of op(B).
  int64_t kc() const { return kc_; }
  int nr() const { return nr_; }
  const T* panel(int64_t p0, int64_t jp) const {
    const int64_t kcur = K_ - p0 < kc_ ? K_ - p0 : kc_;
    return data_.get() + p0 * n_pad_ + jp * nr_ * kcur;
  }

 private:
  int64_t K_ = 0, N_ = 0, kc_ = 1, n_pad_ = 0;
  int nr_ = 1;
  std::shared_ptr<T> data_;
};

// C = alpha * op(A) * op(B) + beta * C with op(B) pre-packed; op(A) is M x K
// (A is M x K, lda >= K, or K x M when trans_a, lda >= M); C is M x N
// (ldc >= N). Same threading and beta == 0 rule as gemm() in gemm.h.
template <typename T>
void gemm_packed_b(bool trans_a, int64_t M, T alpha, const T* A, int64_t lda,
                   const GemmPackedB<T>& B, T beta, T* C, int64_t ldc);

}  // namespace cpu
}  // namespace lg
