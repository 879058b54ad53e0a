// 2-D upsampling (resizing) on the CPU: nearest and bilinear, forward and backward, with
// PyTorch's source-index rules (upsample_nearest2d / upsample_bilinear2d).
#pragma once
#include <cstdint>

namespace lg {
namespace cpu {

struct Upsample2dShape {
  int64_t planes = 0, H = 0, W = 0;  // planes = N * C; input H x W
  int64_t OH = 0, OW = 0;            // output
  // torch's optional scale factors (out / in) as passed to interpolate; <= 0 means none:
  // then the index maps use in / out.
  double scale_h = 0.0, scale_w = 0.0;
  bool align_corners = false;        // bilinear only
};

// Validates sizes (H, W, OH, OW >= 1 unless planes == 0; all < 2^31).
void upsample2d_check(const Upsample2dShape& s, const char* op);

// y[p, oh, ow] = x[p, min(floor(oh * sh), H - 1), min(floor(ow * sw), W - 1)] with sh = 1 /
// scale_h (or H / OH), computed in float as torch does.
template <typename T>
void upsample_nearest2d_forward(const Upsample2dShape& s, const T* x, T* y);
// dx = 0, then dx[source of (oh, ow)] += dy[oh, ow] (overwrites dx).
template <typename T>
void upsample_nearest2d_backward(const Upsample2dShape& s, const T* dy, T* dx);

// Bilinear interpolation between the 4 nearest inputs (torch's area_pixel source index:
// align_corners maps the corner pixels' centres onto each other).
template <typename T>
void upsample_bilinear2d_forward(const Upsample2dShape& s, const T* x, T* y);
// The adjoint: each dy spread onto its 4 inputs with the same weights (overwrites dx).
template <typename T>
void upsample_bilinear2d_backward(const Upsample2dShape& s, const T* dy, T* dx);

}  // namespace cpu
}  // namespace lg
