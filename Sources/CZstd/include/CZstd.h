#ifndef LSEG_CZSTD_H
#define LSEG_CZSTD_H
#include <zstd.h>
#endif
