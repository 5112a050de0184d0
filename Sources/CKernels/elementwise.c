/* Elementwise float32 kernels: one portable body, compiled for the baseline target and, on x86,
   again with AVX2+FMA; the choice is made at run time. */
#include "CKernels.h"
#include "basic_math.h"

int lseg_basic_use_avx2(void) {
    static int cached = -1;
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v < 0) {
        v = lseg_cpu_has_avx2();
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v;
}

/* Separate loops per stride pattern so each one vectorizes. */
#define LSEG_BIN_LOOPS(EXPR)                                                          \
    if (a_step && b_step) { for (size_t i = 0; i < n; i++) { float x = a[i], y = b[i]; out[i] = (EXPR); } } \
    else if (a_step) { float y = b[0]; for (size_t i = 0; i < n; i++) { float x = a[i]; out[i] = (EXPR); } } \
    else if (b_step) { float x = a[0]; for (size_t i = 0; i < n; i++) { float y = b[i]; out[i] = (EXPR); } } \
    else { float x = a[0], y = b[0]; float v = (EXPR); for (size_t i = 0; i < n; i++) out[i] = v; }

LSEG_INLINE void binary_body(int op, const float *restrict a, int a_step, const float *restrict b, int b_step,
                             float *restrict out, size_t n) {
    switch (op) {
    case LSEG_BIN_ADD: LSEG_BIN_LOOPS(x + y) break;
    case LSEG_BIN_SUB: LSEG_BIN_LOOPS(x - y) break;
    case LSEG_BIN_MUL: LSEG_BIN_LOOPS(x * y) break;
    case LSEG_BIN_DIV: LSEG_BIN_LOOPS(x / y) break;
    /* NaN in either operand propagates, as numpy's maximum/minimum. */
    case LSEG_BIN_MAX: LSEG_BIN_LOOPS((x != x || x > y) ? x : y) break;
    case LSEG_BIN_MIN: LSEG_BIN_LOOPS((x != x || x < y) ? x : y) break;
    default: break;
    }
}

static void binary_portable(int op, const float *a, int a_step, const float *b, int b_step, float *out, size_t n) {
    binary_body(op, a, a_step, b, b_step, out, n);
}
#if LSEG_X86
LSEG_AVX2 static void binary_avx2(int op, const float *a, int a_step, const float *b, int b_step, float *out, size_t n) {
    binary_body(op, a, a_step, b, b_step, out, n);
}
#endif

void lseg_binary_f32(int op, const float *a, int a_step, const float *b, int b_step, float *out, size_t n) {
#if LSEG_X86
    if (lseg_basic_use_avx2()) { binary_avx2(op, a, a_step, b, b_step, out, n); return; }
#endif
    binary_portable(op, a, a_step, b, b_step, out, n);
}

/* out may equal x (in place). Each op's loop is written twice: over one pointer when in place,
   over two restrict pointers otherwise. A single two-pointer loop would not vectorize in place:
   the compiler's run-time overlap check fails for x == y and falls back to scalar code (4-8x
   slower for exp, erf and GELU, which run in place after every GEMM). */
#define LSEG_UN_LOOP(EXPR)                                                                        \
    if (x == y) { float *p = y; for (size_t i = 0; i < n; i++) { float v = p[i]; p[i] = (EXPR); } } \
    else { const float *restrict xs = x; float *restrict ys = y;                                  \
           for (size_t i = 0; i < n; i++) { float v = xs[i]; ys[i] = (EXPR); } }

LSEG_INLINE void unary_body(int op, const float *x, float *y, size_t n) {
    switch (op) {
    case LSEG_UN_EXP: LSEG_UN_LOOP(lseg_exp_approx(v)) break;
    case LSEG_UN_SIGMOID: LSEG_UN_LOOP(lseg_sigmoid_approx(v)) break;
    case LSEG_UN_TANH: LSEG_UN_LOOP(lseg_tanh_approx(v)) break;
    case LSEG_UN_ERF: LSEG_UN_LOOP(lseg_erf_approx(v)) break;
    case LSEG_UN_GELU_ERF: LSEG_UN_LOOP(0.5f * v * (1.0f + lseg_erf_approx(v * 0.70710678118654752f))) break;
    case LSEG_UN_GELU_TANH: LSEG_UN_LOOP(0.5f * v * (1.0f + lseg_tanh_approx(0.79788456080286536f * (v + 0.044715f * v * v * v)))) break;
    case LSEG_UN_QUICK_GELU: LSEG_UN_LOOP(v * lseg_sigmoid_approx(1.702f * v)) break;
    case LSEG_UN_RELU: LSEG_UN_LOOP(v > 0.0f ? v : (v != v ? v : 0.0f)) break;
    case LSEG_UN_SQRT: LSEG_UN_LOOP(__builtin_sqrtf(v)) break;
    case LSEG_UN_NEG: LSEG_UN_LOOP(-v) break;
    case LSEG_UN_ABS: LSEG_UN_LOOP(__builtin_fabsf(v)) break;
    case LSEG_UN_RECIPROCAL: LSEG_UN_LOOP(1.0f / v) break;
    default: break;
    }
}

static void unary_portable(int op, const float *x, float *y, size_t n) { unary_body(op, x, y, n); }
#if LSEG_X86
LSEG_AVX2 static void unary_avx2(int op, const float *x, float *y, size_t n) { unary_body(op, x, y, n); }
#endif

void lseg_unary_f32_variant(int op, const float *x, float *y, size_t n, int use_simd) {
#if LSEG_X86
    if (use_simd && lseg_basic_use_avx2()) { unary_avx2(op, x, y, n); return; }
#endif
    unary_portable(op, x, y, n);
}

void lseg_unary_f32(int op, const float *x, float *y, size_t n) { lseg_unary_f32_variant(op, x, y, n, 1); }
