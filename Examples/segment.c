/*
 * Segments a binary PPM (P6, 8-bit) image with the lseg C API and writes the label map as a
 * binary PGM (P5; pixel value = label index), then prints each label's pixel count.
 *
 *   cc -I include Examples/segment.c -L .build/debug -llseg -Wl,-rpath,.build/debug -o segment
 *   ./segment lseg.pack photo.ppm mask.pgm [label ...]
 *
 * With no labels the pack's baked labels are used. Exit status: 0 done, 1 bad usage or file,
 * 2 + the lseg status code when an lseg call fails.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lseg.h"

/* Reads a P6 PPM with maxval 255 into a buffer whose rows are `*stride` bytes apart: padded
 * past 3 * width on purpose, to show that the API takes a stride. */
static uint8_t *read_ppm(const char *path, int *width, int *height, int *stride) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return NULL; }
    int w = 0, h = 0, maxval = 0;
    if (fscanf(f, "P6 %d %d %d", &w, &h, &maxval) != 3 || w <= 0 || h <= 0 || w > 1 << 15 || h > 1 << 15 || maxval != 255 ||
        fgetc(f) == EOF) {
        fprintf(stderr, "%s: not an 8-bit binary PPM (P6)\n", path);
        fclose(f);
        return NULL;
    }
    int s = 3 * w + 13;
    uint8_t *rgb = calloc((size_t)s, (size_t)h);
    if (!rgb) { fclose(f); return NULL; }
    for (int y = 0; y < h; y++) {
        if (fread(rgb + (size_t)y * s, 1, (size_t)w * 3, f) != (size_t)w * 3) {
            fprintf(stderr, "%s: truncated\n", path);
            free(rgb);
            fclose(f);
            return NULL;
        }
    }
    fclose(f);
    *width = w; *height = h; *stride = s;
    return rgb;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s PACK IMAGE.ppm MASK.pgm [LABEL ...]\n", argv[0]);
        return 1;
    }
    int width, height, stride;
    uint8_t *rgb = read_ppm(argv[2], &width, &height, &stride);
    if (!rgb) return 1;

    lseg_model *model = NULL;
    int status = lseg_open(argv[1], 2, &model);
    if (status != LSEG_OK) {
        fprintf(stderr, "lseg_open: %s\n", lseg_last_error());
        free(rgb);
        return 2 + status;
    }
    printf("lseg %s, baked labels: %s\n", lseg_version(), lseg_has_baked_labels(model) ? "yes" : "no");

    size_t pixels = (size_t)width * height;
    uint8_t *map = malloc(pixels);
    const char *const *labels = argc > 4 ? (const char *const *)(argv + 4) : NULL;
    status = map ? lseg_segment(model, rgb, width, height, stride, labels, argc - 4, map, pixels) : LSEG_ERROR_RUNTIME;
    free(rgb);
    if (status != LSEG_OK) {
        fprintf(stderr, "lseg_segment: %s\n", map ? lseg_last_error() : "out of memory");
        free(map);
        lseg_close(model);
        return 2 + status;
    }

    FILE *out = fopen(argv[3], "wb");
    if (!out || fprintf(out, "P5\n%d %d\n255\n", width, height) < 0 || fwrite(map, 1, pixels, out) != pixels) {
        perror(argv[3]);
        if (out) fclose(out);
        free(map);
        lseg_close(model);
        return 1;
    }
    fclose(out);

    int count = lseg_label_count(model);
    for (int i = 0; i < count; i++) {
        size_t n = 0;
        for (size_t p = 0; p < pixels; p++) n += map[p] == i;
        printf("%d %s: %zu pixels\n", i, lseg_label_name(model, i), n);
    }
    free(map);
    lseg_close(model);
    return 0;
}
