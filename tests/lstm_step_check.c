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

int main(void)
{
    const int32_t sizes[] = {4, 8, 16, 20, 32};
    const arm_nn_activation_type types[4] = {ARM_SIGMOID, ARM_SIGMOID, ARM_TANH, ARM_SIGMOID};
    int trials = 0;
    for (int trial = 0; trial < 300; ++trial)
    {
        const int32_t in = sizes[rnd() % 5], n = sizes[rnd() % 5];
        const int32_t wmax = trial % 5 == 0 ? 0 : 127, bmax = trial % 5 == 0 ? 2 : 40000; /* zeros in */
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
                    b[g][k][i] = range(-bmax, bmax);
            }
            gates[g]->input_weights = w[g][0];
            gates[g]->hidden_weights = w[g][1];
            gates[g]->input_effective_bias = b[g][0];
            gates[g]->hidden_effective_bias = b[g][1];
            gates[g]->input_multiplier = range(1 << 30, 0x7FFFFFFF);
            gates[g]->input_shift = range(-14, 0);
            gates[g]->hidden_multiplier = range(1 << 30, 0x7FFFFFFF);
            gates[g]->hidden_shift = range(-14, 0);
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
    }
    printf("ok %d\n", trials);
    return 0;
}
