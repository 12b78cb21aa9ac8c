"""The grow levers: the best candidate of a family grown to fill the flash budget, with more
vocabulary ("-vocab") or wider layers ("-grown"); the selection split decides whether it pays."""
import os

from tfdistil.config import Config
from tfdistil.distil.steps import VOCAB_LAYOUT, budget_bytes

_BUILT = {}  # (data folder, max_len, min_freq, subwords) -> the full vocabulary train gives


def grown_config(o, c, best, vocabulary=False):
    """The best candidate grown to fill the flash budget, or None. Why a lever: tuner trials rank
    capacity on the labelled rows for a few epochs, where a small model looks as good as a big one; on
    the transfer set (many times the rows) capacity can pay.

    Widths (`vocabulary=False`, the "-grown" candidate): of the embedding widths and hidden sizes of
    its family's space at or above its own, on its own vocabulary, the pair with the largest model.
    Vocabulary (the "-vocab" candidate): the largest vocabulary cap of the space that fits, at any
    embedding width and a hidden size at or above its own, then the largest model. A student cannot
    read a piece it has no row for, and widening alone did not pay where the vocabulary was small
    (SST-2, results/distil/sst2-cortex-m4-budget: 2,000 wordpieces widened to fill 256 KB scored no
    better on selection than the 60 KB student); a narrower embedding is what pays for the rows.

    Each vocabulary is built from the train split as the student's run builds it, so its rows and its
    C table's bytes are known, not guessed; the model's size delta comes from the int8 estimate, added
    to the best candidate's measured flash; the selection split decides."""
    from tfdistil.search.space import COMMON_SPACE, FAMILY_SPACE, estimate_int8_bytes
    if not o.flash:
        return None
    config = dict(best["config"])
    room = 0.98 * budget_bytes(o) - best["flash_bytes"]  # 2 %: the estimate's error on conversion
    vocabs = _vocab_sizes(o, c, config, larger=vocabulary)  # {max_vocab: (rows, C table bytes)}
    own = config.get("max_vocab") or 0
    size = lambda cfg: estimate_int8_bytes(Config.from_dict({**cfg, "vocab_size": vocabs[cfg["max_vocab"]][0]})) \
        + vocabs[cfg["max_vocab"]][1]  # noqa: E731
    base = size(config)
    widths = sorted({config["embed_dim"], *COMMON_SPACE["embed_dim"]})
    trials = [{**config, "max_vocab": v, "embed_dim": e, "hidden": h}
              for v in (sorted(vocabs) if vocabulary else [own])
              if not vocabulary or vocabs[v][0] > vocabs[own][0]
              for e in widths if vocabulary or e >= config["embed_dim"]
              for h in sorted({config["hidden"], *FAMILY_SPACE.get(config["student"], {}).get("hidden", [])})
              if h >= config["hidden"]]
    fitting = [t for t in trials if t != config and size(t) - base <= room]
    return max(fitting, key=lambda t: (vocabs[t["max_vocab"]][0], size(t), t["hidden"]), default=None)


def _vocab_sizes(o, c, config, larger=True):
    """{max_vocab: (vocabulary rows, C table bytes)} for the candidate's own cap and, if `larger`, every
    larger cap of the search space that adds rows (a cap above what train holds adds none, and is left
    out). A hashed vocabulary has no table to grow."""
    from tfdistil.data.splits import load_split
    from tfdistil.data.vocab import Vocab, read_wordpieces
    from tfdistil.edge.mcu.c_vocab import c_vocabulary_layout
    from tfdistil.search.space import COMMON_SPACE
    own = config.get("max_vocab") or 0
    if config.get("hash_buckets"):
        return {own: (config["hash_buckets"], 0)}
    made = (os.path.realpath(c.path("data")), config.get("max_len", 64), config.get("min_freq", 1), config.get("subwords"))
    if made not in _BUILT:  # the same table for both grow levers and for every dry walk (a --time-budget fit
        train = load_split(c.work, "train")  # walks the stages many times: 48 s on SST-2 uncached, 2 s cached)
        wordpieces = read_wordpieces(config["subwords"]) if config.get("subwords") else None
        _BUILT[made] = Vocab.build(train.sentences, made[1], made[2], None, train.label_names, 0, wordpieces,
                                   class_names=train.class_names)
    full = _BUILT[made]
    out, seen = {}, set()
    for cap in sorted({own, *(v for v in COMMON_SPACE["max_vocab"] if larger and own and v > own)}):
        vocab = Vocab(full.itos[2:cap or None], full.max_len, full.labels, subwords=full.subwords)
        if len(vocab) in seen:
            continue
        seen.add(len(vocab))
        table = c_vocabulary_layout(vocab, VOCAB_LAYOUT)["flash_bytes"] if o.kind == "mcu" else 0
        out[cap] = (len(vocab), table)
    return out
