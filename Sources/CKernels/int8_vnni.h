/* AVX-512 VNNI pieces of the int8 kernels, private to CKernels (compiled with per-function
   target attributes, called only after lseg_cpu_has_avx512_vnni()). */
#ifndef LSEG_INT8_VNNI_H
#define LSEG_INT8_VNNI_H
#include "kernels_int8.h"
#include "kernels_heavy.h"

/* One 8 x 32 tile of the packed product: a = 8 rows of depth kp (row i0 first), sums = their row
   sums, b = one unsigned column panel. Stores rows [lo, hi) (absolute), nc <= 32 columns from j0:
   raw int32 into c, or through the epilogue. */
void lseg_i8_vnni_tile(const int8_t *a, const int32_t *sums, const uint8_t *b, int64_t kp, int64_t i0,
                       int64_t lo, int64_t hi, int64_t j0, int64_t nc, const lseg_i8_epilogue *ep,
                       int32_t *c, int64_t ldc);
/* Whether the int8 output stages apply `act` as they store (ReLU, LeakyReLU, none); other
   activations run through lseg_bias_activation over the stored values. */
static inline int lseg_i8_act_in_store(int act) {
    return act == LSEG_ACT_NONE || act == LSEG_ACT_RELU || act == LSEG_ACT_LEAKYRELU;
}
#endif
