#ifndef LSEG_KERNELS_INT8_H
#define LSEG_KERNELS_INT8_H
#include <stddef.h>
#include <stdint.h>

/* int8 GEMM for QLinear / QConv: C[i, j] = sum_k A[i, k] * B[j, k], int32 accumulation.

   Activations are quantized to uint8 q (per-tensor scale and zero point) and stored SHIFTED as
   int8 q - 128, so every path multiplies int8 by int8: |(q - 128) * w| <= 128 * 127, which keeps
   NEON's 16-bit products (vmull/vmlal, two per lane) and sdot exact, and AVX2 widens to int16
   and uses vpmaddwd (exact; vpmaddubsw is avoided because its int16 pair sums saturate).
   The shift is undone in the epilogue: sum (q - zp) w = acc + (128 - zp) * rowsum(w).

   AVX-512 VNNI (vpdpbusd multiplies unsigned by signed bytes) stores the column operand as
   unsigned v + 128 and keeps each row's sum after the rows, so the kernel can subtract
   128 * rowsum and return the same int32 sums as every other path.

   Operands are packed per path (lseg_i8_*_bytes give sizes; element size 1 or 2 bytes):
     rows ("A", broadcast side): [round_up(M, MR)][KP] elements, KP = round_up(K, 4), zero padded
                                 (VNNI: then [round_up(M, MR)] int32 row sums);
     cols ("B", vector side):    [ceil(N / NR)][KP / 4][NR][4] elements, zero padded.
   QLinear: rows = quantized activations [M, K], cols = weights [N, K].
   QConv:   rows = weights [Cout/group, K], cols = im2col of the quantized input (positions). */

enum { LSEG_I8_SCALAR = 0, LSEG_I8_AVX2 = 1, LSEG_I8_NEON = 2, LSEG_I8_NEON_DOT = 3, LSEG_I8_AVX512_VNNI = 4 };

/* AVX-512 F/BW/VL + VNNI usable: CPUID bits and the OS saving opmask and ZMM state (XGETBV). */
int lseg_cpu_has_avx512_vnni(void);

/* The fastest path this CPU supports (detected once), and whether `path` can run here. */
int lseg_i8_best_path(void);
int lseg_i8_path_available(int path);
const char *lseg_i8_path_name(int path);
int lseg_i8_mr(int path);
int lseg_i8_nr(int path);
int lseg_i8_esize(int path);
int64_t lseg_i8_kp(int64_t k);
int64_t lseg_i8_rows_bytes(int path, int64_t m, int64_t k);
int64_t lseg_i8_cols_bytes(int path, int64_t n, int64_t k);

/* Quantizes float rows x[r * ldx + k] (r in [r_begin, r_end), k < K) to shifted int8 in the rows
   format: q = clamp(round_half_even(x / scale) + zp, 0, 255) - 128 (NaN -> zp). */
void lseg_i8_quantize_rows(int path, const float *x, int64_t ldx, int64_t m, int64_t k, float scale, int32_t zp,
                           int64_t r_begin, int64_t r_end, void *rows);
/* The same quantization into a plain int8 buffer (count elements). */
void lseg_i8_quantize(const float *x, int64_t count, float scale, int32_t zp, int8_t *q);

/* Packs int8 src[r * ld + k] for rows [r_begin, r_end) into the rows format (tail rows up to
   round_up(M, MR) must be packed too: pass them with r >= m, they are zero filled). */
void lseg_i8_pack_rows(int path, const int8_t *src, int64_t ld, int64_t m, int64_t k,
                       int64_t r_begin, int64_t r_end, void *rows);
/* Packs int8 element (j, k) = src[j * stride_j + k * stride_k] for j < n into the cols format,
   panels [panel_begin, panel_end) only. */
void lseg_i8_pack_cols(int path, const int8_t *src, int64_t stride_j, int64_t stride_k, int64_t n,
                       int64_t k, int64_t panel_begin, int64_t panel_end, void *cols);

/* im2col straight into the cols format for a 2-D window (the geometry of lseg_window, passed
   flat): x is shifted int8 [C, H, W]; column j is output position p_begin + j, row k is
   (c, kh, kw); taps in the padding read `pad` (the zero point, shifted). Panels
   [panel_begin, panel_end) of n = p_end - p_begin columns. */
typedef struct {
    int64_t channels, height, width, out_height, out_width;
    int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
} lseg_i8_window;
void lseg_i8_im2col_pack(int path, const int8_t *x, const lseg_i8_window *w, int8_t pad,
                         int64_t p_begin, int64_t p_end, int64_t panel_begin, int64_t panel_end, void *cols);

/* Row sums of int8 weights w[r * ld + k], k < K, for rows [0, n). */
void lseg_i8_row_sums(const int8_t *w, int64_t ld, int64_t n, int64_t k, int32_t *sums);

/* Output stage: y[i * ldy + j] = act((acc + zp_shift * rowsum[ch]) * scale[ch] + bias[ch]
   + residual[i * ldy + j]) with ch = i (channel_axis 0) or j (channel_axis 1); bias may be NULL;
   zp_shift = 128 - zp. residual (NULL: none) is read by lseg_i8_direct_conv only; every other
   kernel requires it NULL. */
typedef struct {
    float *y;
    int64_t ldy;
    int32_t channel_axis;
    int32_t zp_shift;
    const int32_t *rowsum;
    const float *scale;
    const float *bias;
    int32_t act;
    float alpha;
    const float *residual;
} lseg_i8_epilogue;

/* Computes rows [i_begin, i_end) x panels [panel_begin, panel_end) of the product of packed
   operands (M x N, depth K). With ep != NULL the epilogue writes floats; otherwise the raw int32
   sums of the shifted operands go to c[i * ldc + j]. */
void lseg_i8_gemm(int path, const void *rows, const void *cols, int64_t m, int64_t n, int64_t k,
                  int64_t i_begin, int64_t i_end, int64_t panel_begin, int64_t panel_end,
                  const lseg_i8_epilogue *ep, int32_t *c, int64_t ldc);

/* QLinear on AVX-512 VNNI straight from the weights' own [N, K] layout (no packed copy; needs
   K % 4 == 0 and N % 8 == 0): the weights are the broadcast side, the tokens the vector side,
   quantized into panels of T = LSEG_I8_VNNI_TOKENS tokens of unsigned q ([ceil(M/T)][K/4][T][4],
   lseg_i8_vnni_quantize_cols; 48 tokens: an 8-channel x 48-token tile is 24 accumulators, 8
   broadcasts and 3 loads per 24 vpdpbusd;
   M rows of x, leading dimension ldx). Output channels [i_begin, i_end) (multiples of 8) x token
   panels [panel_begin, panel_end) go through the epilogue (channel_axis 1, y[token * ldy + ch])
   with the same floats as lseg_i8_gemm; wsum = weight row sums. */
enum { LSEG_I8_VNNI_TOKENS = 48 };
void lseg_i8_vnni_linear(const int8_t *w, const int32_t *wsum, const uint8_t *cols, int64_t m, int64_t n,
                         int64_t k, int64_t i_begin, int64_t i_end, int64_t panel_begin, int64_t panel_end,
                         const lseg_i8_epilogue *ep);
void lseg_i8_vnni_quantize_cols(const float *x, int64_t ldx, int64_t m, int64_t k, float scale, int32_t zp,
                                int64_t panel_begin, int64_t panel_end, uint8_t *cols);

/* The tokens past the last multiple of 16 when there are at most LSEG_I8_VNNI_TAIL_MAX of them
   (else 0): lseg_i8_vnni_linear then covers only the first M - tail tokens (their panels), and
   the tail goes through dot products against the weight rows. lseg_i8_vnni_quantize_tail
   quantizes `count` token rows x[t * ldx + k] to unsigned q rows [count][K] (same rounding as
   the panels); lseg_i8_vnni_linear_tail writes tokens [j0, j0 + count) from those rows, output
   channels [i_begin, i_end) (even bounds; N % 8 == 0), with the same floats as the panels. */
enum { LSEG_I8_VNNI_TAIL_MAX = 4 };
int64_t lseg_i8_vnni_tail_tokens(int64_t m);
void lseg_i8_vnni_quantize_tail(const float *x, int64_t ldx, int64_t count, int64_t k, float scale, int32_t zp,
                                uint8_t *q);
void lseg_i8_vnni_linear_tail(const int8_t *w, const int32_t *wsum, const uint8_t *q, int64_t j0, int64_t count,
                              int64_t k, int64_t i_begin, int64_t i_end, const lseg_i8_epilogue *ep);

/* Direct convolution (AVX-512 VNNI only; lseg_i8_path_available(LSEG_I8_AVX512_VNNI) must hold):
   stride 1, one group, 1-D or 2-D (height 1), any kernel size, padding and dilation. No im2col:
   the input is quantized once into a padded, channel-interleaved layout [Hp][ceil(C/4)][Wp][4]
   of unsigned q (the padding holds the zero point), and each kernel tile reads 48 (or, for the
   last 32 or fewer of a row, 32) consecutive output positions of one output row straight from it.
   Weights are packed once: [ceil(Cout/8)][KH*KW][ceil(C/4)][8][4] int8 (lseg_i8_direct_weights_*).
   The output (channel-major [Cout][OH*OW], ep->ldy = OH*OW, channel_axis 0) gets the same
   floats as the packed path's epilogue. */
int lseg_i8_direct_supported(const lseg_i8_window *w);
int64_t lseg_i8_direct_input_bytes(const lseg_i8_window *w);
int64_t lseg_i8_direct_weights_bytes(int64_t cout, const lseg_i8_window *w);
/* Weights w[co][c][kh][kw] (int8) into the direct layout (zero padded). */
void lseg_i8_direct_pack_weights(const int8_t *w, int64_t cout, const lseg_i8_window *win, void *packed);
/* Quantizes float x [C][H][W] into the padded layout, channel groups [g_begin, g_end). */
void lseg_i8_direct_quantize_input(const float *x, const lseg_i8_window *w, float scale, int32_t zp,
                                   int64_t g_begin, int64_t g_end, uint8_t *xq);
/* Output rows a tile covers: 3 for outputs at most 16 wide (one 16-lane vector per row), 2 for
   17 to 24 wide (48 consecutive positions of two rows), else 1.
   Callers splitting rows among threads should split in multiples of it. */
int64_t lseg_i8_direct_rows_per_tile(const lseg_i8_window *w);
/* Output rows [oh_begin, oh_end) for all Cout channels. */
void lseg_i8_direct_conv(const uint8_t *xq, const void *packed, int64_t cout, const lseg_i8_window *w,
                         int64_t oh_begin, int64_t oh_end, const lseg_i8_epilogue *ep);

/* Int8 Winograd F(2x2, 3x3) for 3x3 convolutions with stride 1, dilation 1 and padding 1 on all
   sides (output the input's size), one group. A lossy variant of the direct convolution with 2.25x
   fewer multiply-adds; its error against the direct one is measured by the tests (Int8Tests) and
   by the quantizer's accuracy report. Numerics (the scalar reference and the AVX-512 VNNI kernel
   agree bit for bit):
   - input: each value clamped to [lo, hi] (the static quantization's range: its ReLU and its
     saturation), zero outside the image; each 4x4 tile (stride 2) transformed in float,
     v = B^T d B (B^T rows: d0 - d2, d1 + d2, d2 - d1, d1 - d3), first along each input row,
     then along each column; point p = 4 i + j (i: vertical, j: horizontal);
   - for each tile and each of its 16 points: s = max over channels |v| / 127 and
     q = round_half_even(v * (127 / max)) + 128 (all 128 when max is 0): per tile and point,
     symmetric, as unsigned bytes;
   - weights: U = (2G) w (2G)^T (= 4 G w G^T, integers; 2G rows (2,0,0), (1,1,1), (1,-1,1),
     (0,0,2)) from the int8 weights, kept as they are when max over channels |U| <= 127 for that
     point and output channel, else rounded to round_half_even(U * 127 / max); us = weight
     scale / 4 (times max / 127 when rescaled);
   - products: m = float(sum_c q u - 128 sum_c u) * us * s (int32 sums, exact);
   - output: S[i][0] = m[i][0] + m[i][1] + m[i][2], S[i][1] = m[i][1] - m[i][2] - m[i][3], then
     y[0][k] = S[0][k] + S[1][k] + S[2][k], y[1][k] = S[1][k] - S[2][k] - S[3][k] (left to right),
     then + bias, + residual, activation (ReLU and LeakyReLU inline, others after).
   Tiles are processed in blocks of up to LSEG_I8_WINOGRAD_BLOCK along one row of tiles. */
enum { LSEG_I8_WINOGRAD_BLOCK = 48 };
int lseg_i8_winograd_supported(const lseg_i8_window *w);
/* Blocks of tiles (work items), bytes of one thread's scratch, bytes of the packed weights. */
int64_t lseg_i8_winograd_blocks(const lseg_i8_window *w);
int64_t lseg_i8_winograd_scratch_bytes(const lseg_i8_window *w);
int64_t lseg_i8_winograd_weights_bytes(int64_t cout, const lseg_i8_window *w);
/* Weights w[co][c][3][3] (int8) with per-output-channel scales into the packed transformed form. */
void lseg_i8_winograd_pack_weights(const int8_t *w, const float *scale, int64_t cout, const lseg_i8_window *win,
                                   void *packed);
/* Blocks [block_begin, block_end) of x [C][H][W] (one batch item) into ep->y ([Cout][OH * OW],
   ep->ldy = OH * OW) with ep->bias, ep->residual, ep->act, ep->alpha (scale and rowsum unused).
   The VNNI kernel needs lseg_i8_path_available(LSEG_I8_AVX512_VNNI); scratch: this thread's
   lseg_i8_winograd_scratch_bytes, 64-byte aligned. */
void lseg_i8_winograd_conv(const float *x, float lo, float hi, const void *packed, int64_t cout,
                           const lseg_i8_window *w, int64_t block_begin, int64_t block_end, void *scratch,
                           const lseg_i8_epilogue *ep);
/* The scalar reference of the same computation (any CPU; needs no scratch). */
void lseg_i8_winograd_reference(const float *x, float lo, float hi, const void *packed, int64_t cout,
                                const lseg_i8_window *w, int64_t block_begin, int64_t block_end,
                                const lseg_i8_epilogue *ep);

/* Plain reference on unpacked int8 operands: c[i * ldc + j] = sum_k a[i * lda + k] * b[j * ldb + k]. */
void lseg_i8_gemm_reference(const int8_t *a, int64_t lda, const int8_t *b, int64_t ldb,
                            int64_t m, int64_t n, int64_t k, int32_t *c, int64_t ldc);
#endif
