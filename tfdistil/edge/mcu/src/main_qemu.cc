// main_qemu.cc: run a tfdistil firmware kit on an emulated Cortex-M board and measure it.
//
// Built by tfdistil/edge/mcu/build.py with the kit (model_data, model_settings.h, vocab_data,
// tokenizer) and TFLite Micro, run by tfdistil/edge/mcu/run.py as
//   qemu-system-arm -M mps2-an386 -nographic -semihosting -icount shift=6 -kernel firmware.elf
//                   -append sentences.txt
// It reads one sentence per line from that host file (fopen over semihosting: piping into
// QEMU's stdin loses characters), tokenizes it with the kit's C tokenizer, runs the model
// as firmware_notes/main_example.cc does (Reset() then Invoke() per sentence) and prints one
// line per sentence, so the host can follow progress and compare every answer with the host
// TFLM interpreter.
//
// Protocol (stdout; `key=value` fields, sentence lines positional to keep them short):
//   R inputs=2 max_len=64 arena_size=N arena_used=N outputs=2 tap=1
//   C instructions ticks                       (twice: the clock calibration, see Calibrate())
//   B ticks                                    (kBaselineReads empty intervals)
//   S i label tokens z0,z1 q0,q1 tokenize reset invoke
//       z: the float32 outputs as hex bits; q: the int8 tensor the final DEQUANTIZE read
//       ("-" if the model has none); tokenize/reset/invoke: timer ticks of each step
//   E sentences=N setup_stack_bytes=N inference_stack_bytes=N heap_bytes=N
//   F message                                  (failure; the exit code is then non-zero)

#include <malloc.h>
#include <new>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensorflow/lite/micro/kernels/kernel_util.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_log.h"
#include "tensorflow/lite/micro/micro_profiler_interface.h"
#include "tensorflow/lite/micro/micro_utils.h"
#include "tensorflow/lite/micro/system_setup.h"
#include "tensorflow/lite/schema/schema_generated.h"

#include "model_data.h"
#include "model_settings.h"
#include "qemu_board.h"
#include "tokenizer.h"
#ifdef TFDISTIL_FAST_OPS
#include "fast_ops.h"
#endif

namespace {

constexpr int kLineMax = 2048;  // the host refuses longer sentences rather than let them be cut
constexpr int kBaselineReads = 16;
constexpr int kMaxOutputs = 64;  // classes; the tap copies at most this many int8 logits
constexpr uint32_t kPaint = 0xA5C3E1F0u;
// The stack is what the board's linker script reserved (tfdistil/edge/mcu/boards.py): paint most
// of it, before setup (AllocateTensors(), stdio) and again before every sentence.
#ifndef TFDISTIL_PAINT_BYTES
#define TFDISTIL_PAINT_BYTES (12 * 1024)
#endif
constexpr uint32_t kSetupPaintBytes = TFDISTIL_PAINT_BYTES;
constexpr uint32_t kInferencePaintBytes = TFDISTIL_PAINT_BYTES;

// The host build gets a large arena: 64-bit pointers make TFLM's bookkeeping bigger than on the
// board, and the arena's size never changes an answer.
// The board's arena is the kit's (measured in host TFLM with the reference kernels) scaled by
// TFDISTIL_ARENA_PERCENT: optimized kernels (CMSIS-NN) ask for more scratch, so the host build
// retries with a larger percentage when AllocateTensors() fails, and records what it needed.
#ifndef TFDISTIL_ARENA_PERCENT
#define TFDISTIL_ARENA_PERCENT 100
#endif
constexpr int Scaled(int bytes) {
  return static_cast<int>((static_cast<long long>(bytes) * TFDISTIL_ARENA_PERCENT / 100 + 15) / 16 * 16);
}
#ifndef TFDISTIL_ARENA_SIZE
#ifdef TFDISTIL_PER_TOKEN
#define TFDISTIL_ARENA_SIZE (Scaled(kTensorArenaSize) + 16 * (kNumHeads + 2))  // each part rounds up
#else
#define TFDISTIL_ARENA_SIZE Scaled(kTensorArenaSize)
#endif
#define TFDISTIL_HOST_ARENA 0
#else
#define TFDISTIL_HOST_ARENA 1
#endif
alignas(16) uint8_t tensor_arena[TFDISTIL_ARENA_SIZE];

// ---------------------------------------------------------------- instruction counting
// Exactly 2 instructions per iteration (subs, bne): a loop of known length to turn timer
// ticks into instructions.
__attribute__((noinline)) void Spin(uint32_t iterations) {
#if defined(__arm__)
  __asm__ volatile("1: subs %0, %0, #1\n bne 1b" : "+r"(iterations) : : "cc");
#else
  for (volatile uint32_t i = iterations; i > 0; i = i - 1) {
  }
#endif
}

// Two loops whose lengths differ by exactly 2 * (b - a) instructions: the host divides the
// difference of their ticks by that to get ticks per instruction (call overheads cancel).
void Calibrate() {
  constexpr uint32_t kIterations[2] = {250000, 1250000};
  for (uint32_t n : kIterations) {
    const uint32_t t0 = tfdistil_ticks();
    Spin(n);
    const uint32_t t1 = tfdistil_ticks();
    printf("C %lu %lu\n", static_cast<unsigned long>(2 * n), static_cast<unsigned long>(t1 - t0));
  }
}

// ---------------------------------------------------------------- instructions per op type
// With -DTFDISTIL_PROFILE_OPS the interpreters get a profiler that adds up the timer ticks of
// every op invocation by op name ("O name ticks_high ticks_low calls" lines at the end). Its own two timer reads
// per op land in the totals, so a profiled build's per-sentence counts run slightly higher.
#ifdef TFDISTIL_PROFILE_OPS
class OpProfiler : public tflite::MicroProfilerInterface {
 public:
  uint32_t BeginEvent(const char* tag) override {
    int i = 0;
    while (i < count_ && strcmp(tags_[i], tag) != 0) ++i;
    if (i == count_ && count_ < kMaxTags) tags_[count_++] = tag;
    start_ = tfdistil_ticks();
    return static_cast<uint32_t>(i);
  }
  void EndEvent(uint32_t i) override {
    const uint32_t end = tfdistil_ticks();
    if (i < static_cast<uint32_t>(kMaxTags)) {
      ticks_[i] += end - start_;
      ++calls_[i];
    }
  }
  void Print() const {
    for (int i = 0; i < count_; ++i)
      printf("O %s %lu %lu %lu\n", tags_[i], static_cast<unsigned long>(ticks_[i] >> 32),  // newlib-nano
             static_cast<unsigned long>(ticks_[i] & 0xFFFFFFFFu), static_cast<unsigned long>(calls_[i]));  // has no %llu
  }

 private:
  static constexpr int kMaxTags = 48;
  const char* tags_[kMaxTags] = {};
  uint64_t ticks_[kMaxTags] = {};
  uint32_t calls_[kMaxTags] = {};
  int count_ = 0;
  uint32_t start_ = 0;
};
OpProfiler g_profiler;
tflite::MicroProfilerInterface* Profiler() { return &g_profiler; }
void PrintProfile() { g_profiler.Print(); }
#else
tflite::MicroProfilerInterface* Profiler() { return nullptr; }
void PrintProfile() {}
#endif

// ---------------------------------------------------------------- stack high-water mark
// Paint the stack below the caller with a pattern, run, then find the deepest word that no
// longer holds it. Volatile stores so the compiler cannot turn the loop into a memset call
// whose own frame would land in the painted area.
#if defined(__arm__)
inline uintptr_t StackPointer() {
  uintptr_t sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  return sp;
}

__attribute__((noinline)) uintptr_t PaintStack(uint32_t bytes) {
  const uintptr_t top = (StackPointer() - 64) & ~uintptr_t{3};  // leave this frame alone
  volatile uint32_t* p = reinterpret_cast<volatile uint32_t*>(top - bytes);
  while (reinterpret_cast<uintptr_t>(p) < top) *p++ = kPaint;
  return top - bytes;
}

// Bytes between `reference` (a stack pointer taken before the run) and the deepest word
// written since PaintStack(); `bottom` itself overwritten means the painted area was too small.
uint32_t StackUsed(uintptr_t bottom, uintptr_t reference, bool* overflow) {
  const volatile uint32_t* p = reinterpret_cast<const volatile uint32_t*>(bottom);
  *overflow = *p != kPaint;
  while (reinterpret_cast<uintptr_t>(p) < reference && *p == kPaint) ++p;
  return static_cast<uint32_t>(reference - reinterpret_cast<uintptr_t>(p));
}
#else
// The host build (tfdistil/edge/mcu/build.py's reference for the board) has no stack to
// measure: an x86 stack says nothing about a Cortex-M one. It reports 0.
inline uintptr_t StackPointer() { return 0; }
inline uintptr_t PaintStack(uint32_t) { return 0; }
inline uint32_t StackUsed(uintptr_t, uintptr_t, bool* overflow) {
  *overflow = false;
  return 0;
}
#endif

// ---------------------------------------------------------------- raw int8 outputs
// The int8 models end in DEQUANTIZE (int8 logits -> float32). TFLM keeps no named
// intermediate tensors (MicroInterpreter::GetTensor needs preserve-all-tensors, which changes
// the arena), so the resolver below hands out the kit's own DEQUANTIZE kernel with an invoke
// that copies the op's int8 input when it writes the model's output. Same kernels, same
// arena; a few dozen extra instructions inside Invoke().
const void* g_output_data = nullptr;
TfLiteStatus (*g_dequantize_invoke)(TfLiteContext*, TfLiteNode*) = nullptr;
int8_t g_raw[kMaxOutputs];
int g_raw_count = 0;

TfLiteStatus TappedDequantizeInvoke(TfLiteContext* context, TfLiteNode* node) {
  const TfLiteStatus status = g_dequantize_invoke(context, node);
  const TfLiteEvalTensor* in = tflite::micro::GetEvalInput(context, node, 0);
  const TfLiteEvalTensor* out = tflite::micro::GetEvalOutput(context, node, 0);
  if (in->type == kTfLiteInt8 && out->data.raw == g_output_data) {
    const int n = tflite::ElementCount(*in->dims);
    g_raw_count = n < kMaxOutputs ? n : kMaxOutputs;
    memcpy(g_raw, in->data.int8, g_raw_count);
  }
  return status;
}

class TapDequantizeResolver : public tflite::MicroOpResolver {
 public:
  explicit TapDequantizeResolver(const tflite::MicroOpResolver& kit) : kit_(kit) {
    const TFLMRegistration* r = kit.FindOp(tflite::BuiltinOperator_DEQUANTIZE);
    if (r != nullptr) {
      tapped_ = *r;
      g_dequantize_invoke = r->invoke;
      tapped_.invoke = TappedDequantizeInvoke;
    }
  }
  bool tapping() const { return g_dequantize_invoke != nullptr; }
  const TFLMRegistration* FindOp(tflite::BuiltinOperator op) const override {
    if (op == tflite::BuiltinOperator_DEQUANTIZE && tapping()) return &tapped_;
#ifdef TFDISTIL_FAST_OPS
    return tfdistil_fast::Substitute(op, kit_.FindOp(op));  // exact fast invokes (fast_ops.cc)
#else
    return kit_.FindOp(op);
#endif
  }
  const TFLMRegistration* FindOp(const char* op) const override { return kit_.FindOp(op); }
  tflite::TfLiteBridgeBuiltinParseFunction GetOpDataParser(tflite::BuiltinOperator op) const override {
    return kit_.GetOpDataParser(op);
  }

 private:
  const tflite::MicroOpResolver& kit_;
  TFLMRegistration tapped_ = {};
};

// ---------------------------------------------------------------- model inputs
// token_ids and reverse_index have the same shape; tell them apart by the names in the
// flatbuffer (the converter sorts inputs by name: reverse_index first). As main_example.cc.
bool FindInputs(const tflite::Model* model, tflite::MicroInterpreter& interpreter, int* token_ids,
                int* reverse_index) {
  const int n = static_cast<int>(interpreter.inputs_size());
  if (n != kNumInputs) return false;
  *token_ids = n == 1 ? 0 : 1;
  *reverse_index = n == 1 ? -1 : 0;
  const tflite::SubGraph* subgraph = model->subgraphs()->Get(0);
  for (int i = 0; i < n; ++i) {
    const TfLiteTensor* t = interpreter.input(i);
    if (t->type != kTfLiteInt32 || t->dims->size != 2 || t->dims->data[1] != kMaxLen) return false;
    const tflite::Tensor* tensor = subgraph->tensors()->Get(subgraph->inputs()->Get(i));
    const char* name = tensor->name() != nullptr ? tensor->name()->c_str() : "";
    if (strstr(name, "reverse_index") != nullptr) *reverse_index = i;
    if (strstr(name, "token_ids") != nullptr) *token_ids = i;
  }
  return *token_ids != *reverse_index;
}

int Fail(const char* message) {
  printf("F %s\n", message);
  fflush(stdout);
  return 1;
}

struct Ticks {
  uint32_t tokenize, reset, invoke;
};

// One sentence: tokenize into the input tensor(s), Reset() (zeroes the LSTM state),
// Invoke(), each step between two timer reads.
bool Classify(tflite::MicroInterpreter& interpreter, int token_ids, int reverse_index, const char* text,
              int* n_tokens, Ticks* ticks) {
  const uint32_t t0 = tfdistil_ticks();
  const int n = tfdistil_tokenize(text, interpreter.input(token_ids)->data.i32, kMaxLen);
  if (reverse_index >= 0) tfdistil_reverse_index(n, kMaxLen, interpreter.input(reverse_index)->data.i32);
  const uint32_t t1 = tfdistil_ticks();
  const TfLiteStatus reset = interpreter.Reset();
  const uint32_t t2 = tfdistil_ticks();
  const TfLiteStatus invoke = interpreter.Invoke();
  const uint32_t t3 = tfdistil_ticks();
  *n_tokens = n;
  *ticks = {t1 - t0, t2 - t1, t3 - t2};
  return reset == kTfLiteOk && invoke == kTfLiteOk;
}

#ifdef TFDISTIL_PER_TOKEN
// ---------------------------------------------------------------- per-token mode
// The kit holds the model split in two (tfdistil/edge/convert/stream_split.py): a step model whose
// LSTMs advance one token per Invoke() (their state lives in variable tensors until Reset()),
// and heads over 16/32/64... positions. Work follows the sentence: n steps, then the shortest
// head that holds it. One arena, cut into the step's and each head's part.
const tflite::Model* g_step_model = nullptr;
tflite::MicroInterpreter* g_step = nullptr;
tflite::MicroInterpreter* g_heads[kNumHeads];
alignas(tflite::MicroInterpreter) uint8_t g_head_storage[kNumHeads][sizeof(tflite::MicroInterpreter)];
int g_step_in[2], g_step_out[2];        // token_fwd, token_bwd / h_fwd, h_bwd
int g_head_in[kNumHeads][4];            // lstm_fwd, lstm_bwd_reversed, reverse_index, token_ids (-1: absent)
int32_t g_ids[kMaxLen];

int InputNamed(const tflite::Model* model, tflite::MicroInterpreter& it, const char* name) {
  const tflite::SubGraph* subgraph = model->subgraphs()->Get(0);
  for (size_t i = 0; i < it.inputs_size(); ++i) {
    const tflite::Tensor* t = subgraph->tensors()->Get(subgraph->inputs()->Get(i));
    if (t->name() != nullptr && strstr(t->name()->c_str(), name) != nullptr) return static_cast<int>(i);
  }
  return -1;
}

int OutputNamed(const tflite::Model* model, tflite::MicroInterpreter& it, const char* name) {
  const tflite::SubGraph* subgraph = model->subgraphs()->Get(0);
  for (size_t i = 0; i < it.outputs_size(); ++i) {
    const tflite::Tensor* t = subgraph->tensors()->Get(subgraph->outputs()->Get(i));
    if (t->name() != nullptr && strcmp(t->name()->c_str(), name) == 0) return static_cast<int>(i);
  }
  return -1;
}

int SetUpPerToken(const tflite::MicroOpResolver& resolver, size_t* arena_used) {
  // On the host every part gets an equal share of a large arena (64-bit bookkeeping is bigger).
  constexpr size_t kHostShare = TFDISTIL_ARENA_SIZE / (kNumHeads + 1) / 16 * 16;
  uint8_t* arena = tensor_arena;
  auto take = [&arena](int size) {
    uint8_t* p = arena;
    arena += TFDISTIL_HOST_ARENA ? kHostShare : static_cast<size_t>(size);
    return p;
  };
  g_step_model = tflite::GetModel(g_model);
  static uint8_t* step_arena = take(Scaled(kStepArenaSize));
  static tflite::MicroInterpreter step(g_step_model, resolver, step_arena,
                                       TFDISTIL_HOST_ARENA ? kHostShare : Scaled(kStepArenaSize), nullptr,
                                       Profiler());
  g_step = &step;
  if (step.AllocateTensors() != kTfLiteOk) return Fail("step: AllocateTensors() failed (arena too small?)");
  g_step_in[0] = InputNamed(g_step_model, step, "token_fwd");
  g_step_in[1] = InputNamed(g_step_model, step, "token_bwd");
  g_step_out[0] = OutputNamed(g_step_model, step, "h_fwd");
  g_step_out[1] = OutputNamed(g_step_model, step, "h_bwd");
  if (g_step_in[0] < 0 || g_step_in[1] < 0 || g_step_out[0] < 0 || g_step_out[1] < 0)
    return Fail("step model inputs/outputs do not match the kit");
  *arena_used = step.arena_used_bytes();
  for (int h = 0; h < kNumHeads; ++h) {
    const tflite::Model* model = tflite::GetModel(g_head_models[h]);
    uint8_t* head_arena = take(Scaled(kHeadArenaSizes[h]));
    g_heads[h] = new (g_head_storage[h]) tflite::MicroInterpreter(
        model, resolver, head_arena, TFDISTIL_HOST_ARENA ? kHostShare : Scaled(kHeadArenaSizes[h]), nullptr,
        Profiler());
    if (g_heads[h]->AllocateTensors() != kTfLiteOk) return Fail("head: AllocateTensors() failed (arena too small?)");
    const char* names[4] = {"lstm_fwd", "lstm_bwd_reversed", "reverse_index", "token_ids"};
    for (int k = 0; k < 4; ++k) g_head_in[h][k] = InputNamed(model, *g_heads[h], names[k]);
    if (g_head_in[h][0] < 0 || g_head_in[h][1] < 0 || g_head_in[h][0] == g_head_in[h][1])
      return Fail("head inputs do not match the kit");
    if (g_heads[h]->output(0)->type != kTfLiteFloat32) return Fail("head output is not float32");
    *arena_used += g_heads[h]->arena_used_bytes();
  }
  return 0;
}

int PickHead(int n) {
  for (int h = 0; h < kNumHeads; ++h)
    if (kHeadLengths[h] >= (n > 0 ? n : 1)) return h;
  return kNumHeads - 1;
}

// One sentence: tokenize, Reset() the step (zeroes the LSTM state), then n step Invoke()s
// and the head's, timed as "invoke".
bool ClassifyPerToken(const char* text, int* n_tokens, Ticks* ticks, const TfLiteTensor** output) {
  const uint32_t t0 = tfdistil_ticks();
  const int n = tfdistil_tokenize(text, g_ids, kMaxLen);
  const uint32_t t1 = tfdistil_ticks();
  const TfLiteStatus reset = g_step->Reset();
  const uint32_t t2 = tfdistil_ticks();
  const int h = PickHead(n);
  const int L = kHeadLengths[h];
  tflite::MicroInterpreter& head = *g_heads[h];
  TfLiteTensor* fwd = head.input(g_head_in[h][0]);
  TfLiteTensor* bwd = head.input(g_head_in[h][1]);
  const TfLiteTensor* h_fwd = g_step->output(g_step_out[0]);
  const TfLiteTensor* h_bwd = g_step->output(g_step_out[1]);
  // positions past the sentence hold the quantized zero (masked or never read)
  memset(fwd->data.int8, h_fwd->params.zero_point, L * kHidden);
  memset(bwd->data.int8, h_bwd->params.zero_point, L * kHidden);
  int32_t* tok_f = g_step->input(g_step_in[0])->data.i32;
  int32_t* tok_b = g_step->input(g_step_in[1])->data.i32;
  bool ok = reset == kTfLiteOk;
  const int steps = n > 0 ? n : 1;  // an empty sentence: the full model's answer is its first (padding) step
  for (int t = 0; t < steps && ok; ++t) {
    tok_f[0] = g_ids[t];
    tok_b[0] = g_ids[steps - 1 - t];
    ok = g_step->Invoke() == kTfLiteOk;
    memcpy(fwd->data.int8 + t * kHidden, h_fwd->data.int8, kHidden);
    memcpy(bwd->data.int8 + t * kHidden, h_bwd->data.int8, kHidden);
  }
  if (g_head_in[h][2] >= 0) tfdistil_reverse_index(n, L, head.input(g_head_in[h][2])->data.i32);
  if (g_head_in[h][3] >= 0) memcpy(head.input(g_head_in[h][3])->data.i32, g_ids, L * sizeof(int32_t));
  *output = head.output(0);
  g_output_data = (*output)->data.raw;
  ok = ok && head.Invoke() == kTfLiteOk;
  const uint32_t t3 = tfdistil_ticks();
  *n_tokens = n;
  *ticks = {t1 - t0, t2 - t1, t3 - t2};
  return ok;
}
#endif  // TFDISTIL_PER_TOKEN

void PrintSentence(int index, const TfLiteTensor* output, int n_out, int n_tokens, const Ticks& t) {
  int label = 0;
  for (int k = 1; k < n_out; ++k) label = output->data.f[k] > output->data.f[label] ? k : label;
  printf("S %d %d %d ", index, label, n_tokens);
  for (int k = 0; k < n_out; ++k) {
    uint32_t bits;
    memcpy(&bits, &output->data.f[k], sizeof(bits));
    printf(k ? ",%08lx" : "%08lx", static_cast<unsigned long>(bits));
  }
  if (g_raw_count == 0) printf(" -");
  for (int k = 0; k < g_raw_count; ++k) printf(k ? ",%d" : " %d", g_raw[k]);
  printf(" %lu %lu %lu\n", static_cast<unsigned long>(t.tokenize), static_cast<unsigned long>(t.reset),
         static_cast<unsigned long>(t.invoke));
}

__attribute__((noinline)) int Run(const char* path, uintptr_t main_sp) {
  const uintptr_t setup_bottom = PaintStack(kSetupPaintBytes);
  tflite::InitializeTarget();
  const tflite::Model* model = tflite::GetModel(g_model);
  if (model->version() != TFLITE_SCHEMA_VERSION) return Fail("model schema version differs from TFLM's");
  static StudentOpResolver kit_resolver;
  if (RegisterStudentOps(kit_resolver) != kTfLiteOk) return Fail("RegisterStudentOps() failed");
  static TapDequantizeResolver resolver(kit_resolver);
#ifdef TFDISTIL_PER_TOKEN
  (void)model;
  size_t arena_used = 0;
  if (SetUpPerToken(resolver, &arena_used) != 0) return 1;
  const TfLiteTensor* output = g_heads[0]->output(0);
#else
  static tflite::MicroInterpreter interpreter(model, resolver, tensor_arena, TFDISTIL_ARENA_SIZE, nullptr,
                                             Profiler());
  if (interpreter.AllocateTensors() != kTfLiteOk) return Fail("AllocateTensors() failed (arena too small?)");
  int token_ids = -1, reverse_index = -1;
  if (!FindInputs(model, interpreter, &token_ids, &reverse_index)) return Fail("inputs do not match the kit");
  const TfLiteTensor* output = interpreter.output(0);
  const size_t arena_used = interpreter.arena_used_bytes();
#endif
  if (output->type != kTfLiteFloat32) return Fail("output is not float32");
  const int n_out = static_cast<int>(output->bytes / sizeof(float));
  if (n_out < 1 || n_out > kMaxOutputs) return Fail("unexpected output size");
  g_output_data = output->data.raw;
  printf("R inputs=%d max_len=%d arena_size=%d arena_used=%u outputs=%d tap=%d\n", kNumInputs, kMaxLen,
         static_cast<int>(TFDISTIL_ARENA_SIZE), static_cast<unsigned>(arena_used), n_out,
         resolver.tapping() ? 1 : 0);

  tfdistil_ticks_start();
  Calibrate();
  for (int i = 0; i < kBaselineReads; ++i) {
    const uint32_t a = tfdistil_ticks();
    const uint32_t b = tfdistil_ticks();
    printf("B %lu\n", static_cast<unsigned long>(b - a));
  }

  FILE* f = fopen(path, "r");
  if (f == nullptr) return Fail("cannot open the sentences file over semihosting");
  bool overflow = false;
  const uint32_t setup_stack = StackUsed(setup_bottom, main_sp, &overflow);
  if (overflow) return Fail("setup used more stack than the painted area");
  static char line[kLineMax];
  int count = 0;
  uint32_t inference_stack = 0;
  while (fgets(line, sizeof(line), f) != nullptr) {
    const size_t len = strcspn(line, "\n");
    if (line[len] != '\n' && !feof(f)) return Fail("sentence longer than the line buffer");
    line[len] = '\0';
    g_raw_count = 0;
    const uintptr_t bottom = PaintStack(kInferencePaintBytes);
    int n_tokens = 0;
    Ticks t;
#ifdef TFDISTIL_PER_TOKEN
    if (!ClassifyPerToken(line, &n_tokens, &t, &output)) return Fail("Reset() or Invoke() failed");
#else
    if (!Classify(interpreter, token_ids, reverse_index, line, &n_tokens, &t)) return Fail("Reset() or Invoke() failed");
#endif
    const uint32_t used = StackUsed(bottom, main_sp, &overflow);  // from main(), like a board's loop()
    if (overflow) return Fail("inference used more stack than the painted area");
    inference_stack = used > inference_stack ? used : inference_stack;
    PrintSentence(count++, output, n_out, n_tokens, t);
  }
  fclose(f);
  PrintProfile();
  // heap: what newlib's malloc took from the system (stdio's FILE buffers; TFLM never mallocs).
  printf("E sentences=%d setup_stack_bytes=%lu inference_stack_bytes=%lu heap_bytes=%ld\n", count,
         static_cast<unsigned long>(setup_stack), static_cast<unsigned long>(inference_stack),
         static_cast<long>(mallinfo().arena));
  fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // The stack pointer at main's entry is the reference of the high-water marks: what crt0
  // and main's own frame use above it is a few dozen bytes.
  return Run(argc > 1 ? argv[1] : "sentences.txt", StackPointer());
}
