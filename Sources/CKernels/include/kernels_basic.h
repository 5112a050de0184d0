#ifndef LSEG_KERNELS_BASIC_H
#define LSEG_KERNELS_BASIC_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* float16 <-> float32, round to nearest even (F16C when the CPU has it). */
void lseg_f16_to_f32(const uint16_t *src, float *dst, size_t n);
void lseg_f32_to_f16(const float *src, uint16_t *dst, size_t n);
float lseg_f16_to_f32_one(uint16_t h);
uint16_t lseg_f32_to_f16_one(float f);
int lseg_cpu_has_f16c(void);

/* Elementwise binary float32 ops over one row: a and b advance by a_step / b_step (0 or 1). */
typedef enum {
    LSEG_BIN_ADD = 0, LSEG_BIN_SUB = 1, LSEG_BIN_MUL = 2, LSEG_BIN_DIV = 3, LSEG_BIN_MAX = 4, LSEG_BIN_MIN = 5
} lseg_binary_op;
void lseg_binary_f32(int op, const float *a, int a_step, const float *b, int b_step, float *out, size_t n);

/* Vectorized unary float32 functions (polynomial approximations, within ~1e-6 relative of libm). */
typedef enum {
    LSEG_UN_EXP = 0, LSEG_UN_SIGMOID = 1, LSEG_UN_TANH = 2, LSEG_UN_ERF = 3, LSEG_UN_GELU_ERF = 4,
    LSEG_UN_GELU_TANH = 5, LSEG_UN_QUICK_GELU = 6, LSEG_UN_RELU = 7, LSEG_UN_SQRT = 8, LSEG_UN_NEG = 9,
    LSEG_UN_ABS = 10, LSEG_UN_RECIPROCAL = 11
} lseg_unary_op;
void lseg_unary_f32(int op, const float *x, float *y, size_t n);
/* With `use_simd` 0 the portable build is used even on AVX2 machines (tests compare both). */
void lseg_unary_f32_variant(int op, const float *x, float *y, size_t n, int use_simd);

/* C[m, n] = A[m, k] B[k, n], row-major with leading dimensions; each output sums k in order with
   fused multiply-adds (a zero tail of k does not change it). For small attention products. */
void lseg_small_matmul_f32(const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc,
                           size_t m, size_t k, size_t n);
/* The same with the code variant capped (0 portable, 1 AVX2, 2 AVX-512; a variant this CPU lacks
   falls back to the next lower one), so tests can check that every variant gives the same bits. */
void lseg_small_matmul_f32_variant(int variant, const float *a, size_t lda, const float *b, size_t ldb, float *c,
                                   size_t ldc, size_t m, size_t k, size_t n);
/* Fused self-attention of one (batch, head) pair over query rows row0..<row1: qkv is
   [B, tokens, 3, heads, head_dim] (a fused qkv projection), out is [B, tokens, heads * head_dim];
   out row = softmax(scale * q K^T) V of that head. `workspace` holds
   lseg_attention_workspace_floats(tokens, head_dim) floats for this call alone. */
size_t lseg_attention_workspace_floats(size_t tokens, size_t head_dim);
void lseg_attention_f32(const float *qkv, float *out, size_t tokens, size_t heads, size_t head_dim, float scale,
                        size_t batch, size_t head, size_t row0, size_t row1, float *workspace);
/* The same with the code variant capped (0 portable, 1 AVX2, 2 AVX-512), for tests. */
void lseg_attention_f32_variant(int variant, const float *qkv, float *out, size_t tokens, size_t heads,
                                size_t head_dim, float scale, size_t batch, size_t head, size_t row0, size_t row1,
                                float *workspace);
/* Softmax over contiguous rows of length n. A row of all -inf gives NaN (as ONNX Runtime). */
void lseg_softmax_rows_f32(const float *x, float *y, size_t rows, size_t n);
/* LayerNorm over contiguous rows: y = (x - mean) / sqrt(var + eps) * scale + bias (bias may be NULL). */
void lseg_layernorm_rows_f32(const float *x, const float *scale, const float *bias, float *y,
                             size_t rows, size_t n, float eps);
#endif
