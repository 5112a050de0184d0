#include "CZstd.h"
#include <string.h>

// XXH64, written from the published algorithm description (xxhash.com spec).
static const uint64_t P1 = 0x9E3779B185EBCA87ULL;
static const uint64_t P2 = 0xC2B2AE3D27D4EB4FULL;
static const uint64_t P3 = 0x165667B19E3779F9ULL;
static const uint64_t P4 = 0x85EBCA77C2B2AE63ULL;
static const uint64_t P5 = 0x27D4EB2F165667C5ULL;

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
// The pack is little-endian and so are the targets we build for; memcpy keeps loads unaligned-safe.
static inline uint64_t load64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t load32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t mix(uint64_t acc, uint64_t lane) { acc += lane * P2; acc = rotl64(acc, 31); return acc * P1; }
static inline uint64_t merge(uint64_t h, uint64_t v) { h ^= mix(0, v); return h * P1 + P4; }

uint64_t lseg_xxh64(const void *data, size_t length, uint64_t seed) {
    const uint8_t *p = (const uint8_t *)data;
    const uint8_t *end = p + length;
    uint64_t h;
    if (length >= 32) {
        uint64_t v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;
        const uint8_t *limit = end - 32;
        do {
            v1 = mix(v1, load64(p)); v2 = mix(v2, load64(p + 8));
            v3 = mix(v3, load64(p + 16)); v4 = mix(v4, load64(p + 24));
            p += 32;
        } while (p <= limit);
        h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
        h = merge(h, v1); h = merge(h, v2); h = merge(h, v3); h = merge(h, v4);
    } else {
        h = seed + P5;
    }
    h += (uint64_t)length;
    while (p + 8 <= end) { h ^= mix(0, load64(p)); h = rotl64(h, 27) * P1 + P4; p += 8; }
    if (p + 4 <= end) { h ^= (uint64_t)load32(p) * P1; h = rotl64(h, 23) * P2 + P3; p += 4; }
    while (p < end) { h ^= (uint64_t)(*p) * P5; h = rotl64(h, 11) * P1; p++; }
    h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32;
    return h;
}

#if defined(__SSE2__)
#include <emmintrin.h>
// Byte transposition by "perfect shuffles": interleaving the two halves of a block rotates each
// byte's index bits left by one. For width-4 elements in 64-byte blocks the index is (element:4,
// byte:2) bits; unshuffle needs a rotation by 2 (two rounds), shuffle by 4 (four rounds).
static inline void interleave4(__m128i *a, __m128i *b, __m128i *c, __m128i *d) {
    __m128i x0 = _mm_unpacklo_epi8(*a, *c), x1 = _mm_unpackhi_epi8(*a, *c);
    __m128i x2 = _mm_unpacklo_epi8(*b, *d), x3 = _mm_unpackhi_epi8(*b, *d);
    *a = x0; *b = x1; *c = x2; *d = x3;
}
static inline void interleave2(__m128i *a, __m128i *b) {
    __m128i x0 = _mm_unpacklo_epi8(*a, *b), x1 = _mm_unpackhi_epi8(*a, *b);
    *a = x0; *b = x1;
}
#endif

void lseg_byte_shuffle(const void *src, void *dst, size_t count, size_t width) {
    const uint8_t *s = (const uint8_t *)src;
    uint8_t *d = (uint8_t *)dst;
    size_t i = 0;
    if (width == 4) {
        uint8_t *d0 = d, *d1 = d + count, *d2 = d + 2 * count, *d3 = d + 3 * count;
#if defined(__SSE2__)
        for (; i + 16 <= count; i += 16) {
            __m128i a = _mm_loadu_si128((const __m128i *)(s + 4 * i)), b = _mm_loadu_si128((const __m128i *)(s + 4 * i + 16));
            __m128i c = _mm_loadu_si128((const __m128i *)(s + 4 * i + 32)), e = _mm_loadu_si128((const __m128i *)(s + 4 * i + 48));
            for (int round = 0; round < 4; round++) interleave4(&a, &b, &c, &e);
            _mm_storeu_si128((__m128i *)(d0 + i), a); _mm_storeu_si128((__m128i *)(d1 + i), b);
            _mm_storeu_si128((__m128i *)(d2 + i), c); _mm_storeu_si128((__m128i *)(d3 + i), e);
        }
#endif
        for (; i < count; i++) {
            d0[i] = s[4 * i]; d1[i] = s[4 * i + 1]; d2[i] = s[4 * i + 2]; d3[i] = s[4 * i + 3];
        }
        return;
    }
    if (width == 2) {
        uint8_t *d0 = d, *d1 = d + count;
#if defined(__SSE2__)
        for (; i + 16 <= count; i += 16) {
            __m128i a = _mm_loadu_si128((const __m128i *)(s + 2 * i)), b = _mm_loadu_si128((const __m128i *)(s + 2 * i + 16));
            for (int round = 0; round < 4; round++) interleave2(&a, &b);
            _mm_storeu_si128((__m128i *)(d0 + i), a); _mm_storeu_si128((__m128i *)(d1 + i), b);
        }
#endif
        for (; i < count; i++) { d0[i] = s[2 * i]; d1[i] = s[2 * i + 1]; }
        return;
    }
    for (size_t j = 0; j < width; j++)
        for (i = 0; i < count; i++) d[j * count + i] = s[i * width + j];
}

void lseg_byte_unshuffle_planes(const void *const *planes, void *dst, size_t count, size_t width) {
    uint8_t *d = (uint8_t *)dst;
    size_t i = 0;
    if (width == 4) {
        const uint8_t *s0 = planes[0], *s1 = planes[1], *s2 = planes[2], *s3 = planes[3];
#if defined(__SSE2__)
        for (; i + 16 <= count; i += 16) {
            __m128i a = _mm_loadu_si128((const __m128i *)(s0 + i)), b = _mm_loadu_si128((const __m128i *)(s1 + i));
            __m128i c = _mm_loadu_si128((const __m128i *)(s2 + i)), e = _mm_loadu_si128((const __m128i *)(s3 + i));
            interleave4(&a, &b, &c, &e);
            interleave4(&a, &b, &c, &e);
            _mm_storeu_si128((__m128i *)(d + 4 * i), a); _mm_storeu_si128((__m128i *)(d + 4 * i + 16), b);
            _mm_storeu_si128((__m128i *)(d + 4 * i + 32), c); _mm_storeu_si128((__m128i *)(d + 4 * i + 48), e);
        }
#endif
        for (; i < count; i++) {
            d[4 * i] = s0[i]; d[4 * i + 1] = s1[i]; d[4 * i + 2] = s2[i]; d[4 * i + 3] = s3[i];
        }
        return;
    }
    if (width == 2) {
        const uint8_t *s0 = planes[0], *s1 = planes[1];
#if defined(__SSE2__)
        for (; i + 16 <= count; i += 16) {
            __m128i a = _mm_loadu_si128((const __m128i *)(s0 + i)), b = _mm_loadu_si128((const __m128i *)(s1 + i));
            interleave2(&a, &b);
            _mm_storeu_si128((__m128i *)(d + 2 * i), a); _mm_storeu_si128((__m128i *)(d + 2 * i + 16), b);
        }
#endif
        for (; i < count; i++) { d[2 * i] = s0[i]; d[2 * i + 1] = s1[i]; }
        return;
    }
    for (size_t j = 0; j < width; j++)
        for (i = 0; i < count; i++) d[i * width + j] = ((const uint8_t *)planes[j])[i];
}

void lseg_byte_unshuffle(const void *src, void *dst, size_t count, size_t width) {
    const uint8_t *s = (const uint8_t *)src;
    const void *planes[16];
    if (width <= 16) {
        for (size_t j = 0; j < width; j++) planes[j] = s + j * count;
        lseg_byte_unshuffle_planes(planes, dst, count, width);
        return;
    }
    uint8_t *d = (uint8_t *)dst;
    for (size_t j = 0; j < width; j++)
        for (size_t i = 0; i < count; i++) d[i * width + j] = s[j * count + i];
}

size_t lseg_zstd_compress(void *dst, size_t capacity, const void *src, size_t length, int level, int workers) {
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    if (!cctx) return (size_t)-ZSTD_error_memory_allocation;
    size_t r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
    if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
    if (!ZSTD_isError(r) && workers > 0) r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_nbWorkers, workers);
    if (!ZSTD_isError(r)) r = ZSTD_compress2(cctx, dst, capacity, src, length);
    ZSTD_freeCCtx(cctx);
    return r;
}
