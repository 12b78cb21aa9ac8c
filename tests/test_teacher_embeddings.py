"""Student embeddings that start from the teacher's input embeddings (a real tiny BERT checkpoint)."""
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from tfdistil.cli import main
from tfdistil.config import Config
from tfdistil.errors import UserError
from tfdistil.students.teacher_embeddings import teacher_word_table, teacher_word_vectors


def _tiny_vocab(tiny_bert):
    with open(os.path.join(tiny_bert, "vocab.txt"), encoding="utf-8") as f:
        return [w for w in f.read().split("\n") if w]


def test_word_vectors_keep_the_teachers_geometry(tiny_bert):
    vocab = _tiny_vocab(tiny_bert)
    words = [w for w in vocab[5:] if w.isalpha()][:40] + ["zzqqxx"]  # the last one is [UNK] to this teacher
    table = teacher_word_table(tiny_bert)
    assert table.shape == (len(vocab), 32)
    full, known = teacher_word_vectors(tiny_bert, words, 32)
    assert known[:-1].all() and not known[-1] and not full[-1].any()
    # At the teacher's own width PCA only rotates, centres and scales: distances keep their ratios.
    rows = table[[vocab.index(w) for w in words[:-1]]]
    teacher_d = np.linalg.norm(rows[:, None] - rows[None], axis=-1)
    ours_d = np.linalg.norm(full[:-1, None] - full[None, :-1], axis=-1)
    off = ~np.eye(len(rows), dtype=bool)
    ratio = ours_d[off] / teacher_d[off]
    assert ratio.std() / ratio.mean() < 1e-4
    assert abs(full[:-1].std() - 0.05 / np.sqrt(3)) < 1e-3
    # Narrower: the leading principal directions, widest first.
    narrow, _ = teacher_word_vectors(tiny_bert, words, 8)
    spread = narrow[:-1].std(axis=0)
    assert (np.diff(spread) <= 1e-6).all() and np.allclose(narrow[:-1, :8] / narrow[:-1, :8].std(),
                                                           full[:-1, :8] / full[:-1, :8].std(), atol=1e-4)


def test_fit_starts_from_the_teacher_and_records_it(tiny_bert, data_dir, tmp_path):
    from tfdistil.training.fit import fit, load_run
    from tfdistil.students.builders import build_student
    from tfdistil.students.teacher_embeddings import init_student_embeddings
    import keras
    cfg = Config(student="bilstm_attn", embed_dim=8, hidden=8, epochs=1, train_limit=200, seed=3, embed_init=tiny_bert)
    messages = []
    metrics = fit(cfg, data_dir, str(tmp_path / "run"), log=messages.append)
    assert any("start from" in m for m in messages), messages
    with open(tmp_path / "run" / "config.json") as f:
        assert json.load(f)["embed_init"] == tiny_bert
    assert metrics["best_epoch"] == 1
    # The rows a fresh student starts from are the teacher's vectors for the vocabulary's words.
    done_cfg, vocab, _ = load_run(str(tmp_path / "run"))
    keras.utils.set_random_seed(3)
    student = build_student(done_cfg)
    before = student.get_layer("embedding").get_weights()[0].copy()
    n = init_student_embeddings(student, vocab, tiny_bert, log=lambda m: None)
    rows = student.get_layer("embedding").get_weights()[0]
    vectors, known = teacher_word_vectors(tiny_bert, vocab.itos[2:], 8)
    assert n == known.sum() > 100
    assert np.array_equal(rows[2:][known], vectors[known]) and np.array_equal(rows[2:][~known], before[2:][~known])
    assert not rows[0].any() and np.array_equal(rows[1], before[1])


def test_bad_embed_init_is_one_line_before_tensorflow(tmp_path):
    result = CliRunner().invoke(main, ["fit", "--embed-init", str(tmp_path), "--limit", "50", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and result.stderr.strip().count("\n") == 0
    assert "no tf_model.h5" in result.stderr and not os.path.exists(tmp_path / "r.partial")
    with pytest.raises(UserError, match="cannot start hashed buckets"):
        Config(embed_init=str(tmp_path), hash_buckets=1024)
