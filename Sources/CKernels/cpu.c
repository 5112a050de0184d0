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

#if defined(__x86_64__) || defined(__i386__)
/* CPUID leaf 7 EBX and ECX when the OS saves SSE (1), AVX (2), opmask (5), ZMM0-15 upper halves
   (6) and ZMM16-31 (7); 0 when it does not (AVX-512 instructions would fault). */
static int avx512_leaf7(unsigned *ebx, unsigned *ecx) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0; /* OSXSAVE: xgetbv is usable */
    const uint64_t need = (1u << 1) | (1u << 2) | (1u << 5) | (1u << 6) | (1u << 7);
    if ((read_xcr0() & need) != need || __get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    *ebx = b;
    *ecx = c;
    return 1;
}
#endif

int lseg_cpu_has_avx512f(void) {
#if defined(__x86_64__) || defined(__i386__)
    static volatile int cached = -1; /* benign race: every thread computes the same value */
    if (cached >= 0) return cached;
    unsigned b = 0, c = 0;
    cached = avx512_leaf7(&b, &c) && ((b >> 16) & 1);
    return cached;
#else
    return 0;
#endif
}

int lseg_cpu_has_avx512_vnni(void) {
#if defined(__x86_64__) || defined(__i386__)
    static volatile int cached = -1;
    if (cached >= 0) return cached;
    unsigned b = 0, c = 0;
    int ok = 0;
    if (avx512_leaf7(&b, &c)) {
        const int f = (b >> 16) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1, vnni = (c >> 11) & 1;
        ok = f && bw && vl && vnni;
    }
    cached = ok;
    return ok;
#else
    return 0;
#endif
}
