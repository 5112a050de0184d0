#ifndef LSEG_CIMAGEIO_H
#define LSEG_CIMAGEIO_H
#include <stddef.h>
#include <stdint.h>

// libpng and libjpeg report errors by longjmp, which Swift code cannot be jumped over, so every
// call into them goes through these C functions: they set the jump target, turn a library error
// into a status and a message, and free whatever they allocated on the way out.

enum {
    CIMAGEIO_OK = 0,
    CIMAGEIO_ERROR = 1,       // malformed or unsupported data; message says what
    CIMAGEIO_TOO_LARGE = 2,   // header asks for more pixels than allowed; nothing was allocated
    CIMAGEIO_NO_MEMORY = 3,
};

typedef struct {
    uint8_t *pixels;          // width * height * 3 bytes, RGB, row-major; free with cimageio_free
    uint32_t width;
    uint32_t height;
    char message[256];
} CImageIODecoded;

/// Decodes a PNG of any colour type and bit depth to 8-bit RGB: 16-bit samples keep their high
/// byte, grey is replicated, palettes are expanded, alpha (and tRNS) is dropped.
int cimageio_png_decode(const uint8_t *data, size_t size, uint64_t max_pixels, CImageIODecoded *out);

/// Decodes a baseline or progressive JPEG (greyscale or YCbCr/RGB) to 8-bit RGB. CMYK and YCCK
/// are refused. A file cut short is an error (libjpeg alone would pad it with grey).
int cimageio_jpeg_decode(const uint8_t *data, size_t size, uint64_t max_pixels, CImageIODecoded *out);

/// Encodes an 8-bit PNG: RGB when palette is NULL (pixels: width*height*3 bytes), otherwise an
/// indexed-colour PNG (pixels: one palette index a byte; palette: palette_count RGB triples).
/// No time or text chunks, fixed zlib settings: the same input gives the same bytes.
int cimageio_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height,
                        const uint8_t *palette, int palette_count,
                        uint8_t **out_data, size_t *out_size, char *message, size_t message_size);

void cimageio_free(void *pointer);
#endif
