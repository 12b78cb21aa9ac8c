"""MCU firmware kit: the flatbuffer as an aligned C array, the exact op resolver,
the measured arena, and the vocabulary + a C tokenizer that matches Python's.

Files written to the kit folder:
  model_data.h/.cpp   g_model[] (16-byte aligned), g_model_len
  model_settings.h    kMaxLen, kTensorArenaSize (measured in TFLM + margin),
                      StudentOpResolver = MicroMutableOpResolver<N> and
                      RegisterStudentOps() adding exactly the ops the model uses
  vocab_data.h/.c     words sorted bytewise + their ids (binary search); or (vocab_layout
                      "fingerprints") only each word's 32-bit hash, sorted, + its id; or
                      ("fingerprint-ranks") only the sorted hashes, id = 2 + rank, with the
                      model's embedding rows put in that order; or for a hashed vocabulary only TFDISTIL_HASH_BUCKETS (the C tokenizer hashes each word)
  tokenizer.h/.c      tfdistil_tokenize(), tfdistil_reverse_index() in C99
  kit.json            what was measured, for the firmware notes' budget table
"""
import os

from tfdistil.data.vocab import Vocab
from tfdistil.files import atomic_write_json, atomic_write_text
from tfdistil.runfolder import vocab_beside
from tfdistil.edge.mcu.c_vocab import c_vocabulary_source, c_string, c_vocabulary_layout, rank_order
from tfdistil.edge.convert.graph_rewrite import reorder_embedding_rows
from tfdistil.edge.host.evaluate import (TFLMRunner, check_vocab, read_manifest, read_model, smallest_arena,
                                    tflm_arena_used)

# TFLite builtin op name -> MicroMutableOpResolver method.
RESOLVER_METHODS = {
    "ADD": "AddAdd", "CAST": "AddCast", "CONCATENATION": "AddConcatenation", "CONV_2D": "AddConv2D",
    "DEQUANTIZE": "AddDequantize", "DIV": "AddDiv", "EXPAND_DIMS": "AddExpandDims",
    "FULLY_CONNECTED": "AddFullyConnected", "GATHER": "AddGather", "MAX_POOL_2D": "AddMaxPool2D",
    "MUL": "AddMul", "NOT_EQUAL": "AddNotEqual", "QUANTIZE": "AddQuantize", "REDUCE_MAX": "AddReduceMax",
    "RELU": "AddRelu", "RESHAPE": "AddReshape", "SOFTMAX": "AddSoftmax", "SQUEEZE": "AddSqueeze",
    "STRIDED_SLICE": "AddStridedSlice", "SUB": "AddSub", "SUM": "AddSum", "TANH": "AddTanh",
    "LOGISTIC": "AddLogistic", "MEAN": "AddMean", "PACK": "AddPack", "UNPACK": "AddUnpack",
    "TRANSPOSE": "AddTranspose", "SELECT_V2": "AddSelectV2",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
}

TOKENIZER_H = r"""// tfdistil word tokenizer for microcontrollers: the same rules as tfdistil/data/tokenizer.py
// (ASCII lowercase, split on ASCII whitespace; an out-of-vocabulary word has leading "
// and trailing .,!?;:" peeled off as separate tokens; with TFDISTIL_SUBWORDS an unknown
// word is split into wordpieces).
#ifndef TFDISTIL_TOKENIZER_H_
#define TFDISTIL_TOKENIZER_H_
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
// Writes right-padded token ids (pad 0, unknown 1) into ids[max_len]; returns the number of
// real tokens (<= max_len). `text` is UTF-8, NUL-terminated; it is not modified.
int tfdistil_tokenize(const char* text, int32_t* ids, int max_len);
// reverse_index[t] = n-1-t for t < n, else t: the second input of the LSTM students.
void tfdistil_reverse_index(int n, int max_len, int32_t* reverse_index);
// Id of one word (bytes [word, word+len)), or 1 (<unk>).
int32_t tfdistil_word_id(const char* word, int len);
#ifdef __cplusplus
}
#endif
#endif
"""

TOKENIZER_C = r"""#include "tokenizer.h"
#include <string.h>
#include "vocab_data.h"

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static int is_tail(char c) { return c == '.' || c == ',' || c == '!' || c == '?' || c == ';' || c == ':' || c == '"'; }
static unsigned char lower(char c) { return (unsigned char)(c >= 'A' && c <= 'Z' ? c + 32 : c); }

#if !defined(TFDISTIL_HASH_BUCKETS) && !defined(TFDISTIL_VOCAB_FINGERPRINTS)
// Bytewise compare of the ASCII-lowercased text word with a (lowercase) vocabulary word.
static int compare(const char* word, int len, const char* vocab_word) {
  for (int k = 0; k < len; ++k) {
    unsigned char a = lower(word[k]), b = (unsigned char)vocab_word[k];
    if (b == 0) return 1;  // vocabulary word is a prefix of the text word
    if (a != b) return a < b ? -1 : 1;
  }
  return vocab_word[len] == 0 ? 0 : -1;
}
#endif

#ifdef TFDISTIL_HASH_BUCKETS
// Hashed vocabulary (tokenizer.py rule 5): 2 + FNV-1a-32 of the lowercased bytes, mod (N - 2).
int32_t tfdistil_word_id(const char* word, int len) {
  uint32_t h = 2166136261u;
  for (int k = 0; k < len; ++k) h = (h ^ lower(word[k])) * 16777619u;
  return 2 + (int32_t)(h % (uint32_t)(TFDISTIL_HASH_BUCKETS - 2));
}
#elif defined(TFDISTIL_VOCAB_FINGERPRINTS)
// No strings: each vocabulary word is kept as its FNV-1a-32 fingerprint (basis kVocabBasis,
// chosen so that no two vocabulary words share one), sorted. A word not in the vocabulary
// takes a word's id only if its fingerprint equals that word's: about 1 in 2^32 / kVocabCount.
int32_t tfdistil_word_id(const char* word, int len) {
  uint32_t h = kVocabBasis;
  for (int k = 0; k < len; ++k) h = (h ^ lower(word[k])) * 16777619u;
  int lo = 0, hi = kVocabCount - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
#ifdef TFDISTIL_VOCAB_RANKS
    if (kVocabHashes[mid] == h) return 2 + mid;  // the kit ordered the embedding rows by fingerprint
#else
    if (kVocabHashes[mid] == h) return kVocabIds[mid];
#endif
    if (kVocabHashes[mid] < h) lo = mid + 1; else hi = mid - 1;
  }
  return 1;
}
#else
int32_t tfdistil_word_id(const char* word, int len) {
  int lo = 0, hi = kVocabCount - 1;
  while (lo <= hi) {  // words are sorted bytewise (memcmp order)
    int mid = (lo + hi) / 2;
    int c = compare(word, len, kVocabWords + kVocabOffsets[mid]);
    if (c == 0) return kVocabIds[mid];
    if (c < 0) hi = mid - 1; else lo = mid + 1;
  }
  return 1;
}
#endif

static void emit(int32_t id, int32_t* ids, int max_len, int* n) {
  if (*n < max_len) ids[(*n)++] = id;
}

#ifdef TFDISTIL_SUBWORDS
// Tokenizer rule 6: an unknown word is split into vocabulary pieces, greedy longest match first,
// every piece after the first looked up as "##" + its bytes; if some position matches no piece
// the whole word is one <unk>. Pieces end on whole UTF-8 characters (the table holds only valid
// UTF-8), so matching bytes gives Python's split by characters.
static void emit_wordpieces(const char* s, int len, int32_t* ids, int max_len, int* n) {
  char buf[TFDISTIL_MAX_PIECE + 1];
  int n0 = *n, start = 0;
  buf[0] = buf[1] = '#';
  while (start < len) {
    int32_t id = 1;
    int end = len;
    for (; end > start; --end) {
      int m = end - start;
      if (m + (start ? 2 : 0) > TFDISTIL_MAX_PIECE) continue;  // no vocabulary piece is that long
      if (start == 0) {
        id = tfdistil_word_id(s, m);
      } else {
        memcpy(buf + 2, s + start, (size_t)m);
        id = tfdistil_word_id(buf, m + 2);
      }
      if (id != 1) break;
    }
    if (end == start) {  // not coverable: undo the pieces emitted so far, one <unk> instead
      for (int k = n0; k < *n; ++k) ids[k] = 0;
      *n = n0;
      emit(1, ids, max_len, n);
      return;
    }
    emit(id, ids, max_len, n);
    start = end;
  }
}
#endif

int tfdistil_tokenize(const char* text, int32_t* ids, int max_len) {
  int n = 0;
  const char* p = text;
  for (int i = 0; i < max_len; ++i) ids[i] = 0;
  while (*p) {
    while (*p && is_space(*p)) ++p;
    if (!*p) break;
    const char* word = p;
    while (*p && !is_space(*p)) ++p;
    int len = (int)(p - word);
#ifndef TFDISTIL_HASH_BUCKETS  // hashed: every word is peeled (no "known word" to keep whole)
    int32_t id = tfdistil_word_id(word, len);
    if (id != 1) {  // in the vocabulary: keep whole (e.g. "u.s." or "...")
      emit(id, ids, max_len, &n);
      continue;
    }
#endif
    int start = 0, end = len, heads = 0, tails = 0;
    while (end - start > 1 && word[start] == '"') { ++start; ++heads; }
    while (end - start > 1 && is_tail(word[end - 1])) { --end; ++tails; }
    for (int i = 0; i < heads; ++i) emit(tfdistil_word_id("\"", 1), ids, max_len, &n);
#ifdef TFDISTIL_SUBWORDS
    emit_wordpieces(word + start, end - start, ids, max_len, &n);
#else
    emit(tfdistil_word_id(word + start, end - start), ids, max_len, &n);
#endif
    for (int i = 0; i < tails; ++i) emit(tfdistil_word_id(word + end + i, 1), ids, max_len, &n);
  }
  return n;
}

void tfdistil_reverse_index(int n, int max_len, int32_t* reverse_index) {
  for (int t = 0; t < max_len; ++t) reverse_index[t] = t < n ? n - 1 - t : t;
}
"""


def check_kit_folder(path, overwrite, flag):
    """Refuse, before any work, a kit or build folder tfdistil must not write (one UserError): a
    new or empty folder is fine, one tfdistil made only with `overwrite`, any other never."""
    from tfdistil.files import check_output_folder
    check_output_folder(path, overwrite, flag)


def _bytes_array(data, per_line=16):
    lines = []
    for i in range(0, len(data), per_line):
        lines.append("  " + ", ".join(f"0x{b:02x}" for b in data[i:i + per_line]) + ",")
    return "\n".join(lines)


def _measured_arena(path, margin):
    """(smallest arena that ran the flatbuffer at `path` in TFLM, arena with margin)."""
    from ai_edge_litert.interpreter import Interpreter
    from tflite_micro.python.tflite_micro import runtime
    from tfdistil.edge.host.runtimes import feed_probe
    with open(path, "rb") as f:
        model_bytes = f.read()
    names = [d["name"] for d in Interpreter(model_content=model_bytes).get_input_details()]
    it = runtime.Interpreter.from_bytes(model_bytes, arena_size=4 * 1024 * 1024)
    feed_probe(it, names)
    it.invoke()
    used, _ = tflm_arena_used(it)
    arena_min = smallest_arena(path, names, used)
    return arena_min, int(arena_min * margin) // 16 * 16 + 16


def write_tokenizer_files(vocab, layout, out_dir):
    """vocab_data.h/.c and tokenizer.h/.c: the C tokenizer for `vocab` in `layout` (c_vocabulary_layout)."""
    vocab_h, vocab_c = c_vocabulary_source(vocab, layout)
    defines = vocab_h[0]
    if vocab.subwords:  # the longest table entry bounds the pieces the C tokenizer tries
        longest = max((len(w.encode("utf-8")) for w in vocab.itos[2:]), default=2)
        defines += ("#define TFDISTIL_SUBWORDS 1  // unknown words split into wordpieces (tokenizer rule 6)\n"
                    f"#define TFDISTIL_MAX_PIECE {max(longest, 2)}  // bytes of the longest vocabulary entry\n")
    atomic_write_text(os.path.join(out_dir, "vocab_data.h"),
                      "#ifndef VOCAB_DATA_H_\n#define VOCAB_DATA_H_\n#include <stdint.h>\n" + defines +
                      "#ifdef __cplusplus\nextern \"C\" {\n#endif\n" + vocab_h[1] +
                      "#ifdef __cplusplus\n}\n#endif\n#endif\n")
    atomic_write_text(os.path.join(out_dir, "vocab_data.c"), '#include "vocab_data.h"\n' + vocab_c)
    atomic_write_text(os.path.join(out_dir, "tokenizer.h"), TOKENIZER_H)
    atomic_write_text(os.path.join(out_dir, "tokenizer.c"), TOKENIZER_C)


def write_firmware_kit(model_path, out_dir, arena_margin=1.1, head_lengths=None, vocab_layout="strings"):
    """Write the C kit for a converted model; returns kit.json's content.

    `vocab_layout`: how the word table is stored in C (see `c_vocabulary_layout`): "strings"
    (exact), "fingerprints" (a 32-bit hash and an id a word, no strings: ~1/3 of the flash) or
    "fingerprint-ranks" (the hash alone; the model's embedding rows are put in hash order).

    With `head_lengths` (e.g. [16, 32, 64]) the kit runs an LSTM student token by token: the
    model is split into a step model and heads (tfdistil.edge.convert.stream_split), written beside the
    C files as step.tflite and head_L{n}.tflite, and main_qemu.cc's per-token mode runs them."""
    model_bytes = read_model(model_path)
    manifest = read_manifest(model_path, model_bytes)
    vocab_path = vocab_beside(model_path)
    vocab = Vocab.load(vocab_path)
    check_vocab(model_bytes, manifest, vocab, vocab_path)
    layout = c_vocabulary_layout(vocab, vocab_layout)  # checks the layout name first
    if layout["layout"] == "fingerprint-ranks":
        model_bytes = reorder_embedding_rows(model_bytes, rank_order(vocab))
    os.makedirs(out_dir, exist_ok=True)
    max_len = manifest.get("max_len") or TFLMRunner(model_bytes).max_len
    from tfdistil.edge.convert.export import op_list
    parts = None
    if head_lengths:
        from tfdistil.edge.convert.stream_split import split
        parts = split(model_bytes, head_lengths)
        pieces = [("step.tflite", parts["step"])] + [(f"head_L{n}.tflite", b) for n, b in parts["heads"].items()]
        for name, data in pieces:
            with open(os.path.join(out_dir, name), "wb") as f:
                f.write(data)
        ops = sorted({op for _, data in pieces for op in op_list(data)})
    else:
        ops = op_list(model_bytes)  # from the flatbuffer itself: a model may come without its manifest
    unknown = [op for op in ops if op not in RESOLVER_METHODS]
    if unknown:
        from tfdistil.errors import UserError
        raise UserError(f"ops without a known TFLM resolver method: {unknown}")

    if parts is None:
        runner = TFLMRunner(model_bytes, arena_size=4 * 1024 * 1024)
        runner(vocab.encode_batch(["a good film"], max_len))
        input_names = runner.names
        used, _ = runner.arena_used()
        arena_min = smallest_arena(model_path, runner.names, used)
        arena = int(arena_min * arena_margin) // 16 * 16 + 16
        model_h = "extern const unsigned char g_model[];\nextern const unsigned int g_model_len;\n"
        model_cpp = (f"alignas(16) const unsigned char g_model[] = {{\n{_bytes_array(model_bytes)}\n}};\n"
                     f"const unsigned int g_model_len = {len(model_bytes)};\n")
        per_token = ""
        flash_model_bytes = len(model_bytes)
    else:
        input_names = ["token_fwd", "token_bwd"]
        step_min, step_arena = _measured_arena(os.path.join(out_dir, "step.tflite"), arena_margin)
        heads = [(n, *_measured_arena(os.path.join(out_dir, f"head_L{n}.tflite"), arena_margin))
                 for n in parts["heads"]]
        arena_min = step_min + sum(m for _, m, _ in heads)
        arena = step_arena + sum(a for _, _, a in heads)
        model_h = ("extern const unsigned char g_model[];  // the step model\nextern const unsigned int g_model_len;\n"
                   "extern const unsigned char* const g_head_models[];\n")
        model_cpp = (f"alignas(16) const unsigned char g_model[] = {{\n{_bytes_array(parts['step'])}\n}};\n"
                     f"const unsigned int g_model_len = {len(parts['step'])};\n" +
                     "".join(f"alignas(16) static const unsigned char g_head_L{n}[] = {{\n{_bytes_array(b)}\n}};\n"
                             for n, b in parts["heads"].items()) +
                     "const unsigned char* const g_head_models[] = {" +
                     ", ".join(f"g_head_L{n}" for n in parts["heads"]) + "};\n")
        per_token = f"""
// Per-token mode (tfdistil/edge/convert/stream_split.py): g_model is the step model, advanced once per
// token; then the shortest head holding the sentence runs. Arenas measured per part in TFLM.
#define TFDISTIL_PER_TOKEN 1
constexpr int kHidden = {parts["hidden"]};                 // LSTM units per direction
constexpr int kNumHeads = {len(heads)};
constexpr int kHeadLengths[kNumHeads] = {{{", ".join(str(n) for n, _, _ in heads)}}};
constexpr int kStepArenaSize = {step_arena};           // smallest {step_min} + margin
constexpr int kHeadArenaSizes[kNumHeads] = {{{", ".join(str(a) for _, _, a in heads)}}};  // smallest {", ".join(str(m) for _, m, _ in heads)}
"""
        flash_model_bytes = len(parts["step"]) + sum(len(b) for b in parts["heads"].values())

    atomic_write_text(os.path.join(out_dir, "model_data.h"),
                      "#ifndef MODEL_DATA_H_\n#define MODEL_DATA_H_\n" + model_h + "#endif\n")
    atomic_write_text(os.path.join(out_dir, "model_data.cpp"),  # .cpp: the Arduino builder skips .cc
                      f'// {os.path.basename(model_path)}: {manifest.get("student")} '
                      f'{manifest.get("quantization")}, {flash_model_bytes} bytes'
                      f'{" (step + heads)" if parts else ""}\n'
                      '#include "model_data.h"\n' + model_cpp)
    adds = "\n".join(f"  if (r.{RESOLVER_METHODS[op]}() != kTfLiteOk) return kTfLiteError;" for op in ops)
    atomic_write_text(os.path.join(out_dir, "model_settings.h"), f"""#ifndef MODEL_SETTINGS_H_
#define MODEL_SETTINGS_H_
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"

constexpr int kMaxLen = {max_len};                 // input length L (token ids, right-padded with 0)
constexpr int kNumClasses = {len(vocab.labels)};               // output logits [1, kNumClasses]
// Class names in output order (from the training labels; SST-2: 0 = negative, 1 = positive).
static const char* const kLabels[kNumClasses] = {{{", ".join(c_string(n) for n in vocab.labels)}}};
constexpr int kNumInputs = {len(input_names)};               // {" + ".join(n.split("_", 2)[-1].split(":")[0] for n in input_names)} (the converter sorts inputs by name)
// Smallest arena that ran this model in TFLM on the host: {arena_min} bytes; +{round((arena_margin - 1) * 100)}% margin.
constexpr int kTensorArenaSize = {arena};
{per_token}
// Exactly the {len(ops)} ops this model uses.
using StudentOpResolver = tflite::MicroMutableOpResolver<{len(ops)}>;
inline TfLiteStatus RegisterStudentOps(StudentOpResolver& r) {{
{adds}
  return kTfLiteOk;
}}
#endif
""")
    write_tokenizer_files(vocab, layout, out_dir)
    kit = {"model": os.path.basename(model_path), "student": manifest.get("student"),
           "quantization": manifest.get("quantization"), "max_len": max_len, "model_bytes": flash_model_bytes,
           "per_token": None if parts is None else {
               "head_lengths": sorted(parts["heads"]), "step_bytes": len(parts["step"]),
               "head_bytes": {str(n): len(b) for n, b in parts["heads"].items()}, "hidden": parts["hidden"]},
           "ops": list(ops), "arena_bytes_min": arena_min, "arena_bytes": arena,
           "vocab_words": layout["words"], "hash_buckets": vocab.hash_buckets, "subwords": vocab.subwords,
           "labels": list(vocab.labels),
           "vocab_layout": layout["layout"],
           # flash: strings = the words with their NULs (plus the blob's closing NUL), an offset and
           # an id per word; fingerprints = a 4-byte hash and an id per word; fingerprint-ranks = the hash
           "vocab_flash_bytes": layout["flash_bytes"],
           "embedding_rows": "fingerprint order" if layout["layout"] == "fingerprint-ranks" else "as trained"}
    atomic_write_json(os.path.join(out_dir, "kit.json"), kit)
    return kit
