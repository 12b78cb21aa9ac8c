"""Start a student's word embeddings from the teacher's own input embeddings.

The paper's students learn their embeddings from scratch (no GloVe, no word2vec). The teacher
already holds a table that places words by meaning: its input (wordpiece) embeddings, fine-tuned
on the task. A student word's vector here is the mean of the teacher rows of its wordpieces,
and principal components bring the teacher's width (768 for BERT/MPNet-base) down to the
student's `embed_dim`. Nothing changes in the student's size or in its graph: only where
training starts. `<pad>` stays zero and `<unk>` keeps its random start; so does a word the
teacher only sees as its unknown token.

The table is read from the teacher folder's `tf_model.h5` with h5py and its tokenizer files,
so no teacher model is built (transformers' TF models need Keras 2; students train in Keras 3).
"""
import os

import numpy as np

from tfdistil.errors import UserError

# Keras' default Embedding start is uniform(-0.05, 0.05); the teacher's vectors are scaled to
# the same spread so the layers after the embedding see inputs of the size they are built for.
DEFAULT_EMBEDDING_STD = 0.05 / np.sqrt(3.0)


def check_teacher_dir(path):
    """Fail in a second, before TensorFlow loads, when `path` is not a teacher folder."""
    if not os.path.isfile(os.path.join(path, "tf_model.h5")):
        raise UserError(f"--embed-init {path}: no tf_model.h5 there (a folder written by `tfdistil teacher fit` "
                        "or transformers' save_pretrained)")
    if not any(os.path.isfile(os.path.join(path, f)) for f in ("tokenizer.json", "vocab.txt")):
        raise UserError(f"--embed-init {path}: no tokenizer (tokenizer.json or vocab.txt) beside tf_model.h5")


def teacher_word_table(path):
    """The teacher's input word-embedding matrix (its vocabulary x hidden) from tf_model.h5."""
    import h5py
    found = []
    with h5py.File(os.path.join(path, "tf_model.h5"), "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.ndim == 2 and (
                    name.endswith("embeddings/word_embeddings/weight:0") or
                    name.endswith("embeddings/word_embeddings/embeddings:0")):
                found.append(np.asarray(obj, dtype=np.float32))
        f.visititems(visit)
    if len(found) != 1:
        raise UserError(f"{path}/tf_model.h5: expected one word-embedding table, found {len(found)}")
    return found[0]


def teacher_word_vectors(path, words, dim, seed=0, pieces_are_tokens=False):
    """(len(words), dim) float32: each word's mean teacher wordpiece vector, PCA-reduced to `dim`
    and scaled to Keras' default embedding spread, and a mask of the words the teacher knows."""
    check_teacher_dir(path)
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(path)
    table = teacher_word_table(path)
    if len(tokenizer) > table.shape[0]:
        raise UserError(f"{path}: tokenizer has {len(tokenizer)} tokens, the embedding table {table.shape[0]} rows")
    pieces = tokenizer(list(words), add_special_tokens=False)["input_ids"]
    if pieces_are_tokens:  # a subword vocabulary: '##ly' is the teacher's own token, not '#', '#', 'ly'
        token_ids = tokenizer.get_vocab()
        pieces = [[token_ids[w]] if w in token_ids else p for w, p in zip(words, pieces)]
    unknown = tokenizer.unk_token_id
    known = np.array([bool(p) and unknown not in p for p in pieces])
    if not known.any():
        raise UserError(f"{path}: the teacher's tokenizer knows none of the student's words")
    means = np.stack([table[p].mean(axis=0) if k else np.zeros(table.shape[1], np.float32)
                      for p, k in zip(pieces, known)])
    centred = means[known] - means[known].mean(axis=0)
    # Principal directions of the known words; fewer words or teacher dims than `dim` leaves
    # the extra columns zero (a tiny test teacher), the trained dims still start informed.
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(dim, vt.shape[0])
    reduced = np.zeros((int(known.sum()), dim), np.float32)
    reduced[:, :k] = centred @ vt[:k].T
    reduced *= DEFAULT_EMBEDDING_STD / (reduced[:, :k].std() + 1e-12)
    vectors = np.zeros((len(words), dim), np.float32)
    vectors[known] = reduced
    return vectors, known


def init_student_embeddings(student, vocab, teacher_dir, log=print):
    """Overwrite the student's embedding rows of the words the teacher knows; returns how many."""
    layer = student.get_layer("embedding")
    weights = layer.get_weights()[0]
    words = vocab.itos[2:]  # 0 = <pad>, 1 = <unk>
    vectors, known = teacher_word_vectors(teacher_dir, words, weights.shape[1], pieces_are_tokens=vocab.subwords)
    rows = weights.copy()
    rows[2:][known] = vectors[known]
    rows[0] = 0.0
    layer.set_weights([rows])
    log(f"embeddings: {int(known.sum())} of {len(words)} words start from {teacher_dir}'s input embeddings")
    return int(known.sum())
