#ifndef LSEG_CONNX_H
#define LSEG_CONNX_H
// Umbrella header of the generated ONNX protobuf-c code (formats/onnx.proto) plus the
// allocator Convert decodes with.
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>
#include "onnx.pb-c.h"

/// Allocations aligned to 64 bytes, released with free(): lets the importer take ownership
/// of decoded raw_data buffers as tensor storage instead of copying them.
extern ProtobufCAllocator lseg_onnx_aligned_allocator;

/// Decodes a ModelProto with the aligned allocator; NULL when the bytes are not a valid message.
Onnx__ModelProto *lseg_onnx_model_unpack(const uint8_t *data, size_t len);

/// Frees a model decoded by lseg_onnx_model_unpack.
void lseg_onnx_model_free(Onnx__ModelProto *model);

/// Frees one buffer taken from a decoded model (for example raw_data.data).
void lseg_onnx_buffer_free(void *buffer);

enum { LSEG_ONNX_OK = 0, LSEG_ONNX_TOO_DEEP = 1, LSEG_ONNX_MALFORMED = 2 };

/// Walks the protobuf wire format of a ModelProto without unpacking it: LSEG_ONNX_TOO_DEEP when
/// messages nest deeper than `max_depth` (libprotobuf-c itself would recurse without limit),
/// LSEG_ONNX_MALFORMED when the bytes are not well-formed protobuf, LSEG_ONNX_OK otherwise.
int lseg_onnx_check_nesting(const uint8_t *data, size_t len, unsigned max_depth);
#endif
