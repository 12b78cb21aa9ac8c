/* tfdistil_lstm_step_mve.h: the Helium (MVE, Cortex-M55) half of tfdistil_lstm_step_s8.c, included
 * by it when ARM_MATH_MVEI is defined. Same integers as CMSIS-NN's step on Helium:
 *   - each gate four hidden units at a time: VMLADAVA.S8 dot products of four weight rows with the
 *     input and the hidden state (as arm_nn_vec_mat_mul_result_acc_s8_s16), arm_requantize_mve of
 *     each part, the int16 clamps, then the activation on the vector (act_vec: arm_nn_activation_s16
 *     with its two table reads as gathers) instead of a scalar pass over the gate;
 *   - then one pass of the cell update and the output over the hidden units, four at a time, with
 *     the element-wise functions' own vector arithmetic (arm_requantize_mve_32x4, clamps).
 * tests/test_firmware_lstm_step.py checks it against CMSIS-NN's step on the emulated M55. */
#ifndef TFDISTIL_LSTM_STEP_MVE_H
#define TFDISTIL_LSTM_STEP_MVE_H
#define TFDISTIL_MVE_MAX 256 /* largest hidden size the Helium path takes */

/* arm_nn_activation_s16 of four int16 values (in int32 lanes) on Helium: the same unsigned
 * arithmetic, the two table reads as gathers (indices clamped to 254 where the result saturates
 * and is not used); the result's low 16 bits sign-extended, as the (int16_t) store and reload. */
__attribute__((always_inline)) static inline int32x4_t act_vec(int32x4_t d, const int32_t sigmoid,
                                                              const int32_t left_shift)
{
    const int32_t abs_input_shift = sigmoid ? 9 : 8;
    const uint32_t max_saturation = sigmoid ? (0x7FFF << 10) : (0xFFFF << 8);
    const int32_t input_multiplier = (left_shift < 0) ? 3 : 3 << left_shift;
    const int32_t abs_left_shift = (left_shift < 0) ? -left_shift : 0;
    const int32_t rounding = (abs_left_shift > 0) ? 1 << (abs_left_shift - 1) : 0;
    d = vshlq_s32(vaddq_n_s32(vmulq_n_s32(d, input_multiplier), rounding), vdupq_n_s32(-abs_left_shift));
    const uint32x4_t a = vreinterpretq_u32_s32(vabsq_s32(d));
    const uint32x4_t uh = vshlq_u32(a, vdupq_n_s32(-abs_input_shift));
    const mve_pred16_t saturated = vcmpcsq_n_u32(uh, 255);
    const uint32x4_t idx = vminq_u32(uh, vdupq_n_u32(254));
    const uint32x4_t ua = vldrhq_gather_shifted_offset_u32(sigmoid_table_uint16, idx);
    const uint32x4_t ub = vldrhq_gather_shifted_offset_u32(sigmoid_table_uint16, vaddq_n_u32(idx, 1));
    uint32x4_t r = vaddq_u32(vshlq_u32(ua, vdupq_n_s32(abs_input_shift)),
                             vmulq_u32(vandq_u32(a, vdupq_n_u32(sigmoid ? 0x1ff : 0x0ff)), vsubq_u32(ub, ua)));
    r = vpselq_u32(vdupq_n_u32(max_saturation), r, saturated);
    const mve_pred16_t nonneg = vcmpgeq_n_s32(d, 0);
    if (sigmoid)
    {
        const uint32x4_t rp = vaddq_n_u32(r, 1 << 9);
        const uint32x4_t rn = vsubq_u32(vdupq_n_u32((1 << 25) + (1 << 9) - 1), r);
        r = vshrq_n_u32(vpselq_u32(rp, rn, nonneg), 10);
    }
    else
    {
        const uint32x4_t rp = vaddq_n_u32(r, (uint32_t)(-(1 << 23) + (1 << 7)));
        const uint32x4_t rn = vsubq_u32(vdupq_n_u32((1 << 23) + (1 << 7) - 1), r);
        r = vshrq_n_u32(vpselq_u32(rp, rn, nonneg), 8);
    }
    return vmovlbq_s16(vreinterpretq_s16_u32(r));
}

/* arm_nn_activation_s16 of four input_data values d (the input already multiplied and shifted as it
 * does) from a table per kind, as the Cortex-M4's act_tab (tfdistil_lstm_step_s8.c): entry
 * uh = min(|d| >> 9 (sigmoid) or 8 (tanh), 255) holds the interpolation's base (rounding and offset
 * included) and slope, entry 255 the saturated value with slope 0; the negative half by symmetry:
 * 32768 - P (sigmoid), -P (tanh). Two gathers instead of two gathers and ~10 more vector instructions. */
static uint32_t g_act_base[2][256], g_act_slope[2][256]; /* [0] tanh, [1] sigmoid */
static int g_act_ready;

static void act_tables_mve(void)
{
    for (int32_t k = 0; k < 256; ++k)
    {
        const uint32_t ua = sigmoid_table_uint16[k], ub = k < 255 ? sigmoid_table_uint16[k + 1] : ua;
        g_act_base[1][k] = k < 255 ? (ua << 9) + (1u << 9) : (0x7FFFu << 10) + (1u << 9);
        g_act_base[0][k] = k < 255 ? (ua << 8) - (1u << 23) + (1u << 7) : (0xFFFFu << 8) - (1u << 23) + (1u << 7);
        g_act_slope[1][k] = g_act_slope[0][k] = ub - ua;
    }
    g_act_ready = 1;
}

__attribute__((always_inline)) static inline int32x4_t act_tab_vec(int32x4_t d, const int32_t sigmoid)
{
    const uint32x4_t a = vreinterpretq_u32_s32(vabsq_s32(d));
    const uint32x4_t uh = vminq_u32(vshrq_n_u32(a, sigmoid ? 9 : 8), vdupq_n_u32(255));
    const uint32x4_t base = vldrwq_gather_shifted_offset_u32(g_act_base[sigmoid], uh);
    const uint32x4_t slope = vldrwq_gather_shifted_offset_u32(g_act_slope[sigmoid], uh);
    uint32x4_t r = vaddq_u32(base, vmulq_u32(vandq_u32(a, vdupq_n_u32(sigmoid ? 0x1ff : 0x0ff)), slope));
    r = vshrq_n_u32(r, sigmoid ? 10 : 8);
    const mve_pred16_t neg = vcmpltq_n_s32(d, 0);
    if (sigmoid)
        r = vsubq_m_u32(r, vdupq_n_u32(32768), r, neg);
    else
        r = vreinterpretq_u32_s32(vnegq_m_s32(vreinterpretq_s32_u32(r), vreinterpretq_s32_u32(r), neg));
    return vmovlbq_s16(vreinterpretq_s16_u32(r));
}

/* arm_requantize_mve(v, multiplier, shift) for a shift known to be a left shift (>= 0: the divide by 2^0
 * is the identity) or a right shift (< 0: the shift left by 0 is) */
__attribute__((always_inline)) static inline int32x4_t rq_left_mve(int32x4_t v, int32_t mult, int32x4_t left)
{
    return vqrdmulhq_n_s32(vshlq_s32(v, left), mult);
}

__attribute__((always_inline)) static inline int32x4_t rq_right_mve(int32x4_t v, int32_t mult, int32x4_t neg_exponent)
{
    v = vqrdmulhq_n_s32(v, mult);
    const int32x4_t fixup = vshrq_n_s32(vandq_s32(v, neg_exponent), 31);
    return vrshlq_s32(vqaddq_s32(v, fixup), neg_exponent);
}

/* arm_nn_activation_s16 on Helium (the fallback path's activations) */
static void step_activation(const int16_t *in, int16_t *out, int32_t size, int32_t left_shift,
                            arm_nn_activation_type type)
{
    for (int32_t i = 0; i < size; i += 4)
    {
        const mve_pred16_t p = vctp32q((uint32_t)(size - i));
        vstrhq_p_s32(out + i, act_vec(vldrhq_z_s32(in + i, p), type == ARM_SIGMOID, left_shift), p);
    }
}

/* rows r..r+3 of `w` (cols int8 columns) . v, plus bias, as arm_nn_vec_mat_mul_result_acc_s8_s16 sums them */
__attribute__((always_inline)) static inline int32x4_t dot4_mve(const int8_t *w, int32_t cols, const int8_t *v,
                                                               const int32_t *bias)
{
    const int8_t *w1 = w + cols, *w2 = w + 2 * cols, *w3 = w + 3 * cols;
    int32_t a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3];
    int32_t k = 0;
    for (; k + 16 <= cols; k += 16)
    {
        const int8x16_t x = vldrbq_s8(v + k);
        a0 = vmladavaq_s8(a0, vldrbq_s8(w + k), x);
        a1 = vmladavaq_s8(a1, vldrbq_s8(w1 + k), x);
        a2 = vmladavaq_s8(a2, vldrbq_s8(w2 + k), x);
        a3 = vmladavaq_s8(a3, vldrbq_s8(w3 + k), x);
    }
    if (k < cols) /* the last columns, by predication (zeros beyond) */
    {
        const mve_pred16_t p = vctp8q((uint32_t)(cols - k));
        const int8x16_t x = vldrbq_z_s8(v + k, p);
        a0 = vmladavaq_s8(a0, vldrbq_z_s8(w + k, p), x);
        a1 = vmladavaq_s8(a1, vldrbq_z_s8(w1 + k, p), x);
        a2 = vmladavaq_s8(a2, vldrbq_z_s8(w2 + k, p), x);
        a3 = vmladavaq_s8(a3, vldrbq_z_s8(w3 + k, p), x);
    }
    const int32x4_t acc = {a0, a1, a2, a3};
    return acc;
}

static int16_t g_gates[4][TFDISTIL_MVE_MAX]; /* the four gates' activations */

/* one gate's activations, as arm_nn_lstm_calculate_gate_s8_s16 computes them (inlined: the
 * activation's kind and the shifts' directions are then constants) */
__attribute__((always_inline)) static inline void gate_body_mve(const cmsis_nn_lstm_gate *g, const int8_t *x,
                                                                const int8_t *h, int32_t in_size, int32_t n,
                                                                int32_t sigmoid, int16_t *out, const int lx,
                                                                const int lh)
{
    const int32x4_t q15_min = vdupq_n_s32(NN_Q15_MIN), q15_max = vdupq_n_s32(NN_Q15_MAX);
    const int8_t *wx = (const int8_t *)g->input_weights, *wh = (const int8_t *)g->hidden_weights;
    const int32_t *bx = (const int32_t *)g->input_effective_bias, *bh = (const int32_t *)g->hidden_effective_bias;
    for (int32_t r = 0; r < n; r += 4)
    {
        int32x4_t v = dot4_mve(wx + r * in_size, in_size, x, bx + r);
        v = lx ? rq_left_mve(v, g->input_multiplier, vdupq_n_s32(g->input_shift))
               : rq_right_mve(v, g->input_multiplier, vdupq_n_s32(g->input_shift));
        v = vminq_s32(vmaxq_s32(v, q15_min), q15_max);
        int32x4_t u = dot4_mve(wh + r * n, n, h, bh + r);
        u = vaddq_s32(lh ? rq_left_mve(u, g->hidden_multiplier, vdupq_n_s32(g->hidden_shift))
                         : rq_right_mve(u, g->hidden_multiplier, vdupq_n_s32(g->hidden_shift)),
                      v);
        u = vminq_s32(vmaxq_s32(u, q15_min), q15_max);
        vstrhq_s32(out + r, act_tab_vec(vmulq_n_s32(u, 3), sigmoid)); /* left shift 0: input x 3 */
    }
}

__attribute__((always_inline)) static inline void gate_mve(const cmsis_nn_lstm_gate *g, const int8_t *x, const int8_t *h,
                                                           int32_t in_size, int32_t n, int32_t sigmoid, int16_t *out)
{
    const int lx = g->input_shift >= 0, lh = g->hidden_shift >= 0;
    if (lx && lh)
        gate_body_mve(g, x, h, in_size, n, sigmoid, out, 1, 1);
    else if (lx)
        gate_body_mve(g, x, h, in_size, n, sigmoid, out, 1, 0);
    else if (lh)
        gate_body_mve(g, x, h, in_size, n, sigmoid, out, 0, 1);
    else
        gate_body_mve(g, x, h, in_size, n, sigmoid, out, 0, 0);
}

__attribute__((always_inline)) static inline void cell_pass_mve(const cmsis_nn_lstm_params *p, int16_t *cell,
                                                                int8_t *out, const int32_t n, const int32_t cmin,
                                                                const int32_t cmax, const int32_t tmul,
                                                                const int32_t tshift, const int32_t tround,
                                                                const int right);

/* the step: the four gates, then one pass of the cell update and output four hidden units at a
 * time, with the integers of the original's element-wise functions on Helium (arm_requantize_mve_32x4) */
__attribute__((always_inline)) static inline void step_mve(const int8_t *x, const int8_t *h, int8_t *out,
                                                           const cmsis_nn_lstm_params *p, int16_t *cell,
                                                           const int32_t in, const int32_t n)
{
    gate_mve(&p->forget_gate, x, h, in, n, 1, g_gates[0]);
    gate_mve(&p->input_gate, x, h, in, n, 1, g_gates[1]);
    gate_mve(&p->cell_gate, x, h, in, n, 0, g_gates[2]);
    gate_mve(&p->output_gate, x, h, in, n, 1, g_gates[3]);
    const int32_t cmax = p->cell_clip > 0 ? p->cell_clip : NN_Q15_MAX;
    const int32_t cmin = p->cell_clip > 0 ? -p->cell_clip : NN_Q15_MIN;
    const int32_t ls = p->cell_scale_power + 12; /* the cell tanh's left shift, as arm_nn_activation_s16 applies it */
    const int32_t tmul = ls < 0 ? 3 : 3 << ls, tshift = ls < 0 ? -ls : 0, tround = tshift > 0 ? 1 << (tshift - 1) : 0;
    if (p->forget_to_cell_shift < 0 && p->input_to_cell_shift < 0 && p->output_shift < 0)
        cell_pass_mve(p, cell, out, n, cmin, cmax, tmul, tshift, tround, 1);
    else
        cell_pass_mve(p, cell, out, n, cmin, cmax, tmul, tshift, tround, 0);
}

#define RQ_ELEMENT(v, mult, shift)                                                                                 \
    (right ? rq_right_mve((v), (mult), vdupq_n_s32(shift))                                                         \
           : arm_requantize_mve_32x4((v), vdupq_n_s32(mult), vdupq_n_s32(shift)))

/* the cell update and output, four hidden units at a time; right: all three shifts are right shifts
 * (arm_requantize_mve_32x4's left shift by 0 left out) */
__attribute__((always_inline)) static inline void cell_pass_mve(const cmsis_nn_lstm_params *p, int16_t *cell,
                                                                int8_t *out, const int32_t n, const int32_t cmin,
                                                                const int32_t cmax, const int32_t tmul,
                                                                const int32_t tshift, const int32_t tround,
                                                                const int right)
{
    for (int32_t r = 0; r < n; r += 4)
    {
        int32x4_t c = vmulq_s32(vldrhq_s32(g_gates[0] + r), vldrhq_s32(cell + r));
        c = RQ_ELEMENT(c, p->forget_to_cell_multiplier, p->forget_to_cell_shift);
        c = vminq_s32(vmaxq_s32(c, vdupq_n_s32(NN_Q15_MIN)), vdupq_n_s32(NN_Q15_MAX));
        int32x4_t m = vmulq_s32(vldrhq_s32(g_gates[1] + r), vldrhq_s32(g_gates[2] + r));
        m = RQ_ELEMENT(m, p->input_to_cell_multiplier, p->input_to_cell_shift);
        c = vminq_s32(vmaxq_s32(vaddq_s32(m, c), vdupq_n_s32(cmin)), vdupq_n_s32(cmax));
        vstrhq_s32(cell + r, c);
        const int32x4_t td = vshlq_s32(vaddq_n_s32(vmulq_n_s32(c, tmul), tround), vdupq_n_s32(-tshift));
        m = vmulq_s32(vldrhq_s32(g_gates[3] + r), act_tab_vec(td, 0));
        m = RQ_ELEMENT(m, p->output_multiplier, p->output_shift);
        m = vaddq_n_s32(m, p->output_offset);
        m = vminq_s32(vmaxq_s32(m, vdupq_n_s32(NN_Q7_MIN)), vdupq_n_s32(NN_Q7_MAX));
        vstrbq_s32(out + r, m);
    }
}

static int fused_step_mve(const int8_t *x, const int8_t *h, int8_t *out, const cmsis_nn_lstm_params *p,
                          int16_t *cell)
{
    const int32_t n = p->hidden_size, in = p->input_size;
    if (p->batch_size != 1 || h == NULL || out == h || n % 4 != 0 || n > TFDISTIL_MVE_MAX ||
        p->forget_gate.activation_type != ARM_SIGMOID || p->input_gate.activation_type != ARM_SIGMOID ||
        p->cell_gate.activation_type != ARM_TANH || p->output_gate.activation_type != ARM_SIGMOID)
        return 0;
    if (!g_act_ready)
        act_tables_mve();
    /* constant sizes for the students' common shapes: the compiler then addresses the four weight
     * rows from one pointer */
    if (in == 20 && n == 32)
        step_mve(x, h, out, p, cell, 20, 32);
    else if (in == 16 && n == 16)
        step_mve(x, h, out, p, cell, 16, 16);
    else
        step_mve(x, h, out, p, cell, in, n);
    return 1;
}

/* arm_nn_lstm_calculate_gate_s8_s16 with the activation above (Helium) */
static void step_gate(const int8_t *data_in, const int8_t *hidden_in, const cmsis_nn_lstm_gate *gate,
                     const cmsis_nn_lstm_params *params, int16_t *output, const int32_t batch_offset)
{
    memset(output, 0, params->hidden_size * params->batch_size * sizeof(int16_t));
    arm_nn_vec_mat_mul_result_acc_s8_s16(data_in, gate->input_weights, gate->input_effective_bias, output,
                                         gate->input_multiplier, gate->input_shift, params->input_size,
                                         params->hidden_size, params->batch_size, batch_offset);
    if (hidden_in)
        arm_nn_vec_mat_mul_result_acc_s8_s16(hidden_in, gate->hidden_weights, gate->hidden_effective_bias, output,
                                             gate->hidden_multiplier, gate->hidden_shift, params->hidden_size,
                                             params->hidden_size, params->batch_size, batch_offset);
    step_activation(output, output, params->hidden_size * params->batch_size, 0, gate->activation_type);
}
#endif
