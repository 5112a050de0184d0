#include "CKernels.h"
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

int lseg_cpu_has_avx2(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

#if defined(__x86_64__) || defined(__i386__)
/* XCR0 through xgetbv, encoded as bytes so no -mxsave flag is needed for the whole file. */
static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

int lseg_cpu_has_avx512_vnni(void) {
#if defined(__x86_64__) || defined(__i386__)
    static volatile int cached = -1; /* benign race: every thread computes the same value */
    if (cached >= 0) return cached;
    unsigned a, b, c, d;
    int ok = 0;
    if (__get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 27))) { /* OSXSAVE: xgetbv is usable */
        /* The OS must save SSE (1), AVX (2), opmask (5), ZMM0-15 upper halves (6), ZMM16-31 (7). */
        const uint64_t need = (1u << 1) | (1u << 2) | (1u << 5) | (1u << 6) | (1u << 7);
        if ((read_xcr0() & need) == need && __get_cpuid_max(0, NULL) >= 7) {
            __cpuid_count(7, 0, a, b, c, d);
            const int f = (b >> 16) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1, vnni = (c >> 11) & 1;
            ok = f && bw && vl && vnni;
        }
    }
    cached = ok;
    return ok;
#else
    return 0;
#endif
}
