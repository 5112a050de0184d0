#include "CImageIO.h"
#include <png.h>
#include <jpeglib.h>
#include <jerror.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cimageio_free(void *pointer) { free(pointer); }

static void set_message(char *dst, size_t dst_size, const char *text) {
    if (dst_size == 0) return;
    snprintf(dst, dst_size, "%s", text ? text : "unknown error");
}

// ---------------------------------------------------------------- PNG decode

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t position;
    char *message;
    // Kept here rather than in locals so they survive the longjmp and can be freed.
    uint8_t *pixels;
    png_bytep *rows;
} PNGReadContext;

static void png_read_error(png_structp png, png_const_charp text) {
    PNGReadContext *ctx = (PNGReadContext *)png_get_error_ptr(png);
    set_message(ctx->message, sizeof(((CImageIODecoded *)0)->message), text);
    png_longjmp(png, 1);
}

static void png_ignore_warning(png_structp png, png_const_charp text) { (void)png; (void)text; }

static void png_read_from_memory(png_structp png, png_bytep dst, png_size_t length) {
    PNGReadContext *ctx = (PNGReadContext *)png_get_io_ptr(png);
    if (length > ctx->size - ctx->position) png_error(png, "truncated PNG data");
    memcpy(dst, ctx->data + ctx->position, length);
    ctx->position += length;
}

int cimageio_png_decode(const uint8_t *data, size_t size, uint64_t max_pixels, CImageIODecoded *out) {
    memset(out, 0, sizeof(*out));
    if (size < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) {
        set_message(out->message, sizeof(out->message), "not a PNG signature");
        return CIMAGEIO_ERROR;
    }
    PNGReadContext ctx = { data, size, 0, out->message, NULL, NULL };
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, png_read_error, png_ignore_warning);
    if (!png) { set_message(out->message, sizeof(out->message), "out of memory"); return CIMAGEIO_NO_MEMORY; }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        set_message(out->message, sizeof(out->message), "out of memory");
        return CIMAGEIO_NO_MEMORY;
    }
    volatile int status = CIMAGEIO_ERROR;
    if (setjmp(png_jmpbuf(png))) {
        free(ctx.pixels); free(ctx.rows);
        ctx.pixels = NULL;
        png_destroy_read_struct(&png, &info, NULL);
        return status;
    }
    png_set_read_fn(png, &ctx, png_read_from_memory);
    png_read_info(png, info);
    png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    if (width == 0 || height == 0) png_error(png, "image has zero width or height");
    if ((uint64_t)width * (uint64_t)height > max_pixels) {
        snprintf(out->message, sizeof(out->message), "%ux%u image exceeds the limit of %llu pixels",
                 (unsigned)width, (unsigned)height, (unsigned long long)max_pixels);
        status = CIMAGEIO_TOO_LARGE;
        png_longjmp(png, 1);
    }
    int color_type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_strip_16(png);
    if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    // Unconditionally: palette expansion also turns a tRNS chunk into an alpha channel.
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)width * 3) png_error(png, "unexpected row size after conversion to RGB");
    ctx.pixels = malloc((size_t)width * height * 3);
    ctx.rows = malloc(sizeof(png_bytep) * height);
    if (!ctx.pixels || !ctx.rows) {
        status = CIMAGEIO_NO_MEMORY;
        png_error(png, "out of memory for pixels");
    }
    for (png_uint_32 y = 0; y < height; y++) ctx.rows[y] = ctx.pixels + (size_t)y * width * 3;
    png_read_image(png, ctx.rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(ctx.rows);
    out->pixels = ctx.pixels;
    out->width = width;
    out->height = height;
    return CIMAGEIO_OK;
}

// ---------------------------------------------------------------- JPEG decode

typedef struct {
    struct jpeg_error_mgr manager;
    jmp_buf jump;
    char *message;
    int truncated;
    uint8_t *pixels;
    uint8_t *row;
} JPEGErrorContext;

static void jpeg_error_exit(j_common_ptr cinfo) {
    JPEGErrorContext *ctx = (JPEGErrorContext *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    set_message(ctx->message, sizeof(((CImageIODecoded *)0)->message), text);
    longjmp(ctx->jump, 1);
}

static void jpeg_note_message(j_common_ptr cinfo, int level) {
    JPEGErrorContext *ctx = (JPEGErrorContext *)cinfo->err;
    // Level -1 is a warning about corrupt data; only running out of data is treated as fatal,
    // because real cameras write files with harmless oddities (extra bytes between markers).
    if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) ctx->truncated = 1;
}

int cimageio_jpeg_decode(const uint8_t *data, size_t size, uint64_t max_pixels, CImageIODecoded *out) {
    memset(out, 0, sizeof(*out));
    if (size < 3 || data[0] != 0xFF || data[1] != 0xD8) {
        set_message(out->message, sizeof(out->message), "not a JPEG signature");
        return CIMAGEIO_ERROR;
    }
    struct jpeg_decompress_struct cinfo;
    JPEGErrorContext ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.message = out->message;
    cinfo.err = jpeg_std_error(&ctx.manager);
    ctx.manager.error_exit = jpeg_error_exit;
    ctx.manager.emit_message = jpeg_note_message;
    volatile int status = CIMAGEIO_ERROR;
    if (setjmp(ctx.jump)) {
        free(ctx.pixels); free(ctx.row);
        jpeg_destroy_decompress(&cinfo);
        return status;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, (const unsigned char *)data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    uint32_t width = cinfo.image_width, height = cinfo.image_height;
    if (width == 0 || height == 0) {
        set_message(out->message, sizeof(out->message), "image has zero width or height");
        longjmp(ctx.jump, 1);
    }
    if ((uint64_t)width * (uint64_t)height > max_pixels) {
        snprintf(out->message, sizeof(out->message), "%ux%u image exceeds the limit of %llu pixels",
                 (unsigned)width, (unsigned)height, (unsigned long long)max_pixels);
        status = CIMAGEIO_TOO_LARGE;
        longjmp(ctx.jump, 1);
    }
    int grey;
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: grey = 1; cinfo.out_color_space = JCS_GRAYSCALE; break;
    case JCS_YCbCr: case JCS_RGB: grey = 0; cinfo.out_color_space = JCS_RGB; break;
    case JCS_CMYK: case JCS_YCCK:
        set_message(out->message, sizeof(out->message), "CMYK/YCCK JPEG is not supported; convert it to RGB first");
        longjmp(ctx.jump, 1);
    default:
        set_message(out->message, sizeof(out->message), "JPEG colour space is not supported");
        longjmp(ctx.jump, 1);
    }
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_width != width || cinfo.output_height != height ||
        cinfo.output_components != (grey ? 1 : 3)) {
        set_message(out->message, sizeof(out->message), "unexpected JPEG output geometry");
        longjmp(ctx.jump, 1);
    }
    ctx.pixels = malloc((size_t)width * height * 3);
    ctx.row = malloc((size_t)width * 3);
    if (!ctx.pixels || !ctx.row) {
        status = CIMAGEIO_NO_MEMORY;
        set_message(out->message, sizeof(out->message), "out of memory for pixels");
        longjmp(ctx.jump, 1);
    }
    while (cinfo.output_scanline < height) {
        uint8_t *dst = ctx.pixels + (size_t)cinfo.output_scanline * width * 3;
        JSAMPROW row = grey ? ctx.row : dst;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) {
            set_message(out->message, sizeof(out->message), "JPEG decoder returned no scanline");
            longjmp(ctx.jump, 1);
        }
        if (grey) for (uint32_t x = 0; x < width; x++) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = ctx.row[x];
    }
    jpeg_finish_decompress(&cinfo);
    if (ctx.truncated) {
        set_message(out->message, sizeof(out->message), "JPEG data is truncated");
        longjmp(ctx.jump, 1);
    }
    jpeg_destroy_decompress(&cinfo);
    free(ctx.row);
    out->pixels = ctx.pixels;
    out->width = width;
    out->height = height;
    return CIMAGEIO_OK;
}

// ---------------------------------------------------------------- PNG encode

typedef struct {
    uint8_t *data;
    size_t size;
    size_t capacity;
    char *message;
    size_t message_size;
    png_bytep *rows;
} PNGWriteContext;

static void png_write_error(png_structp png, png_const_charp text) {
    PNGWriteContext *ctx = (PNGWriteContext *)png_get_error_ptr(png);
    set_message(ctx->message, ctx->message_size, text);
    png_longjmp(png, 1);
}

static void png_write_to_memory(png_structp png, png_bytep src, png_size_t length) {
    PNGWriteContext *ctx = (PNGWriteContext *)png_get_io_ptr(png);
    if (length > ctx->capacity - ctx->size) {
        size_t capacity = ctx->capacity ? ctx->capacity : 4096;
        while (length > capacity - ctx->size) {
            if (capacity > SIZE_MAX / 2) png_error(png, "PNG output too large");
            capacity *= 2;
        }
        uint8_t *grown = realloc(ctx->data, capacity);
        if (!grown) png_error(png, "out of memory for PNG output");
        ctx->data = grown;
        ctx->capacity = capacity;
    }
    memcpy(ctx->data + ctx->size, src, length);
    ctx->size += length;
}

static void png_flush_nothing(png_structp png) { (void)png; }

int cimageio_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height,
                        const uint8_t *palette, int palette_count,
                        uint8_t **out_data, size_t *out_size, char *message, size_t message_size) {
    *out_data = NULL;
    *out_size = 0;
    if (width == 0 || height == 0 || width > 0x7fffffff || height > 0x7fffffff) {
        set_message(message, message_size, "PNG width and height must be in 1...2^31-1");
        return CIMAGEIO_ERROR;
    }
    if (palette && (palette_count < 1 || palette_count > 256)) {
        set_message(message, message_size, "PNG palette must have 1...256 colours");
        return CIMAGEIO_ERROR;
    }
    PNGWriteContext ctx = { NULL, 0, 0, message, message_size, NULL };
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, png_write_error, png_ignore_warning);
    if (!png) { set_message(message, message_size, "out of memory"); return CIMAGEIO_NO_MEMORY; }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        set_message(message, message_size, "out of memory");
        return CIMAGEIO_NO_MEMORY;
    }
    if (setjmp(png_jmpbuf(png))) {
        free(ctx.data); free(ctx.rows);
        png_destroy_write_struct(&png, &info);
        return CIMAGEIO_ERROR;
    }
    png_set_write_fn(png, &ctx, png_write_to_memory, png_flush_nothing);
    png_set_compression_level(png, 6);
    png_set_IHDR(png, info, width, height, 8, palette ? PNG_COLOR_TYPE_PALETTE : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    size_t stride = palette ? (size_t)width : (size_t)width * 3;
    if (palette) {
        png_color colours[256];
        for (int i = 0; i < palette_count; i++) {
            colours[i].red = palette[3 * i];
            colours[i].green = palette[3 * i + 1];
            colours[i].blue = palette[3 * i + 2];
        }
        png_set_PLTE(png, info, colours, palette_count);
        // The PNG spec advises no filtering for indexed images: it rarely makes them smaller.
        png_set_filter(png, 0, PNG_FILTER_NONE);
    }
    ctx.rows = malloc(sizeof(png_bytep) * height);
    if (!ctx.rows) png_error(png, "out of memory for rows");
    for (uint32_t y = 0; y < height; y++) ctx.rows[y] = (png_bytep)(pixels + (size_t)y * stride);
    png_write_info(png, info);
    png_write_image(png, ctx.rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(ctx.rows);
    *out_data = ctx.data;
    *out_size = ctx.size;
    return CIMAGEIO_OK;
}
