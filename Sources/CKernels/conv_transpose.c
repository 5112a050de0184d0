/* Non-overlapping 2-D transposed convolution (kernel == stride, no padding, dilation 1): every
   output element receives exactly one product row of W^T X, so col2im becomes a plain
   scatter-copy with the bias folded in and no zero fill. */
#include "kernels_heavy.h"

void lseg_conv_transpose_scatter_2d(const float *col, int64_t in_h, int64_t in_w, int64_t kernel_h, int64_t kernel_w,
                                    const float *bias, int64_t c_begin, int64_t c_end, int64_t p_begin, int64_t p_end,
                                    float *y) {
    const int64_t out_w = in_w * kernel_w, taps = kernel_h * kernel_w, len = p_end - p_begin;
    const int64_t plane = in_h * kernel_h * out_w;
    for (int64_t c = c_begin; c < c_end; c++) {
        const float b = bias ? bias[c] : 0.0f;
        float *yc = y + c * plane;
        /* Grid rows (full or partial) of the position range [p_begin, p_end). */
        for (int64_t p = p_begin; p < p_end;) {
            const int64_t h = p / in_w, w0 = p % in_w;
            const int64_t w1 = (p_end - p) < (in_w - w0) ? w0 + (p_end - p) : in_w;
            for (int64_t a = 0; a < kernel_h; a++) {
                float *yrow = yc + (h * kernel_h + a) * out_w;
                for (int64_t t = 0; t < kernel_w; t++) {
                    const float *src = col + ((c * taps) + a * kernel_w + t) * len + (p - p_begin) - w0;
                    float *dst = yrow + t;
                    for (int64_t w = w0; w < w1; w++) dst[w * kernel_w] = src[w] + b;
                }
            }
            p += w1 - w0;
        }
    }
}

void lseg_conv_transpose_scatter_pixels_2d(const float *z, int64_t ld, int64_t in_h, int64_t in_w, int64_t kernel_h,
                                           int64_t kernel_w, const float *bias, int64_t c_begin, int64_t c_end, float *y) {
    typedef float v4 __attribute__((vector_size(16)));
    const int64_t out_w = in_w * kernel_w, plane = in_h * kernel_h * out_w;
    for (int64_t c = c_begin; c < c_end; c++) {
        const float b = bias ? bias[c] : 0.0f;
        const v4 vb = {b, b, b, b};
        for (int64_t h = 0; h < in_h; h++) {
            for (int64_t a = 0; a < kernel_h; a++) {
                float *yrow = y + c * plane + (h * kernel_h + a) * out_w;
                const float *src = z + h * in_w * ld + (c * kernel_h + a) * kernel_w;
                if (kernel_w == 4) {
                    /* DPT's 4x4 upsampling: one 16-byte run per input pixel. */
                    for (int64_t w = 0; w < in_w; w++) {
                        v4 v;
                        __builtin_memcpy(&v, src + w * ld, sizeof v);
                        v += vb;
                        __builtin_memcpy(yrow + w * 4, &v, sizeof v);
                    }
                } else {
                    for (int64_t w = 0; w < in_w; w++)
                        for (int64_t t = 0; t < kernel_w; t++) yrow[w * kernel_w + t] = src[w * ld + t] + b;
                }
            }
        }
    }
}
