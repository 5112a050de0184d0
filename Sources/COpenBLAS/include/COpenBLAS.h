#ifndef LSEG_COPENBLAS_H
#define LSEG_COPENBLAS_H
#include <cblas.h>
/* OpenBLAS extensions; declared here so we do not depend on openblas_config.h layout. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
#endif
