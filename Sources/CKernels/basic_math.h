/* Branch-free float32 math written so clang vectorizes the loops that inline it; compiled once
   for the portable target and once with AVX2+FMA. Polynomials were fitted for this project
   (scripts/fit_polynomials.py). */
#ifndef LSEG_BASIC_MATH_H
#define LSEG_BASIC_MATH_H
#include <stdint.h>
#include <string.h>
#include <math.h>
#include <stddef.h>

#define LSEG_INLINE static inline __attribute__((always_inline))

/* Files that build a portable and an AVX2+FMA copy of the same body mark the latter with this. */
#if defined(__x86_64__) || defined(__i386__)
#define LSEG_X86 1
#define LSEG_AVX2 __attribute__((target("avx2,fma")))
#else
#define LSEG_X86 0
#endif

LSEG_INLINE float lseg_bits_to_f(int32_t b) { float f; memcpy(&f, &b, 4); return f; }

/* exp(x): Cody-Waite reduction to |r| <= ln2/2 and a degree-7 Taylor polynomial (error < 1e-8). */
LSEG_INLINE float lseg_exp_approx(float x) {
    float xc = x > 88.72f ? 88.72f : x;
    xc = xc < -104.0f ? -104.0f : xc;
    float k = __builtin_floorf(xc * 1.44269504088896341f + 0.5f);
    float r = xc - k * 0.693359375f;
    r = r - k * -2.12194440e-4f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t ki = (int32_t)k;
    int32_t k1 = ki >> 1, k2 = ki - k1;
    /* Two half-size scalings keep 2^k representable at both ends, down into denormals. */
    float y = p * lseg_bits_to_f((k1 + 127) << 23) * lseg_bits_to_f((k2 + 127) << 23);
    y = x < -104.0f ? 0.0f : y;
    y = x > 88.72f ? __builtin_inff() : y;
    return y;
}

LSEG_INLINE float lseg_sigmoid_approx(float x) { return 1.0f / (1.0f + lseg_exp_approx(-x)); }

/* tanh: odd polynomial below 0.625, 1 - 2 / (exp(2|x|) + 1) above. */
LSEG_INLINE float lseg_tanh_approx(float x) {
    float a = __builtin_fabsf(x);
    float z = x * x;
    float p = 0.0021421905166424064f;
    p = p * z - 0.008176117699695517f;
    p = p * z + 0.021699879947844412f;
    p = p * z - 0.0539465050347509f;
    p = p * z + 0.1333320196880753f;
    p = p * z - 0.3333333051890096f;
    p = p * z + 0.9999999999379648f;
    float small = x * p;
    float e = lseg_exp_approx(2.0f * (a > 20.0f ? 20.0f : a));
    float big = 1.0f - 2.0f / (e + 1.0f);
    big = __builtin_copysignf(big, x);
    return a < 0.625f ? small : big;
}

/* erf: odd polynomial below 1; 1 - exp(-x^2 + q(|x|)) on [1, 4] (q fits log erfc(x) + x^2); 1 beyond. */
LSEG_INLINE float lseg_erf_approx(float x) {
    float a = __builtin_fabsf(x);
    float z = x * x;
    float p = -9.689583609089529e-06f;
    p = p * z + 0.00011274688240261034f;
    p = p * z - 0.0008485432871180104f;
    p = p * z + 0.005221138342334042f;
    p = p * z - 0.02686547541446085f;
    p = p * z + 0.11283783442701259f;
    p = p * z - 0.37612638552802247f;
    p = p * z + 1.1283791670801175f;
    float small = x * p;
    float t = a > 4.0f ? 4.0f : a;
    t = t < 1.0f ? 1.0f : t;
    float q = -4.688104161678098e-08f;
    q = q * t + 1.1063065882220891e-06f;
    q = q * t - 9.82881332761426e-06f;
    q = q * t + 2.2582551655254797e-05f;
    q = q * t + 0.0003342664752941933f;
    q = q * t - 0.004089840970726413f;
    q = q * t + 0.025267748425224043f;
    q = q * t - 0.1087563807100632f;
    q = q * t + 0.3672047719397903f;
    q = q * t - 1.1298243510091874f;
    q = q * t + 0.00024446395966134745f;
    float big = 1.0f - lseg_exp_approx(q - t * t);
    big = a >= 4.0f ? 1.0f : big;
    big = __builtin_copysignf(big, x);
    return a < 1.0f ? small : big;
}

/* Cached lseg_cpu_has_avx2(). */
int lseg_basic_use_avx2(void);

/* Row reductions with eight independent accumulators: the compiler may not reorder a single
   float sum, but it vectorizes these lanes. */
/* Element i always goes to lane i % 8, the tail included, and the lanes are combined in one
   fixed order: a row extended by zeros sums to the same bits (softmax over a causally masked
   row gives the same result whatever the sequence length). */
LSEG_INLINE float lseg_row_sum(const float *x, size_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += x[i + l];
    for (size_t l = 0; i + l < n; l++) acc[l] += x[i + l];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

LSEG_INLINE float lseg_row_sq_dev(const float *x, size_t n, float mean) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) { float d = x[i + l] - mean; acc[l] += d * d; }
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++) { float d = x[i] - mean; s += d * d; }
    return s;
}

/* Max that propagates NaN. */
LSEG_INLINE float lseg_row_max(const float *x, size_t n) {
    float acc[8];
    for (int l = 0; l < 8; l++) acc[l] = -__builtin_inff();
    float nan_seen = 0.0f;
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) { float v = x[i + l]; acc[l] = v > acc[l] ? v : acc[l]; nan_seen += (v != v) ? 1.0f : 0.0f; }
    float m = -__builtin_inff();
    for (int l = 0; l < 8; l++) m = acc[l] > m ? acc[l] : m;
    for (; i < n; i++) { float v = x[i]; m = v > m ? v : m; nan_seen += (v != v) ? 1.0f : 0.0f; }
    return nan_seen > 0.0f ? __builtin_nanf("") : m;
}
#endif
