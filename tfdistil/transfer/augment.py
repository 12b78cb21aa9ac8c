"""Tang et al. (2019) data augmentation: a larger transfer set for distillation.

A student learns more from the teacher when it sees the teacher's logits on
many more sentences than the labelled ones. Tang et al. ("Distilling
Task-Specific Knowledge from BERT into Simple Neural Networks", §3.3) make
them from the training sentences with three rules, applied `factor` times to
every sentence:

- masking: each word becomes the unknown token with probability `p_mask`
  (`<unk>`, which the student vocabulary maps to id 1; `shards.py` shows it to
  BERT as `[MASK]`);
- replacement: each word (not masked) becomes, with probability `p_swap`, a
  word of the same part of speech drawn from the training unigram distribution
  restricted to that tag. Without a tagger (nltk is not a dependency) the
  stand-in is a word of the same frequency class (log2 of its train count),
  punctuation for punctuation: a crude proxy for "a word that fits here";
- n-gram sampling: with probability `p_ngram` the result is cut to a random
  n-gram, n uniform in `ngram` (1-5).

Only the train split is read as input. Outputs equal to a train sentence (or to
a dev/test sentence, as a leakage guard) are dropped, as are duplicates and
outputs made only of `<unk>`; every sentence draws from its own seeded
generator, so a given (data, factor, seed, probabilities) gives the same file.
"""
import bisect
import collections
import math
import os
import random
import time

from tfdistil.data.splits import SPLITS, has_split, load_split
from tfdistil.files import atomic_write_json
from tfdistil.errors import UserError
from tfdistil.data.tokenizer import split_words

MASK = "<unk>"
DEFAULTS = dict(p_mask=0.1, p_swap=0.1, p_ngram=0.25, ngram=(1, 5))


def normalise(sentence):
    """The tokenizer's view of a sentence (lowercased words, single spaces): what dedup compares."""
    return " ".join(split_words(sentence))


def _shape(word):
    """Words swap with words, punctuation with punctuation."""
    return "word" if any(c.isalnum() for c in word) else "punct"


class Replacer:
    """Draws a stand-in for a word: same POS tag when a tagger is given, else same frequency class.

    `tagger(words) -> tags` tags one sentence (context matters for POS). With a
    tagger the stand-in follows the unigram distribution within the tag, as in
    Tang et al.; without one, it is uniform within the frequency class (counts
    within a class differ by at most 2x, so uniform is close to unigram).
    """

    def __init__(self, sentences, tagger=None):
        self.tagger = tagger
        self.counts = collections.Counter(w for s in sentences for w in split_words(s))
        pools = collections.defaultdict(collections.Counter)
        if tagger is None:
            for w, c in self.counts.items():
                pools[self.key(w)][w] = c
        else:
            for s in sentences:
                words = split_words(s)
                for w, tag in zip(words, tagger(words)):
                    pools[tag][w] += 1
        # Sorted words + cumulative weights: bisect draws, independent of dict order.
        self.pools = {}
        for key, counter in pools.items():
            words = sorted(counter)
            weights = [counter[w] if tagger else 1 for w in words]
            cum, total = [], 0
            for x in weights:
                total += x
                cum.append(total)
            self.pools[key] = (words, cum)

    def key(self, word):
        return (_shape(word), int(math.log2(max(1, self.counts.get(word, 1)))))

    def keys(self, words):
        """The pool key of every word of one sentence."""
        return self.tagger(words) if self.tagger else [self.key(w) for w in words]

    def draw(self, word, key, rng):
        """Another word of the pool, by weight; the word itself is left out of the draw."""
        words, cum = self.pools.get(key, ((), ()))
        if len(words) < 2:
            return word
        i = bisect.bisect_left(words, word)
        start, own = 0.0, 0.0
        if i < len(words) and words[i] == word:
            start = cum[i - 1] if i else 0
            own = cum[i] - start
        x = rng.random() * (cum[-1] - own)
        if x >= start:  # skip over the word's own segment
            x += own
        return words[min(bisect.bisect_right(cum, x), len(words) - 1)]


def nltk_tagger():
    """nltk's perceptron POS tagger when nltk and its model are installed; else None."""
    try:
        import nltk
        nltk.pos_tag(["test"])
    except (ImportError, LookupError, OSError):
        return None
    return lambda words: [t for _, t in nltk.pos_tag(words)] if words else []


def augment_one(words, keys, replacer, rng, p_mask, p_swap, p_ngram, ngram):
    """One synthetic example from one sentence's words (Tang et al., Algorithm 1)."""
    out = []
    for w, k in zip(words, keys):
        x = rng.random()
        if x < p_mask:
            out.append(MASK)
        elif x < p_mask + p_swap:
            out.append(replacer.draw(w, k, rng))
        else:
            out.append(w)
    if len(out) > 1 and rng.random() < p_ngram:
        n = rng.randint(ngram[0], ngram[1])
        if n < len(out):
            start = rng.randrange(len(out) - n + 1)
            out = out[start:start + n]
    return " ".join(out)


def iter_augmented(sentences, factor, seed=0, p_mask=0.1, p_swap=0.1, p_ngram=0.25, ngram=(1, 5),
                   tagger=None, exclude=(), replacer=None):
    """Yield new, distinct synthetic sentences; `factor` attempts per input sentence.

    `exclude`: normalised sentences never to emit (the originals are always excluded).
    """
    if factor < 1:
        raise UserError(f"--factor must be at least 1, got {factor}")
    for name, p in (("p_mask", p_mask), ("p_swap", p_swap), ("p_ngram", p_ngram)):
        if not 0.0 <= p <= 1.0:
            raise UserError(f"{name} must be in [0, 1], got {p}")
    if p_mask + p_swap > 1.0:
        raise UserError(f"p_mask + p_swap must be at most 1, got {p_mask + p_swap}")
    lo, hi = ngram
    if not 1 <= lo <= hi:
        raise UserError(f"n-gram range must be 1 <= min <= max, got {lo}-{hi}")
    replacer = replacer or Replacer(sentences, tagger)
    seen = set(exclude) | {normalise(s) for s in sentences}
    for i, s in enumerate(sentences):
        words = split_words(s)
        if not words:
            continue
        keys = replacer.keys(words)
        rng = random.Random(f"tfdistil-augment:{seed}:{i}")  # str seeds hash with sha512: stable everywhere
        for _ in range(factor):
            out = augment_one(words, keys, replacer, rng, p_mask, p_swap, p_ngram, (lo, hi))
            if out in seen or all(w == MASK for w in out.split(" ")):
                continue
            seen.add(out)
            yield out


def augment(sentences, factor, seed=0, **kw):
    """List form of `iter_augmented` (see there)."""
    return list(iter_augmented(sentences, factor, seed, **kw))


def _eval_sentences(data):
    """Normalised dev/test sentences, only to keep them out of the output (never used as input)."""
    out = set()
    for split in SPLITS[1:]:
        if not has_split(data, split):
            continue
        try:
            out |= {normalise(s) for s in load_split(data, split).sentences}
        except UserError:
            if split == "dev":
                raise
    return out


def write_augmented(data, factor, out, seed=0, limit=None, tagger="auto", log=print, exclude_from=(),
                    max_rows=None, **probs):
    """Augment the train split of `data` into a one-column TSV (`sentence` header), atomically.

    `exclude_from`: earlier augmented files whose sentences must not reappear, so the output is a
    held-out transfer set (e.g. to choose among students by agreement with the teacher on sentences
    none of them trained on). `max_rows`: stop after this many sentences.
    Writes `OUT.json` beside it with the settings and counts. Returns that dict.
    """
    probs = {**DEFAULTS, **probs}
    if max_rows is not None and max_rows < 1:
        raise UserError(f"--max-rows must be at least 1, got {max_rows}")
    for path in exclude_from:
        if not os.path.isfile(path):
            raise UserError(f"{path}: --exclude-from file not found")
    train = load_split(data, "train", limit)
    tag_fn = None
    if tagger in ("auto", "nltk"):
        tag_fn = nltk_tagger()
        if tag_fn is None and tagger == "nltk":
            raise UserError("--tagger nltk needs `pip install nltk` and its averaged_perceptron_tagger model")
    eval_norm = _eval_sentences(data) - {normalise(s) for s in train.sentences}
    earlier, excluded_from = set(), []
    for path in exclude_from:
        sentences = {normalise(s) for s in read_sentences(path)}
        excluded_from.append({"path": path, "sentences": len(sentences)})
        earlier |= sentences
    t0 = time.time()
    tmp = f"{out}.tmp{os.getpid()}"
    rows = 0
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("sentence\n")
        for s in iter_augmented(train.sentences, factor, seed, tagger=tag_fn, exclude=eval_norm | earlier,
                                **probs):
            if max_rows is not None and rows >= max_rows:
                break
            f.write(s + "\n")
            rows += 1
    os.replace(tmp, out)
    meta = {"path": out, "rows": rows, "train_rows": len(train), "factor": factor, "seed": seed,
            "replacement": "pos" if tag_fn else "frequency", "mask_token": MASK,
            "p_mask": probs["p_mask"], "p_swap": probs["p_swap"], "p_ngram": probs["p_ngram"],
            "ngram": list(probs["ngram"]), "train_sha256": train.sha256,
            "eval_sentences_excluded": len(eval_norm),
            "excluded_from": excluded_from,
            "max_rows": max_rows, "seconds": round(time.time() - t0, 1)}
    atomic_write_json(out + ".json", meta)
    log(f"{rows} augmented sentences from {len(train)} train rows ({meta['seconds']} s) -> {out}")
    return meta


def read_sentences(path):
    """Stream the sentences of a one-column TSV (from `augment`), validating the header."""
    if not os.path.isfile(path):
        raise UserError(f"{path}: augmented sentences file not found; make it with `tfdistil augment`")
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\r\n")
        if header.split("\t")[0] != "sentence":
            raise UserError(f"{path}:1: expected a 'sentence' header, got {header[:60]!r}")
        for line in f:
            line = line.rstrip("\r\n")
            yield line.split("\t")[0]

