// main_example.cc: classify sentences with a tfdistil student on TensorFlow Lite Micro.
//
// Needs the kit written by `tfdistil convert RUN_DIR --tflite --quantize int8 --c-array KIT_DIR`
// (model_data.h/.cpp, model_settings.h, vocab_data.h/.c, tokenizer.h/.c) next to this file,
// and a TFLM library (see README.md in this folder). Written in the style of TFLM's examples:
// setup() once, loop() forever. On Arduino, rename this file to
// .cpp, or paste it into the sketch's .ino: the Arduino builder does not compile .cc files.
// On ESP-IDF, main.cc calls setup() and then loop() in a while (true).
//
// Protocol: one sentence per line on the serial port; the answer is one line
//   label<TAB>probability_positive          (a 2-class model such as SST-2: label 0 or 1)
//   class_name<TAB>probability              (more classes: kLabels[] from model_settings.h)
// (the same format as tflite/classify.py), followed by a comment line "# tokens=N invoke_us=T".
//
// The model's contract (tfdistil/edge/convert/export.py, tfdistil/students/builders.py):
//   - inputs are int32 [1, kMaxLen] token ids, right-padded with 0 (unknown word = 1);
//   - the LSTM students (bilstm, bilstm_attn) have a second int32 [1, kMaxLen] input,
//     reverse_index, computed on the host by tfdistil_reverse_index();
//   - the output is float32 logits [1, kNumClasses] (SST-2: index 1 = positive), also for int8 models,
//     whose QUANTIZE/DEQUANTIZE ops sit inside the graph;
//   - the fused LSTM keeps its state in variable tensors that survive Invoke(): the
//     interpreter must be Reset() before every sentence.

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#if defined(ARDUINO)
#include <Arduino.h>
// The header of the TFLM library you installed (README.md, "Arduino"):
#include <Chirale_TensorFlowLite.h>  // Library Manager: Chirale_TensorFlowLite
// #include <TensorFlowLite.h>       // git clone of tflite-micro-arduino-examples
#elif defined(ESP_PLATFORM)
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#endif

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_log.h"
#include "tensorflow/lite/micro/system_setup.h"
#include "tensorflow/lite/schema/schema_generated.h"

#include "model_data.h"      // g_model[], g_model_len
#include "model_settings.h"  // kMaxLen, kNumInputs, kTensorArenaSize, StudentOpResolver, RegisterStudentOps
#include "tokenizer.h"       // tfdistil_tokenize(), tfdistil_reverse_index() (extern "C")

namespace {

// The arena holds every tensor, the interpreter's bookkeeping and the LSTM state. Its size is
// the one measured on the host + 10% (model_settings.h); TFLM aligns the start to 16 bytes
// itself and loses the difference if the buffer is not aligned.
alignas(16) uint8_t tensor_arena[kTensorArenaSize];

const tflite::Model* model = nullptr;
tflite::MicroInterpreter* interpreter = nullptr;
int token_ids_input = -1;      // index of the token_ids input tensor
int reverse_index_input = -1;  // index of the reverse_index input tensor, -1 for the CNN
bool ready = false;

constexpr int kLineMax = 512;  // longer lines are cut (the model reads at most kMaxLen tokens anyway)

uint32_t NowMicros() {
#if defined(ARDUINO)
  return micros();
#elif defined(ESP_PLATFORM)
  return static_cast<uint32_t>(esp_timer_get_time());
#else
  return 0;  // no clock on this platform: invoke_us is printed as 0
#endif
}

// Writes one line to the serial port (MicroPrintf is used for errors only: its %f support
// differs between TFLM ports, so numbers are formatted here with integers).
void PrintLine(const char* text) {
#if defined(ARDUINO)
  Serial.println(text);
#else
  printf("%s\n", text);
  fflush(stdout);
#endif
}

// Non-blocking line reader: returns true once a whole line is in `line` (without the newline).
// Works with blocking and non-blocking consoles alike.
bool ReadLine(char* line, int capacity) {
  static int len = 0;
  for (;;) {
#if defined(ARDUINO)
    if (Serial.available() <= 0) return false;
    int c = Serial.read();
#else
    int c = getchar();
    if (c == EOF) {
      clearerr(stdin);  // a non-blocking stdin reports "no data yet" as EOF
      return false;
    }
#endif
    if (c < 0) return false;
    if (c == '\r') continue;
    if (c == '\n') {
      line[len] = '\0';
      len = 0;
      return true;
    }
    if (len < capacity - 1) line[len++] = static_cast<char>(c);  // the rest of a long line is dropped
  }
}

bool IsTokenInput(const TfLiteTensor* t) {
  return t != nullptr && t->type == kTfLiteInt32 && t->dims != nullptr && t->dims->size == 2 &&
         t->dims->data[0] == 1 && t->dims->data[1] == kMaxLen;
}

// Finds which input is token_ids and which is reverse_index. Both are int32 [1, kMaxLen], so
// shapes cannot tell them apart: the names are read from the flatbuffer (TfLiteTensor has no
// name in TFLM builds). The converter names them "serving_default_token_ids:0" and
// "serving_default_reverse_index:0" and sorts the inputs by name, so if a tool stripped the
// names, a 2-input model has reverse_index at 0 and token_ids at 1; the CNN has one input.
bool FindInputs() {
  const int n = static_cast<int>(interpreter->inputs_size());
  if (n != kNumInputs || (n != 1 && n != 2)) {
    MicroPrintf("model has %d inputs, model_settings.h says %d: wrong kit for this model", n, kNumInputs);
    return false;
  }
  const tflite::SubGraph* subgraph = model->subgraphs()->Get(0);
  bool named = true;
  for (int i = 0; i < n; ++i) {
    if (!IsTokenInput(interpreter->input(i))) {
      MicroPrintf("input %d is not int32 [1, %d]: not a tfdistil student for this kit", i, kMaxLen);
      return false;
    }
    const tflite::Tensor* tensor = subgraph->tensors()->Get(subgraph->inputs()->Get(i));
    const char* name = (tensor != nullptr && tensor->name() != nullptr) ? tensor->name()->c_str() : "";
    if (strstr(name, "reverse_index") != nullptr) {
      reverse_index_input = i;
    } else if (strstr(name, "token_ids") != nullptr) {
      token_ids_input = i;
    } else {
      named = false;
    }
  }
  if (!named) {  // no usable names: fall back on the converter's alphabetical order
    token_ids_input = (n == 1) ? 0 : 1;
    reverse_index_input = (n == 1) ? -1 : 0;
  }
  if (token_ids_input < 0 || (n == 2 && (reverse_index_input < 0 || reverse_index_input == token_ids_input))) {
    MicroPrintf("could not tell token_ids from reverse_index");
    return false;
  }
  return true;
}

// Class index of `text` (-1 on error); `prob` receives its softmax probability and `p_class1`
// that of class 1 (P(positive) for SST-2). `n_tokens` receives the number of real tokens the
// model saw (the sentence is cut at kMaxLen tokens).
int Classify(const char* text, int* n_tokens, uint32_t* invoke_us, float* prob, float* p_class1) {
  // 1. Token ids straight into the input tensor: int32, right-padded with 0.
  int32_t* ids = interpreter->input(token_ids_input)->data.i32;
  const int n = tfdistil_tokenize(text, ids, kMaxLen);
  *n_tokens = n;
  // 2. reverse_index[t] = n-1-t for t < n, else t (LSTM students only). Every input is
  //    rewritten before every Invoke(): TFLM may reuse input memory for other tensors.
  if (reverse_index_input >= 0) {
    tfdistil_reverse_index(n, kMaxLen, interpreter->input(reverse_index_input)->data.i32);
  }
  // 3. Zero the LSTM state (variable tensors). Without this each sentence would start from
  //    the previous sentence's state and accuracy falls to chance.
  if (interpreter->Reset() != kTfLiteOk) {
    MicroPrintf("Reset() failed");
    return -1;
  }
  // 4. Run.
  const uint32_t t0 = NowMicros();
  if (interpreter->Invoke() != kTfLiteOk) {
    MicroPrintf("Invoke() failed");
    return -1;
  }
  *invoke_us = NowMicros() - t0;
  // 5. Logits [1, kNumClasses] -> the largest one, and a softmax for its probability.
  const TfLiteTensor* out = interpreter->output(0);
  float z[kNumClasses];
  for (int i = 0; i < kNumClasses; ++i) {
    if (out->type == kTfLiteFloat32) {
      z[i] = out->data.f[i];
    } else if (out->type == kTfLiteInt8) {  // only if a model was converted with int8 outputs
      z[i] = (out->data.int8[i] - out->params.zero_point) * out->params.scale;
    } else {
      MicroPrintf("unexpected output type %d", static_cast<int>(out->type));
      return -1;
    }
  }
  // The decision: the first index of the largest logit. Equal logits (equal int8 outputs,
  // p exactly 0.5) go to the lowest class index, as in tflite/classify.py and tfdistil's evaluators.
  int best = 0;
  for (int i = 1; i < kNumClasses; ++i) {
    if (z[i] > z[best]) best = i;
  }
  float sum = 0.0f;
  for (int i = 0; i < kNumClasses; ++i) sum += expf(z[i] - z[best]);
  *prob = 1.0f / sum;
  *p_class1 = expf(z[1] - z[best]) / sum;
  return best;
}

}  // namespace

void setup() {
  tflite::InitializeTarget();
#if defined(ARDUINO)
  Serial.begin(115200);
  for (const uint32_t t0 = millis(); !Serial && millis() - t0 < 3000;) {
  }  // USB serial: wait up to 3 s for a terminal
#endif

  model = tflite::GetModel(g_model);
  if (model->version() != TFLITE_SCHEMA_VERSION) {
    MicroPrintf("model schema version %d, this TFLM supports %d", static_cast<int>(model->version()),
                TFLITE_SCHEMA_VERSION);
    return;
  }

  // Exactly the ops the model uses (model_settings.h); an op missing here makes
  // AllocateTensors() fail with "Didn't find op for builtin opcode ...".
  static StudentOpResolver resolver;
  if (RegisterStudentOps(resolver) != kTfLiteOk) {
    MicroPrintf("RegisterStudentOps() failed");
    return;
  }

  static tflite::MicroInterpreter static_interpreter(model, resolver, tensor_arena, kTensorArenaSize);
  interpreter = &static_interpreter;
  if (interpreter->AllocateTensors() != kTfLiteOk) {
    MicroPrintf("AllocateTensors() failed: arena of %d bytes too small, or an op is missing", kTensorArenaSize);
    return;
  }
  if (!FindInputs()) return;

  MicroPrintf("tfdistil ready: %d inputs, kMaxLen %d, arena used %d of %d bytes", kNumInputs, kMaxLen,
              static_cast<int>(interpreter->arena_used_bytes()), kTensorArenaSize);
  ready = true;
}

void loop() {
  static char line[kLineMax];
  if (!ready || !ReadLine(line, kLineMax)) {
#if defined(ESP_PLATFORM) && !defined(ARDUINO)
    vTaskDelay(pdMS_TO_TICKS(10));  // let the idle task run (task watchdog)
#endif
    return;
  }
  int n_tokens = 0;
  uint32_t invoke_us = 0;
  float prob = 0.0f, p_class1 = 0.0f;
  const int k = Classify(line, &n_tokens, &invoke_us, &prob, &p_class1);
  if (k < 0) {
    PrintLine("error");
    return;
  }
  // Integer formatting: printf's %f is often compiled out on microcontrollers.
  const float p = kNumClasses == 2 ? p_class1 : prob;
  const long micro = static_cast<long>(p * 1000000.0f + 0.5f);
  char answer[96];
  if (kNumClasses == 2) {  // SST-2's format: 0/1 and P(positive)
    snprintf(answer, sizeof(answer), "%d\t%ld.%06ld", k, micro / 1000000L, micro % 1000000L);
  } else {
    snprintf(answer, sizeof(answer), "%s\t%ld.%06ld", kLabels[k], micro / 1000000L, micro % 1000000L);
  }
  PrintLine(answer);
  snprintf(answer, sizeof(answer), "# tokens=%d invoke_us=%lu", n_tokens, static_cast<unsigned long>(invoke_us));
  PrintLine(answer);
}
