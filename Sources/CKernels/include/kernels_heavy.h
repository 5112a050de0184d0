#ifndef LSEG_KERNELS_HEAVY_H
#define LSEG_KERNELS_HEAVY_H
#include <stddef.h>
#include <stdint.h>

/* Kernels for the compute-heavy op families (linear algebra, convolution, pooling, resize).
   Sizes are int64_t; callers (Runtime/Kernels, the *Kernels.swift files) validate every shape first.
   Ranges [begin, end) let Swift split work across threads without overlap. */

/* Activation codes, mirrored by Activation in Swift. */
enum { LSEG_ACT_NONE = 0, LSEG_ACT_RELU = 1, LSEG_ACT_GELU = 2, LSEG_ACT_QUICKGELU = 3, LSEG_ACT_LEAKYRELU = 4 };

/* y[r * ld + c] = act(y[r * ld + c] + col_bias[c] + row_bias[r]) for r < rows, c < cols;
   either bias may be NULL. */
void lseg_bias_activation(float *y, int64_t rows, int64_t cols, int64_t ld,
                          const float *col_bias, const float *row_bias, int act, float alpha);

/* Geometry of one N-D sliding window (nd <= LSEG_MAX_SPATIAL). `grid` is the shape the
   window positions enumerate (conv output, or conv-transpose input); `image` the shape the
   windows read (conv input) or scatter into (conv-transpose output).
   image position = grid position * stride - pad_begin + kernel offset * dilation. */
#define LSEG_MAX_SPATIAL 8
typedef struct {
    int32_t nd;
    int64_t image[LSEG_MAX_SPATIAL];
    int64_t grid[LSEG_MAX_SPATIAL];
    int64_t kernel[LSEG_MAX_SPATIAL];
    int64_t stride[LSEG_MAX_SPATIAL];
    int64_t pad_begin[LSEG_MAX_SPATIAL];
    int64_t dilation[LSEG_MAX_SPATIAL];
} lseg_window;

/* col[(c * K + k) * (p_end - p_begin) + (p - p_begin)] = image value under window p, tap k
   (0 outside), for channels c in [c_begin, c_end) and grid positions p in [p_begin, p_end).
   K = product of kernel. x points at channel 0. The 2-D variant requires nd == 2. */
void lseg_im2col(const float *x, const lseg_window *w, int64_t c_begin, int64_t c_end,
                 int64_t p_begin, int64_t p_end, float *col);
void lseg_im2col_2d(const float *x, const lseg_window *w, int64_t c_begin, int64_t c_end,
                    int64_t p_begin, int64_t p_end, float *col);

/* The adjoint: y[c, image position] += col[...] for the same index relation (conv transpose). */
void lseg_col2im(const float *col, const lseg_window *w, int64_t c_begin, int64_t c_end,
                 int64_t p_begin, int64_t p_end, float *y);

/* Non-overlapping 2-D conv transpose (kernel == stride, no padding, dilation 1, output exactly
   input * stride): col is W^T X for grid positions [p_begin, p_end) as [C * KH * KW][p_end - p_begin];
   writes y[c][h * KH + a][w * KW + t] = col[(c * KH * KW + a * KW + t)][p - p_begin] + bias[c]
   (bias may be NULL) for channels [c_begin, c_end) and p = h * in_w + w in the range. y points at
   channel 0 of [C][in_h * KH][in_w * KW]. */
void lseg_conv_transpose_scatter_2d(const float *col, int64_t in_h, int64_t in_w, int64_t kernel_h, int64_t kernel_w,
                                    const float *bias, int64_t c_begin, int64_t c_end, int64_t p_begin, int64_t p_end,
                                    float *y);
/* The same scatter from the pixel-major product of the int8 path: z[p][c * KH * KW + a * KW + t]
   for all p = h * in_w + w (row stride ld), channels [c_begin, c_end). */
void lseg_conv_transpose_scatter_pixels_2d(const float *z, int64_t ld, int64_t in_h, int64_t in_w, int64_t kernel_h,
                                           int64_t kernel_w, const float *bias, int64_t c_begin, int64_t c_end, float *y);

/* Depthwise 2-D convolution (one filter per channel) for channels [c_begin, c_end).
   x: [C, H, W] (w->image), y: [C, OH, OW] (w->grid), weight: [C, KH, KW]; bias may be NULL. */
void lseg_depthwise_conv2d(const float *x, const float *weight, const float *bias, float *y,
                           const lseg_window *w, int64_t c_begin, int64_t c_end);

/* 2-D pooling over planes [p_begin, p_end): x [planes, H, W] (w->image), y [planes, OH, OW]
   (w->grid). Average pooling counts taps inside the input, or with count_include_pad the taps
   inside the padded input (image + pad_end), as ONNX Runtime does. */
void lseg_max_pool2d(const float *x, float *y, const lseg_window *w, int64_t p_begin, int64_t p_end);
void lseg_average_pool2d(const float *x, float *y, const lseg_window *w, const int64_t *pad_end,
                         int count_include_pad, int64_t p_begin, int64_t p_end);

/* Bilinear resampling of planes [IH, IW] -> [OH, OW] for flat output rows
   [row_begin, row_end) over (plane, oy). Per output row: source rows y0/y1 with weight wy
   of y1; per output column: x0/x1 with weight wx of x1. scratch holds 2 * OW floats. */
void lseg_resize_bilinear(const float *x, float *y, int64_t IH, int64_t IW, int64_t OH, int64_t OW,
                          int64_t row_begin, int64_t row_end,
                          const int64_t *y0, const int64_t *y1, const float *wy,
                          const int64_t *x0, const int64_t *x1, const float *wx, float *scratch);

/* Winograd F(4x4, 3x3) for 2-D convolution with a 3x3 kernel, stride 1, dilation 1, one group
   (winograd.c). The 36 points of the 6x6 transformed tile are indexed xi = i * 6 + j.
   Tiles enumerate (image n, tile row, tile column) over tiles_h = ceil(OH / 4) by
   tiles_w = ceil(OW / 4) tiles per image; tile (th, tw) reads input rows th*4 - pad_h .. +5. */
typedef struct {
    int64_t C, H, W;          /* input channels and size */
    int64_t K, OH, OW;        /* output channels and size */
    int64_t pad_h, pad_w;     /* begin pads (the end pads follow from OH, OW) */
    int64_t tiles_h, tiles_w; /* per image */
} lseg_winograd_geometry;

/* Filters packed for the products in panels of LSEG_WINOGRAD_PANEL output channels:
   up[((xi * P + k / 8) * C + c) * 8 + k % 8] = (G w[k, c] G^T)[xi], P = ceil(K / 8), zero for the
   padding channels k >= K. Writes the panels of channels [k_begin, k_end) (k_begin a multiple of
   8; k_end a multiple of 8 or >= K, the last panel then padded). weight is [K, C, 3, 3]. */
#define LSEG_WINOGRAD_PANEL 8
void lseg_winograd_filter_transform(const float *weight, int64_t K, int64_t C, int64_t k_begin, int64_t k_end,
                                    float *up);

/* Variants ("paths") of the transforms and products, chosen at run time: every function below
   takes one and returns 0, computing nothing, when this CPU or build lacks it. The scalar path is
   the reference the others are tested against. lseg_winograd_best_path is the fastest supported. */
enum { LSEG_WINOGRAD_SCALAR = 0, LSEG_WINOGRAD_AVX2 = 1, LSEG_WINOGRAD_AVX512 = 2, LSEG_WINOGRAD_NEON = 3 };
int lseg_winograd_best_path(void);
int lseg_winograd_path_supported(int path);

/* Products over `points` transformed-tile points:
   m[xi * plane_m + k * ld + t] = sum_c up[xi, k, c] * v[xi * plane_v + c * ld + t] for the channels k of
   panels [panel_begin, panel_end) (of the P, padding included) and t < cols, accumulated over c in order with fused multiply-adds (so
   every path gives the same bits). cols is a multiple of 16, ld >= cols, plane_m >= P * 8 * ld. */
int lseg_winograd_products(int path, const float *up, int64_t K, int64_t C, const float *v, int64_t ld,
                           int64_t plane_v, float *m, int64_t plane_m, int64_t cols, int64_t points,
                           int64_t panel_begin, int64_t panel_end);

/* v[xi * plane + c * ld + (t - t_begin)] = (B^T d B)[xi] for tiles [t_begin, t_end) and every
   channel, d the tile's 6x6 input window (zeros outside the image; max(d, 0) when pre_relu).
   ld >= t_end - t_begin; columns past the range are written as zeros. plane >= C * ld is the
   stride between the 36 matrices (keep it off multiples of 4 KiB: the transforms touch all 36
   at once, and equal cache-set strides thrash L1). x is the whole [N, C, H, W] input. */
int lseg_winograd_input_transform(int path, const float *x, const lseg_winograd_geometry *g, int64_t t_begin,
                                  int64_t t_end, int pre_relu, float *v, int64_t ld, int64_t plane);

/* y tile = act(A^T m A + bias[k] + residual) for tiles [t_begin, t_end) and output channels
   [k_begin, k_end), m[xi * plane + k * ld + (t - t_begin)]. Writes only the output positions
   inside [OH, OW]. bias and residual (shaped like y) may be NULL. act: LSEG_ACT_NONE, _RELU or
   _LEAKYRELU (alpha); others are the caller's to apply. */
int lseg_winograd_output_transform(int path, const float *m, int64_t ld, int64_t plane, const lseg_winograd_geometry *g,
                                   int64_t t_begin, int64_t t_end, int64_t k_begin, int64_t k_end, const float *bias,
                                   const float *residual, int act, float alpha, float *y);

/* Winograd F(6x6, 3x3) (winograd_f6.c): the same geometry with tiles_h = ceil(OH / 6) and
   tiles_w = ceil(OW / 6) (tile (th, tw) reads input rows th*6 - pad_h .. +7), 8x8 transformed
   tiles with 64 points xi = i * 8 + j, and the same layouts, paths and arguments as the F(4x4, 3x3)
   functions above with 64 planes for 36. The products are lseg_winograd_products with points = 64
   on filters packed by lseg_winograd6_filter_transform (64 * P * 8 * C floats). */
void lseg_winograd6_filter_transform(const float *weight, int64_t K, int64_t C, int64_t k_begin, int64_t k_end,
                                     float *up);
int lseg_winograd6_input_transform(int path, const float *x, const lseg_winograd_geometry *g, int64_t t_begin,
                                   int64_t t_end, int pre_relu, float *v, int64_t ld, int64_t plane);
int lseg_winograd6_output_transform(int path, const float *m, int64_t ld, int64_t plane, const lseg_winograd_geometry *g,
                                    int64_t t_begin, int64_t t_end, int64_t k_begin, int64_t k_end, const float *bias,
                                    const float *residual, int act, float alpha, float *y);

/* fp32 Linear on panel-packed weights (panel_linear.c). Weights: ceil(n / 32) panels of k x 32
   floats (panel pn, depth p, column j = W[p][32 pn + j], zero past n), packed once. Rows of x
   [m, k] are packed per call into ceil(m / 14) tiles of k x 14 floats (zero past m). */
#define LSEG_PANEL_COLUMNS 32
#define LSEG_PANEL_ROWS 14
size_t lseg_panel_weight_floats(size_t k, size_t n);
/* Panels [panel0, panel1) from w: [k, n] row-major, or [n, k] when trans_b. */
void lseg_panel_pack_weights(const float *w, int trans_b, size_t k, size_t n, size_t panel0, size_t panel1, float *dst);
size_t lseg_panel_row_floats(size_t m, size_t k);
/* Row tiles [tile0, tile1) of x into dst (the whole packed buffer). */
void lseg_panel_pack_rows(const float *x, size_t m, size_t k, size_t tile0, size_t tile1, float *dst);
/* y[r][j] = act(sum_p x[r][p] W[p][j] + bias[j]) for all m rows and the columns of panels
   [panel0, panel1) (row stride ldy); bias may be NULL; bias and act as lseg_bias_activation
   applies them (the same bits). The AVX-512 tile runs where lseg_cpu_has_avx512f() (else the
   scalar reference, the same bits); fast = 0 forces the reference. */
void lseg_panel_linear(int fast, const float *xp, size_t m, size_t k, const float *wp, size_t n, size_t panel0,
                       size_t panel1, float *y, size_t ldy, const float *bias, int act, float alpha);
#endif
