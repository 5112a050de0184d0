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
