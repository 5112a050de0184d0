#include "kernels_heavy.h"
#include <string.h>

/* Range of grid indices o in [0, n) with 0 <= o * s + off < size. */
static inline void valid_range(int64_t n, int64_t s, int64_t off, int64_t size, int64_t *lo, int64_t *hi) {
    int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t h = size - off <= 0 ? 0 : (size - 1 - off) / s + 1;
    if (h > n) h = n;
    if (l > h) l = h;
    *lo = l; *hi = h;
}

void lseg_im2col_2d(const float *x, const lseg_window *w, int64_t c_begin, int64_t c_end,
                    int64_t p_begin, int64_t p_end, float *col) {
    const int64_t H = w->image[0], W = w->image[1], OW = w->grid[1];
    const int64_t KH = w->kernel[0], KW = w->kernel[1];
    const int64_t sh = w->stride[0], sw = w->stride[1], ph = w->pad_begin[0], pw = w->pad_begin[1];
    const int64_t dh = w->dilation[0], dw = w->dilation[1];
    const int64_t L = p_end - p_begin;
    for (int64_t c = c_begin; c < c_end; c++) {
        const float *xc = x + c * H * W;
        for (int64_t i = 0; i < KH; i++) {
            for (int64_t j = 0; j < KW; j++) {
                float *dst = col + ((c * KH + i) * KW + j) * L;
                int64_t lo, hi;
                valid_range(OW, sw, j * dw - pw, W, &lo, &hi);
                int64_t p = p_begin;
                while (p < p_end) {
                    int64_t oh = p / OW, ow0 = p % OW;
                    int64_t ow1 = OW - ow0 < p_end - p ? OW : ow0 + (p_end - p);
                    float *d = dst + (p - p_begin) - ow0;
                    int64_t ih = oh * sh - ph + i * dh;
                    if (ih < 0 || ih >= H) {
                        memset(d + ow0, 0, (size_t)(ow1 - ow0) * sizeof(float));
                    } else {
                        const float *src = xc + ih * W + j * dw - pw;
                        int64_t a = lo > ow0 ? lo : ow0, b = hi < ow1 ? hi : ow1;
                        if (a > b) a = b;
                        for (int64_t o = ow0; o < a; o++) d[o] = 0.0f;
                        if (sw == 1) {
                            if (b > a) memcpy(d + a, src + a, (size_t)(b - a) * sizeof(float));
                        } else {
                            for (int64_t o = a; o < b; o++) d[o] = src[o * sw];
                        }
                        for (int64_t o = b > a ? b : a; o < ow1; o++) d[o] = 0.0f;
                    }
                    p += ow1 - ow0;
                }
            }
        }
    }
}

/* Shared walk for the generic N-D im2col / col2im: for every (channel, tap, grid position)
   find the image offset or -1 when the tap falls in padding. */
static void window_walk(const lseg_window *w, int64_t c_begin, int64_t c_end, int64_t p_begin, int64_t p_end,
                        float *col, float *image_data, const float *image_in, int scatter) {
    const int nd = w->nd;
    int64_t K = 1, image_size = 1;
    for (int d = 0; d < nd; d++) { K *= w->kernel[d]; image_size *= w->image[d]; }
    const int64_t L = p_end - p_begin;
    for (int64_t c = c_begin; c < c_end; c++) {
        int64_t kidx[LSEG_MAX_SPATIAL] = {0};
        for (int64_t k = 0; k < K; k++) {
            float *row = col + (c * K + k) * L;
            /* Decode p_begin into a grid multi-index, then count up. */
            int64_t g[LSEG_MAX_SPATIAL];
            int64_t rem = p_begin;
            for (int d = nd - 1; d >= 0; d--) { g[d] = rem % w->grid[d]; rem /= w->grid[d]; }
            for (int64_t p = 0; p < L; p++) {
                int64_t off = 0; int inside = 1;
                for (int d = 0; d < nd; d++) {
                    int64_t pos = g[d] * w->stride[d] - w->pad_begin[d] + kidx[d] * w->dilation[d];
                    if (pos < 0 || pos >= w->image[d]) { inside = 0; break; }
                    off = off * w->image[d] + pos;
                }
                if (scatter) {
                    if (inside) image_data[c * image_size + off] += row[p];
                } else {
                    row[p] = inside ? image_in[c * image_size + off] : 0.0f;
                }
                for (int d = nd - 1; d >= 0; d--) { if (++g[d] < w->grid[d]) break; g[d] = 0; }
            }
            for (int d = nd - 1; d >= 0; d--) { if (++kidx[d] < w->kernel[d]) break; kidx[d] = 0; }
        }
    }
}

void lseg_im2col(const float *x, const lseg_window *w, int64_t c_begin, int64_t c_end,
                 int64_t p_begin, int64_t p_end, float *col) {
    window_walk(w, c_begin, c_end, p_begin, p_end, col, NULL, x, 0);
}

void lseg_col2im(const float *col, const lseg_window *w, int64_t c_begin, int64_t c_end,
                 int64_t p_begin, int64_t p_end, float *y) {
    window_walk(w, c_begin, c_end, p_begin, p_end, (float *)col, y, NULL, 1);
}

void lseg_depthwise_conv2d(const float *x, const float *weight, const float *bias, float *y,
                           const lseg_window *w, int64_t c_begin, int64_t c_end) {
    const int64_t H = w->image[0], W = w->image[1], OH = w->grid[0], OW = w->grid[1];
    const int64_t KH = w->kernel[0], KW = w->kernel[1];
    const int64_t sh = w->stride[0], sw = w->stride[1], ph = w->pad_begin[0], pw = w->pad_begin[1];
    const int64_t dh = w->dilation[0], dw = w->dilation[1];
    for (int64_t c = c_begin; c < c_end; c++) {
        const float *xc = x + c * H * W, *wc = weight + c * KH * KW;
        float *yc = y + c * OH * OW;
        float b = bias ? bias[c] : 0.0f;
        for (int64_t oh = 0; oh < OH; oh++) {
            float *out = yc + oh * OW;
            for (int64_t o = 0; o < OW; o++) out[o] = b;
            for (int64_t i = 0; i < KH; i++) {
                int64_t ih = oh * sh - ph + i * dh;
                if (ih < 0 || ih >= H) continue;
                for (int64_t j = 0; j < KW; j++) {
                    int64_t lo, hi;
                    valid_range(OW, sw, j * dw - pw, W, &lo, &hi);
                    const float *src = xc + ih * W + j * dw - pw;
                    const float wv = wc[i * KW + j];
                    /* Contiguous taps (stride 1) vectorize; strided ones still run plain. */
                    if (sw == 1) {
                        for (int64_t o = lo; o < hi; o++) out[o] += wv * src[o];
                    } else {
                        for (int64_t o = lo; o < hi; o++) out[o] += wv * src[o * sw];
                    }
                }
            }
        }
    }
}
