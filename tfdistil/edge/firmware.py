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

from tfdistil.data.tokenizer import FNV_BASIS, fnv1a32
from tfdistil.data.vocab import Vocab
from tfdistil.files import atomic_write_json, atomic_write_text
from tfdistil.edge.graph_rewrite import reorder_embedding_rows
from tfdistil.edge.evaluate import (TFLMRunner, check_vocab, read_manifest, read_model, smallest_arena,
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
// and trailing .,!?;:" peeled off as separate tokens).
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
    emit(tfdistil_word_id(word + start, end - start), ids, max_len, &n);
    for (int i = 0; i < tails; ++i) emit(tfdistil_word_id(word + end + i, 1), ids, max_len, &n);
  }
  return n;
}

void tfdistil_reverse_index(int n, int max_len, int32_t* reverse_index) {
  for (int t = 0; t < max_len; ++t) reverse_index[t] = t < n ? n - 1 - t : t;
}
"""


VOCAB_LAYOUTS = ("strings", "fingerprints", "fingerprint-ranks")


def fingerprint_table(vocab):
    """(basis, [(fingerprint, id)] sorted): each vocabulary word as its 32-bit FNV-1a hash.

    The basis is the standard FNV one unless two words collide under it; then the next of a
    fixed sequence, so the same vocabulary always gives the same table."""
    from tfdistil.errors import UserError
    words = [(w.encode("utf-8"), i) for i, w in enumerate(vocab.itos) if i >= 2]
    for k in range(64):
        basis = (FNV_BASIS + k * 0x9E3779B9) & 0xFFFFFFFF
        table = sorted((fnv1a32(w, basis), i) for w, i in words)
        if all(a[0] != b[0] for a, b in zip(table, table[1:])):
            return basis, table
    raise UserError("no FNV-1a basis gives distinct fingerprints to this vocabulary; use --c-vocab strings")


def rank_order(vocab):
    """The old id of each word in fingerprint order: the fingerprint-ranks table's id 2 + k is
    `rank_order(vocab)[k]` in the model as trained."""
    return [i for _, i in fingerprint_table(vocab)[1]]


def c_vocabulary_layout(vocab, layout="strings"):
    """How the kit stores `vocab` in C, and its flash bytes (what `tune --budget-includes-vocab` counts).

    "strings": one NUL-separated blob of the words (sorted bytewise), each word's offset into it
    and its id, in the narrowest integer types that hold them: ~4 bytes of overhead a word instead
    of a 4-byte pointer and a 4-byte id. "fingerprints": no strings, a sorted 32-bit hash + an id a
    word (6 bytes). "fingerprint-ranks": only the sorted hashes (4 bytes a word); a word's id is
    2 + its rank, and the kit reorders the model's embedding rows to match
    (`graph_rewrite.reorder_embedding_rows`). A hashed vocabulary has no table at all."""
    if layout not in VOCAB_LAYOUTS:
        from tfdistil.errors import UserError
        raise UserError(f"unknown C vocabulary layout {layout!r}; choose one of {', '.join(VOCAB_LAYOUTS)}")
    if vocab.hash_buckets:
        return {"layout": "hashed", "words": 0, "blob_bytes": 0, "offset_type": None, "id_type": None,
                "flash_bytes": 0}
    words = [w.encode("utf-8") for i, w in enumerate(vocab.itos) if i >= 2]
    id_type = "uint16_t" if len(vocab) <= 0xFFFF else "int32_t"
    id_bytes = 2 if id_type == "uint16_t" else 4
    if layout in ("fingerprints", "fingerprint-ranks"):
        ranked = layout == "fingerprint-ranks"
        return {"layout": layout, "words": len(words), "blob_bytes": 0, "offset_type": None,
                "id_type": None if ranked else id_type, "flash_bytes": (4 + (0 if ranked else id_bytes)) * len(words)}
    blob = sum(len(w) + 1 for w in words)
    offset_type = "uint16_t" if blob <= 0xFFFF else "uint32_t"
    per_word = (2 if offset_type == "uint16_t" else 4) + id_bytes
    # + the string literal's own closing NUL
    return {"layout": layout, "words": len(words), "blob_bytes": blob, "offset_type": offset_type,
            "id_type": id_type, "flash_bytes": blob + 1 + per_word * len(words)}


def _c_string(word):
    out = []
    for b in word.encode("utf-8"):
        ch = chr(b)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= b < 127 and ch != "?":  # '?' avoided: trigraphs
            out.append(ch)
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def _bytes_array(data, per_line=16):
    lines = []
    for i in range(0, len(data), per_line):
        lines.append("  " + ", ".join(f"0x{b:02x}" for b in data[i:i + per_line]) + ",")
    return "\n".join(lines)


def _c_vocabulary(vocab, layout):
    """((defines, declarations) for vocab_data.h, vocab_data.c) in `layout` (c_vocabulary_layout)."""
    id_type = layout["id_type"] or "uint16_t"
    if layout["layout"] == "hashed":
        return (f"#define TFDISTIL_HASH_BUCKETS {vocab.hash_buckets}  // no word table: ids from hashes\n",
                "extern const int kVocabCount;\n"), "const int kVocabCount = 0;\n"
    if layout["layout"] == "fingerprint-ranks":
        basis, table = fingerprint_table(vocab)
        return (("#define TFDISTIL_VOCAB_FINGERPRINTS 1  // no strings: a 32-bit hash a word\n"
                 "#define TFDISTIL_VOCAB_RANKS 1  // no ids: word k of the table has id 2 + k\n",
                 "extern const int kVocabCount;\n"
                 "extern const uint32_t kVocabBasis;         // FNV-1a basis: no two words share a hash\n"
                 "extern const uint32_t kVocabHashes[];      // FNV-1a-32 of each word, ascending; id = 2 + index\n"),
                f"const int kVocabCount = {len(table)};\nconst uint32_t kVocabBasis = {basis}u;\n"
                "const uint32_t kVocabHashes[] = {\n" + "\n".join(f"  {h}u," for h, _ in table) + "\n};\n")
    if layout["layout"] == "fingerprints":
        basis, table = fingerprint_table(vocab)
        return (("#define TFDISTIL_VOCAB_FINGERPRINTS 1  // no strings: a 32-bit hash a word\n",
                 "extern const int kVocabCount;\n"
                 "extern const uint32_t kVocabBasis;         // FNV-1a basis: no two words share a hash\n"
                 "extern const uint32_t kVocabHashes[];      // FNV-1a-32 of each word, ascending\n"
                 f"extern const {id_type} kVocabIds[];          // the model's id of word k\n"),
                f"const int kVocabCount = {len(table)};\nconst uint32_t kVocabBasis = {basis}u;\n"
                "const uint32_t kVocabHashes[] = {\n" + "\n".join(f"  {h}u," for h, _ in table) + "\n};\n"
                f"const {id_type} kVocabIds[] = {{\n" + "\n".join(f"  {i}," for _, i in table) + "\n};\n")
    words = sorted(((w.encode("utf-8"), i) for i, w in enumerate(vocab.itos) if i >= 2))
    offsets, at = [], 0
    for w, _ in words:
        offsets.append(at)
        at += len(w) + 1
    offset_type = layout["offset_type"]
    return (("", "extern const int kVocabCount;\n"
                 "extern const char kVocabWords[];            // the words, sorted bytewise, each NUL-ended\n"
                 f"extern const {offset_type} kVocabOffsets[];  // where word k starts in kVocabWords\n"
                 f"extern const {id_type} kVocabIds[];          // the model's id of word k\n"),
            f"const int kVocabCount = {len(words)};\n"
            "const char kVocabWords[] =\n" +
            "\n".join(f"  {_c_string(w.decode('utf-8') + chr(0))}" for w, _ in words) + ";\n"
            f"const {offset_type} kVocabOffsets[] = {{\n" + "\n".join(f"  {o}," for o in offsets) + "\n};\n"
            f"const {id_type} kVocabIds[] = {{\n" + "\n".join(f"  {i}," for _, i in words) + "\n};\n")


def _measured_arena(path, margin):
    """(smallest arena that ran the flatbuffer at `path` in TFLM, arena with margin)."""
    from ai_edge_litert.interpreter import Interpreter
    from tflite_micro.python.tflite_micro import runtime
    from tfdistil.edge.runtimes import feed_probe
    with open(path, "rb") as f:
        model_bytes = f.read()
    names = [d["name"] for d in Interpreter(model_content=model_bytes).get_input_details()]
    it = runtime.Interpreter.from_bytes(model_bytes, arena_size=4 * 1024 * 1024)
    feed_probe(it, names)
    it.invoke()
    used, _ = tflm_arena_used(it)
    arena_min = smallest_arena(path, names, used)
    return arena_min, int(arena_min * margin) // 16 * 16 + 16


def write_firmware_kit(model_path, out_dir, arena_margin=1.1, head_lengths=None, vocab_layout="strings"):
    """Write the C kit for a converted model; returns kit.json's content.

    `vocab_layout`: how the word table is stored in C (see `c_vocabulary_layout`): "strings"
    (exact), "fingerprints" (a 32-bit hash and an id a word, no strings: ~1/3 of the flash) or
    "fingerprint-ranks" (the hash alone; the model's embedding rows are put in hash order).

    With `head_lengths` (e.g. [16, 32, 64]) the kit runs an LSTM student token by token: the
    model is split into a step model and heads (tfdistil.edge.stream_split), written beside the
    C files as step.tflite and head_L{n}.tflite, and main_qemu.cc's per-token mode runs them."""
    model_bytes = read_model(model_path)
    manifest = read_manifest(model_path, model_bytes)
    vocab_path = os.path.join(os.path.dirname(os.path.abspath(model_path)), "vocab.json")
    vocab = Vocab.load(vocab_path)
    check_vocab(model_bytes, manifest, vocab, vocab_path)
    layout = c_vocabulary_layout(vocab, vocab_layout)  # checks the layout name first
    if layout["layout"] == "fingerprint-ranks":
        model_bytes = reorder_embedding_rows(model_bytes, rank_order(vocab))
    os.makedirs(out_dir, exist_ok=True)
    max_len = manifest.get("max_len") or TFLMRunner(model_bytes).max_len
    from tfdistil.edge.export import op_list
    parts = None
    if head_lengths:
        from tfdistil.edge.stream_split import split
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
// Per-token mode (tfdistil/edge/stream_split.py): g_model is the step model, advanced once per
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
static const char* const kLabels[kNumClasses] = {{{", ".join(_c_string(n) for n in vocab.labels)}}};
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
    vocab_h, vocab_c = _c_vocabulary(vocab, layout)
    atomic_write_text(os.path.join(out_dir, "vocab_data.h"),
                      "#ifndef VOCAB_DATA_H_\n#define VOCAB_DATA_H_\n#include <stdint.h>\n" + vocab_h[0] +
                      "#ifdef __cplusplus\nextern \"C\" {\n#endif\n" + vocab_h[1] +
                      "#ifdef __cplusplus\n}\n#endif\n#endif\n")
    atomic_write_text(os.path.join(out_dir, "vocab_data.c"), '#include "vocab_data.h"\n' + vocab_c)
    atomic_write_text(os.path.join(out_dir, "tokenizer.h"), TOKENIZER_H)
    atomic_write_text(os.path.join(out_dir, "tokenizer.c"), TOKENIZER_C)
    kit = {"model": os.path.basename(model_path), "student": manifest.get("student"),
           "quantization": manifest.get("quantization"), "max_len": max_len, "model_bytes": flash_model_bytes,
           "per_token": None if parts is None else {
               "head_lengths": sorted(parts["heads"]), "step_bytes": len(parts["step"]),
               "head_bytes": {str(n): len(b) for n, b in parts["heads"].items()}, "hidden": parts["hidden"]},
           "ops": list(ops), "arena_bytes_min": arena_min, "arena_bytes": arena,
           "vocab_words": layout["words"], "hash_buckets": vocab.hash_buckets, "labels": list(vocab.labels),
           "vocab_layout": layout["layout"],
           # flash: strings = the words with their NULs (plus the blob's closing NUL), an offset and
           # an id per word; fingerprints = a 4-byte hash and an id per word; fingerprint-ranks = the hash
           "vocab_flash_bytes": layout["flash_bytes"],
           "embedding_rows": "fingerprint order" if layout["layout"] == "fingerprint-ranks" else "as trained"}
    atomic_write_json(os.path.join(out_dir, "kit.json"), kit)
    return kit
