// The one float exp polynomial of the CPU kernels (used by the recurrent
// activations in cpu/recurrence.h and the softmax rows in
// cpu/softmax_xent_rows.h): Cephes' expf after an n*ln2 range reduction,
// branch-free and without libm calls so the loops around it vectorise
// (SSE2, AVX2 or AVX-512, whatever the caller is compiled for); < 2 ulp.
//
// exp_cephes(x) expects x already clamped to [-87.33, 88.0] (so 2^n is a
// normal float) or NaN, which comes back NaN: 2^n is assembled from the bits
// of the rounding constant, never by converting a float to an integer (a NaN
// converted to int32 would be undefined behaviour), and the shift is done
// unsigned. The callers own their clamps (exp_approx: [-87, 88]; exp_nonpos:
// inputs below -87.33 give exactly 0).
//
// Inline always: the callers are target_clones / `#pragma GCC target` code,
// and an out-of-line copy would run at the generic ISA. Callers compile
// with -fno-trapping-math (or its pragma) so GCC if-converts their clamps.
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__GNUC__)
#define LG_FAST_EXP_INLINE inline __attribute__((always_inline))
#else
#define LG_FAST_EXP_INLINE inline
#endif

namespace lg {

LG_FAST_EXP_INLINE float exp_cephes(float x) {
  // Round x·log2(e) to the nearest integer with the 1.5·2^23 trick: the
  // integer n lands in the low mantissa bits of z (no float->int conversion).
  const float z = x * 1.44269504088896341f + 12582912.0f;
  const float n = z - 12582912.0f;
  float r = x - n * 0.693359375f;  // ln 2 split in two for an exact product
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t zi;
  std::memcpy(&zi, &z, sizeof zi);
  // 2^n as float bits (zi - 0x4B400000 == n); the shift is unsigned, as a NaN
  // x makes zi - 0x4B400000 arbitrary and a signed left shift of a negative
  // value undefined (UBSan). A NaN p makes the scale moot.
  const int32_t e = static_cast<int32_t>(static_cast<uint32_t>(zi - 0x4B400000 + 127) << 23);
  float scale;
  std::memcpy(&scale, &e, sizeof scale);
  return p * scale;
}

}  // namespace lg
