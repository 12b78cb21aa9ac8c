"""SST-2 in GLUE format: read, validate, fingerprint, and the word vocabulary.

Everything here is plain Python + numpy so it is cheap to import (the CLI's
error paths and the Pi runner never pay for TensorFlow).
"""
import collections
import hashlib
import json
import os
from dataclasses import dataclass

import numpy as np

from .errors import UserError
from .tokenizer import encode, split_words

SPLITS = ("train", "dev", "test")
PAD, UNK = "<pad>", "<unk>"


@dataclass
class Split:
    name: str
    sentences: list
    labels: np.ndarray  # int32, 0/1
    sha256: str  # of the file bytes, so caches can tell when data changed

    def __len__(self):
        return len(self.sentences)


def read_tsv(path, name=None):
    """Read a GLUE `sentence<TAB>label` file with a header; every defect is a UserError."""
    name = name or os.path.basename(path)
    if not os.path.isfile(path):
        raise UserError(f"{path}: file not found")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise UserError(f"{path}:{line}: not valid UTF-8 (byte 0x{raw[e.start]:02x})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise UserError(f"{path}: empty file (expected a 'sentence<TAB>label' header)")
    header = lines[0].rstrip("\r").split("\t")
    if header[:2] != ["sentence", "label"]:
        raise UserError(f"{path}:1: expected header 'sentence<TAB>label', got {lines[0][:60]!r}")
    sentences, labels = [], []
    for lineno, line in enumerate(lines[1:], start=2):
        cols = line.rstrip("\r").split("\t")
        if len(cols) != 2:
            raise UserError(f"{path}:{lineno}: expected 2 tab-separated columns, got {len(cols)}")
        if cols[1] not in ("0", "1"):
            raise UserError(f"{path}:{lineno}: label must be 0 or 1, got {cols[1][:20]!r}")
        sentences.append(cols[0])
        labels.append(int(cols[1]))
    if not sentences:
        raise UserError(f"{path}: split '{name}' has no rows")
    return Split(name, sentences, np.asarray(labels, np.int32), hashlib.sha256(raw).hexdigest())


def load_split(data, split, limit=None):
    """One split from a GLUE folder (or TFDS when data == 'tfds'); `limit` keeps the first rows."""
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if data == "tfds":
        s = _load_tfds(split)
    else:
        if not os.path.isdir(data):
            raise UserError(f"{data}: data folder not found (expected GLUE SST-2 train.tsv/dev.tsv/test.tsv)")
        s = read_tsv(os.path.join(data, f"{split}.tsv"), split)
    if limit:
        s = Split(s.name, s.sentences[:limit], s.labels[:limit],
                  hashlib.sha256((s.sha256 + f":first{limit}").encode()).hexdigest())
    return s


def _load_tfds(split):
    """TFDS glue/sst2, only when the user asks for it (offline it hangs rather than fails)."""
    if split == "test":
        raise UserError("TFDS glue/sst2 has no test labels (label -1); use --data DIR with a labelled test.tsv")
    import tensorflow_datasets as tfds  # deferred: slow import, network access

    ds = tfds.load("glue/sst2", split={"train": "train", "dev": "validation"}[split])
    sentences, labels = [], []
    for ex in tfds.as_numpy(ds):
        sentences.append(ex["sentence"].decode("utf-8"))
        labels.append(int(ex["label"]))
    digest = hashlib.sha256("\n".join(f"{s}\t{l}" for s, l in zip(sentences, labels)).encode()).hexdigest()
    return Split(split, sentences, np.asarray(labels, np.int32), digest)


class Vocab:
    """Word -> id map built from training sentences only; id 0 = <pad>, 1 = <unk>."""

    def __init__(self, words, max_len):
        self.itos = [PAD, UNK] + [w for w in words if w not in (PAD, UNK)]
        # <pad>/<unk> typed in a sentence are ordinary unknown words (as in the C tokenizer).
        self.stoi = {w: i for i, w in enumerate(self.itos) if i >= 2}
        self.max_len = max_len

    @classmethod
    def build(cls, sentences, max_len=128, min_freq=1, max_size=None):
        counts = collections.Counter(w for s in sentences for w in split_words(s))
        # Most frequent first, ties alphabetical: deterministic across runs and machines.
        ranked = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
        if max_size:
            ranked = ranked[: max(0, max_size - 2)]
        return cls(ranked, max_len)

    def __len__(self):
        return len(self.itos)

    def encode(self, text, pad=True, max_len=None):
        return encode(text, self.stoi, max_len or self.max_len, unk_id=1, pad_id=0, pad=pad)

    def encode_batch(self, sentences, max_len=None):
        """int32 [N, max_len] right-padded ids."""
        max_len = max_len or self.max_len
        out = np.zeros((len(sentences), max_len), np.int32)
        for i, s in enumerate(sentences):
            ids = self.encode(s, pad=False, max_len=max_len)
            out[i, : len(ids)] = ids
        return out

    def to_json(self):
        return {"format": "tfdistil-vocab-1", "tokenizer": "tfdistil.tokenizer (ascii-lower, whitespace, peel .,!?;:\")",
                "pad_id": 0, "unk_id": 1, "max_len": self.max_len, "itos": self.itos}

    def save(self, path):
        atomic_write_text(path, json.dumps(self.to_json(), ensure_ascii=False))

    @classmethod
    def load(cls, path):
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
            assert d["format"] == "tfdistil-vocab-1" and d["itos"][:2] == [PAD, UNK]
        except FileNotFoundError:
            raise UserError(f"{path}: vocabulary file not found") from None
        except (ValueError, KeyError, AssertionError, TypeError):
            raise UserError(f"{path}: not a tfdistil vocab.json") from None
        return cls(d["itos"][2:], d["max_len"])


def atomic_write_text(path, text):
    """Write to a temp name in the same folder, then rename: readers never see half a file."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def atomic_write_json(path, obj):
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")
