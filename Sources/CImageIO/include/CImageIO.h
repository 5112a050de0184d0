#ifndef LSEG_CIMAGEIO_H
#define LSEG_CIMAGEIO_H
#include <stdio.h>
#include <png.h>
#include <jpeglib.h>
#endif
