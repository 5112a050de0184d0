#include "COnnx.h"
#include <stdlib.h>

static void *aligned_alloc_64(void *unused, size_t size) {
    (void)unused;
    void *p = NULL;
    if (posix_memalign(&p, 64, size == 0 ? 1 : size) != 0) return NULL;
    return p;
}

static void aligned_free_64(void *unused, void *pointer) {
    (void)unused;
    free(pointer);
}

ProtobufCAllocator lseg_onnx_aligned_allocator = { aligned_alloc_64, aligned_free_64, NULL };

Onnx__ModelProto *lseg_onnx_model_unpack(const uint8_t *data, size_t len) {
    return onnx__model_proto__unpack(&lseg_onnx_aligned_allocator, len, data);
}

void lseg_onnx_model_free(Onnx__ModelProto *model) {
    if (model) onnx__model_proto__free_unpacked(model, &lseg_onnx_aligned_allocator);
}

void lseg_onnx_buffer_free(void *buffer) { free(buffer); }

// libprotobuf-c unpacks nested messages by recursion with no depth limit, so a small file of
// deeply nested messages (TypeProto.sequence_type, AttributeProto.g, ...) would overflow the
// stack. This walk follows the same schema with bounded recursion before anything is unpacked.
static int read_varint(const uint8_t *p, size_t len, size_t *at, uint64_t *value) {
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*at >= len) return 0;
        uint8_t b = p[(*at)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) { *value = v; return 1; }
    }
    return 0;
}

static int check_nesting(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len,
                         unsigned depth, unsigned max_depth) {
    if (depth > max_depth) return LSEG_ONNX_TOO_DEEP;
    size_t at = 0;
    while (at < len) {
        uint64_t key, n;
        if (!read_varint(p, len, &at, &key)) return LSEG_ONNX_MALFORMED;
        switch (key & 7) {
        case 0: if (!read_varint(p, len, &at, &n)) return LSEG_ONNX_MALFORMED; break;
        case 1: if (len - at < 8) return LSEG_ONNX_MALFORMED; at += 8; break;
        case 5: if (len - at < 4) return LSEG_ONNX_MALFORMED; at += 4; break;
        case 2: {
            if (!read_varint(p, len, &at, &n) || n > len - at) return LSEG_ONNX_MALFORMED;
            uint64_t number = key >> 3;
            const ProtobufCFieldDescriptor *field =
                number <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(desc, (unsigned)number) : NULL;
            if (field && field->type == PROTOBUF_C_TYPE_MESSAGE) {
                int r = check_nesting(field->descriptor, p + at, (size_t)n, depth + 1, max_depth);
                if (r != LSEG_ONNX_OK) return r;
            }
            at += (size_t)n;
            break;
        }
        default: return LSEG_ONNX_MALFORMED;  // groups do not occur in onnx.proto
        }
    }
    return LSEG_ONNX_OK;
}

int lseg_onnx_check_nesting(const uint8_t *data, size_t len, unsigned max_depth) {
    return check_nesting(&onnx__model_proto__descriptor, data, len, 0, max_depth);
}
