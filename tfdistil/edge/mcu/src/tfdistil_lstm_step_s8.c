/* tfdistil_lstm_step_s8.c: arm_nn_lstm_step_s8 for the firmware's CMSIS-NN build, in place of
 * CMSIS-NN's Source/NNSupportFunctions/arm_nn_lstm_step_s8.c (tfdistil/edge/mcu/cmsis.py swaps
 * the file). Same integers, less work, on cores with the DSP extension and no Helium (Cortex-M4,
 * M7, M33):
 *   - CMSIS-NN computes each gate as two matrix-vector products (input, then hidden state), each
 *     re-reading and sign-extending the input vector for every pair of rows. Here the input and
 *     hidden vectors are sign-extended once per step into 16-bit pairs, and the four rows of a
 *     block share every load of them; each row's two int32 sums are exact whatever the order.
 *   - Each gate's result then takes CMSIS-NN's own steps: arm_nn_requantize of the input part,
 *     clamp to int16, plus arm_nn_requantize of the hidden part, clamp, arm_nn_activation_s16;
 *     the cell and output updates call the same CMSIS-NN functions as the original.
 * Other cores, a batch above 1, sizes not a multiple of 4 or a missing hidden state take the
 * original code path below (a copy of CMSIS-NN's, calling arm_nn_lstm_calculate_gate_s8_s16).
 * The requantizations use CMSIS-NN's inline-assembly form of arm_nn_requantize (the same rounding in
 * fewer instructions; CMSIS_NN_USE_REQUANTIZE_INLINE_ASSEMBLY, in this file only).
 * tests/test_firmware_boards.py compares the CMSIS-NN firmware with the reference kernels, bit for bit. */
#define CMSIS_NN_USE_REQUANTIZE_INLINE_ASSEMBLY 1
#include "arm_nnfunctions.h"
#include "arm_nnsupportfunctions.h"

#if defined(ARM_MATH_DSP) && !defined(ARM_MATH_MVEI)
#define TFDISTIL_FUSED_MAX 256 /* largest input or hidden size the fused path takes */

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
static void dot4(const int8_t *w, int32_t words, const int32_t *even, const int32_t *odd, int32_t *acc)
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

/* One gate into `out` (hidden_size int16), as arm_nn_lstm_calculate_gate_s8_s16 computes it. */
static void fused_gate(const cmsis_nn_lstm_gate *gate, int32_t in_words, int32_t hidden_size, int16_t *out)
{
    const int8_t *wx = (const int8_t *)gate->input_weights;
    const int8_t *wh = (const int8_t *)gate->hidden_weights;
    const int32_t *bx = (const int32_t *)gate->input_effective_bias;
    const int32_t *bh = (const int32_t *)gate->hidden_effective_bias;
    const int32_t h_words = hidden_size / 4;
    for (int32_t r = 0; r < hidden_size; r += 4)
    {
        int32_t ax[4] = {bx[r], bx[r + 1], bx[r + 2], bx[r + 3]};
        int32_t ah[4] = {bh[r], bh[r + 1], bh[r + 2], bh[r + 3]};
        dot4(wx + r * in_words * 4, in_words, g_x_even, g_x_odd, ax);
        dot4(wh + r * hidden_size, h_words, g_h_even, g_h_odd, ah);
        for (int32_t i = 0; i < 4; ++i)
        {
            int32_t v = arm_nn_requantize(ax[i], gate->input_multiplier, gate->input_shift);
            v = MIN(MAX(v, NN_Q15_MIN), NN_Q15_MAX);
            v += arm_nn_requantize(ah[i], gate->hidden_multiplier, gate->hidden_shift);
            out[r + i] = (int16_t)MIN(MAX(v, NN_Q15_MIN), NN_Q15_MAX);
        }
    }
    arm_nn_activation_s16(out, out, hidden_size, 0, gate->activation_type);
}
#endif

arm_cmsis_nn_status arm_nn_lstm_step_s8(const int8_t *data_in,
                                        const int8_t *hidden_in,
                                        int8_t *hidden_out,
                                        const cmsis_nn_lstm_params *params,
                                        cmsis_nn_lstm_context *buffers,
                                        const int32_t batch_offset)
{
    int16_t *cell_state = buffers->cell_state;
    const int32_t n = params->hidden_size * params->batch_size;
#if defined(ARM_MATH_DSP) && !defined(ARM_MATH_MVEI)
    if (params->batch_size == 1 && hidden_in != NULL && params->input_size % 4 == 0 &&
        params->hidden_size % 4 == 0 && params->input_size <= TFDISTIL_FUSED_MAX &&
        params->hidden_size <= TFDISTIL_FUSED_MAX)
    {
        int16_t *gate_a = buffers->temp1, *gate_b = buffers->temp2;
        const int32_t in_words = params->input_size / 4;
        expand(data_in, in_words, g_x_even, g_x_odd);
        expand(hidden_in, params->hidden_size / 4, g_h_even, g_h_odd);
        fused_gate(&params->forget_gate, in_words, params->hidden_size, gate_a);
        arm_elementwise_mul_s16(gate_a, cell_state, 0, 0, cell_state, 0, params->forget_to_cell_multiplier,
                                params->forget_to_cell_shift, NN_Q15_MIN, NN_Q15_MAX, n);
        fused_gate(&params->input_gate, in_words, params->hidden_size, gate_a);
        fused_gate(&params->cell_gate, in_words, params->hidden_size, gate_b);
        arm_elementwise_mul_acc_s16(gate_a, gate_b, 0, 0, cell_state, 0, params->input_to_cell_multiplier,
                                    params->input_to_cell_shift, -params->cell_clip, params->cell_clip, n);
        fused_gate(&params->output_gate, in_words, params->hidden_size, gate_a);
        arm_nn_activation_s16(cell_state, gate_b, n, params->cell_scale_power + 12, ARM_TANH);
        arm_elementwise_mul_s16_s8(gate_a, gate_b, hidden_out, params->output_offset, params->output_multiplier,
                                   params->output_shift, params->hidden_size, params->batch_size, batch_offset);
        return ARM_CMSIS_NN_SUCCESS;
    }
#endif
    /* CMSIS-NN's own step (Source/NNSupportFunctions/arm_nn_lstm_step_s8.c, CMSIS-NN v7) */
    int16_t *forget_gate = buffers->temp1;
    int16_t *input_gate = buffers->temp1;
    int16_t *cell_gate = buffers->temp2;
    int16_t *output_gate = buffers->temp1;
    int16_t *hidden_temp = buffers->temp2;
    arm_nn_lstm_calculate_gate_s8_s16(data_in, hidden_in, &params->forget_gate, params, forget_gate, batch_offset);
    arm_elementwise_mul_s16(forget_gate, cell_state, 0, 0, cell_state, 0, params->forget_to_cell_multiplier,
                            params->forget_to_cell_shift, NN_Q15_MIN, NN_Q15_MAX, n);
    arm_nn_lstm_calculate_gate_s8_s16(data_in, hidden_in, &params->input_gate, params, input_gate, batch_offset);
    arm_nn_lstm_calculate_gate_s8_s16(data_in, hidden_in, &params->cell_gate, params, cell_gate, batch_offset);
    arm_elementwise_mul_acc_s16(input_gate, cell_gate, 0, 0, cell_state, 0, params->input_to_cell_multiplier,
                                params->input_to_cell_shift, -params->cell_clip, params->cell_clip, n);
    arm_nn_lstm_calculate_gate_s8_s16(data_in, hidden_in, &params->output_gate, params, output_gate, batch_offset);
    arm_nn_activation_s16(cell_state, hidden_temp, n, params->cell_scale_power + 12, ARM_TANH);
    arm_elementwise_mul_s16_s8(output_gate, hidden_temp, hidden_out, params->output_offset,
                               params->output_multiplier, params->output_shift, params->hidden_size,
                               params->batch_size, batch_offset);
    return ARM_CMSIS_NN_SUCCESS;
}
