// fast_ops.cc: exact fast paths for the int8 ops of the students' attention heads, for the
// firmware built with `--kernels cmsis-nn` (tfdistil/edge/mcu/build.py defines TFDISTIL_FAST_OPS).
//
// Each op keeps the registration TFLM (or CMSIS-NN) gives it — init and prepare run as usual and
// fill the kernel's own OpData — and only its invoke is replaced, by one that computes the same
// integers with less work. Shapes a fast path does not cover go to the original invoke.
//   TANH int8:  an int8 -> int8 function has 256 inputs: the reference kernel's own integer
//               routine (reference_integer_ops::Tanh with the node's OpData) fills a 256-entry
//               table in prepare; every element is then one table read.
//   SUM int8:   the reference kernel walks every element with a general N-d index; over one
//               contiguous block of axes it is outer x reduced x inner loops with the same int32
//               sums and the same final MultiplyByQuantizedMultiplier.
//   MUL int8:   broadcasts of a [..., 1] or one-element operand (the reference kernel's
//               BroadcastMul4DSlow) as two plain loops with the reference's per-element formula
//               (CMSIS-NN's requantization, the same integers; on Helium four elements a vector; with the
//               DSP extension its doubling high multiply as one SMMULR of the product x 2^(left shift + 1)).
//   GATHER int8 rows (axis 0, batch_dims 0, int32 indices): the reference's row copies without
//               its general index arithmetic (the embedding lookup runs once per token); an index
//               out of range goes to the reference invoke.
// tests/test_firmware_boards.py (test_cmsis_nn_answers_as_the_reference_kernels) runs them against the
// reference kernels on the emulated board, bit for bit.
#include "fast_ops.h"

#include <string.h>

#include "tensorflow/lite/c/builtin_op_data.h"
#include "tensorflow/lite/kernels/internal/common.h"
#include "tensorflow/lite/kernels/internal/reference/integer_ops/tanh.h"
#include "tensorflow/lite/micro/kernels/kernel_util.h"
#include "tensorflow/lite/micro/micro_context.h"
#include "tensorflow/lite/micro/micro_utils.h"

// CMSIS-NN's requantization (tfdistil/edge/mcu/build.py compiles this file against CMSIS-NN):
// arm_nn_requantize and, on Helium, arm_requantize_mve compute TFLM's MultiplyByQuantizedMultiplier
// (gemmlowp's rounding doubling high multiply, then rounding divide by a power of two) for every
// multiplier TFLM makes (never INT32_MIN, the one input where the saturating and plain forms differ).
#define CMSIS_NN_USE_REQUANTIZE_INLINE_ASSEMBLY 1
#include "arm_nnsupportfunctions.h"

namespace tfdistil_fast {
namespace {

// The OpData structs of TFLM's tanh.cc, reduce.h and mul.h (TFLM 90b983c2b), field for field.
struct TanhOpData {
  int32_t input_zero_point;
  int32_t input_range_radius;
  int32_t input_multiplier;
  int input_left_shift;
};
struct ReduceOpData {
  int32_t multiplier;
  int shift;
  int scratch_accumulator_idx;
  int scratch_resolved_axis_idx;
  int scratch_input_iter_idx;
  int input_zp;
  float input_scale;
  int output_zp;
  float output_scale;
  int num_output_elements;
  int num_axis;
};
struct MulOpData {
  int32_t input1_zero_point;
  int32_t input2_zero_point;
  int32_t output_activation_min;
  int32_t output_activation_max;
  int32_t output_zero_point;
  int32_t output_multiplier;
  int output_shift;
  float output_activation_min_f32;
  float output_activation_max_f32;
};

TFLMRegistration g_tanh, g_sum, g_mul, g_gather;
TfLiteStatus (*g_tanh_invoke)(TfLiteContext*, TfLiteNode*) = nullptr;
TfLiteStatus (*g_sum_invoke)(TfLiteContext*, TfLiteNode*) = nullptr;
TfLiteStatus (*g_mul_invoke)(TfLiteContext*, TfLiteNode*) = nullptr;
TfLiteStatus (*g_gather_invoke)(TfLiteContext*, TfLiteNode*) = nullptr;

// ---------------------------------------------------------------- TANH
constexpr int kMaxTables = 8;
const TfLiteNode* g_table_node[kMaxTables];
int8_t g_table[kMaxTables][256];
int g_tables = 0;

// The table is filled in prepare (AllocateTensors()), after the kernel's own prepare has filled
// its OpData, so no Invoke() pays for it.
TfLiteStatus (*g_tanh_prepare)(TfLiteContext*, TfLiteNode*) = nullptr;

TfLiteStatus TanhPrepare(TfLiteContext* context, TfLiteNode* node) {
  TF_LITE_ENSURE_OK(context, g_tanh_prepare(context, node));
  tflite::MicroContext* micro_context = tflite::GetMicroContext(context);
  TfLiteTensor* input = micro_context->AllocateTempInputTensor(node, 0);
  TF_LITE_ENSURE(context, input != nullptr);
  const bool int8 = input->type == kTfLiteInt8;
  micro_context->DeallocateTempTfLiteTensor(input);
  int k = 0;
  while (k < g_tables && g_table_node[k] != node) ++k;
  if (!int8 || (k == g_tables && g_tables == kMaxTables)) return kTfLiteOk;  // invoke falls back
  const TanhOpData& d = *static_cast<const TanhOpData*>(node->user_data);
  int8_t all[256];
  for (int i = 0; i < 256; ++i) all[i] = static_cast<int8_t>(i - 128);
  const int32_t size = 256;
  const tflite::RuntimeShape shape(1, &size);
  tflite::reference_integer_ops::Tanh(d.input_zero_point, d.input_range_radius, d.input_multiplier,
                                      d.input_left_shift, shape, all, shape, g_table[k]);
  g_table_node[k] = node;
  if (k == g_tables) ++g_tables;
  return kTfLiteOk;
}

TfLiteStatus TanhInvoke(TfLiteContext* context, TfLiteNode* node) {
  const TfLiteEvalTensor* input = tflite::micro::GetEvalInput(context, node, 0);
  TfLiteEvalTensor* output = tflite::micro::GetEvalOutput(context, node, 0);
  if (input->type != kTfLiteInt8) return g_tanh_invoke(context, node);
  int k = 0;
  while (k < g_tables && g_table_node[k] != node) ++k;
  if (k == g_tables) return g_tanh_invoke(context, node);  // no table (more than kMaxTables nodes)
  const int8_t* table = g_table[k];
  const int8_t* in = input->data.int8;
  int8_t* out = output->data.int8;
  const int n = tflite::ElementCount(*input->dims);
  for (int i = 0; i < n; ++i) out[i] = table[in[i] + 128];
  return kTfLiteOk;
}

// ---------------------------------------------------------------- SUM
TfLiteStatus SumInvoke(TfLiteContext* context, TfLiteNode* node) {
  const TfLiteEvalTensor* input = tflite::micro::GetEvalInput(context, node, 0);
  const TfLiteEvalTensor* axis = tflite::micro::GetEvalInput(context, node, 1);
  TfLiteEvalTensor* output = tflite::micro::GetEvalOutput(context, node, 0);
  if (input->type != kTfLiteInt8 || output->type != kTfLiteInt8) return g_sum_invoke(context, node);
  const int dims = input->dims->size;
  bool reduced[8] = {};
  if (dims > 8) return g_sum_invoke(context, node);
  const int n_axis = tflite::ElementCount(*axis->dims);
  for (int i = 0; i < n_axis; ++i) {
    int a = axis->data.i32[i];
    if (a < 0) a += dims;
    if (a < 0 || a >= dims) return g_sum_invoke(context, node);
    reduced[a] = true;
  }
  int first = -1, last = -1;
  for (int a = 0; a < dims; ++a)
    if (reduced[a]) {
      if (first < 0) first = a;
      if (last >= 0 && last != a - 1) return g_sum_invoke(context, node);  // not one block
      last = a;
    }
  if (first < 0) return g_sum_invoke(context, node);
  int outer = 1, count = 1, inner = 1;
  for (int a = 0; a < dims; ++a) {
    const int d = input->dims->data[a];
    if (d == 0) return g_sum_invoke(context, node);
    (a < first ? outer : a <= last ? count : inner) *= d;
  }
  const ReduceOpData& d = *static_cast<const ReduceOpData*>(node->user_data);
  int32_t* sums = static_cast<int32_t*>(context->GetScratchBuffer(context, d.scratch_accumulator_idx));
  if (sums == nullptr || outer * inner != tflite::ElementCount(*output->dims)) return g_sum_invoke(context, node);
  const int8_t* in = input->data.int8;
  int8_t* out = output->data.int8;
  for (int o = 0; o < outer; ++o) {
    int32_t* s = sums + o * inner;
    const int8_t* p = in + o * count * inner;
#if defined(ARM_MATH_MVEI)
    for (int i = 0; i < inner; i += 4) {  // four columns summed down the rows in one vector
      const mve_pred16_t pred = vctp32q(static_cast<uint32_t>(inner - i));
      int32x4_t acc = vdupq_n_s32(0);
      for (int r = 0; r < count; ++r) acc = vaddq_s32(acc, vldrbq_z_s32(p + r * inner + i, pred));
      vstrwq_p_s32(s + i, acc, pred);
    }
#else
    for (int i = 0; i < inner; ++i) s[i] = 0;
    for (int r = 0; r < count; ++r, p += inner)
      for (int i = 0; i < inner; ++i) s[i] += p[i];
#endif
  }
  const int32_t offset = static_cast<int32_t>(static_cast<int64_t>(d.input_zp) * count);
  for (int i = 0; i < outer * inner; ++i) {
    int32_t v = tflite::MultiplyByQuantizedMultiplier(static_cast<int32_t>(sums[i] - offset), d.multiplier, d.shift) +
                d.output_zp;
    v = v < -128 ? -128 : v > 127 ? 127 : v;
    out[i] = static_cast<int8_t>(v);
  }
  return kTfLiteOk;
}

// ---------------------------------------------------------------- MUL
// How an operand maps onto the output's rows x columns (columns = the output's last axis).
enum Mode { kFull, kRow, kScalar, kOther };

Mode ModeOf(const TfLiteIntArray* in, const TfLiteIntArray* out) {
  if (tflite::ElementCount(*in) == 1) return kScalar;
  const int shift = out->size - in->size;
  if (shift < 0) return kOther;
  bool full = true, row = true;
  for (int a = 0; a < out->size; ++a) {
    const int d = a < shift ? 1 : in->data[a - shift];
    const bool last = a == out->size - 1;
    if (d != out->data[a]) full = false;
    if (last ? d != 1 : d != out->data[a]) row = false;
  }
  return full ? kFull : row ? kRow : kOther;
}

inline int32_t Requantize(int32_t x, int32_t multiplier, int shift) { return arm_nn_requantize(x, multiplier, shift); }

#if defined(ARM_MATH_DSP) && !defined(ARM_MATH_MVEI)
// (a * b + 2^31) >> 32: arm_nn_doubling_high_mult_no_sat(a / 2, b) for an even a
inline int32_t Smmulr(int32_t a, int32_t b) {
  int32_t r;
  __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
  return r;
}
#endif

// out[c] = clamp(zero + Requantize((off + x[c]) * y)) for c < cols
inline void MulRow(const int8_t* x, int cols, int32_t off, int32_t y, int32_t multiplier, int shift, int32_t zero,
                   int32_t lo, int32_t hi, int8_t* out) {
#if defined(ARM_MATH_MVEI)
  for (int c = 0; c < cols; c += 4) {
    const mve_pred16_t p = vctp32q(static_cast<uint32_t>(cols - c));
    int32x4_t v = vmulq_n_s32(vaddq_n_s32(vldrbq_z_s32(x + c, p), off), y);
    v = vaddq_n_s32(arm_requantize_mve(v, multiplier, shift), zero);
    vstrbq_p_s32(out + c, vminq_s32(vmaxq_s32(v, vdupq_n_s32(lo)), vdupq_n_s32(hi)), p);
  }
#else
#if defined(ARM_MATH_DSP)
  // |(off + x) * y| <= 255 * 255 < 2^16 (offsets are minus int8 zero points): times 2^(left + 1) it fits
  // an int32 for left <= 14, and SMMULR of it is arm_nn_doubling_high_mult_no_sat(p << left, multiplier),
  // all of arm_nn_requantize for a left shift; for a right shift s >= 1 its rounding divide follows
  // (midpoint away from zero), as the Cortex-M4's LSTM step does (tfdistil_lstm_step_s8.c).
  if (shift <= 14) {
    const int e = shift > 0 ? shift + 1 : 1, right = shift < 0 ? -shift : 0;
    const int32_t y2 = y * (1 << e), oy2 = off * y2;  // (off + x) * y * 2^e = x * y2 + oy2
    if (right == 0) {
      for (int c = 0; c < cols; ++c) {
        int32_t v = zero + Smmulr(x[c] * y2 + oy2, multiplier);
        v = v < lo ? lo : v > hi ? hi : v;
        out[c] = static_cast<int8_t>(v);
      }
    } else {
      const int32_t half = 1 << (right - 1);
      for (int c = 0; c < cols; ++c) {
        const int32_t t = Smmulr(x[c] * y2 + oy2, multiplier);
        int32_t v = zero + ((t + half + (t >> 31)) >> right);
        v = v < lo ? lo : v > hi ? hi : v;
        out[c] = static_cast<int8_t>(v);
      }
    }
    return;
  }
#endif
  for (int c = 0; c < cols; ++c) {
    int32_t v = zero + Requantize((off + x[c]) * y, multiplier, shift);
    v = v < lo ? lo : v > hi ? hi : v;
    out[c] = static_cast<int8_t>(v);
  }
#endif
}

TfLiteStatus MulInvoke(TfLiteContext* context, TfLiteNode* node) {
  const TfLiteEvalTensor* in1 = tflite::micro::GetEvalInput(context, node, 0);
  const TfLiteEvalTensor* in2 = tflite::micro::GetEvalInput(context, node, 1);
  TfLiteEvalTensor* output = tflite::micro::GetEvalOutput(context, node, 0);
  if (in1->type != kTfLiteInt8 || output->dims->size == 0) return g_mul_invoke(context, node);
  Mode m1 = ModeOf(in1->dims, output->dims), m2 = ModeOf(in2->dims, output->dims);
  if (m1 == kOther || m2 == kOther || (m1 == kFull && m2 == kFull)) return g_mul_invoke(context, node);
  const MulOpData& d = *static_cast<const MulOpData*>(node->user_data);
  const int8_t* a = in1->data.int8;
  const int8_t* b = in2->data.int8;
  int32_t off1 = -d.input1_zero_point, off2 = -d.input2_zero_point;
  if (m1 != kFull && m2 == kFull) {  // multiplication commutes: the full operand first
    const int8_t* t = a; a = b; b = t;
    const int32_t o = off1; off1 = off2; off2 = o;
    const Mode m = m1; m1 = m2; m2 = m;
  }
  const int cols = output->dims->data[output->dims->size - 1];
  const int rows = cols ? tflite::ElementCount(*output->dims) / cols : 0;
  int8_t* out = output->data.int8;
  const int32_t lo = d.output_activation_min, hi = d.output_activation_max;
  const int32_t zero = d.output_zero_point, multiplier = d.output_multiplier;
  const int shift = d.output_shift;
  for (int r = 0; r < rows; ++r) {
    const int32_t y = off2 + b[m2 == kRow ? r : 0];
    if (m1 == kFull) {  // the common case: a full operand times one value per row
      MulRow(a + r * cols, cols, off1, y, multiplier, shift, zero, lo, hi, out);
      out += cols;
    } else {
      int32_t v = zero + Requantize((off1 + a[m1 == kRow ? r : 0]) * y, multiplier, shift);
      v = v < lo ? lo : v > hi ? hi : v;
      for (int c = 0; c < cols; ++c) *out++ = static_cast<int8_t>(v);
    }
  }
  return kTfLiteOk;
}

// ---------------------------------------------------------------- GATHER
TfLiteStatus GatherInvoke(TfLiteContext* context, TfLiteNode* node) {
  const auto* params = static_cast<const TfLiteGatherParams*>(node->builtin_data);
  const TfLiteEvalTensor* input = tflite::micro::GetEvalInput(context, node, 0);
  const TfLiteEvalTensor* coords = tflite::micro::GetEvalInput(context, node, 1);
  TfLiteEvalTensor* output = tflite::micro::GetEvalOutput(context, node, 0);
  const int dims = input->dims->size;
  if (input->type != kTfLiteInt8 || coords->type != kTfLiteInt32 || dims < 1 ||
      (params->axis != 0 && params->axis != -dims) || params->batch_dims != 0)
    return g_gather_invoke(context, node);
  const int rows = input->dims->data[0];
  const int inner = tflite::ElementCount(*input->dims) / (rows > 0 ? rows : 1);
  const int n = tflite::ElementCount(*coords->dims);
  const int32_t* index = coords->data.i32;
  for (int i = 0; i < n; ++i)
    if (index[i] < 0 || index[i] >= rows) return g_gather_invoke(context, node);
  const int8_t* in = input->data.int8;
  int8_t* out = output->data.int8;
  for (int i = 0; i < n; ++i, out += inner) memcpy(out, in + index[i] * inner, inner);
  return kTfLiteOk;
}

const TFLMRegistration* Swap(const TFLMRegistration* r, TFLMRegistration* copy,
                             TfLiteStatus (**original)(TfLiteContext*, TfLiteNode*),
                             TfLiteStatus (*fast)(TfLiteContext*, TfLiteNode*)) {
  if (r == nullptr) return r;
  if (*original == nullptr) {
    *copy = *r;
    *original = r->invoke;
    copy->invoke = fast;
  }
  return copy;
}

}  // namespace

const TFLMRegistration* Substitute(tflite::BuiltinOperator op, const TFLMRegistration* r) {
  switch (op) {
    case tflite::BuiltinOperator_TANH:
      if (r != nullptr && g_tanh_prepare == nullptr) {
        g_tanh_prepare = r->prepare;
        const TFLMRegistration* swapped = Swap(r, &g_tanh, &g_tanh_invoke, TanhInvoke);
        g_tanh.prepare = TanhPrepare;
        return swapped;
      }
      return r == nullptr ? r : &g_tanh;
    case tflite::BuiltinOperator_SUM: return Swap(r, &g_sum, &g_sum_invoke, SumInvoke);
    case tflite::BuiltinOperator_MUL: return Swap(r, &g_mul, &g_mul_invoke, MulInvoke);
    case tflite::BuiltinOperator_GATHER: return Swap(r, &g_gather, &g_gather_invoke, GatherInvoke);
    default: return r;
  }
}

}  // namespace tfdistil_fast
