"""The word vocabulary: built from the train split only; id 0 = <pad>, 1 = <unk>.

Or hashed (`hash_buckets` = N): no word list at all, ids 2..N-1 from the words' FNV-1a hash
(tokenizer rule 5), so neither the Pi runner nor the microcontroller carries a table.

Or subwords (`subwords` = a WordPiece vocab.txt, e.g. the teacher's): every train word is split
into that file's wordpieces (tokenizer rule 6) and the vocabulary keeps the pieces train uses, so
a test word never seen in train is still read as pieces the student was trained on.
"""
import collections
import hashlib
import json
import os
import re

import numpy as np

from tfdistil.data.tokenizer import encode, split_words
from tfdistil.errors import UserError
from tfdistil.files import atomic_write_text

PAD, UNK = "<pad>", "<unk>"


def read_wordpieces(path):
    """The pieces of a WordPiece vocab.txt (or a folder holding one, e.g. a teacher's), specials left out."""
    if os.path.isdir(path):
        path = os.path.join(path, "vocab.txt")
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.rstrip("\r\n") for line in f]
    except FileNotFoundError:
        raise UserError(f"{path}: WordPiece vocabulary not found (give a vocab.txt or a teacher folder with one)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: cannot read a WordPiece vocabulary ({e})") from None
    # [CLS], [unused7], <s>, <pad>...: never produced by splitting text, so no student row for them
    special = re.compile(r"^(\[[^\]]*\]|<[^>]*>)$")
    pieces = [p for p in lines if p and not special.match(p) and not any(c in p for c in " \t")]
    if not any(p.startswith("##") for p in pieces):
        raise UserError(f"{path}: not a WordPiece vocabulary (no '##' continuation pieces)")
    return pieces


class Vocab:
    """Word -> id map built from training sentences only; id 0 = <pad>, 1 = <unk>."""

    def __init__(self, words, max_len, labels=("0", "1"), hash_buckets=0, subwords=False, class_names=None):
        self.hash_buckets = int(hash_buckets or 0)
        self.subwords = bool(subwords) and not self.hash_buckets
        if self.hash_buckets:
            words = ()  # a hashed vocabulary keeps no words
        self.itos = [PAD, UNK] + [w for w in words if w not in (PAD, UNK)]
        # <pad>/<unk> typed in a sentence are ordinary unknown words (as in the C tokenizer).
        self.stoi = {w: i for i, w in enumerate(self.itos) if i >= 2}
        self.max_len = max_len
        # Class names, output index order. They travel in vocab.json because every place that turns
        # text into ids (Keras run, flatbuffer folder, Pi runner, C kit) also names the answer.
        self.labels = tuple(labels)
        # Readable names of the labels when they are codes (SST-2: 0/1 -> negative/positive), or None.
        self.class_names = tuple(class_names) if class_names else None

    @classmethod
    def build(cls, sentences, max_len=128, min_freq=1, max_size=None, labels=("0", "1"), hash_buckets=0,
              wordpieces=None, class_names=None):
        """`wordpieces`: the pieces of a WordPiece vocabulary (read_wordpieces); the vocabulary then
        holds the pieces the train sentences split into, counted like words."""
        if hash_buckets:
            if hash_buckets < 3:
                raise UserError("--hash-buckets must be at least 3 (ids 0 and 1 are <pad> and <unk>)")
            return cls((), max_len, labels, hash_buckets, class_names=class_names)
        if wordpieces is not None:
            piece_of = {p: p for p in wordpieces}  # encode() through an identity map yields the pieces
            counts = collections.Counter(p for s in sentences for p in encode(s, piece_of, 1 << 30, unk_id=UNK,
                                                                                pad=False, subwords=True))
            counts.pop(UNK, None)
        else:
            counts = collections.Counter(w for s in sentences for w in split_words(s))
        # Most frequent first, ties alphabetical: deterministic across runs and machines.
        ranked = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
        if max_size:
            ranked = ranked[: max(0, max_size - 2)]
        return cls(ranked, max_len, labels, subwords=wordpieces is not None, class_names=class_names)

    def kind(self):
        """What an id stands for: "words", "wordpieces" (subwords) or "hashed" (buckets)."""
        return "hashed" if self.hash_buckets else "wordpieces" if self.subwords else "words"

    def __len__(self):
        return self.hash_buckets or len(self.itos)

    def encode(self, text, pad=True, max_len=None):
        return encode(text, self.hash_buckets or self.stoi, max_len or self.max_len, unk_id=1, pad_id=0, pad=pad,
                      subwords=self.subwords)

    def encode_batch(self, sentences, max_len=None):
        """int32 [N, max_len] right-padded ids."""
        max_len = max_len or self.max_len
        out = np.zeros((len(sentences), max_len), np.int32)
        for i, s in enumerate(sentences):
            ids = self.encode(s, pad=False, max_len=max_len)
            out[i, : len(ids)] = ids
        return out

    def to_json(self):
        d = {"format": "tfdistil-vocab-1", "tokenizer": "tfdistil.tokenizer (ascii-lower, whitespace, peel .,!?;:\")",
             "pad_id": 0, "unk_id": 1, "max_len": self.max_len, "labels": list(self.labels), "itos": self.itos}
        if self.hash_buckets:
            d.update(hash_buckets=self.hash_buckets, tokenizer=d["tokenizer"] + " + FNV-1a-32 hash buckets")
        if self.class_names:
            d["class_names"] = list(self.class_names)
        if self.subwords:
            d.update(subwords=True, tokenizer=d["tokenizer"] + " + wordpieces (greedy longest match, ##)")
        return d

    def sha256(self):
        """Fingerprint of the word list: a run records it, so another run's vocab.json is caught."""
        key = self.itos if not self.hash_buckets else {"hash_buckets": self.hash_buckets}
        if self.subwords:  # the same list read as words would give other ids
            key = {"itos": self.itos, "subwords": True}
        return hashlib.sha256(json.dumps(key, ensure_ascii=False).encode("utf-8")).hexdigest()

    def save(self, path):
        atomic_write_text(path, json.dumps(self.to_json(), ensure_ascii=False))

    @classmethod
    def load(cls, path):
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
            assert d["format"] == "tfdistil-vocab-1" and d["itos"][:2] == [PAD, UNK]
            labels = d.get("labels", ["0", "1"])  # files written before labels were stored: SST-2
            assert isinstance(labels, list) and len(labels) >= 2 and all(isinstance(x, str) for x in labels)
            buckets = d.get("hash_buckets", 0)
            assert isinstance(buckets, int) and (buckets == 0 or buckets >= 3)
            subwords = d.get("subwords", False)
            assert isinstance(subwords, bool)
            names = d.get("class_names")
            assert names is None or (isinstance(names, list) and len(names) == len(labels))
        except FileNotFoundError:
            raise UserError(f"{path}: vocabulary file not found") from None
        except (ValueError, KeyError, AssertionError, TypeError):
            raise UserError(f"{path}: not a tfdistil vocab.json") from None
        return cls(d["itos"][2:], d["max_len"], labels, buckets, subwords, names)
