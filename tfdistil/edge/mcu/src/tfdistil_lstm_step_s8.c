/* tfdistil_lstm_step_s8.c: arm_nn_lstm_step_s8 for the firmware's CMSIS-NN build, in place of
 * CMSIS-NN's Source/NNSupportFunctions/arm_nn_lstm_step_s8.c (tfdistil/edge/mcu/cmsis.py swaps
 * the file). Same integers, less work, on cores with the DSP extension (Cortex-M4, M7, M33) and
 * on cores with Helium (Cortex-M55):
 *   - The four gates' matrix-vector products. DSP: the input and hidden vectors are sign-extended
 *     once per step into 16-bit pairs and four rows share every load of them (SMLAD). Helium:
 *     four rows share each 16-byte vector of the input (VMLADAVA.S8, tail by predication). Each
 *     row's int32 sums are exact whatever the order.
 *   - Each gate's pre-activation then takes CMSIS-NN's own steps (arm_nn_vec_mat_mul_result_acc_s8_s16):
 *     arm_nn_requantize of the input part, clamp to int16, plus arm_nn_requantize of the hidden
 *     part, clamp.
 *   - Everything after is element by element, so it runs as one pass over the hidden units instead
 *     of six passes (four gate activations, three element-wise products, the cell tanh) through
 *     CMSIS-NN calls: act_s16() is arm_nn_activation_s16 for one element and mul_rq() the formula of
 *     arm_elementwise_mul_s16 / _acc_s16 / _s16_s8, with the same clamps, in the same order.
 * Other cores, a batch above 1, sizes not a multiple of 4 (DSP) or above TFDISTIL_FUSED_MAX, gates
 * other than sigmoid/sigmoid/tanh/sigmoid or a missing hidden state take the original code path
 * below (a copy of CMSIS-NN's, calling arm_nn_lstm_calculate_gate_s8_s16).
 * The requantizations use CMSIS-NN's inline-assembly form of arm_nn_requantize (the same rounding in
 * fewer instructions; CMSIS_NN_USE_REQUANTIZE_INLINE_ASSEMBLY, in this file only).
 * tests/test_firmware_boards.py compares the CMSIS-NN firmware with the reference kernels, bit for bit. */
#define CMSIS_NN_USE_REQUANTIZE_INLINE_ASSEMBLY 1
#include <string.h>

#include "arm_nn_tables.h"
#include "arm_nnfunctions.h"
#include "arm_nnsupportfunctions.h"

#if defined(ARM_MATH_DSP) && !defined(ARM_MATH_MVEI)
#define TFDISTIL_FUSED 1
#define TFDISTIL_FUSED_MAX 128 /* largest input or hidden size the fused path takes */

static int16_t g_pre[4][TFDISTIL_FUSED_MAX]; /* the gates' int16 pre-activations */

/* the input and hidden vectors as 16-bit pairs, word k of the int8 vector at 2k (even bytes) and 2k + 1 */
static int32_t g_xv[TFDISTIL_FUSED_MAX / 2] __attribute__((aligned(8)));
static int32_t g_hv[TFDISTIL_FUSED_MAX / 2] __attribute__((aligned(8)));

/* bytes v0 v1 v2 v3 -> (v0, v2) and (v1, v3) as 16-bit pairs, as SXTB16 splits a weight word */
static void expand(const int8_t *v, int32_t words, int32_t *pairs)
{
    for (int32_t k = 0; k < words; ++k)
    {
        const int32_t w = arm_nn_read_s8x4_ia(&v);
        pairs[2 * k] = SXTB16(w);
        pairs[2 * k + 1] = SXTB16_RORn((uint32_t)w, 8);
    }
}

/* acc[r] += row r of `w` (words * 4 int8 columns) . the expanded vector, for 4 rows */
__attribute__((always_inline)) static inline void
dot4_body(const int8_t *w, const int32_t words, const int32_t *pairs, int32_t *acc)
{
    const int32_t cols = words * 4;
    const int8_t *w0 = w, *w1 = w + cols, *w2 = w + 2 * cols, *w3 = w + 3 * cols;
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (int32_t k = 0; k < words; ++k)
    {
        const int32_t e = pairs[2 * k], o = pairs[2 * k + 1];
        int32_t k0 = arm_nn_read_s8x4_ia(&w0);
        a0 = SMLAD(SXTB16(k0), e, a0);
        a0 = SMLAD(SXTB16_RORn((uint32_t)k0, 8), o, a0);
        int32_t k1 = arm_nn_read_s8x4_ia(&w1);
        a1 = SMLAD(SXTB16(k1), e, a1);
        a1 = SMLAD(SXTB16_RORn((uint32_t)k1, 8), o, a1);
        int32_t k2 = arm_nn_read_s8x4_ia(&w2);
        a2 = SMLAD(SXTB16(k2), e, a2);
        a2 = SMLAD(SXTB16_RORn((uint32_t)k2, 8), o, a2);
        int32_t k3 = arm_nn_read_s8x4_ia(&w3);
        a3 = SMLAD(SXTB16(k3), e, a3);
        a3 = SMLAD(SXTB16_RORn((uint32_t)k3, 8), o, a3);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* the loop unrolled by the compiler for the students' common sizes (16, 20, 24, 32 columns) */
static void dot4_words(const int8_t *w, int32_t words, const int32_t *pairs, int32_t *acc)
{
    switch (words)
    {
    case 4: dot4_body(w, 4, pairs, acc); break;
    case 5: dot4_body(w, 5, pairs, acc); break;
    case 8: dot4_body(w, 8, pairs, acc); break;
    default: dot4_body(w, words, pairs, acc); break;
    }
}
#define SIZE_OK(n) ((n) % 4 == 0)

/* The packed path (the Cortex-M4's usual one). Each op's weights are widened once into RAM as SXTB16
 * splits them, scaled by 2^e ((w0, w2) and (w1, w3) per weight word, each x 2^e), in the order the dot
 * product reads them: per gate and group of 4 rows, the 4 input biases (x 2^e), then per input word
 * the 8 words of the 4 rows, then the same for the hidden part. One LDM then loads 4 of them and the
 * vector's pair of words serves 8 SMLADs. e is 1 + the part's requantizing shift if that is a left
 * shift (>= 0), else 1: each sum is then 2^e x CMSIS-NN's sum, and SMMULR of it is
 * arm_nn_doubling_high_mult_no_sat(sum << shift, multiplier), the first half of arm_nn_requantize
 * (all of it for a left shift), in one instruction. Exact because packed() checks once per op that
 * |sum| x 2^e < 2^31 for every row (bias + columns x 128 x 128) and that the scaled weights fit in int16.
 * Made in each LSTM op's Prepare (tfdistil_lstm_prepare_s8 below, called by the patched TFLM wrapper:
 * tfdistil/edge/mcu/cmsis.py), while the buffer holds them (an op that does not fit keeps the int8 path);
 * the key is the op's forget-gate input weights (constant, in the model): not the params pointer,
 * which arm_lstm_unidirectional_s8 may pass as a copy on its stack, the same address for every op.
 * TFDISTIL_WIDE_WORDS: 7,168 int32 (28,672 B) = the 256 KB student's 2 LSTMs x 4 gates x 8 groups x
 * (4 + 40 + 4 + 64). */
#ifndef TFDISTIL_WIDE_WORDS
#define TFDISTIL_WIDE_WORDS 7168
#endif
#define TFDISTIL_WIDE_OPS 4
static int32_t g_wide[TFDISTIL_WIDE_WORDS] __attribute__((aligned(8)));
static int32_t g_wide_used, g_wide_ops;
static const void *g_wide_key[TFDISTIL_WIDE_OPS];
static int32_t g_wide_shifts[TFDISTIL_WIDE_OPS][8];    /* the shifts the scales were made for */
static const int32_t *g_wide_at[TFDISTIL_WIDE_OPS][4]; /* per gate; NULL: the op takes the int8 path */

/* tests/lstm_step_check.c changes the weights behind the same params between trials */
void tfdistil_lstm_step_forget_weights(void) { g_wide_used = g_wide_ops = 0; }

#define SCALE_EXP(shift) ((shift) >= 0 ? (shift) + 1 : 1)

/* the int16 pair (lo, hi) in one word, each x 2^e */
static int32_t scaled(int32_t pair, int32_t e)
{
    const int32_t lo = (int16_t)(pair & 0xFFFF) * (1 << e), hi = (pair >> 16) * (1 << e);
    return (int32_t)(((uint32_t)hi << 16) | ((uint32_t)lo & 0xFFFF));
}

/* one part (input or hidden) of a group of 4 rows, as the dot product reads it */
static int32_t *pack_part(int32_t *d, const int8_t *w, const int32_t *bias, int32_t r, int32_t cols, int32_t e)
{
    for (int32_t i = 0; i < 4; ++i)
        *d++ = (int32_t)((uint32_t)bias[r + i] << e);
    for (int32_t k = 0; k < cols / 4; ++k)
        for (int32_t i = 0; i < 4; ++i)
        {
            const int8_t *p = w + (r + i) * cols + 4 * k;
            const int32_t v = arm_nn_read_s8x4(p);
            *d++ = scaled(SXTB16(v), e);
            *d++ = scaled(SXTB16_RORn((uint32_t)v, 8), e);
        }
    return d;
}

/* |each sum| x 2^e < 2^31 (|bias| + cols x 128 x 128 bounds the sum) and 128 x 2^e <= 32768 */
static int sums_fit(const int32_t *bias, int32_t rows, int32_t cols, int32_t e)
{
    if (e > 8)
        return 0;
    for (int32_t r = 0; r < rows; ++r)
        if (((bias[r] < 0 ? -(int64_t)bias[r] : (int64_t)bias[r]) + (int64_t)cols * 16384) << e >= ((int64_t)1 << 31))
            return 0;
    return 1;
}

static void gate_shifts(const cmsis_nn_lstm_params *p, int32_t *shifts)
{
    const cmsis_nn_lstm_gate *gates[4] = {&p->forget_gate, &p->input_gate, &p->cell_gate, &p->output_gate};
    for (int32_t g = 0; g < 4; ++g)
    {
        shifts[2 * g] = gates[g]->input_shift;
        shifts[2 * g + 1] = gates[g]->hidden_shift;
    }
}

/* the op's four packed gates (forget, input, cell, output), or NULL */
static const int32_t *const *packed(const cmsis_nn_lstm_params *p)
{
    int32_t shifts[8];
    gate_shifts(p, shifts);
    for (int32_t i = 0; i < g_wide_ops; ++i)
        if (g_wide_key[i] == p->forget_gate.input_weights)
        {
            for (int32_t k = 0; k < 8; ++k)
                if (shifts[k] != g_wide_shifts[i][k])
                    return NULL;
            return g_wide_at[i][0] ? g_wide_at[i] : NULL;
        }
    const int32_t in = p->input_size, n = p->hidden_size;
    const int32_t words = 4 * (n / 4) * (8 + 2 * in + 2 * n);
    if (g_wide_ops == TFDISTIL_WIDE_OPS)
        return NULL;
    const cmsis_nn_lstm_gate *gates[4] = {&p->forget_gate, &p->input_gate, &p->cell_gate, &p->output_gate};
    int fit = g_wide_used + words <= TFDISTIL_WIDE_WORDS;
    for (int32_t g = 0; g < 4 && fit; ++g)
        fit = sums_fit(gates[g]->input_effective_bias, n, in, SCALE_EXP(gates[g]->input_shift)) &&
              sums_fit(gates[g]->hidden_effective_bias, n, n, SCALE_EXP(gates[g]->hidden_shift));
    g_wide_key[g_wide_ops] = p->forget_gate.input_weights;
    memcpy(g_wide_shifts[g_wide_ops], shifts, sizeof(shifts));
    for (int32_t g = 0; g < 4; ++g)
    {
        if (!fit)
        {
            g_wide_at[g_wide_ops][g] = NULL;
            continue;
        }
        int32_t *d = g_wide + g_wide_used;
        g_wide_at[g_wide_ops][g] = d;
        for (int32_t r = 0; r < n; r += 4)
        {
            d = pack_part(d, (const int8_t *)gates[g]->input_weights, gates[g]->input_effective_bias, r, in,
                          SCALE_EXP(gates[g]->input_shift));
            d = pack_part(d, (const int8_t *)gates[g]->hidden_weights, gates[g]->hidden_effective_bias, r, n,
                          SCALE_EXP(gates[g]->hidden_shift));
        }
        g_wide_used = (int32_t)(d - g_wide);
    }
    return g_wide_at[g_wide_ops++][0] ? g_wide_at[g_wide_ops - 1] : NULL;
}

/* 4 doubled sums: the 4 biases, then `words` steps of 8 SMLADs (one pair of vector words, two LDMs of
 * weights); w and v advance past what they read. */
#define DOT_STEP                                                                                          \
    "ldm %[v]!, {r10, r11}\n\t"                                                                           \
    "ldm %[w]!, {r4, r5, r6, r8}\n\t"                                                                     \
    "smlad r0, r4, r10, r0\n\t"                                                                           \
    "smlad r0, r5, r11, r0\n\t"                                                                           \
    "smlad r1, r6, r10, r1\n\t"                                                                           \
    "smlad r1, r8, r11, r1\n\t"                                                                           \
    "ldm %[w]!, {r4, r5, r6, r8}\n\t"                                                                     \
    "smlad r2, r4, r10, r2\n\t"                                                                           \
    "smlad r2, r5, r11, r2\n\t"                                                                           \
    "smlad r3, r6, r10, r3\n\t"                                                                           \
    "smlad r3, r8, r11, r3\n\t"
#define DOT_ASM(REPEAT)                                                                                   \
    __asm__ volatile("ldm %[w]!, {r0, r1, r2, r3}\n\t" REPEAT                                             \
                     : "=r"(a0), "=r"(a1), "=r"(a2), "=r"(a3), [w] "+r"(w), [v] "+r"(v)                    \
                     :                                                                                    \
                     : "r4", "r5", "r6", "r8", "r10", "r11", "memory")
#define DOT_REPT(N) ".rept " #N "\n\t" DOT_STEP ".endr\n\t"

__attribute__((always_inline)) static inline const int32_t *dot_packed(const int32_t *w, const int32_t *v,
                                                                      const int32_t words, int32_t out[4])
{
    register int32_t a0 __asm__("r0"), a1 __asm__("r1"), a2 __asm__("r2"), a3 __asm__("r3");
    switch (words)
    {
    case 1: DOT_ASM(DOT_REPT(1)); break;
    case 2: DOT_ASM(DOT_REPT(2)); break;
    case 4: DOT_ASM(DOT_REPT(4)); break;
    case 5: DOT_ASM(DOT_REPT(5)); break;
    case 8: DOT_ASM(DOT_REPT(8)); break;
    default:
    {
        int32_t k = words;
        __asm__ volatile("ldm %[w]!, {r0, r1, r2, r3}\n\t"
                         "1:\n\t" DOT_STEP "subs %[k], %[k], #1\n\t"
                         "bne 1b\n\t"
                         : "=r"(a0), "=r"(a1), "=r"(a2), "=r"(a3), [w] "+r"(w), [v] "+r"(v), [k] "+r"(k)
                         :
                         : "r4", "r5", "r6", "r8", "r10", "r11", "cc", "memory");
    }
    }
    out[0] = a0;
    out[1] = a1;
    out[2] = a2;
    out[3] = a3;
    return w;
}

__attribute__((always_inline)) static inline int32_t smmulr(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* arm_nn_requantize of a part from its scaled sum (see the packed path above): SMMULR is
 * arm_nn_doubling_high_mult_no_sat(sum << left shift, multiplier); for a right shift s >= 1 (right
 * set), then its rounding divide by 2^s (midpoint away from zero). */
__attribute__((always_inline)) static inline int32_t rq2(int32_t scaled_v, int32_t mult, int32_t s, int32_t half,
                                                        const int right)
{
    const int32_t t = smmulr(scaled_v, mult);
    return right ? (t + half + (t >> 31)) >> s : t;
}

__attribute__((always_inline)) static inline int32_t ssat16(int32_t v)
{
    int32_t r;
    __asm__("ssat %0, #16, %1" : "=r"(r) : "r"(v));
    return r;
}

__attribute__((always_inline)) static inline int32_t ssat8(int32_t v)
{
    int32_t r;
    __asm__("ssat %0, #8, %1" : "=r"(r) : "r"(v));
    return r;
}

/* one gate's int16 pre-activations from its packed stream; rx, rh: the input, hidden part's shift
 * is a right shift */
__attribute__((always_inline)) static inline void gate_body(const cmsis_nn_lstm_gate *g, const int32_t *w,
                                                            const int32_t in_words, const int32_t h_words,
                                                            const int32_t n, int16_t *out, const int rx, const int rh)
{
    const int32_t mx = g->input_multiplier, sx = -g->input_shift, hx = rx ? 1 << (sx - 1) : 0;
    const int32_t mh = g->hidden_multiplier, sh = -g->hidden_shift, hh = rh ? 1 << (sh - 1) : 0;
    for (int32_t r = 0; r < n; r += 4)
    {
        int32_t a[4], b[4];
        w = dot_packed(w, g_xv, in_words, a);
        w = dot_packed(w, g_hv, h_words, b);
        for (int32_t i = 0; i < 4; ++i)
            out[r + i] = (int16_t)ssat16(ssat16(rq2(a[i], mx, sx, hx, rx)) + rq2(b[i], mh, sh, hh, rh));
    }
}

__attribute__((always_inline)) static inline void gate_packed(const cmsis_nn_lstm_gate *g, const int32_t *w,
                                                              const int32_t in_words, const int32_t h_words,
                                                              const int32_t n, int16_t *out)
{
    const int rx = g->input_shift < 0, rh = g->hidden_shift < 0;
    if (!rx && !rh)
        gate_body(g, w, in_words, h_words, n, out, 0, 0);
    else if (!rx)
        gate_body(g, w, in_words, h_words, n, out, 0, 1);
    else if (!rh)
        gate_body(g, w, in_words, h_words, n, out, 1, 0);
    else
        gate_body(g, w, in_words, h_words, n, out, 1, 1);
}

/* arm_nn_activation_s16 of input_data d (the input already multiplied and shifted as it does) from a
 * table per kind of 512 linear pieces indexed by the signed bucket b = d >> 9 (sigmoid) or d >> 8
 * (tanh), saturated to [-256, 255] (one SSAT): entry b gives base + (d & 511 or 255) x slope, shifted
 * right 10 (sigmoid) or 8 (tanh), = the int16 result. For d >= 0 the pieces are CMSIS-NN's own
 * interpolation (base: sigmoid_table_uint16[b] scaled, with its rounding and offset; bucket 255: the
 * saturated value, slope 0); for d < 0 (CMSIS-NN interpolates |d| and then reflects: 32768 - P for
 * sigmoid, -P for tanh) the same piece reflected, with the rounding of the reflection folded into its
 * base: |d| = 2^k q + u, d & (2^k - 1) = 2^k - u, so 32768 - ((base + u slope) >> 10) =
 * (2^25 + 1023 - base - 2^9 slope + (d & 511) slope) >> 10, and likewise for tanh. No absolute value,
 * no sign test. Checked on every int16 input against arm_nn_activation_s16 (tanh: left shifts -15..10;
 * sigmoid: left shift 0, the gates' only one) on the board by tests/lstm_step_check.c
 * (tfdistil_lstm_act_check below), and through the step. */
typedef struct
{
    int32_t base, slope;
} act_entry;
static act_entry g_act[2][512] __attribute__((aligned(8))); /* [0] tanh, [1] sigmoid; bucket + 256 */
static int g_act_ready;

static void act_tables(void)
{
    for (int32_t sig = 0; sig < 2; ++sig)
    {
        act_entry *t = g_act[sig] + 256;
        for (int32_t q = 0; q < 256; ++q) /* d >= 0: CMSIS-NN's pieces */
        {
            const uint32_t ua = sigmoid_table_uint16[q], ub = q < 255 ? sigmoid_table_uint16[q + 1] : ua;
            const uint32_t base = q == 255 ? (sig ? (0x7FFFu << 10) + (1u << 9) : (0xFFFFu << 8) - (1u << 23) + (1u << 7))
                                           : (sig ? (ua << 9) + (1u << 9) : (ua << 8) - (1u << 23) + (1u << 7));
            t[q] = (act_entry){(int32_t)base, q == 255 ? 0 : (int32_t)(ub - ua)};
        }
        for (int32_t b = -256; b < 0; ++b) /* d < 0: |d| in piece q = -b - 1, reflected */
        {
            const act_entry e = t[-b - 1 < 255 ? -b - 1 : 255];
            t[b] = sig ? (act_entry){(1 << 25) + 1023 - e.base - (e.slope << 9), e.slope}
                       : (act_entry){255 - e.base - (e.slope << 8), e.slope};
        }
    }
    g_act_ready = 1;
}

__attribute__((always_inline)) static inline int32_t act_tab(int32_t d, const int sigmoid)
{
    int32_t b, base, slope;
    if (sigmoid)
        __asm__("ssat %0, #9, %1, asr #9" : "=r"(b) : "r"(d));
    else
        __asm__("ssat %0, #9, %1, asr #8" : "=r"(b) : "r"(d));
    const act_entry *e, *mid = g_act[sigmoid] + 256;
    __asm__("add %0, %1, %2, lsl #3" : "=r"(e) : "r"(mid), "r"(b)); /* the compiler adds 256 to b first */
    __asm__("ldrd %0, %1, [%2]" : "=r"(base), "=r"(slope) : "r"(e), "m"(g_act));
    return (base + (d & (sigmoid ? 0x1ff : 0xff)) * slope) >> (sigmoid ? 10 : 8);
}

#ifdef TFDISTIL_STEP_COUNT
/* tests/lstm_step_check.c: act_tab against arm_nn_activation_s16 on every int16 input (tanh at left
 * shifts -15..10, sigmoid at 0); the number of differences */
int32_t tfdistil_lstm_act_check(void)
{
    static int16_t in[256], ref[256];
    int32_t bad = 0;
    if (!g_act_ready)
        act_tables();
    for (int32_t ls = -15; ls <= 10; ++ls)
        for (int32_t sig = 0; sig < 2; ++sig)
        {
            if (sig && ls != 0)
                continue;
            const int32_t mult = ls < 0 ? 3 : 3 << ls, shift = ls < 0 ? -ls : 0, round = shift > 0 ? 1 << (shift - 1) : 0;
            for (int32_t x0 = -32768; x0 < 32768; x0 += 256)
            {
                for (int32_t i = 0; i < 256; ++i)
                    in[i] = (int16_t)(x0 + i);
                arm_nn_activation_s16(in, ref, 256, ls, sig ? ARM_SIGMOID : ARM_TANH);
                for (int32_t i = 0; i < 256; ++i)
                    bad += act_tab((in[i] * mult + round) >> shift, sig) != ref[i];
            }
        }
    return bad;
}
#endif

/* the element pass from the pre-activations, all requantizing shifts right shifts (>= 1): products of
 * activations and the cell are below 2^30 in magnitude, so 2 x them fits and rq2 applies */
__attribute__((always_inline)) static inline void cell_packed(const cmsis_nn_lstm_params *p, int16_t *cell,
                                                              int8_t *hidden_out, const int32_t n)
{
    const int32_t cmax = p->cell_clip > 0 ? p->cell_clip : NN_Q15_MAX;
    const int32_t cmin = p->cell_clip > 0 ? -p->cell_clip : NN_Q15_MIN;
    const int32_t ls = p->cell_scale_power + 12;
    const int32_t tmul = ls < 0 ? 3 : 3 << ls, tshift = ls < 0 ? -ls : 0, tround = tshift > 0 ? 1 << (tshift - 1) : 0;
    const int32_t mf = p->forget_to_cell_multiplier, sf = -p->forget_to_cell_shift, hf = 1 << (sf - 1);
    const int32_t mi = p->input_to_cell_multiplier, si = -p->input_to_cell_shift, hi = 1 << (si - 1);
    const int32_t mo = p->output_multiplier, so = -p->output_shift, ho = 1 << (so - 1);
    const int32_t off = p->output_offset;
    for (int32_t i = 0; i < n; ++i)
    {
        const int32_t f = act_tab(3 * g_pre[0][i], 1);
        int32_t c = ssat16(rq2(2 * f * cell[i], mf, sf, hf, 1));
        const int32_t ig = act_tab(3 * g_pre[1][i], 1);
        const int32_t cg = act_tab(3 * g_pre[2][i], 0);
        c += rq2(2 * ig * cg, mi, si, hi, 1);
        c = MIN(MAX(c, cmin), cmax);
        cell[i] = (int16_t)c;
        const int32_t og = act_tab(3 * g_pre[3][i], 1);
        const int32_t t = act_tab((c * tmul + tround) >> tshift, 0);
        hidden_out[i] = (int8_t)ssat8(rq2(2 * og * t, mo, so, ho, 1) + off);
    }
}

__attribute__((always_inline)) static inline void step_packed(const int32_t *const *w, const cmsis_nn_lstm_params *p,
                                                              int16_t *cell, int8_t *hidden_out, const int32_t in,
                                                              const int32_t n)
{
    gate_packed(&p->forget_gate, w[0], in / 4, n / 4, n, g_pre[0]);
    gate_packed(&p->input_gate, w[1], in / 4, n / 4, n, g_pre[1]);
    gate_packed(&p->cell_gate, w[2], in / 4, n / 4, n, g_pre[2]);
    gate_packed(&p->output_gate, w[3], in / 4, n / 4, n, g_pre[3]);
    cell_packed(p, cell, hidden_out, n);
}

/* the element pass's requantizing shifts are right shifts of at least 1 (rq2's rounding) */
static int shifts_right(const cmsis_nn_lstm_params *p)
{
    return p->forget_to_cell_shift < 0 && p->input_to_cell_shift < 0 && p->output_shift < 0;
}

/* One gate's int16 pre-activation into `out`, as arm_nn_lstm_calculate_gate_s8_s16 computes it
 * before its activation (the int8 path: an op whose packed weights do not fit, or shifts it does not take). */
static void gate_pre(const cmsis_nn_lstm_gate *gate, int32_t in_size, int32_t hidden_size, int16_t *out)
{
    const int8_t *wx = (const int8_t *)gate->input_weights;
    const int8_t *wh = (const int8_t *)gate->hidden_weights;
    const int32_t *bx = (const int32_t *)gate->input_effective_bias;
    const int32_t *bh = (const int32_t *)gate->hidden_effective_bias;
    for (int32_t r = 0; r < hidden_size; r += 4)
    {
        int32_t ax[4] = {bx[r], bx[r + 1], bx[r + 2], bx[r + 3]};
        int32_t ah[4] = {bh[r], bh[r + 1], bh[r + 2], bh[r + 3]};
        dot4_words(wx + r * in_size, in_size / 4, g_xv, ax);
        dot4_words(wh + r * hidden_size, hidden_size / 4, g_hv, ah);
        for (int32_t i = 0; i < 4; ++i)
        {
            int32_t v = arm_nn_requantize(ax[i], gate->input_multiplier, gate->input_shift);
            v = MIN(MAX(v, NN_Q15_MIN), NN_Q15_MAX);
            v += arm_nn_requantize(ah[i], gate->hidden_multiplier, gate->hidden_shift);
            out[r + i] = (int16_t)MIN(MAX(v, NN_Q15_MIN), NN_Q15_MAX);
        }
    }
}

/* arm_nn_activation_s16 for one element (CMSIS-NN v7's formula, unsigned arithmetic kept) */
__attribute__((always_inline)) static inline int16_t act_s16(int16_t x, int32_t sigmoid, int32_t left_shift)
{
    const uint32_t abs_input_shift = sigmoid ? 9 : 8;
    const uint32_t max_saturation = sigmoid ? (0x7FFF << 10) : (0xFFFF << 8);
    const int32_t input_multiplier = (left_shift < 0) ? 3 : 3 << left_shift;
    const int32_t abs_left_shift = (left_shift < 0) ? -left_shift : 0;
    const int32_t rounding = (abs_left_shift > 0) ? 1 << (abs_left_shift - 1) : 0;
    const int32_t input_data = (x * input_multiplier + rounding) >> abs_left_shift;
    const uint32_t abs_input_data = input_data > 0 ? input_data : -input_data;
    const uint32_t uh = abs_input_data >> abs_input_shift;
    uint32_t result;
    if (uh >= 255)
    {
        result = max_saturation;
    }
    else
    {
        const uint32_t ua = sigmoid_table_uint16[uh];
        const uint32_t ub = sigmoid_table_uint16[uh + 1];
        const uint32_t ut = abs_input_data & (sigmoid ? 0x1ff : 0x0ff);
        result = (ua << abs_input_shift) + ut * (ub - ua);
    }
    if (sigmoid)
    {
        result = (input_data >= 0) ? (result + (1 << 9)) : ((1 << 25) - result + (1 << 9) - 1);
        result >>= 10;
    }
    else
    {
        result = (input_data >= 0) ? (result - (1 << 23)) + (1 << 7) : ((-result + (1 << 23)) + (1 << 7) - 1);
        result >>= 8;
    }
    return (int16_t)result;
}

/* the product of two int16, requantized, as the arm_elementwise_mul_s16* functions compute it;
 * right_only: the shift is known to be <= 0 (arm_nn_requantize's right-shift branch) */
__attribute__((always_inline)) static inline int32_t mul_rq(int32_t a, int32_t b, int32_t mult, int32_t shift,
                                                           const int right_only)
{
    if (right_only)
        return arm_nn_divide_by_power_of_two(arm_nn_doubling_high_mult_no_sat(a * b, mult), -shift);
    return arm_nn_requantize(a * b, mult, shift);
}

__attribute__((always_inline)) static inline void cell_pass(const cmsis_nn_lstm_params *p, int16_t *cell,
                                                             int8_t *hidden_out, const int right_only)
{
    const int32_t n = p->hidden_size;
    /* arm_elementwise_mul_acc_s16's clamp from (-cell_clip, cell_clip) */
    const int32_t cmax = p->cell_clip > 0 ? p->cell_clip : NN_Q15_MAX;
    const int32_t cmin = p->cell_clip > 0 ? -p->cell_clip : NN_Q15_MIN;
    const int32_t tanh_shift = p->cell_scale_power + 12;
    for (int32_t i = 0; i < n; ++i)
    {
        const int32_t f = act_s16(g_pre[0][i], 1, 0);
        int32_t c = mul_rq(f, cell[i], p->forget_to_cell_multiplier, p->forget_to_cell_shift, right_only);
        c = MIN(MAX(c, NN_Q15_MIN), NN_Q15_MAX);
        const int32_t ig = act_s16(g_pre[1][i], 1, 0);
        const int32_t cg = act_s16(g_pre[2][i], 0, 0);
        c += mul_rq(ig, cg, p->input_to_cell_multiplier, p->input_to_cell_shift, right_only);
        c = MIN(MAX(c, cmin), cmax);
        cell[i] = (int16_t)c;
        const int32_t og = act_s16(g_pre[3][i], 1, 0);
        const int32_t t = act_s16((int16_t)c, 0, tanh_shift);
        int32_t h = mul_rq(og, t, p->output_multiplier, p->output_shift, right_only) + p->output_offset;
        hidden_out[i] = (int8_t)MIN(MAX(h, NN_Q7_MIN), NN_Q7_MAX);
    }
}

#ifdef TFDISTIL_STEP_COUNT
int32_t tfdistil_lstm_step_packed_count;
#endif

static int fused_step(const int8_t *data_in, const int8_t *hidden_in, int8_t *hidden_out,
                      const cmsis_nn_lstm_params *p, int16_t *cell)
{
    const int32_t n = p->hidden_size;
    if (p->batch_size != 1 || hidden_in == NULL || !SIZE_OK(p->input_size) || !SIZE_OK(n) ||
        p->input_size > TFDISTIL_FUSED_MAX || n > TFDISTIL_FUSED_MAX || p->forget_gate.activation_type != ARM_SIGMOID ||
        p->input_gate.activation_type != ARM_SIGMOID || p->cell_gate.activation_type != ARM_TANH ||
        p->output_gate.activation_type != ARM_SIGMOID)
        return 0;
    expand(data_in, p->input_size / 4, g_xv);
    expand(hidden_in, n / 4, g_hv);
    const int32_t *const *w = packed(p);
    if (w != NULL && shifts_right(p))
    {
#ifdef TFDISTIL_STEP_COUNT /* tests/lstm_step_check.c: how many steps took this path */
        ++tfdistil_lstm_step_packed_count;
#endif
        if (!g_act_ready)
            act_tables();
        /* constant sizes for the students' common shapes: the dot products fully unrolled */
        if (p->input_size == 20 && n == 32)
            step_packed(w, p, cell, hidden_out, 20, 32);
        else if (p->input_size == 16 && n == 16)
            step_packed(w, p, cell, hidden_out, 16, 16);
        else
            step_packed(w, p, cell, hidden_out, p->input_size, n);
        return 1;
    }
    gate_pre(&p->forget_gate, p->input_size, n, g_pre[0]);
    gate_pre(&p->input_gate, p->input_size, n, g_pre[1]);
    gate_pre(&p->cell_gate, p->input_size, n, g_pre[2]);
    gate_pre(&p->output_gate, p->input_size, n, g_pre[3]);
    if (p->forget_to_cell_shift <= 0 && p->input_to_cell_shift <= 0 && p->output_shift <= 0)
        cell_pass(p, cell, hidden_out, 1);
    else
        cell_pass(p, cell, hidden_out, 0);
    return 1;
}
#endif

#if defined(ARM_MATH_MVEI)
#include "tfdistil_lstm_step_mve.h"
#else
/* CMSIS-NN's own gate and activation (the names spelled out: tfdistil/edge/mcu/cmsis.py follows
 * calls by name to find the sources to compile) */
static void step_gate(const int8_t *data_in, const int8_t *hidden_in, const cmsis_nn_lstm_gate *gate,
                     const cmsis_nn_lstm_params *params, int16_t *output, const int32_t batch_offset)
{
    arm_nn_lstm_calculate_gate_s8_s16(data_in, hidden_in, gate, params, output, batch_offset);
}
static void step_activation(const int16_t *in, int16_t *out, int32_t size, int32_t left_shift,
                        arm_nn_activation_type type)
{
    arm_nn_activation_s16(in, out, size, left_shift, type);
}
#endif

/* Once per LSTM op, from its Prepare (AllocateTensors()): the DSP path's widened weights, so that
 * no Invoke() pays for them (every step then costs the same). */
void tfdistil_lstm_prepare_s8(const cmsis_nn_lstm_params *params)
{
#if defined(TFDISTIL_FUSED)
    if (params->batch_size == 1 && SIZE_OK(params->input_size) && SIZE_OK(params->hidden_size) &&
        params->input_size <= TFDISTIL_FUSED_MAX && params->hidden_size <= TFDISTIL_FUSED_MAX)
    {
        (void)packed(params);
        if (!g_act_ready)
            act_tables();
    }
#elif defined(ARM_MATH_MVEI)
    (void)params;
    if (!g_act_ready)
        act_tables_mve();
#else
    (void)params;
#endif
}

arm_cmsis_nn_status arm_nn_lstm_step_s8(const int8_t *data_in,
                                        const int8_t *hidden_in,
                                        int8_t *hidden_out,
                                        const cmsis_nn_lstm_params *params,
                                        cmsis_nn_lstm_context *buffers,
                                        const int32_t batch_offset)
{
    int16_t *cell_state = buffers->cell_state;
    const int32_t n = params->hidden_size * params->batch_size;
#if defined(TFDISTIL_FUSED)
    if (fused_step(data_in, hidden_in, hidden_out, params, cell_state))
        return ARM_CMSIS_NN_SUCCESS;
#elif defined(ARM_MATH_MVEI)
    if (fused_step_mve(data_in, hidden_in, hidden_out, params, cell_state))
        return ARM_CMSIS_NN_SUCCESS;
#endif
    /* CMSIS-NN's own step (Source/NNSupportFunctions/arm_nn_lstm_step_s8.c, CMSIS-NN v7) */
    int16_t *forget_gate = buffers->temp1;
    int16_t *input_gate = buffers->temp1;
    int16_t *cell_gate = buffers->temp2;
    int16_t *output_gate = buffers->temp1;
    int16_t *hidden_temp = buffers->temp2;
    step_gate(data_in, hidden_in, &params->forget_gate, params, forget_gate, batch_offset);
    arm_elementwise_mul_s16(forget_gate, cell_state, 0, 0, cell_state, 0, params->forget_to_cell_multiplier,
                            params->forget_to_cell_shift, NN_Q15_MIN, NN_Q15_MAX, n);
    step_gate(data_in, hidden_in, &params->input_gate, params, input_gate, batch_offset);
    step_gate(data_in, hidden_in, &params->cell_gate, params, cell_gate, batch_offset);
    arm_elementwise_mul_acc_s16(input_gate, cell_gate, 0, 0, cell_state, 0, params->input_to_cell_multiplier,
                                params->input_to_cell_shift, -params->cell_clip, params->cell_clip, n);
    step_gate(data_in, hidden_in, &params->output_gate, params, output_gate, batch_offset);
    step_activation(cell_state, hidden_temp, n, params->cell_scale_power + 12, ARM_TANH);
    arm_elementwise_mul_s16_s8(output_gate, hidden_temp, hidden_out, params->output_offset,
                               params->output_multiplier, params->output_shift, params->hidden_size,
                               params->batch_size, batch_offset);
    return ARM_CMSIS_NN_SUCCESS;
}
