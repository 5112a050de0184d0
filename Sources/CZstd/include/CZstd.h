#ifndef LSEG_CZSTD_H
#define LSEG_CZSTD_H
#include <stddef.h>
#include <stdint.h>
#include <zstd.h>
#include <zstd_errors.h>

/// XXH64 of `length` bytes (the pack's checksum; zstd frames use its low 32 bits too).
uint64_t lseg_xxh64(const void *data, size_t length, uint64_t seed);

/// Byte shuffle: groups byte j of every `width`-byte element together
/// (dst[j * count + i] = src[i * width + j]), so float exponents sit next to each other.
void lseg_byte_shuffle(const void *src, void *dst, size_t count, size_t width);
/// The inverse of lseg_byte_shuffle.
void lseg_byte_unshuffle(const void *src, void *dst, size_t count, size_t width);
/* The same from separate planes: planes[j] holds byte j of every element (count bytes each). */
void lseg_byte_unshuffle_planes(const void *const *planes, void *dst, size_t count, size_t width);

/// One zstd frame with content size and content checksum. Returns the frame size, or a zstd
/// error code (test with ZSTD_isError); ZSTD_error_dstSize_tooSmall when `capacity` is too small.
/// `workers` 0 compresses on the calling thread; any value >= 1 selects zstd's multithreaded
/// mode, whose output is the same for every worker count (but differs from `workers` 0).
size_t lseg_zstd_compress(void *dst, size_t capacity, const void *src, size_t length, int level, int workers);
#endif
