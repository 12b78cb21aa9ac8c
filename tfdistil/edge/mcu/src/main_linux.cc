// main_linux.cc: a command-line classifier for Linux (a Raspberry Pi's 32-bit or 64-bit OS, or x86)
// from a tfdistil firmware kit and TFLite Micro. Built by tfdistil/edge/mcu/build.py
// (`tfdistil bundle MODEL --target linux-armv7|linux-aarch64|linux-x86_64`), linked statically.
//
// Why TFLM on a Pi: 32-bit Raspberry Pi OS bookworm (Python 3.11) has no TFLite runtime on PyPI at
// all; this binary needs nothing but the kernel. Same kit (model as a C array, C tokenizer,
// exact op resolver) and same TFLM sources as the firmware, so its answers are the firmware's.
//
//   classify [--bits] "a gorgeous , witty movie" "dull"     sentences from the arguments
//   classify [--bits] < sentences.txt                       or one per line from stdin
//   classify [--bits] --tsv test.tsv                        sentence<TAB>label; accuracy on stderr
//
// Output, one line per sentence, as tflite/classify.py prints it:
//   LABEL<TAB>P(class 1)          a model whose classes are "0","1" (SST-2)
//   CLASS_NAME<TAB>P(that class)  any other model (kLabels[] from model_settings.h)
// --bits appends <TAB>the float32 logits as hex bits (for bit-exact comparisons).
//
// Decision rule (the same in tflite/classify.py, the library's evaluators and the firmware main):
// the label is the first index of the largest float32 logit; equal logits (equal int8 outputs,
// p exactly 0.5 for two classes) go to the lowest class index.

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/system_setup.h"
#include "tensorflow/lite/schema/schema_generated.h"

#include "model_data.h"
#include "model_settings.h"
#include "tokenizer.h"

namespace {

// A 64-bit build's TFLM bookkeeping is bigger than the board's the kit measured; untouched pages
// of a static array cost no memory, so the arena is generous.
#ifndef TFDISTIL_ARENA_SIZE
#define TFDISTIL_ARENA_SIZE (4 * kTensorArenaSize + 256 * 1024)
#endif
alignas(16) uint8_t tensor_arena[TFDISTIL_ARENA_SIZE];
constexpr int kLineMax = 65536;

int Fail(const char* message) {
  fprintf(stderr, "error: %s\n", message);
  return 2;
}

struct Runner {
  tflite::MicroInterpreter* interpreter = nullptr;
  int token_ids = -1, reverse_index = -1;
  bool binary = false;
};

// token_ids and reverse_index share a shape; the flatbuffer's tensor names tell them apart.
bool FindInputs(const tflite::Model* model, Runner* r) {
  const int n = static_cast<int>(r->interpreter->inputs_size());
  if (n != kNumInputs || n < 1 || n > 2) return false;
  r->token_ids = n == 1 ? 0 : 1;
  r->reverse_index = n == 1 ? -1 : 0;
  const tflite::SubGraph* subgraph = model->subgraphs()->Get(0);
  for (int i = 0; i < n; ++i) {
    const TfLiteTensor* t = r->interpreter->input(i);
    if (t->type != kTfLiteInt32 || t->dims->size != 2 || t->dims->data[1] != kMaxLen) return false;
    const tflite::Tensor* tensor = subgraph->tensors()->Get(subgraph->inputs()->Get(i));
    const char* name = tensor->name() != nullptr ? tensor->name()->c_str() : "";
    if (strstr(name, "reverse_index") != nullptr) r->reverse_index = i;
    if (strstr(name, "token_ids") != nullptr) r->token_ids = i;
  }
  return r->token_ids != r->reverse_index;
}

// One sentence: tokenize, Reset() (zeroes the LSTM state), Invoke(); the float32 logits in z.
bool Classify(Runner* r, const char* text, float* z) {
  tflite::MicroInterpreter* it = r->interpreter;
  const int n = tfdistil_tokenize(text, it->input(r->token_ids)->data.i32, kMaxLen);
  if (r->reverse_index >= 0) tfdistil_reverse_index(n, kMaxLen, it->input(r->reverse_index)->data.i32);
  if (it->Reset() != kTfLiteOk || it->Invoke() != kTfLiteOk) return false;
  memcpy(z, it->output(0)->data.f, kNumClasses * sizeof(float));
  return true;
}

// The decision: first index of the largest logit (ties: lowest index). Softmax in double, as
// classify.py computes it from the same float32 logits.
int Decide(const float* z, double* p) {
  int best = 0;
  for (int k = 1; k < kNumClasses; ++k)
    if (z[k] > z[best]) best = k;
  double sum = 0.0;
  for (int k = 0; k < kNumClasses; ++k) sum += exp(static_cast<double>(z[k]) - z[best]);
  for (int k = 0; k < kNumClasses; ++k) p[k] = exp(static_cast<double>(z[k]) - z[best]) / sum;
  return best;
}

void Print(const Runner& r, const float* z, int best, const double* p, bool bits) {
  if (r.binary) {
    printf("%d\t%.6f", best, p[1]);
  } else {
    printf("%s\t%.6f", kLabels[best], p[best]);
  }
  if (bits) {
    for (int k = 0; k < kNumClasses; ++k) {
      uint32_t b;
      memcpy(&b, &z[k], sizeof(b));
      printf(k ? ",%08lx" : "\t%08lx", static_cast<unsigned long>(b));
    }
  }
  printf("\n");
}

// Label column of a TSV line: its index in kLabels, -1 when absent, -2 when not a class name.
int LabelOf(const char* text) {
  if (*text == '\0') return -1;
  for (int k = 0; k < kNumClasses; ++k)
    if (strcmp(text, kLabels[k]) == 0) return k;
  return -2;
}

void Chomp(char* line) { line[strcspn(line, "\r\n")] = '\0'; }

}  // namespace

int main(int argc, char** argv) {
  bool bits = false;
  const char* tsv = nullptr;
  int first_text = argc;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--bits") == 0) {
      bits = true;
    } else if (strcmp(argv[i], "--tsv") == 0 && i + 1 < argc) {
      tsv = argv[++i];
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      printf("usage: %s [--bits] [--tsv FILE] [SENTENCE ...]  (no sentence, no --tsv: one per line on stdin)\n",
             argv[0]);
      return 0;
    } else if (strncmp(argv[i], "--", 2) == 0) {
      return Fail("unknown option (see --help)");
    } else {
      first_text = i;
      break;
    }
  }
  tflite::InitializeTarget();
  const tflite::Model* model = tflite::GetModel(g_model);
  if (model->version() != TFLITE_SCHEMA_VERSION) return Fail("model schema version differs from TFLM's");
  static StudentOpResolver resolver;
  if (RegisterStudentOps(resolver) != kTfLiteOk) return Fail("RegisterStudentOps() failed");
  static tflite::MicroInterpreter interpreter(model, resolver, tensor_arena, TFDISTIL_ARENA_SIZE);
  if (interpreter.AllocateTensors() != kTfLiteOk) return Fail("AllocateTensors() failed (arena too small?)");
  Runner r;
  r.interpreter = &interpreter;
  if (!FindInputs(model, &r)) return Fail("the model's inputs do not match the kit");
  const TfLiteTensor* out = interpreter.output(0);
  if (out->type != kTfLiteFloat32 || out->bytes != kNumClasses * sizeof(float)) return Fail("unexpected output");
  r.binary = kNumClasses == 2 && strcmp(kLabels[0], "0") == 0 && strcmp(kLabels[1], "1") == 0;

  float z[kNumClasses];
  double p[kNumClasses];
  for (int i = first_text; i < argc; ++i) {
    if (!Classify(&r, argv[i], z)) return Fail("Reset() or Invoke() failed");
    const int best = Decide(z, p);
    Print(r, z, best, p, bits);
  }
  if (first_text < argc && tsv == nullptr) return 0;
  FILE* f = tsv ? fopen(tsv, "r") : stdin;
  if (f == nullptr) return Fail("cannot open the --tsv file");
  static char line[kLineMax];
  long labelled = 0, correct = 0, lineno = 0;
  while (fgets(line, sizeof(line), f) != nullptr) {
    ++lineno;
    if (strlen(line) == sizeof(line) - 1 && line[sizeof(line) - 2] != '\n') return Fail("line too long");
    Chomp(line);
    int label = -1;
    if (tsv != nullptr) {
      char* tab = strchr(line, '\t');
      if (lineno == 1 && strstr(line, "sentence") != nullptr) continue;  // header
      if (tab != nullptr) {
        *tab = '\0';
        Chomp(tab + 1);
        label = LabelOf(tab + 1);
        if (label == -2) {
          fprintf(stderr, "error: %s:%ld: label is not one of the model's classes\n", tsv, lineno);
          return 2;
        }
      }
      if (line[0] == '\0' && tab == nullptr) continue;
    }
    if (!Classify(&r, line, z)) return Fail("Reset() or Invoke() failed");
    const int best = Decide(z, p);
    Print(r, z, best, p, bits);
    if (label >= 0) {
      ++labelled;
      correct += best == label;
    }
  }
  if (tsv != nullptr) fclose(f);
  if (labelled) fprintf(stderr, "accuracy %.4f on %ld labelled rows\n", static_cast<double>(correct) / labelled, labelled);
  fflush(stdout);
  return 0;
}
