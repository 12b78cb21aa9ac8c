"""The firmware's word table in C: which layout, its flash bytes, and the C source.

"strings" keeps the words (sorted, binary search); "fingerprints" only a 32-bit FNV-1a hash and an id
per word; "fingerprint-ranks" only the hash, a word's id being its rank (the kit reorders the model's
embedding rows to match). A hashed vocabulary needs no table. `tune --budget-includes-vocab` counts
these bytes before training, `write_firmware_kit` writes them.
"""
from tfdistil.data.tokenizer import FNV_BASIS, fnv1a32


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


def c_string(word):
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


def c_vocabulary_source(vocab, layout):
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
            "\n".join(f"  {c_string(w.decode('utf-8') + chr(0))}" for w, _ in words) + ";\n"
            f"const {offset_type} kVocabOffsets[] = {{\n" + "\n".join(f"  {o}," for o in offsets) + "\n};\n"
            f"const {id_type} kVocabIds[] = {{\n" + "\n".join(f"  {i}," for _, i in words) + "\n};\n")
