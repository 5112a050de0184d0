/*
 * lseg.h: the C API of lseg-kit (library liblseg.so, product `lseg` in Package.swift).
 *
 * Open a .pack, segment RGB images into text labels (or the pack's baked labels), read the
 * label names, close. Every function validates its arguments and returns a status code; on
 * failure lseg_last_error() gives a one-line message. No error crosses this boundary as a crash.
 *
 *   lseg_model *m;
 *   if (lseg_open("lseg-baked.pack", 0, &m) != LSEG_OK) { puts(lseg_last_error()); return 1; }
 *   uint8_t *map = malloc((size_t)w * h);
 *   if (lseg_segment(m, rgb, w, h, w * 3, NULL, 0, map, (size_t)w * h) != LSEG_OK) ...
 *   // map[y * w + x] is an index into lseg_label_name(m, i), i < lseg_label_count(m)
 *   lseg_close(m);
 *
 * Threads: a model handle may be used by one thread at a time (calls on one handle are
 * serialized by a lock); use one handle per thread for parallel work.
 */
#ifndef LSEG_H
#define LSEG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. */
enum {
    LSEG_OK = 0,
    LSEG_ERROR_ARGUMENT = 1, /* a null pointer, bad size, stride, count or index */
    LSEG_ERROR_PACK = 2,     /* the pack cannot be opened, is corrupt or is not an LSeg pack */
    LSEG_ERROR_LABELS = 3,   /* labels the pack cannot take (e.g. others than its baked ones) */
    LSEG_ERROR_RUNTIME = 4   /* running the model failed (e.g. out of memory) */
};

/* An open model; opaque. */
typedef struct lseg_model lseg_model;

/* Opens the pack at `path` with `threads` worker threads (0: all cores, at most 1024). On success stores the
 * model in *out and returns LSEG_OK; on failure stores NULL. */
int lseg_open(const char *path, int threads, lseg_model **out);

/* Closes a model (NULL is ignored). Label name pointers from it become invalid. */
void lseg_close(lseg_model *model);

/* Number of labels of the last successful lseg_segment call, or, before one, of the pack's
 * baked labels (0 for a pack without baked labels). -1 if model is NULL. */
int lseg_label_count(lseg_model *model);

/* Name of label `index` (0 <= index < lseg_label_count), UTF-8, NUL-terminated, owned by the
 * model and valid until the next lseg_segment or lseg_close; NULL for a bad index. */
const char *lseg_label_name(lseg_model *model, int index);

/* 1 if the pack has baked labels (segments only into them, needs no labels), 0 if not, -1 if
 * model is NULL. */
int lseg_has_baked_labels(lseg_model *model);

/* Segments an 8-bit RGB image (3 bytes a pixel, R first; row y starts at rgb + y * stride,
 * stride >= 3 * width) into `label_count` labels (UTF-8 strings). With labels == NULL and
 * label_count == 0 a pack's baked labels are used. Writes one uint8 label index per pixel,
 * row-major without padding, into label_map, which must hold width * height bytes
 * (label_map_size says how many it holds). At most 255 labels. */
int lseg_segment(lseg_model *model, const uint8_t *rgb, int width, int height, int stride,
                 const char *const *labels, int label_count, uint8_t *label_map, size_t label_map_size);

/* The message of this thread's most recent failed call ("" if none); valid until this
 * thread's next call into the library. */
const char *lseg_last_error(void);

/* The library version, e.g. "0.1.0". */
const char *lseg_version(void);

#ifdef __cplusplus
}
#endif

#endif /* LSEG_H */
