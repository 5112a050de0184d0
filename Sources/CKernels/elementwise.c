/* Elementwise float32 kernels: one portable body, compiled for the baseline target and, on x86,
   again with AVX2+FMA; the choice is made at run time. */
#include "CKernels.h"
#include "basic_math.h"

#if defined(__x86_64__) || defined(__i386__)
#define LSEG_X86 1
#define LSEG_AVX2 __attribute__((target("avx2,fma")))
#else
#define LSEG_X86 0
#endif

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

/* out may equal x (in place). */
LSEG_INLINE void unary_body(int op, const float *x, float *y, size_t n) {
    switch (op) {
    case LSEG_UN_EXP: for (size_t i = 0; i < n; i++) y[i] = lseg_exp_approx(x[i]); break;
    case LSEG_UN_SIGMOID: for (size_t i = 0; i < n; i++) y[i] = lseg_sigmoid_approx(x[i]); break;
    case LSEG_UN_TANH: for (size_t i = 0; i < n; i++) y[i] = lseg_tanh_approx(x[i]); break;
    case LSEG_UN_ERF: for (size_t i = 0; i < n; i++) y[i] = lseg_erf_approx(x[i]); break;
    case LSEG_UN_GELU_ERF:
        for (size_t i = 0; i < n; i++) { float v = x[i]; y[i] = 0.5f * v * (1.0f + lseg_erf_approx(v * 0.70710678118654752f)); }
        break;
    case LSEG_UN_GELU_TANH:
        for (size_t i = 0; i < n; i++) {
            float v = x[i];
            y[i] = 0.5f * v * (1.0f + lseg_tanh_approx(0.79788456080286536f * (v + 0.044715f * v * v * v)));
        }
        break;
    case LSEG_UN_QUICK_GELU: for (size_t i = 0; i < n; i++) { float v = x[i]; y[i] = v * lseg_sigmoid_approx(1.702f * v); } break;
    case LSEG_UN_RELU: for (size_t i = 0; i < n; i++) { float v = x[i]; y[i] = v > 0.0f ? v : (v != v ? v : 0.0f); } break;
    case LSEG_UN_SQRT: for (size_t i = 0; i < n; i++) y[i] = __builtin_sqrtf(x[i]); break;
    case LSEG_UN_NEG: for (size_t i = 0; i < n; i++) y[i] = -x[i]; break;
    case LSEG_UN_ABS: for (size_t i = 0; i < n; i++) y[i] = __builtin_fabsf(x[i]); break;
    case LSEG_UN_RECIPROCAL: for (size_t i = 0; i < n; i++) y[i] = 1.0f / x[i]; break;
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
