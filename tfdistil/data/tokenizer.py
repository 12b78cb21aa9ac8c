"""The one word tokenizer, used for training, evaluation, prediction and on-device.

Pure Python with no imports, so the Raspberry Pi runner (`tflite/classify.py`)
carries a byte-identical copy of these functions (a test checks the copies
match) and the firmware kit's C tokenizer implements the same rules:

1. ASCII letters are lowercased (SST-2 is already lowercase; non-ASCII bytes
   are left alone so C and Python agree without a Unicode table).
2. Text is split on ASCII whitespace. The vocabulary is built from these words.
3. A word found in the vocabulary maps to its id. Otherwise leading double
   quotes and trailing `.,!?;:"` are peeled off as separate tokens, so raw text
   like `Great movie!` matches SST's PTB-style `great movie !` while SST words
   such as `u.s.` or `...` stay whole.
4. Unknown words get `unk_id`; the sequence is cut to `max_len` and
   right-padded with `pad_id` (0).
5. Hashed vocabulary (`fit --hash-buckets N`, `word_to_id` = the int N): no word
   table at all. Every word is peeled as in rule 3 and each piece maps to
   2 + FNV-1a-32(its UTF-8 bytes) mod (N - 2), so ids 0/1 stay <pad>/<unk>
   and a device carries no vocabulary.
6. Subword vocabulary (`fit --subwords VOCAB.txt`, `subwords=True`): a word or
   peeled piece that is not in the vocabulary is split into wordpieces, greedy
   longest match first, every piece after the first prefixed `##` (BERT's
   WordPiece); a piece that cannot be covered is one `unk_id`. An unseen word
   like `bleakly` becomes `bleak ##ly` instead of <unk>.
"""

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
