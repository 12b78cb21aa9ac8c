#!/usr/bin/env python3
"""Classify sentences with a tfdistil student .tflite on a Raspberry Pi (or any CPU).

Needs only numpy and one TFLite runtime: `ai-edge-litert` (preferred) or the
older `tflite-runtime`. It never imports TensorFlow.

    python classify.py MODEL.tflite --vocab vocab.json "a gorgeous , witty movie" "dull"
    python classify.py MODEL.tflite --vocab vocab.json --tsv test.tsv

prints one line per input: label<TAB>probability_positive<TAB>its name<TAB>the sentence
(e.g. `1  0.981234  positive  a gorgeous , witty movie`; the name only when the model
records one: SST-2 runs fitted since the names were recorded say negative/positive, older
vocab.json files do not, and a task whose labels are names prints CLASS<TAB>its probability).
The first two columns are what scripts parse. With --tsv on a
labelled `sentence<TAB>label` file it also prints the accuracy to stderr, and last on
stderr the runtime it used (`runtime: ai-edge-litert 2.3.0, builtin kernels`). A tie
(equal logits, p exactly 0.5) goes to the lowest class index, as everywhere in tfdistil.
"""
import argparse
import json
import sys

import numpy as np

# ---- tokenizer: a byte-identical copy of tfdistil/data/tokenizer.py (a test checks it) ----
PUNCT_TAIL = '.,!?;:"'
ASCII_SPACE = " \t\n\r\f\v"
FNV_BASIS, FNV_PRIME = 2166136261, 16777619


def split_words(text):
    """ASCII-lowercase and split on ASCII whitespace (rules 1-2)."""
    lowered = "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)
    words = []
    word = ""
    for c in lowered + " ":
        if c in ASCII_SPACE:
            if word:
                words.append(word)
            word = ""
        else:
            word += c
    return words


def peel(word):
    """Split leading '"' and trailing punctuation off an out-of-vocabulary word (rule 3)."""
    head = []
    tail = []
    while len(word) > 1 and word[0] == '"':
        head.append('"')
        word = word[1:]
    while len(word) > 1 and word[-1] in PUNCT_TAIL:
        tail.insert(0, word[-1])
        word = word[:-1]
    return head + [word] + tail


def fnv1a32(data, basis=FNV_BASIS):
    """FNV-1a, 32 bits, of a bytes object (the firmware kit's fingerprint table varies the basis)."""
    h = basis
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFF
    return h


def hashed_id(piece, buckets):
    """Rule 5: 2 + FNV-1a-32 of the piece's UTF-8 bytes, mod (buckets - 2)."""
    return 2 + fnv1a32(piece.encode("utf-8")) % (buckets - 2)


def wordpiece(piece, word_to_id, unk_id):
    """Rule 6: ids of `piece` split greedy longest-match-first; [unk_id] if it cannot be covered."""
    ids = []
    start = 0
    while start < len(piece):
        end = len(piece)
        while end > start:
            sub = piece[start:end] if start == 0 else "##" + piece[start:end]
            if sub in word_to_id:
                break
            end -= 1
        if end == start:
            return [unk_id]
        ids.append(word_to_id[sub])
        start = end
    return ids


def encode(text, word_to_id, max_len, unk_id=1, pad_id=0, pad=True, subwords=False):
    """Token ids for `text` (rules 3-6): cut to max_len, right-padded when `pad`.
    `word_to_id` is the word -> id dict, or an int: the number of hash buckets."""
    ids = []
    for word in split_words(text):
        if isinstance(word_to_id, int):
            ids.extend(hashed_id(p, word_to_id) for p in peel(word))
            continue
        pieces = [word] if word in word_to_id else peel(word)
        for p in pieces:
            if p in word_to_id or not subwords:
                ids.append(word_to_id.get(p, unk_id))
            else:
                ids.extend(wordpiece(p, word_to_id, unk_id))
    ids = ids[:max_len]
    if pad:
        ids = ids + [pad_id] * (max_len - len(ids))
    return ids

# ---- end of tokenizer copy ----


def fail(message):
    """One line on stderr and exit 2, like tfdistil's own errors."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def load_vocab(path):
    try:
        with open(path, encoding="utf-8") as f:
            vocab = json.load(f)
        assert isinstance(vocab, dict) and isinstance(vocab["itos"], list)
        vocab["unk_id"], vocab["pad_id"]
    except FileNotFoundError:
        fail(f"{path}: vocabulary file not found (use the vocab.json written beside the model)")
    except (OSError, ValueError, KeyError, AssertionError, TypeError):
        fail(f"{path}: not a tfdistil vocab.json")
    return vocab


def load_interpreter(path, num_threads, xnnpack=False):
    """An interpreter with TFLite's builtin kernels, or (xnnpack) the default XNNPACK delegate.

    On x86-64 the builtin int8 kernels give the same outputs bit for bit in ai-edge-litert and
    tflite-runtime 2.14, so the labels match the accuracy tfdistil recorded. On aarch64 (a 64-bit
    Pi) the same runtimes use other kernels: the labels were the same on every committed model
    under emulation, some printed probabilities were not (results/pi_aarch64_check.json). XNNPACK
    rounds differently and can flip a rare borderline label (1-4 in 1,821 SST-2 sentences).
    Which runtime ran is printed last on stderr (`runtime: ...`).
    """
    try:
        from ai_edge_litert import interpreter as runtime
        name = "ai-edge-litert"
    except ImportError:
        try:
            from tflite_runtime import interpreter as runtime
            name = "tflite-runtime"
        except ImportError:
            fail("install a TFLite runtime: pip install ai-edge-litert (or tflite-runtime)")
    kernels = runtime.OpResolverType.AUTO if xnnpack else runtime.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    try:
        it = runtime.Interpreter(model_path=path, num_threads=num_threads, experimental_op_resolver_type=kernels)
        it.allocate_tensors()
    except Exception as e:  # ValueError, RuntimeError, or SystemError (tflite-runtime with numpy 2)
        fail(f"{path}: cannot load model: {(str(e).splitlines() or [type(e).__name__])[0]}")
    it.runtime = f"{name} {runtime_version(name)}, {'XNNPACK' if xnnpack else 'builtin'} kernels"
    return it


def runtime_version(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # an install without metadata still runs
        return "(version unknown)"


def decide(logits):
    """The label: the first index of the largest logit. Equal logits (equal int8 outputs; p exactly
    0.5 for two classes) go to the lowest class index - the rule of tfdistil's evaluators, the C
    runner (`tfdistil bundle`) and the firmware main (tfdistil/edge/host/decision.py)."""
    return int(np.argmax(logits))


def softmax(z):
    p = np.exp(z - z.max())
    return p / p.sum()


def reverse_index(ids):
    """First n positions reversed, padding in place: what the backward LSTM reads."""
    n = int((ids != 0).sum())
    idx = np.arange(len(ids), dtype=np.int32)
    idx[:n] = idx[:n][::-1]
    return idx


class Classifier:
    def __init__(self, model_path, vocab_path, num_threads=1, xnnpack=False):
        vocab = load_vocab(vocab_path)
        # ids 0/1 are <pad>/<unk>: typed in a sentence they are unknown words, as in training
        self.word_to_id = {w: i for i, w in enumerate(vocab["itos"]) if i >= 2}
        self.vocab_size = len(vocab["itos"])
        if vocab.get("hash_buckets"):  # a hashed vocabulary: no word table, ids from the word's hash
            self.word_to_id = self.vocab_size = int(vocab["hash_buckets"])
        self.unk_id, self.pad_id = vocab["unk_id"], vocab["pad_id"]
        self.subwords = bool(vocab.get("subwords"))  # unknown words split into wordpieces (tokenizer rule 6)
        self.labels = [str(x) for x in vocab.get("labels", ["0", "1"])]  # class names, output order
        # readable names of coded labels (SST-2's 0/1: negative/positive), when the run recorded them
        names = vocab.get("class_names")
        self.names = [str(x) for x in names] if isinstance(names, list) and len(names) == len(self.labels) else None
        self.it = load_interpreter(model_path, num_threads, xnnpack)
        self.inputs = self.it.get_input_details()
        self.output = self.it.get_output_details()[0]
        # A dynamic-length model (`convert --dynamic-length`) runs each sentence at its own length,
        # cut to the vocabulary's max_len; a fixed one at its input length.
        sig = self.inputs[0].get("shape_signature")
        self.dynamic = sig is not None and len(sig) > 1 and int(sig[1]) == -1
        self.max_len = int(vocab.get("max_len", 128)) if self.dynamic else int(self.inputs[0]["shape"][1])
        self.length = None
        rows = [int(t["shape"][0]) for t in self.it.get_tensor_details()
                if "embedding" in t["name"] and len(t["shape"]) == 2]
        if rows and self.vocab_size not in rows:
            fail(f"{vocab_path} has {self.vocab_size} words but the model's embedding has {rows[0]} rows: "
                     "use the vocab.json written beside this model by `tfdistil convert`")

    def logits(self, text):
        ids = np.array(encode(text, self.word_to_id, self.max_len, self.unk_id, self.pad_id,
                              pad=not self.dynamic, subwords=self.subwords) or [self.pad_id], np.int32)
        if self.dynamic and len(ids) != self.length:  # re-plan tensors only when the length changes
            for d in self.inputs:
                self.it.resize_tensor_input(d["index"], [1, len(ids)])
            self.it.allocate_tensors()
            self.length = len(ids)
        for d in self.inputs:  # matched by name: the converter orders inputs alphabetically
            x = reverse_index(ids) if "reverse_index" in d["name"] else ids
            self.it.set_tensor(d["index"], x[None, :])
        self.it.reset_all_variables()  # LSTM state tensors persist across invoke() otherwise
        self.it.invoke()
        return self.it.get_tensor(self.output["index"])[0].astype(np.float64)

    def probabilities(self, text):
        return softmax(self.logits(text))

    def __call__(self, text):
        """(label index, P(positive)) for a binary model: SST-2's 0/1 and the probability of 1."""
        z = self.logits(text)
        return decide(z), float(softmax(z)[1])


def read_tsv(path, labels=("0", "1")):
    """(sentence, label or None) rows. A header names the columns (`sentence`, optional
    `label`; GLUE's unlabelled `index<TAB>sentence` works too); without one, column 0 is
    the sentence and column 1 the label. A row without a label is unlabelled; a label other
    than 0 or 1 is an error naming the line (it would silently leave the accuracy)."""
    rows = []
    text_col, label_col = 0, 1
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        fail(f"{path}: file not found")
    except UnicodeDecodeError as e:
        fail(f"{path}: not UTF-8 text (byte {e.start})")
    except OSError as e:
        fail(f"{path}: cannot read ({e.strerror})")
    for lineno, line in enumerate(lines, start=1):
        cols = line.split("\t")
        if lineno == 1 and ("sentence" in cols or "text" in cols):
            text_col = cols.index("sentence" if "sentence" in cols else "text")
            label_col = cols.index("label") if "label" in cols else None
            continue
        if not line.strip():
            continue
        if len(cols) <= text_col:
            fail(f"{path}:{lineno}: no sentence column")
        label = cols[label_col].strip() if label_col is not None and len(cols) > label_col else ""
        if label and label not in labels:
            fail(f"{path}:{lineno}: label {label!r} is not " + ("0 or 1" if list(labels) == ["0", "1"] else
                                                                f"one of the model's classes ({', '.join(labels)})"))
        rows.append((cols[text_col], list(labels).index(label) if label else None))
    return rows


def classify_rows(clf, rows, every_class=False):
    """(printed lines, correct, labelled) for (sentence, label or None) rows: one line per row,
    `label<TAB>P(positive)` (binary) or `CLASS<TAB>its probability`, then the class's readable name
    when the model records one, every class with --all, and last the sentence (tabs and line breaks
    as spaces)."""
    binary = clf.labels == ["0", "1"]
    shown = clf.names or clf.labels
    correct = labelled = 0
    out = []
    for text, label in rows:
        z = clf.logits(text)
        p, pred = softmax(z), decide(z)
        line = f"{pred}\t{float(p[1]):.6f}" if binary else f"{clf.labels[pred]}\t{float(p[pred]):.6f}"
        if clf.names:
            line += f"\t{clf.names[pred]}"
        if every_class:
            line += "".join(f"\t{name}={float(q):.6f}" for name, q in zip(shown, p))
        out.append(line + "\t" + " ".join(text.replace("\t", " ").splitlines()))
        if label is not None:
            labelled += 1
            correct += pred == label
    return out, int(correct), labelled


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        fail(f"{message} (see {self.prog} --help)")


def main(argv=None):
    ap = OneLineParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="a student .tflite written by `tfdistil convert` (fixed or --dynamic-length)")
    ap.add_argument("texts", nargs="*", help="sentences to classify; prints LABEL<TAB>P(positive)[<TAB>NAME]<TAB>SENTENCE "
                                             "per sentence (a model with more classes: CLASS_NAME<TAB>its probability)")
    ap.add_argument("--vocab", required=True, help="the vocab.json written beside the model by `tfdistil convert`")
    ap.add_argument("--tsv", help="sentence<TAB>label file (header optional); prints accuracy on stderr")
    ap.add_argument("--threads", type=int, default=1, help="interpreter threads (default 1)")
    ap.add_argument("--all", action="store_true", help="also print every class as NAME=PROBABILITY, tab-separated")
    ap.add_argument("--xnnpack", action="store_true",
                    help="use the XNNPACK delegate (faster CNN; may flip a rare borderline label)")
    args = ap.parse_intermixed_args(argv)
    clf = Classifier(args.model, args.vocab, args.threads, args.xnnpack)
    rows = [(t, None) for t in args.texts] + (read_tsv(args.tsv, clf.labels) if args.tsv else [])
    out, correct, labelled = classify_rows(clf, rows, args.all)
    sys.stdout.write("\n".join(out) + ("\n" if out else ""))
    if labelled:
        print(f"accuracy {correct / labelled:.4f} on {labelled} labelled rows", file=sys.stderr)
    print(f"runtime: {clf.it.runtime}", file=sys.stderr)  # last, so `accuracy X` stays the first line


if __name__ == "__main__":
    main()
