#include "kernels_heavy.h"
#include <float.h>

void lseg_max_pool2d(const float *x, float *y, const lseg_window *w, int64_t p_begin, int64_t p_end) {
    const int64_t H = w->image[0], W = w->image[1], OH = w->grid[0], OW = w->grid[1];
    const int64_t KH = w->kernel[0], KW = w->kernel[1];
    const int64_t sh = w->stride[0], sw = w->stride[1], ph = w->pad_begin[0], pw = w->pad_begin[1];
    const int64_t dh = w->dilation[0], dw = w->dilation[1];
    for (int64_t p = p_begin; p < p_end; p++) {
        const float *xp = x + p * H * W;
        float *yp = y + p * OH * OW;
        for (int64_t oh = 0; oh < OH; oh++) {
            for (int64_t ow = 0; ow < OW; ow++) {
                float m = -FLT_MAX;
                for (int64_t i = 0; i < KH; i++) {
                    int64_t ih = oh * sh - ph + i * dh;
                    if (ih < 0 || ih >= H) continue;
                    for (int64_t j = 0; j < KW; j++) {
                        int64_t iw = ow * sw - pw + j * dw;
                        if (iw < 0 || iw >= W) continue;
                        float v = xp[ih * W + iw];
                        if (v > m) m = v;
                    }
                }
                yp[oh * OW + ow] = m;
            }
        }
    }
}

void lseg_average_pool2d(const float *x, float *y, const lseg_window *w, const int64_t *pad_end,
                         int count_include_pad, int64_t p_begin, int64_t p_end) {
    const int64_t H = w->image[0], W = w->image[1], OH = w->grid[0], OW = w->grid[1];
    const int64_t KH = w->kernel[0], KW = w->kernel[1];
    const int64_t sh = w->stride[0], sw = w->stride[1], ph = w->pad_begin[0], pw = w->pad_begin[1];
    const int64_t dh = w->dilation[0], dw = w->dilation[1];
    for (int64_t p = p_begin; p < p_end; p++) {
        const float *xp = x + p * H * W;
        float *yp = y + p * OH * OW;
        for (int64_t oh = 0; oh < OH; oh++) {
            for (int64_t ow = 0; ow < OW; ow++) {
                float s = 0.0f;
                int64_t n = 0, npad = 0;
                for (int64_t i = 0; i < KH; i++) {
                    int64_t ih = oh * sh - ph + i * dh;
                    int row_in = ih >= 0 && ih < H, row_padded = ih < H + pad_end[0];
                    for (int64_t j = 0; j < KW; j++) {
                        int64_t iw = ow * sw - pw + j * dw;
                        if (row_padded && iw < W + pad_end[1]) npad++;
                        if (!row_in || iw < 0 || iw >= W) continue;
                        s += xp[ih * W + iw];
                        n++;
                    }
                }
                int64_t count = count_include_pad ? npad : n;
                yp[oh * OW + ow] = count > 0 ? s / (float)count : 0.0f;
            }
        }
    }
}
