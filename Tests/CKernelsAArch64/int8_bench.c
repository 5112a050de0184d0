/* Report-only benchmark: int8 GEMM (quantize + pack + product + epilogue, as QLinear / QConv run
   it) against OpenBLAS sgemm (+ fp32 im2col for the conv), 2 threads. Not run in CI.
     clang -O3 -pthread -I Sources/CKernels/include Tests/CKernelsAArch64/int8_bench.c \
        Sources/CKernels/int8_gemm.c Sources/CKernels/int8_vnni.c Sources/CKernels/linear_algebra.c Sources/CKernels/convolution.c \
        Sources/CKernels/cpu.c -lopenblas -lm */
#include "kernels_int8.h"
#include "kernels_heavy.h"
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void openblas_set_num_threads(int);
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

typedef struct { int path; const void *rows, *cols; int64_t m, n, k, p0, p1; lseg_i8_epilogue ep; } job;
static void *work(void *arg) {
    job *j = arg;
    lseg_i8_gemm(j->path, j->rows, j->cols, j->m, j->n, j->k, 0, j->m, j->p0, j->p1, &j->ep, NULL, 0);
    return NULL;
}
static void gemm2(int path, const void *rows, const void *cols, int64_t m, int64_t n, int64_t k, lseg_i8_epilogue ep) {
    int64_t panels = (n + lseg_i8_nr(path) - 1) / lseg_i8_nr(path);
    job a = {path, rows, cols, m, n, k, 0, panels / 2, ep}, b = {path, rows, cols, m, n, k, panels / 2, panels, ep};
    pthread_t t; pthread_create(&t, NULL, work, &b); work(&a); pthread_join(t, NULL);
}

typedef struct { const uint8_t *xq; const void *packed; int64_t cout; const lseg_i8_window *w; int64_t oh0, oh1; lseg_i8_epilogue ep; } direct_job;
static void *direct_work(void *arg) {
    direct_job *j = arg;
    lseg_i8_direct_conv(j->xq, j->packed, j->cout, j->w, j->oh0, j->oh1, &j->ep);
    return NULL;
}

int main(void) {
    const int path = lseg_i8_best_path();
    openblas_set_num_threads(2);
    /* ViT-B/32 at 384x384: 145 tokens; MLP fc1 768 -> 3072 and a 768x768 projection. */
    int64_t shapes[][3] = {{145, 768, 768}, {145, 3072, 768}, {577, 768, 768}};
    for (int s = 0; s < 3; s++) {
        int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *x = malloc(4 * m * k), *wf = malloc(4 * n * k), *y = malloc(4 * m * n), *scale = malloc(4 * n);
        int8_t *w = malloc(n * k); int32_t *sums = malloc(4 * n);
        for (int64_t i = 0; i < m * k; i++) x[i] = (float)(rand() % 1000) / 500.0f - 1.0f;
        for (int64_t i = 0; i < n * k; i++) { w[i] = (int8_t)(rand() % 255 - 127); wf[i] = w[i] * 0.01f; }
        for (int64_t i = 0; i < n; i++) scale[i] = 1e-4f;
        void *rows = malloc(lseg_i8_rows_bytes(path, m, k)), *cols = malloc(lseg_i8_cols_bytes(path, n, k));
        double best8 = 1e9, best32 = 1e9;
        for (int r = 0; r < 10; r++) {
            double t0 = now();
            lseg_i8_quantize_rows(path, x, k, m, k, 0.01f, 128, 0, m, rows);
            lseg_i8_pack_rows(path, w, k, m, k, m, (m + lseg_i8_mr(path) - 1) / lseg_i8_mr(path) * lseg_i8_mr(path), rows);
            lseg_i8_pack_cols(path, w, k, 1, n, k, 0, (n + lseg_i8_nr(path) - 1) / lseg_i8_nr(path), cols);
            lseg_i8_row_sums(w, k, n, k, sums);
            lseg_i8_epilogue ep = {y, n, 1, 0, sums, scale, NULL, LSEG_ACT_NONE, 0};
            gemm2(path, rows, cols, m, n, k, ep);
            double t1 = now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, x, k, wf, k, 0, y, n);
            double t2 = now();
            if (t1 - t0 < best8) best8 = t1 - t0;
            if (t2 - t1 < best32) best32 = t2 - t1;
        }
        double ops = 2.0 * m * n * k;
        printf("linear %lldx%lldx%lld: int8 %s %.1f GOPS (%.2f ms), sgemm %.1f GFLOP/s (%.2f ms), int8/fp32 time %.2f\n",
               (long long)m, (long long)n, (long long)k, lseg_i8_path_name(path), ops / best8 * 1e-9, best8 * 1e3,
               ops / best32 * 1e-9, best32 * 1e3, best8 / best32);
        free(x); free(wf); free(y); free(scale); free(w); free(sums); free(rows); free(cols);
    }
    /* 3x3 conv 256 -> 256 at 48x48, pad 1. */
    {
        const int64_t C = 256, H = 48, W = 48, Co = 256, K = C * 9, P = H * W;
        float *x = malloc(4 * C * H * W), *wf = malloc(4 * Co * K), *col = malloc(4 * K * P), *y = malloc(4 * Co * P), *scale = malloc(4 * Co);
        int8_t *w = malloc(Co * K), *xq = malloc(C * H * W); int32_t *sums = malloc(4 * Co);
        for (int64_t i = 0; i < C * H * W; i++) x[i] = (float)(rand() % 1000) / 500.0f - 1.0f;
        for (int64_t i = 0; i < Co * K; i++) { w[i] = (int8_t)(rand() % 255 - 127); wf[i] = w[i] * 0.01f; }
        for (int64_t i = 0; i < Co; i++) scale[i] = 1e-4f;
        lseg_i8_window win = {C, H, W, H, W, 3, 3, 1, 1, 1, 1, 1, 1};
        lseg_window fw = {0}; fw.nd = 2; fw.image[0] = H; fw.image[1] = W; fw.grid[0] = H; fw.grid[1] = W;
        fw.kernel[0] = fw.kernel[1] = 3; fw.stride[0] = fw.stride[1] = 1; fw.pad_begin[0] = fw.pad_begin[1] = 1;
        fw.dilation[0] = fw.dilation[1] = 1;
        void *rows = malloc(lseg_i8_rows_bytes(path, Co, K)), *cols = malloc(lseg_i8_cols_bytes(path, P, K));
        double best8 = 1e9, best32 = 1e9, pack8 = 0, im2col32 = 0;
        for (int r = 0; r < 5; r++) {
            double t0 = now();
            lseg_i8_pack_rows(path, w, K, Co, K, 0, (Co + lseg_i8_mr(path) - 1) / lseg_i8_mr(path) * lseg_i8_mr(path), rows);
            lseg_i8_row_sums(w, K, Co, K, sums);
            lseg_i8_quantize(x, C * H * W, 0.01f, 128, xq);
            lseg_i8_im2col_pack(path, xq, &win, 0, 0, P, 0, (P + lseg_i8_nr(path) - 1) / lseg_i8_nr(path), cols);
            double tp = now();
            lseg_i8_epilogue ep = {y, P, 0, 0, sums, scale, NULL, LSEG_ACT_NONE, 0};
            gemm2(path, rows, cols, Co, P, K, ep);
            double t1 = now();
            lseg_im2col_2d(x, &fw, 0, C, 0, P, col);
            double tc = now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Co, P, K, 1, wf, K, col, P, 0, y, P);
            double t2 = now();
            if (t1 - t0 < best8) { best8 = t1 - t0; pack8 = tp - t0; }
            if (t2 - t1 < best32) { best32 = t2 - t1; im2col32 = tc - t1; }
        }
        double ops = 2.0 * Co * P * K;
        printf("conv3x3 256->256 48x48: int8 %.1f GOPS (%.1f ms, of which quantize+pack %.1f ms single-threaded), "
               "fp32 im2col+sgemm %.1f GFLOP/s (%.1f ms, im2col %.1f ms), int8/fp32 time %.2f\n",
               ops / best8 * 1e-9, best8 * 1e3, pack8 * 1e3, ops / best32 * 1e-9, best32 * 1e3, im2col32 * 1e3, best8 / best32);
        if (lseg_i8_direct_supported(&win)) {
            /* The VNNI direct convolution QConv uses for stride 1 (weights packed once, not timed). */
            void *packed = malloc((size_t)lseg_i8_direct_weights_bytes(Co, &win));
            uint8_t *xd = malloc((size_t)lseg_i8_direct_input_bytes(&win));
            lseg_i8_direct_pack_weights(w, Co, &win, packed);
            double bestd = 1e9;
            for (int r = 0; r < 5; r++) {
                double t0 = now();
                lseg_i8_direct_quantize_input(x, &win, 0.01f, 128, 0, (C + 3) / 4, xd);
                direct_job a = {xd, packed, Co, &win, 0, H / 2, {y, P, 0, 0, sums, scale, NULL, LSEG_ACT_NONE, 0}};
                direct_job b = a; b.oh0 = H / 2; b.oh1 = H;
                pthread_t t; pthread_create(&t, NULL, direct_work, &b); direct_work(&a); pthread_join(t, NULL);
                double t1 = now();
                if (t1 - t0 < bestd) bestd = t1 - t0;
            }
            printf("conv3x3 direct (VNNI): %.1f GOPS (%.1f ms), int8/fp32 time %.2f\n", ops / bestd * 1e-9, bestd * 1e3, bestd / best32);
            free(packed); free(xd);
        }
    }
    return 0;
}
