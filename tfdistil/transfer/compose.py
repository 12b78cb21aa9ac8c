"""Composed transfer sentences: train phrases joined by contrast and concession, and negated.

Tang-style augmentation (`augment.py`) masks and swaps words inside one sentence,
so a student rarely sees the teacher read "X , but Y" or "is n't": the
constructions where small students lose most to the teacher (`experiments/slices/slices.md`).
This module builds them from train sentences, unlabelled; the teacher labels
them (`tfdistil teacher shards --augmented OUT`). No rule here decides a label:
"although X , Y" is not assumed to mean Y, and "is not good" is not assumed to
be negative.

Constructions, for each input sentence X (a train row, or a row of an augmented
file) `factor` times, each partner drawn from the same inputs:

- contrast: "X , but Y" and "Y , but X" (both orders; `but` or `yet`);
- concessive: "although X , V" with V a short input phrase (a verdict:
  2-8 words), the concession placed before it (although / though / even though
  / while);
- negation: "not" or "n't" inserted after one auxiliary or copula of X
  (is/was/are/were/do/does/did/can/could/will/would/has/have/had, and "'s",
  "'re", "'m" after a pronoun), written in SST's PTB tokens ("is n't",
  "ca n't", "wo n't", "it 's not").

Inputs are SST phrases, often fragments: a clause loses the end punctuation and
dangling edge words ("meditative and" -> "meditative") before it is joined.

Only train (and the given augmented files) are read as input; outputs equal to
a train, input, dev or test sentence are dropped, as are duplicates. Every input
sentence draws from its own seeded generator, so a given (data, files, factor,
seed) gives the same file.
"""
import os
import random
import time

from tfdistil.data.splits import load_split
from tfdistil.data.tokenizer import split_words
from tfdistil.errors import UserError
from tfdistil.files import atomic_write_json
from tfdistil.transfer.augment import _eval_sentences, normalise, read_sentences

CONTRAST = ("but", "yet")
CONCESSIVE = ("although", "though", "even though", "while")
AUXILIARIES = ("is", "was", "are", "were", "do", "does", "did", "can", "could", "will", "would", "has", "have", "had")
CONTRACTED = {"can": "ca", "will": "wo"}  # PTB splits "can't" as "ca n't", "won't" as "wo n't"
# PTB splits a contracted copula off its pronoun ("it 's", "they 're"); after these words it is
# a verb, elsewhere "'s" is usually a possessive ("the film 's score"), which is left alone.
CONTRACTED_COPULAS = {"'s": {"it", "that", "he", "she", "there", "here", "what", "who", "this"},
                      "'re": {"you", "we", "they"}, "'m": {"i"}}
ALREADY_NEGATED = {"not", "n't", "never", "no", "hardly"}
# Phrase edges that leave a join dangling ("meditative and , but ...", "X , but but Y").
LOOSE_END = {"and", "or", "but", "yet", "nor", "of", "the", "a", "an", "to", "with", "as", "for", "in", "on", "at",
             "by", "from", "that", "which", "who", "its", "their", "his", "her", "'s"}
LOOSE_START = {"and", "or", "but", "yet", "nor", "so"}
CONSTRUCTIONS = ("contrast", "concessive", "negation")
END_PUNCT = {".", "!", "?", ";", ":", ","}


def clause(sentence):
    """A sentence's words without the end punctuation a joined clause must not keep."""
    words = split_words(sentence)
    while words and (words[-1] in END_PUNCT or words[-1] in LOOSE_END):
        words.pop()
    while words and (words[0] in END_PUNCT or words[0] in LOOSE_START):
        words.pop(0)
    return words


def _is_auxiliary(words, i):
    w = words[i]
    return w in AUXILIARIES or (i > 0 and words[i - 1] in CONTRACTED_COPULAS.get(w, ()))


def negate(words, rng):
    """The words with "not"/"n't" after one auxiliary or copula (chosen by `rng`), or None if the
    clause has none that is followed by a word and not already negated."""
    spots = [i for i in range(len(words) - 1) if _is_auxiliary(words, i) and words[i + 1] not in ALREADY_NEGATED]
    if not spots:
        return None
    i = rng.choice(spots)
    if rng.random() < 0.5 or words[i] in CONTRACTED_COPULAS:  # "it 's not", never "it 's n't"
        return words[:i + 1] + ["not"] + words[i + 1:]
    return words[:i] + [CONTRACTED.get(words[i], words[i]), "n't"] + words[i + 1:]


def compose_one(x, pool, verdicts, rng, constructions):
    """[(construction, sentence)] built around clause `x` with partners drawn from `pool`/`verdicts`."""
    out = []
    if "contrast" in constructions and len(pool) > 1:
        y = pool[rng.randrange(len(pool))]
        if y != x:
            word = rng.choice(CONTRAST)
            out += [("contrast", x + [",", word] + y), ("contrast", y + [",", word] + x)]
    if "concessive" in constructions and verdicts:
        v = verdicts[rng.randrange(len(verdicts))]
        if v != x:
            out.append(("concessive", rng.choice(CONCESSIVE).split() + x + [","] + v))
    if "negation" in constructions:
        negated = negate(x, rng)
        if negated:
            out.append(("negation", negated))
    return out


def iter_composed(sentences, factor=1, seed=0, exclude=(), constructions=CONSTRUCTIONS, max_words=20):
    """Yield (construction, sentence) for new, distinct composed sentences; `factor` rounds per input.

    `exclude`: normalised sentences never to emit (the inputs are always excluded). Inputs of 2 to
    `max_words` words are clauses; those of at most 8 are also verdicts."""
    if factor < 1:
        raise UserError(f"--factor must be at least 1, got {factor}")
    unknown = set(constructions) - set(CONSTRUCTIONS)
    if unknown or not constructions:
        raise UserError(f"unknown construction(s) {', '.join(sorted(unknown)) or '(none given)'}; "
                        f"choose from {', '.join(CONSTRUCTIONS)}")
    clauses = [c for c in map(clause, sentences) if 2 <= len(c) <= max_words]
    verdicts = [c for c in clauses if len(c) <= 8]
    seen = set(exclude) | {normalise(s) for s in sentences}
    for i, x in enumerate(clauses):
        rng = random.Random(f"tfdistil-compose:{seed}:{i}")  # str seeds hash with sha512: stable everywhere
        for _ in range(factor):
            for kind, words in compose_one(x, clauses, verdicts, rng, constructions):
                text = " ".join(words)
                if text in seen:
                    continue
                seen.add(text)
                yield kind, text


def write_composed(data, out, factor=1, seed=0, augmented=(), limit=None, max_rows=None,
                   constructions=CONSTRUCTIONS, max_words=20, log=print):
    """Compose from the train split of `data` (+ `augmented` files) into a one-column TSV (`sentence`
    header), atomically, with `OUT.json` (settings, counts per construction) beside it: the format
    `augment` writes, so `tfdistil teacher shards --augmented OUT` labels it. Returns that dict."""
    if max_rows is not None and max_rows < 1:
        raise UserError(f"--max-rows must be at least 1, got {max_rows}")
    if max_words < 2:
        raise UserError(f"--max-words must be at least 2, got {max_words}")
    train = load_split(data, "train", limit)
    eval_norm = _eval_sentences(data) - {normalise(s) for s in train.sentences}
    inputs, sources = list(train.sentences), []
    for path in augmented:
        rows = [s for s in read_sentences(path) if normalise(s) not in eval_norm]  # a leak guard, as in augment
        sources.append({"path": path, "sentences": len(rows)})
        inputs += rows
    t0 = time.time()
    counts = dict.fromkeys(constructions, 0)
    tmp = f"{out}.tmp{os.getpid()}"
    rows = 0
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("sentence\n")
            for kind, s in iter_composed(inputs, factor, seed, eval_norm, tuple(constructions), max_words):
                if max_rows is not None and rows >= max_rows:
                    break
                f.write(s + "\n")
                counts[kind] += 1
                rows += 1
        os.replace(tmp, out)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise UserError(f"--out {out}: cannot write it ({e.strerror})") from None
    meta = {"path": out, "kind": "compose", "rows": rows, "constructions": counts, "train_rows": len(train),
            "augmented_inputs": sources, "factor": factor, "seed": seed, "max_words": max_words,
            "contrast_words": list(CONTRAST), "concessive_words": list(CONCESSIVE),
            "auxiliaries": list(AUXILIARIES), "train_sha256": train.sha256,
            "eval_sentences_excluded": len(eval_norm), "max_rows": max_rows,
            "seconds": round(time.time() - t0, 1)}
    atomic_write_json(out + ".json", meta)
    log(f"{rows} composed sentences ({', '.join(f'{k} {v}' for k, v in counts.items())}) from "
        f"{len(inputs)} input rows ({meta['seconds']} s) -> {out}")
    return meta
