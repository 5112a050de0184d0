/* float16 <-> float32 with round-to-nearest-even; F16C on x86 when present. */
#include "CKernels.h"
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define LSEG_X86 1
#else
#define LSEG_X86 0
#endif

uint16_t lseg_f32_to_f16_one(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf stays inf; NaN stays a quiet NaN with its top payload bits */
        return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? (0x200u | ((ax >> 13) & 0x3ffu)) : 0u));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 rounds to inf */
    if (ax < 0x38800000u) {
        /* Below the smallest normal half: adding 0.5 makes the FPU round to a multiple of 2^-24. */
        float v;
        memcpy(&v, &ax, 4);
        v += 0.5f;
        uint32_t b;
        memcpy(&b, &v, 4);
        return (uint16_t)(sign | (b - 0x3f000000u));
    }
    uint32_t odd = (ax >> 13) & 1u;
    ax += 0xc8000fffu + odd; /* rebias exponent 127 -> 15 and round half to even */
    return (uint16_t)(sign | (ax >> 13));
}

float lseg_f16_to_f32_one(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t em = h & 0x7fffu;
    uint32_t bits;
    if (em >= 0x7c00u) {
        bits = sign | 0x7f800000u | ((em & 0x3ffu) << 13);
    } else if (em >= 0x400u) {
        bits = sign | ((em << 13) + 0x38000000u);
    } else {
        float v = (float)em * 5.9604644775390625e-8f; /* subnormal: em * 2^-24, exact */
        memcpy(&bits, &v, 4);
        bits |= sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

int lseg_cpu_has_f16c(void) {
#if LSEG_X86
    static int cached = -1;
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v < 0) {
        unsigned a, b, c, d;
        v = (lseg_cpu_has_avx2() && __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C)) ? 1 : 0;
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v;
#else
    return 0;
#endif
}

#if LSEG_X86
__attribute__((target("avx,f16c")))
static void f16_to_f32_f16c(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++) dst[i] = lseg_f16_to_f32_one(src[i]);
}

__attribute__((target("avx,f16c")))
static void f32_to_f16_f16c(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) dst[i] = lseg_f32_to_f16_one(src[i]);
}
#endif

void lseg_f16_to_f32(const uint16_t *src, float *dst, size_t n) {
#if LSEG_X86
    if (lseg_cpu_has_f16c()) { f16_to_f32_f16c(src, dst, n); return; }
#endif
    for (size_t i = 0; i < n; i++) dst[i] = lseg_f16_to_f32_one(src[i]);
}

void lseg_f32_to_f16(const float *src, uint16_t *dst, size_t n) {
#if LSEG_X86
    if (lseg_cpu_has_f16c()) { f32_to_f16_f16c(src, dst, n); return; }
#endif
    for (size_t i = 0; i < n; i++) dst[i] = lseg_f32_to_f16_one(src[i]);
}
