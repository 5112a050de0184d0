#ifndef LSEG_CHASH_H
#define LSEG_CHASH_H
#include <stddef.h>
#include <stdint.h>

/// SHA-256 (FIPS 180-4) chaining state: eight words, initialised by lseg_sha256_init.
typedef struct { uint32_t h[8]; } lseg_sha256_state;

void lseg_sha256_init(lseg_sha256_state *state);

/// Compresses `blocks` whole 64-byte blocks from `data` (any alignment) into `state`.
/// Uses an AVX2 message schedule where the CPU has it, scalar code otherwise; both give the same state.
void lseg_sha256_blocks(lseg_sha256_state *state, const void *data, size_t blocks);

/// The scalar path alone (tests compare the two).
void lseg_sha256_blocks_scalar(lseg_sha256_state *state, const void *data, size_t blocks);
#endif
