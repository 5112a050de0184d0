#include "kernels_heavy.h"

static void horizontal(const float *row, int64_t OW, const int64_t *x0, const int64_t *x1, const float *wx, float *out) {
    for (int64_t o = 0; o < OW; o++) out[o] = (1.0f - wx[o]) * row[x0[o]] + wx[o] * row[x1[o]];
}

void lseg_resize_bilinear(const float *x, float *y, int64_t IH, int64_t IW, int64_t OH, int64_t OW,
                          int64_t row_begin, int64_t row_end,
                          const int64_t *y0, const int64_t *y1, const float *wy,
                          const int64_t *x0, const int64_t *x1, const float *wx, float *scratch) {
    /* Two cached horizontally-resampled source rows, keyed by plane * IH + row; upsampling reuses
       them across output rows, and the vertical blend below is a plain vector loop. */
    float *cache[2] = { scratch, scratch + OW };
    int64_t key[2] = { -1, -1 };
    for (int64_t r = row_begin; r < row_end; r++) {
        int64_t plane = r / OH, oy = r % OH;
        const float *xp = x + plane * IH * IW;
        int64_t want[2] = { plane * IH + y0[oy], plane * IH + y1[oy] };
        const float *src0 = xp + y0[oy] * IW, *src1 = xp + y1[oy] * IW;
        int s0 = key[0] == want[0] ? 0 : (key[1] == want[0] ? 1 : -1);
        if (s0 < 0) {
            s0 = key[0] == want[1] ? 1 : 0; /* keep a slot that already holds the second row */
            horizontal(src0, OW, x0, x1, wx, cache[s0]);
            key[s0] = want[0];
        }
        int s1 = key[s0] == want[1] ? s0 : (key[1 - s0] == want[1] ? 1 - s0 : -1);
        if (s1 < 0) {
            s1 = 1 - s0;
            horizontal(src1, OW, x0, x1, wx, cache[s1]);
            key[s1] = want[1];
        }
        const float *rows[2] = { cache[s0], cache[s1] };
        float *out = y + r * OW;
        const float *a = rows[0], *b = rows[1];
        const float w1 = wy[oy], w0 = 1.0f - w1;
        for (int64_t o = 0; o < OW; o++) out[o] = w0 * a[o] + w1 * b[o];
    }
}
