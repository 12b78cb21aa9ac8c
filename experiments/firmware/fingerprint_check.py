#!/usr/bin/env python3
"""Would the firmware's fingerprint vocabulary (`tfdistil firmware --c-vocab fingerprints`) give any
sentence of a dataset other ids than Python's word table? For each vocab.json: its fingerprint basis
and flash bytes against the string table's, and every word piece of the splits that is *not* in the
vocabulary but whose 32-bit fingerprint equals a vocabulary word's (the only way the two can differ).
A subword vocabulary's C tokenizer also looks up pieces of unknown words: every byte string its greedy
loop tries is checked.

    .venv/bin/python experiments/firmware/fingerprint_check.py results/models/*/vocab.json --data ../shared/data/sst2
    .venv/bin/python experiments/firmware/fingerprint_check.py results/models/*/vocab.json --words /usr/share/dict/american-english

`--words FILE` adds a word list (one word a line, e.g. Debian's `wamerican`) as one more "split":
far more unknown words than SST-2 has, so the false-hit rate is measured on ~100,000 lookups.
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def greedy_lookups(piece, keys, longest):
    """Every byte string the firmware's emit_wordpieces() looks up for `piece` (bytes): at each start,
    the candidates from the longest down to the first one in the table, '##' after the first piece."""
    tried, start = set(), 0
    while start < len(piece):
        end = len(piece)
        while end > start:
            sub = piece[start:end] if start == 0 else b"##" + piece[start:end]
            if len(sub) <= longest:
                tried.add(sub)
                if sub in keys:
                    break
            end -= 1
        if end == start:
            break
        start = end
    return tried


def check(vocab_path, splits):
    from tfdistil.data.tokenizer import fnv1a32, peel, split_words
    from tfdistil.data.vocab import Vocab
    from tfdistil.edge.mcu.c_vocab import c_vocabulary_layout, fingerprint_table
    vocab = Vocab.load(vocab_path)
    if vocab.hash_buckets:
        return {"vocab": vocab_path, "hashed": True}
    basis, table = fingerprint_table(vocab)
    by_hash = {h: i for h, i in table}
    # the C tokenizer looks up the whole word, and the peeled pieces of an unknown one
    pieces = {p for sentences in splits.values() for s in sentences for w in split_words(s)
              for p in ([w] if w in vocab.stoi else [w, *peel(w)])}
    keys = {w.encode("utf-8") for w in vocab.stoi}
    looked_up = {p.encode("utf-8") for p in pieces}
    if vocab.subwords:  # rule 6 also looks up pieces of an unknown word: the ones the C greedy loop tries, in bytes
        longest = max(len(k) for k in keys)
        for p in [p for p in looked_up if p not in keys]:
            looked_up |= greedy_lookups(p, keys, longest)
    unknown = [p for p in looked_up if p not in keys]
    false_hits = sorted(p.decode("utf-8", "backslashreplace") for p in unknown if fnv1a32(p, basis) in by_hash)
    return {"vocab": vocab_path, "words": len(table), "basis": basis,
            "flash_bytes_fingerprints": c_vocabulary_layout(vocab, "fingerprints")["flash_bytes"],
            "flash_bytes_strings": c_vocabulary_layout(vocab, "strings")["flash_bytes"],
            "distinct_lookups": len(looked_up), "unknown_lookups": len(unknown), "false_hits": false_hits}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("vocabs", nargs="+")
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "sst2"))
    p.add_argument("--words", default=None, help="a word list, one word a line (also looked up)")
    args = p.parse_args(argv)
    if args.words and not os.path.isfile(args.words):
        sys.exit(f"error: {args.words}: word list not found (Debian: apt-get install wamerican)")
    from tfdistil.data.splits import load_split
    splits = {name: load_split(args.data, name).sentences for name in ("train", "dev", "test")}
    if args.words:
        with open(args.words, encoding="utf-8", errors="replace") as f:
            splits["words"] = [line.strip() for line in f if line.strip()]
    bad = unknown = expected = 0
    for path in args.vocabs:
        r = check(path, splits)
        print(json.dumps(r))
        bad += len(r.get("false_hits", []))
        unknown += r.get("unknown_lookups", 0)
        expected += r.get("unknown_lookups", 0) * r.get("words", 0) / 2 ** 32  # each lookup: words / 2^32
    print(f"{len(args.vocabs)} vocabularies; looked-up strings outside a vocabulary that hit its fingerprints: {bad} "
          f"of {unknown:,} ({bad / max(unknown, 1):.2e}; a uniform 32-bit hash predicts {expected:.2f} hits)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
