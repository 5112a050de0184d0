#ifndef LSEG_CONNX_H
#define LSEG_CONNX_H
#include <protobuf-c/protobuf-c.h>
#endif
