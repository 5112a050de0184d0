#ifndef LSEG_KERNELS_HEAD_H
#define LSEG_KERNELS_HEAD_H
#include <stddef.h>
#include <stdint.h>

/* The fused LSeg head with a bilinear upsample, computed at the source resolution.
   Bilinear interpolation is linear, so a pixel's dot product with a text feature is the blend
   of its source pixels' dot products, and its squared norm is a quadratic form in the Gram
   entries of the (at most 2 x 2) source pixels it blends. Per source pixel (i, j) of x [C, h, w]
   the Gram rows hold, for pixels i in [i_begin, i_end):
     g0 = <f(i,j), f(i,j)>, gr = <f(i,j), f(i,j+1)>, gd = <f(i,j), f(i+1,j)>,
     gx = <f(i,j), f(i+1,j+1)>, gy = <f(i,j+1), f(i+1,j)>, and n0 = sqrt(g0),
   each an [h, w] plane (entries past the last row or column are 0). Sums run over blocks of
   32 channels added to the totals, so the rounding error grows with C / 32, not C.
   In the same pass over x, proj [labels, h, w] gets each source pixel's dot product with each
   feature row (features [labels, C]), summed channel by channel: x is read once, not again by a
   GEMM. scratch: lseg_head_gram_rows_scratch(w) floats. */
int64_t lseg_head_gram_rows_scratch(int64_t w);
void lseg_head_gram_rows(const float *x, int64_t channels, int64_t h, int64_t w, int64_t i_begin, int64_t i_end,
                         float *g0, float *gr, float *gd, float *gx, float *gy, float *n0, const float *features,
                         int64_t labels, float *proj, float *scratch);

/* Output rows [r_begin, r_end) of y [labels, H, W]. Row r blends source rows row0[r] and row1[r]
   (row1 is row0 or row0 + 1) with weight row_w[r] on row1; column c likewise with col0, col1,
   col_w. proj is [labels, h, w]: each source pixel's dot product with each feature. A pixel whose
   blended vector nearly cancels (squared norm under 1/64 of the square of the blended source
   norms, where the Gram form loses digits) is recomputed exactly from x and features in double.
   guard: 0 none (scale / norm), 1 clamp (scale / max(norm, eps)), 2 add (scale / sqrt(sq + eps)).
   scratch: (labels + 3) * w floats. Returns the number of pixels recomputed exactly. */
int64_t lseg_head_gram_pixels(const float *x, const float *features, int64_t channels, int64_t labels, int64_t h,
                              int64_t w, int64_t H, int64_t W, const int64_t *row0, const int64_t *row1,
                              const float *row_w, const int64_t *col0, const int64_t *col1, const float *col_w,
                              const float *g0, const float *gr, const float *gd, const float *gx, const float *gy,
                              const float *n0, const float *proj, float scale, int guard, float eps,
                              int64_t r_begin, int64_t r_end, float *y, float *scratch);
#endif
