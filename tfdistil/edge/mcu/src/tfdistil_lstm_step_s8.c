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
#include "arm_nn_tables.h"
#include "arm_nnfunctions.h"
#include "arm_nnsupportfunctions.h"

#if defined(ARM_MATH_DSP) && !defined(ARM_MATH_MVEI)
#define TFDISTIL_FUSED 1
#define TFDISTIL_FUSED_MAX 128 /* largest input or hidden size the fused path takes */

static int16_t g_pre[4][TFDISTIL_FUSED_MAX]; /* the gates' int16 pre-activations */

static int32_t g_x_even[TFDISTIL_FUSED_MAX / 4], g_x_odd[TFDISTIL_FUSED_MAX / 4];
static int32_t g_h_even[TFDISTIL_FUSED_MAX / 4], g_h_odd[TFDISTIL_FUSED_MAX / 4];

/* bytes v0 v1 v2 v3 -> (v0, v2) and (v1, v3) as 16-bit pairs, as SXTB16 splits a weight word */
static void expand(const int8_t *v, int32_t words, int32_t *even, int32_t *odd)
{
    for (int32_t k = 0; k < words; ++k)
    {
        const int32_t w = arm_nn_read_s8x4_ia(&v);
        even[k] = SXTB16(w);
        odd[k] = SXTB16_RORn((uint32_t)w, 8);
    }
}

/* acc[r] += row r of `w` (words * 4 int8 columns) . the expanded vector, for 4 rows */
__attribute__((always_inline)) static inline void
dot4_body(const int8_t *w, const int32_t words, const int32_t *even, const int32_t *odd, int32_t *acc)
{
    const int32_t cols = words * 4;
    const int8_t *w0 = w, *w1 = w + cols, *w2 = w + 2 * cols, *w3 = w + 3 * cols;
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (int32_t k = 0; k < words; ++k)
    {
        const int32_t e = even[k], o = odd[k];
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
static void dot4_words(const int8_t *w, int32_t words, const int32_t *even, const int32_t *odd, int32_t *acc)
{
    switch (words)
    {
    case 4: dot4_body(w, 4, even, odd, acc); break;
    case 5: dot4_body(w, 5, even, odd, acc); break;
    case 6: dot4_body(w, 6, even, odd, acc); break;
    case 8: dot4_body(w, 8, even, odd, acc); break;
    default: dot4_body(w, words, even, odd, acc); break;
    }
}
#define SIZE_OK(n) ((n) % 4 == 0)

/* Weights widened once into RAM as SXTB16 splits them, word by word: (w0, w2), (w1, w3), so the
 * dot products skip the two SXTB16 per weight word and load two words at a time. Made in each LSTM
 * op's Prepare (tfdistil_lstm_prepare_s8 below, called by the patched TFLM wrapper: tfdistil/edge/mcu/
 * cmsis.py), while the buffer holds them (an op that does not fit keeps the int8 path);
 * the key is the op's forget-gate input weights (constant, in the model): not the params pointer,
 * which arm_lstm_unidirectional_s8 may pass as a copy on its stack, the same address for every op.
 * TFDISTIL_WIDE_WORDS: 6,656 int32 (26,624 B) = the 256 KB student's 2 LSTMs x 4 gates x 32 x (20 + 32). */
#ifndef TFDISTIL_WIDE_WORDS
#define TFDISTIL_WIDE_WORDS 6656
#endif
#define TFDISTIL_WIDE_OPS 4
static int32_t g_wide[TFDISTIL_WIDE_WORDS] __attribute__((aligned(8)));
static int32_t g_wide_used, g_wide_ops;
static const void *g_wide_key[TFDISTIL_WIDE_OPS];
static const int32_t *g_wide_at[TFDISTIL_WIDE_OPS][8]; /* per gate: input, hidden */

/* tests/lstm_step_check.c changes the weights behind the same params between trials */
void tfdistil_lstm_step_forget_weights(void) { g_wide_used = g_wide_ops = 0; }

static const int32_t *widen(const int8_t *w, int32_t count)
{
    int32_t *d = g_wide + g_wide_used;
    for (int32_t k = 0; k < count / 4; ++k)
    {
        const int32_t v = arm_nn_read_s8x4_ia(&w);
        d[2 * k] = SXTB16(v);
        d[2 * k + 1] = SXTB16_RORn((uint32_t)v, 8);
    }
    g_wide_used += count / 2;
    return d;
}

/* the op's eight widened matrices (forget, input, cell, output gate; input then hidden), or NULL */
static const int32_t *const *widened(const cmsis_nn_lstm_params *p)
{
    for (int32_t i = 0; i < g_wide_ops; ++i)
        if (g_wide_key[i] == p->forget_gate.input_weights)
            return g_wide_at[i];
    const int32_t words = 4 * p->hidden_size * (p->input_size + p->hidden_size) / 2;
    if (g_wide_ops == TFDISTIL_WIDE_OPS || g_wide_used + words > TFDISTIL_WIDE_WORDS)
        return NULL;
    const cmsis_nn_lstm_gate *gates[4] = {&p->forget_gate, &p->input_gate, &p->cell_gate, &p->output_gate};
    for (int32_t g = 0; g < 4; ++g)
    {
        g_wide_at[g_wide_ops][2 * g] = widen((const int8_t *)gates[g]->input_weights, p->hidden_size * p->input_size);
        g_wide_at[g_wide_ops][2 * g + 1] = widen((const int8_t *)gates[g]->hidden_weights, p->hidden_size * p->hidden_size);
    }
    g_wide_key[g_wide_ops] = p->forget_gate.input_weights;
    return g_wide_at[g_wide_ops++];
}

/* acc[r] += row r of the widened matrix (words * 4 columns) . the expanded vector, for 4 rows */
__attribute__((always_inline)) static inline void
dotw4_body(const int32_t *w, const int32_t words, const int32_t *even, const int32_t *odd, int32_t *acc)
{
    const int32_t *w0 = w, *w1 = w + 2 * words, *w2 = w + 4 * words, *w3 = w + 6 * words;
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (int32_t k = 0; k < words; ++k)
    {
        const int32_t e = even[k], o = odd[k];
        a0 = SMLAD(w0[2 * k], e, a0);
        a0 = SMLAD(w0[2 * k + 1], o, a0);
        a1 = SMLAD(w1[2 * k], e, a1);
        a1 = SMLAD(w1[2 * k + 1], o, a1);
        a2 = SMLAD(w2[2 * k], e, a2);
        a2 = SMLAD(w2[2 * k + 1], o, a2);
        a3 = SMLAD(w3[2 * k], e, a3);
        a3 = SMLAD(w3[2 * k + 1], o, a3);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

static void dotw4_words(const int32_t *w, int32_t words, const int32_t *even, const int32_t *odd, int32_t *acc)
{
    switch (words)
    {
    case 4: dotw4_body(w, 4, even, odd, acc); break;
    case 5: dotw4_body(w, 5, even, odd, acc); break;
    case 8: dotw4_body(w, 8, even, odd, acc); break;
    default: dotw4_body(w, words, even, odd, acc); break;
    }
}

/* One gate's int16 pre-activation into `out`, as arm_nn_lstm_calculate_gate_s8_s16 computes it
 * before its activation. */
static void gate_pre(const cmsis_nn_lstm_gate *gate, const int32_t *const wide[2], int32_t in_size,
                     int32_t hidden_size, int16_t *out)
{
    const int8_t *wx = (const int8_t *)gate->input_weights;
    const int8_t *wh = (const int8_t *)gate->hidden_weights;
    const int32_t *bx = (const int32_t *)gate->input_effective_bias;
    const int32_t *bh = (const int32_t *)gate->hidden_effective_bias;
    for (int32_t r = 0; r < hidden_size; r += 4)
    {
        int32_t ax[4] = {bx[r], bx[r + 1], bx[r + 2], bx[r + 3]};
        int32_t ah[4] = {bh[r], bh[r + 1], bh[r + 2], bh[r + 3]};
        if (wide != NULL)
        {
            dotw4_words(wide[0] + r * in_size / 2, in_size / 4, g_x_even, g_x_odd, ax);
            dotw4_words(wide[1] + r * hidden_size / 2, hidden_size / 4, g_h_even, g_h_odd, ah);
        }
        else
        {
            dot4_words(wx + r * in_size, in_size / 4, g_x_even, g_x_odd, ax);
            dot4_words(wh + r * hidden_size, hidden_size / 4, g_h_even, g_h_odd, ah);
        }
        if (gate->input_shift <= 0 && gate->hidden_shift <= 0) /* the usual case: no left shift to test for */
        {
            for (int32_t i = 0; i < 4; ++i)
            {
                int32_t v = arm_nn_divide_by_power_of_two(arm_nn_doubling_high_mult_no_sat(ax[i], gate->input_multiplier),
                                                          -gate->input_shift);
                v = MIN(MAX(v, NN_Q15_MIN), NN_Q15_MAX);
                v += arm_nn_divide_by_power_of_two(arm_nn_doubling_high_mult_no_sat(ah[i], gate->hidden_multiplier),
                                                   -gate->hidden_shift);
                out[r + i] = (int16_t)MIN(MAX(v, NN_Q15_MIN), NN_Q15_MAX);
            }
            continue;
        }
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

static int fused_step(const int8_t *data_in, const int8_t *hidden_in, int8_t *hidden_out,
                      const cmsis_nn_lstm_params *p, int16_t *cell)
{
    const int32_t n = p->hidden_size;
    if (p->batch_size != 1 || hidden_in == NULL || !SIZE_OK(p->input_size) || !SIZE_OK(n) ||
        p->input_size > TFDISTIL_FUSED_MAX || n > TFDISTIL_FUSED_MAX || p->forget_gate.activation_type != ARM_SIGMOID ||
        p->input_gate.activation_type != ARM_SIGMOID || p->cell_gate.activation_type != ARM_TANH ||
        p->output_gate.activation_type != ARM_SIGMOID)
        return 0;
    expand(data_in, p->input_size / 4, g_x_even, g_x_odd);
    expand(hidden_in, n / 4, g_h_even, g_h_odd);
    const int32_t *const *wide = widened(p);
    gate_pre(&p->forget_gate, wide, p->input_size, n, g_pre[0]);
    gate_pre(&p->input_gate, wide ? wide + 2 : NULL, p->input_size, n, g_pre[1]);
    gate_pre(&p->cell_gate, wide ? wide + 4 : NULL, p->input_size, n, g_pre[2]);
    gate_pre(&p->output_gate, wide ? wide + 6 : NULL, p->input_size, n, g_pre[3]);
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
    if (params->batch_size == 1 && SIZE_OK(params->input_size) && SIZE_OK(params->hidden_size))
        (void)widened(params);
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
