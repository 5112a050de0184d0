/* Shared by the Winograd F(4x4, 3x3) (winograd.c) and F(6x6, 3x3) (winograd_f6.c) transforms. */
#ifndef LSEG_WINOGRAD_INTERNAL_H
#define LSEG_WINOGRAD_INTERNAL_H

/* The transforms' code variant for a path: 0 the portable template (scalar and NEON: clang
   vectorises its contiguous passes), 1 that template compiled for AVX2, 2 with AVX-512's
   permute-based horizontal passes; -1 when this CPU or build lacks the path. */
int lseg_winograd_transform_variant(int path);

#endif
