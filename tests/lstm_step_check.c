/* lstm_step_check.c (tests/test_firmware_lstm_step.py): tfdistil's arm_nn_lstm_step_s8
 * (tfdistil/edge/mcu/src/tfdistil_lstm_step_s8.c) against CMSIS-NN's own, compiled here under the
 * name cmsis_lstm_step_s8, on random steps whose multipliers, shifts, biases and states reach the
 * clamps and the activation tables' saturation. Prints "ok TRIALS" or the first difference. */
#include <stdio.h>
#include <string.h>

#include "arm_nnfunctions.h"
#include "arm_nnsupportfunctions.h"

arm_cmsis_nn_status cmsis_lstm_step_s8(const int8_t *data_in, const int8_t *hidden_in, int8_t *hidden_out,
                                       const cmsis_nn_lstm_params *params, cmsis_nn_lstm_context *buffers,
                                       const int32_t batch_offset);
void tfdistil_lstm_step_forget_weights(void); /* Cortex-M4: the widened weights are cached per op */
#if defined(ARM_MATH_DSP) && !defined(ARM_MATH_MVEI)
extern int32_t tfdistil_lstm_step_packed_count; /* steps that took the packed path (TFDISTIL_STEP_COUNT) */
int32_t tfdistil_lstm_act_check(void); /* the packed path's sigmoid/tanh vs arm_nn_activation_s16, every int16 */
#endif
arm_cmsis_nn_status cmsis_lstm_unidirectional_s8(const int8_t *input, int8_t *output, const cmsis_nn_lstm_params *params,
                                                 cmsis_nn_lstm_context *buffers);

#define MAX_N 32
static uint32_t g_seed = 12345u;
static uint32_t rnd(void)
{
    g_seed ^= g_seed << 13;
    g_seed ^= g_seed >> 17;
    g_seed ^= g_seed << 5;
    return g_seed;
}
static int32_t range(int32_t lo, int32_t hi) { return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1)); }

static int8_t w[4][2][MAX_N * MAX_N];
static int32_t b[4][2][MAX_N];

/* Two ops (the second with its weights negated) run in turn through arm_lstm_unidirectional_s8, batch
 * major, as TFLM's per-token firmware runs its two LSTMs: the step then sees a copy of the params on
 * the stack, at the same address for both ops. */
static int8_t w2[4][2][MAX_N * MAX_N];
static int two_ops(const cmsis_nn_lstm_params *p)
{
    cmsis_nn_lstm_params q = *p;
    cmsis_nn_lstm_gate *gates[4] = {&q.forget_gate, &q.input_gate, &q.cell_gate, &q.output_gate};
    for (int g = 0; g < 4; ++g)
    {
        for (int i = 0; i < MAX_N * MAX_N; ++i)
        {
            w2[g][0][i] = (int8_t)(-w[g][0][i] - (w[g][0][i] == -128));
            w2[g][1][i] = (int8_t)(-w[g][1][i] - (w[g][1][i] == -128));
        }
        gates[g]->input_weights = w2[g][0];
        gates[g]->hidden_weights = w2[g][1];
    }
    const cmsis_nn_lstm_params *ops[2] = {p, &q};
    int8_t x[2 * MAX_N], out_a[2 * MAX_N], out_b[2 * MAX_N], h_a[2][MAX_N], h_b[2][MAX_N];
    int16_t c_a[2][MAX_N], c_b[2][MAX_N], t1[MAX_N], t2[MAX_N];
    memset(h_a, 0, sizeof(h_a));
    memset(h_b, 0, sizeof(h_b));
    memset(c_a, 0, sizeof(c_a));
    memset(c_b, 0, sizeof(c_b));
    for (int call = 0; call < 6; ++call)
    {
        const int k = call % 2;
        cmsis_nn_lstm_params step = *ops[k];
        step.time_major = 0;
        step.time_steps = 2;
        for (int i = 0; i < 2 * step.input_size; ++i)
            x[i] = (int8_t)range(-128, 127);
        cmsis_nn_lstm_context ca = {t1, t2, c_a[k], h_a[k]}, cb = {t1, t2, c_b[k], h_b[k]};
        arm_lstm_unidirectional_s8(x, out_a, &step, &ca);
        cmsis_lstm_unidirectional_s8(x, out_b, &step, &cb);
        if (memcmp(out_a, out_b, 2 * step.hidden_size) != 0)
            return 0;
    }
    return 1;
}

int main(void)
{
    const int32_t sizes[] = {4, 8, 16, 20, 32};
    const arm_nn_activation_type types[4] = {ARM_SIGMOID, ARM_SIGMOID, ARM_TANH, ARM_SIGMOID};
    int trials = 0;
    for (int trial = 0; trial < 300; ++trial)
    {
        const int32_t in = sizes[rnd() % 5], n = sizes[rnd() % 5];
        const int32_t wmax = trial % 5 == 0 ? 0 : 127, bmax = trial % 5 == 0 ? 2 : 40000; /* zeros in */
        /* every 7th trial: biases too large for the M4's packed path (|sum| x 2^e >= 2^31), its int8 path */
        const int32_t big_bias = trial % 7 == 6 ? 1100000000 : 0;
        cmsis_nn_lstm_params p;
        memset(&p, 0, sizeof(p));
        p.time_major = 1;
        p.batch_size = 1;
        p.time_steps = 1;
        p.input_size = in;
        p.hidden_size = n;
        cmsis_nn_lstm_gate *gates[4] = {&p.forget_gate, &p.input_gate, &p.cell_gate, &p.output_gate};
        for (int g = 0; g < 4; ++g)
        {
            for (int k = 0; k < 2; ++k)
            {
                for (int i = 0; i < (k ? n : in) * n; ++i)
                    w[g][k][i] = (int8_t)range(-wmax - (wmax > 0), wmax);
                for (int i = 0; i < n; ++i)
                    b[g][k][i] = range(-bmax, bmax) + (i == 1 ? big_bias : 0);
            }
            gates[g]->input_weights = w[g][0];
            gates[g]->hidden_weights = w[g][1];
            gates[g]->input_effective_bias = b[g][0];
            gates[g]->hidden_effective_bias = b[g][1];
            gates[g]->input_multiplier = range(1 << 30, 0x7FFFFFFF);
            gates[g]->input_shift = range(-14, 3); /* left shifts too, as the 256 KB student's gates have */
            gates[g]->hidden_multiplier = range(1 << 30, 0x7FFFFFFF);
            gates[g]->hidden_shift = range(-14, 3);
            gates[g]->activation_type = types[g];
        }
        p.forget_to_cell_multiplier = range(1 << 30, 0x7FFFFFFF);
        p.forget_to_cell_shift = range(-16, -14);
        p.input_to_cell_multiplier = range(1 << 30, 0x7FFFFFFF);
        p.input_to_cell_shift = range(-18, -14);
        p.cell_clip = (trial % 3 == 0) ? 0 : range(1000, 32767);
        p.cell_scale_power = range(-15, -9);
        p.output_multiplier = range(1 << 30, 0x7FFFFFFF);
        p.output_shift = range(-24, -20);
        p.output_offset = range(-20, 20);
        if (trial % 4 == 1) /* left shifts too: the paths that test for them */
        {
            p.output_shift = 1;
            p.forget_gate.hidden_shift = 1;
        }
        int8_t x[MAX_N], h[MAX_N], out_a[MAX_N], out_b[MAX_N];
        int16_t cell_a[MAX_N], cell_b[MAX_N], t1[MAX_N], t2[MAX_N];
        for (int i = 0; i < MAX_N; ++i)
        {
            x[i] = (int8_t)range(-128, 127);
            h[i] = (int8_t)range(-128, 127);
            cell_a[i] = cell_b[i] = (int16_t)range(-32768, 32767);
        }
#if defined(ARM_MATH_DSP) && !defined(ARM_MATH_MVEI)
        tfdistil_lstm_step_forget_weights();
#endif
        for (int step = 0; step < 3; ++step) /* the state carries over, as between Invoke()s */
        {
            cmsis_nn_lstm_context ca = {t1, t2, cell_a, NULL}, cb = {t1, t2, cell_b, NULL};
            arm_nn_lstm_step_s8(x, h, out_a, &p, &ca, 1);
            cmsis_lstm_step_s8(x, h, out_b, &p, &cb, 1);
            if (memcmp(out_a, out_b, n) != 0 || memcmp(cell_a, cell_b, n * sizeof(int16_t)) != 0)
            {
                printf("diff trial %d step %d input %ld hidden %ld\n", trial, step, (long)in, (long)n);
                return 1;
            }
            memcpy(h, out_a, n);
            ++trials;
        }
        if (trial % 10 == 3) /* full-range weights (every fifth trial has zeros) */
        {
#if defined(ARM_MATH_DSP) && !defined(ARM_MATH_MVEI)
            tfdistil_lstm_step_forget_weights();
#endif
            if (!two_ops(&p))
            {
                printf("diff trial %d: two ops in turn\n", trial);
                return 1;
            }
        }
    }
#if defined(ARM_MATH_DSP) && !defined(ARM_MATH_MVEI)
    printf("ok %d packed %ld act_differences %ld\n", trials, (long)tfdistil_lstm_step_packed_count,
           (long)tfdistil_lstm_act_check());
#else
    printf("ok %d\n", trials);
#endif
    return 0;
}
