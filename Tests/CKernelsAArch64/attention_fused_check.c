/* The fused attention kernel (lseg_attention_f32_variant) against a double-precision reference
   (scores, exact exp, weighted sum) on every code variant this CPU runs, and split query-row
   ranges against one call per head, bit for bit. Built by scripts/test-aarch64 (qemu) and runs
   natively too:
     cc -O2 -I Sources/CKernels/include -I Sources/CKernels Tests/CKernelsAArch64/attention_fused_check.c \
        Sources/CKernels/attention_fused.c Sources/CKernels/attention.c Sources/CKernels/elementwise.c \
        Sources/CKernels/float16.c Sources/CKernels/cpu.c -lm
   Tolerance: values |v| <= 1 and the output is their convex combination; float scores carry up
   to D-term rounding (|q.k| <= D, scaled by 1/sqrt(D)) that the exponential turns into a relative
   error of the weights of order D * sqrt(D) * 2^-24 (5e-5 at D = 64), plus reassociated sums of N
   terms: 1e-4 absolute covers both with margin at these sizes. */
#include "CKernels.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state = 0x2545F4914F6CDD1DULL;
static uint32_t next(void) {
    state ^= state << 13; state ^= state >> 7; state ^= state << 17;
    return (uint32_t)(state >> 11);
}
static float uniform(void) { return (float)(next() % 2000001) / 1000000.0f - 1.0f; }

static int passed = 0, failed = 0;

static void attention_case(size_t batch, size_t tokens, size_t heads, size_t d) {
    const size_t c = heads * d, ld = 3 * c;
    const float scale = 1.0f / sqrtf((float)d);
    float *qkv = malloc(4 * batch * tokens * ld + 4), *out = malloc(4 * batch * tokens * c + 4);
    float *whole = malloc(4 * batch * tokens * c + 4), *ws = malloc(4 * lseg_attention_workspace_floats(tokens, d));
    double *e = malloc(8 * batch * tokens * c + 8), *p = malloc(8 * tokens);
    for (size_t i = 0; i < batch * tokens * ld; i++) qkv[i] = uniform();
    for (size_t b = 0; b < batch; b++)
        for (size_t h = 0; h < heads; h++)
            for (size_t i = 0; i < tokens; i++) {
                const float *q = qkv + (b * tokens + i) * ld + h * d;
                double m = -INFINITY, sum = 0;
                for (size_t j = 0; j < tokens; j++) {
                    const float *k = qkv + (b * tokens + j) * ld + c + h * d;
                    double s = 0;
                    for (size_t t = 0; t < d; t++) s += (double)q[t] * k[t];
                    p[j] = s * scale;
                    if (p[j] > m) m = p[j];
                }
                for (size_t j = 0; j < tokens; j++) { p[j] = exp(p[j] - m); sum += p[j]; }
                for (size_t t = 0; t < d; t++) {
                    double o = 0;
                    for (size_t j = 0; j < tokens; j++) o += p[j] * qkv[(b * tokens + j) * ld + 2 * c + h * d + t];
                    e[(b * tokens + i) * c + h * d + t] = o / sum;
                }
            }
    for (int variant = 0; variant <= 2; variant++) {
        memset(whole, 0xFF, 4 * batch * tokens * c);
        memset(out, 0xFF, 4 * batch * tokens * c);
        for (size_t b = 0; b < batch; b++)
            for (size_t h = 0; h < heads; h++) {
                lseg_attention_f32_variant(variant, qkv, whole, tokens, heads, d, scale, b, h, 0, tokens, ws);
                /* The same head in three row ranges, as workers would split it. */
                const size_t r1 = tokens / 3, r2 = 2 * tokens / 3 + 1 > tokens ? tokens : 2 * tokens / 3 + 1;
                lseg_attention_f32_variant(variant, qkv, out, tokens, heads, d, scale, b, h, 0, r1, ws);
                lseg_attention_f32_variant(variant, qkv, out, tokens, heads, d, scale, b, h, r1, r2, ws);
                lseg_attention_f32_variant(variant, qkv, out, tokens, heads, d, scale, b, h, r2, tokens, ws);
            }
        double worst = 0;
        for (size_t i = 0; i < batch * tokens * c; i++) {
            double err = fabs((double)whole[i] - e[i]);
            if (!(err <= worst)) worst = err;
        }
        int ok = worst <= 1e-4 && memcmp(out, whole, 4 * batch * tokens * c) == 0;
        if (ok) passed++;
        else if (++failed <= 20)
            printf("FAIL attention variant %d b%zu n%zu h%zu d%zu: max error %g, split %s\n", variant, batch, tokens, heads, d,
                   worst, memcmp(out, whole, 4 * batch * tokens * c) == 0 ? "same" : "differs");
    }
    free(qkv); free(out); free(whole); free(ws); free(e); free(p);
}

int main(void) {
    const size_t shapes[][4] = {{1, 1, 1, 64}, {2, 7, 3, 64}, {1, 145, 2, 64}, {1, 577, 1, 64}, {2, 33, 4, 24},
                                {1, 17, 5, 5}, {2, 40, 2, 1}, {1, 65, 16, 8}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        attention_case(shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3]);
    printf("fused attention checks: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
