/* VNNI pieces shared by int8_vnni.c and int8_winograd.c: the 8-row accumulation (packed GEMM
   tile, QLinear, Winograd products) and the inline output activations. x86-64 only; include after
   <immintrin.h>. */
#ifndef LSEG_INT8_VNNI_ACCUMULATE_H
#define LSEG_INT8_VNNI_ACCUMULATE_H
#include <stdint.h>
#include <string.h>
#include "kernels_heavy.h"

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

static inline int32_t load4(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* acc[r][h] = sum over k of a[r * kp + k] (signed, 8 rows) times the unsigned panel b (`width`
   columns as 4-byte groups, [kp/4][width][4]), columns 16h..16h+15 for h < V. Per 4-deep group:
   V loads, 8 broadcasts, 8V vpdpbusd. The eight rows get their own pointers and one shared index,
   and two groups run per iteration: the loop stays within the 4-uop-per-cycle front end (walking
   one pointer row to row cost an add per broadcast, about 37 uops per 16 vpdpbusd). */
#define ACCUMULATE_GROUP(G)                                                                          \
    do {                                                                                             \
        __m512i bv[3];                                                                               \
        for (int v = 0; v < V; v++) bv[v] = _mm512_loadu_si512(b + (G) * width * 4 + 64 * v);        \
        for (int r = 0; r < 8; r++) {                                                                \
            const __m512i av = _mm512_set1_epi32(load4(row[r] + (G) * 4));                           \
            for (int v = 0; v < V; v++) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], bv[v], av);       \
        }                                                                                            \
    } while (0)
VNNI static inline __attribute__((always_inline)) void accumulate_8xv(const int8_t *a, const uint8_t *b, int64_t kp,
                                                                     const int64_t width, const int V,
                                                                     __m512i out[8][3]) {
    /* Local accumulators: with the caller's array clang stored every accumulator each group. */
    __m512i acc[8][3];
    for (int r = 0; r < 8; r++) acc[r][0] = acc[r][1] = acc[r][2] = _mm512_setzero_si512();
    const int8_t *row[8];
    for (int r = 0; r < 8; r++) {
        row[r] = a + r * kp;
        /* Opaque to the compiler: otherwise it folds the rows back into one pointer plus kp and
           spends an lea per broadcast again. */
        __asm__("" : "+r"(row[r]));
    }
    const int64_t groups = kp / 4;
    /* The next 8 rows (contiguous after these, 8 kp bytes = kp / 8 lines) are fetched one line per
       two groups, so they are in cache when their tile starts: QLinear weights come from memory
       (vitb32's 85 MB do not fit in L3), and the hardware prefetcher, following 8 row streams of 4
       bytes per group, left 145 x 768 -> 3072 at 364 GOP/s on one Zen 4 core, 410 with this
       (weights in cache: 404 either way). Past the last rows it fetches lines nobody reads (a
       prefetch never faults). */
    const char *next = (const char *)(a + 8 * kp);
    int64_t g = 0;
    for (; g + 2 <= groups; g += 2) {
        _mm_prefetch(next + g * 32, _MM_HINT_T0);
        ACCUMULATE_GROUP(g);
        ACCUMULATE_GROUP(g + 1);
    }
    if (g < groups) ACCUMULATE_GROUP(g);
    for (int r = 0; r < 8; r++) for (int v = 0; v < 3; v++) out[r][v] = acc[r][v];
}
#undef ACCUMULATE_GROUP
/* ReLU and LeakyReLU on two output vectors, as the scalar epilogue: max(f, 0) gives +0 for -0 and
   NaN (f > 0 ? f : 0); LeakyReLU multiplies where f < 0. Other activations are left to
   lseg_bias_activation. */
VNNI static inline void vnni_inline_act(int act, float alpha, __m512 *f0, __m512 *f1) {
    if (act == LSEG_ACT_RELU) {
        *f0 = _mm512_max_ps(*f0, _mm512_setzero_ps());
        *f1 = _mm512_max_ps(*f1, _mm512_setzero_ps());
    } else if (act == LSEG_ACT_LEAKYRELU) {
        const __m512 a = _mm512_set1_ps(alpha), z = _mm512_setzero_ps();
        *f0 = _mm512_mask_mul_ps(*f0, _mm512_cmp_ps_mask(*f0, z, _CMP_LT_OQ), *f0, a);
        *f1 = _mm512_mask_mul_ps(*f1, _mm512_cmp_ps_mask(*f1, z, _CMP_LT_OQ), *f1, a);
    }
}
#endif
