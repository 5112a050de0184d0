#ifndef LSEG_CKERNELS_H
#define LSEG_CKERNELS_H
#include <stddef.h>
#include <stdint.h>
/* CPU feature flags, detected once at run time. */
int lseg_cpu_has_avx2(void);
/* AVX-512 F with the OS saving the ZMM and opmask state. */
int lseg_cpu_has_avx512f(void);
#include "kernels_basic.h"
#include "kernels_heavy.h"
#include "kernels_int8.h"
#include "kernels_head.h"
#endif
