// SHA-256 compression (FIPS 180-4), written for the multi-gigabyte source files lseg-convert
// hashes. Without SHA instructions the rounds are inherently serial; what can be moved off the
// round chain is the message schedule, which the AVX2 path computes for two blocks at once (one
// per 128-bit lane) and stores, with the round constants added, for the scalar rounds to read.
#include "CHash.h"
#include <string.h>

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

void lseg_sha256_init(lseg_sha256_state *s) {
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, iv, sizeof iv);
}

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
#define BSIG0(x) (ROTR(x, 2) ^ ROTR(x, 13) ^ ROTR(x, 22))
#define BSIG1(x) (ROTR(x, 6) ^ ROTR(x, 11) ^ ROTR(x, 25))
#define SSIG0(x) (ROTR(x, 7) ^ ROTR(x, 18) ^ ((x) >> 3))
#define SSIG1(x) (ROTR(x, 17) ^ ROTR(x, 19) ^ ((x) >> 10))
#define CH(e, f, g) (((f ^ g) & e) ^ g)
#define MAJ(a, b, c) ((a & b) | (c & (a | b)))

static inline uint32_t load_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

// One round with the variables renamed instead of moved: the macro callers rotate the names.
#define ROUND(a, b, c, d, e, f, g, h, wk)                  \
    do {                                                   \
        uint32_t t1 = h + BSIG1(e) + CH(e, f, g) + (wk);   \
        uint32_t t2 = BSIG0(a) + MAJ(a, b, c);             \
        d += t1;                                           \
        h = t1 + t2;                                       \
    } while (0)

#define EIGHT_ROUNDS(wk, i)                                \
    ROUND(a, b, c, d, e, f, g, h, (wk)[(i) + 0]);          \
    ROUND(h, a, b, c, d, e, f, g, (wk)[(i) + 1]);          \
    ROUND(g, h, a, b, c, d, e, f, (wk)[(i) + 2]);          \
    ROUND(f, g, h, a, b, c, d, e, (wk)[(i) + 3]);          \
    ROUND(e, f, g, h, a, b, c, d, (wk)[(i) + 4]);          \
    ROUND(d, e, f, g, h, a, b, c, (wk)[(i) + 5]);          \
    ROUND(c, d, e, f, g, h, a, b, (wk)[(i) + 6]);          \
    ROUND(b, c, d, e, f, g, h, a, (wk)[(i) + 7])

// The 64 rounds over a schedule that already has the constants added.
#define ROUNDS_FROM_WK(s, wk)                                                          \
    do {                                                                               \
        uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];                   \
        uint32_t e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];                   \
        for (int i = 0; i < 64; i += 8) { EIGHT_ROUNDS(wk, i); }                       \
        s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d;                        \
        s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;                        \
    } while (0)

void lseg_sha256_blocks_scalar(lseg_sha256_state *s, const void *data, size_t blocks) {
    const uint8_t *p = (const uint8_t *)data;
    uint32_t w[64];
    for (size_t blk = 0; blk < blocks; blk++, p += 64) {
        for (int i = 0; i < 16; i++) w[i] = load_be32(p + 4 * i);
        for (int i = 16; i < 64; i++) w[i] = w[i - 16] + SSIG0(w[i - 15]) + w[i - 7] + SSIG1(w[i - 2]);
        for (int i = 0; i < 64; i++) w[i] += K[i];
        ROUNDS_FROM_WK(s, w);
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define TARGET_AVX2 __attribute__((target("avx2,bmi2")))

TARGET_AVX2 static inline __m256i rotr_v(__m256i x, int n) {
    return _mm256_or_si256(_mm256_srli_epi32(x, n), _mm256_slli_epi32(x, 32 - n));
}
TARGET_AVX2 static inline __m256i ssig0_v(__m256i x) {
    return _mm256_xor_si256(_mm256_xor_si256(rotr_v(x, 7), rotr_v(x, 18)), _mm256_srli_epi32(x, 3));
}
TARGET_AVX2 static inline __m256i ssig1_v(__m256i x) {
    return _mm256_xor_si256(_mm256_xor_si256(rotr_v(x, 17), rotr_v(x, 19)), _mm256_srli_epi32(x, 10));
}

// x0..x3 hold w[i-16..i-1] of two blocks (one per lane); returns w[i..i+3].
TARGET_AVX2 static inline __m256i next4(__m256i x0, __m256i x1, __m256i x2, __m256i x3) {
    __m256i w15 = _mm256_alignr_epi8(x1, x0, 4);   // w[i-15..i-12]
    __m256i w7 = _mm256_alignr_epi8(x3, x2, 4);    // w[i-7..i-4]
    __m256i t = _mm256_add_epi32(_mm256_add_epi32(x0, ssig0_v(w15)), w7);
    // w[i] and w[i+1] need w[i-2] and w[i-1] (words 2 and 3 of x3) ...
    __m256i lo = ssig1_v(_mm256_shuffle_epi32(x3, _MM_SHUFFLE(3, 3, 3, 2)));
    t = _mm256_add_epi32(t, _mm256_blend_epi32(lo, _mm256_setzero_si256(), 0xCC));
    // ... and w[i+2], w[i+3] need the two just made.
    __m256i hi = ssig1_v(_mm256_shuffle_epi32(t, _MM_SHUFFLE(1, 0, 0, 0)));
    return _mm256_add_epi32(t, _mm256_blend_epi32(hi, _mm256_setzero_si256(), 0x33));
}

TARGET_AVX2 static void blocks_avx2(lseg_sha256_state *s, const uint8_t *p, size_t pairs) {
    const __m256i swap = _mm256_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12,
                                          3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
    uint32_t wk[2][64] __attribute__((aligned(32)));
    for (size_t pair = 0; pair < pairs; pair++, p += 128) {
        __m256i x[4];
        for (int j = 0; j < 4; j++) {
            __m128i a = _mm_loadu_si128((const __m128i *)(p + 16 * j));
            __m128i b = _mm_loadu_si128((const __m128i *)(p + 64 + 16 * j));
            x[j] = _mm256_shuffle_epi8(_mm256_inserti128_si256(_mm256_castsi128_si256(a), b, 1), swap);
        }
        for (int i = 0; i < 64; i += 4) {
            __m256i w;
            if (i < 16) {
                w = x[i / 4];
            } else {
                w = next4(x[0], x[1], x[2], x[3]);
                x[0] = x[1]; x[1] = x[2]; x[2] = x[3]; x[3] = w;
            }
            __m128i k = _mm_loadu_si128((const __m128i *)(K + i));
            __m256i sum = _mm256_add_epi32(w, _mm256_inserti128_si256(_mm256_castsi128_si256(k), k, 1));
            _mm_store_si128((__m128i *)(wk[0] + i), _mm256_castsi256_si128(sum));
            _mm_store_si128((__m128i *)(wk[1] + i), _mm256_extracti128_si256(sum, 1));
        }
        ROUNDS_FROM_WK(s, wk[0]);
        ROUNDS_FROM_WK(s, wk[1]);
    }
}

void lseg_sha256_blocks(lseg_sha256_state *s, const void *data, size_t blocks) {
    static int has_avx2 = -1;
    if (has_avx2 < 0) {
        __builtin_cpu_init();
        has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2");
    }
    const uint8_t *p = (const uint8_t *)data;
    if (has_avx2 && blocks >= 2) {
        blocks_avx2(s, p, blocks / 2);
        p += (blocks / 2) * 128;
        blocks %= 2;
    }
    lseg_sha256_blocks_scalar(s, p, blocks);
}
#else
void lseg_sha256_blocks(lseg_sha256_state *s, const void *data, size_t blocks) {
    lseg_sha256_blocks_scalar(s, data, blocks);
}
#endif
