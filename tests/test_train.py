"""Real Keras training on small real slices: run folders, reproducibility, interrupt + resume."""
import json
import os

import numpy as np
import pytest

from tfdistil.config import Config
from tfdistil.errors import UserError
from tfdistil.training.fit import evaluate, fit, load_run, predict


def small(student="cnn", **kw):
    return Config(student=student, embed_dim=16, hidden=16, filters=16, train_limit=400,
                  **{"epochs": 2, "seed": 3, **kw})


def test_same_seed_same_model_and_the_callers_config_unchanged(tmp_path, data_dir):
    cfg = small()
    a = fit(cfg, data_dir, str(tmp_path / "a"), log=lambda m: None)
    assert cfg == small() and cfg.vocab_size == 0  # fit filled in a copy ...
    assert Config.load(str(tmp_path / "a" / "config.json")).vocab_size == a["vocab_size"] > 0  # ... and recorded it
    b = fit(cfg, data_dir, str(tmp_path / "b"), log=lambda m: None)
    assert a["dev_accuracy"] == b["dev_accuracy"] and a["test_accuracy"] == b["test_accuracy"]
    wa = load_run(str(tmp_path / "a"))[2].get_weights()
    wb = load_run(str(tmp_path / "b"))[2].get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(wa, wb))


def test_interrupted_fit_leaves_no_run_and_resumes(tmp_path, data_dir):
    out = str(tmp_path / "run")

    def stop_after_first_epoch(msg):
        if msg.startswith("epoch 1/3"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(small("bilstm", epochs=3), data_dir, out, log=stop_after_first_epoch)
    assert not os.path.exists(out) and os.path.isfile(out + ".partial/checkpoints.json")

    messages = []
    metrics = fit(small("bilstm", epochs=3), data_dir, out, log=messages.append)
    assert any(m.startswith("resuming") for m in messages)
    assert [h["epoch"] for h in json.load(open(os.path.join(out, "history.json")))] == [1, 2, 3]
    assert not os.path.exists(out + ".partial")
    assert evaluate(out, data_dir, "dev")["accuracy"] == pytest.approx(metrics["dev_accuracy"])
    rows = predict(out, ["", "zzzz qqqq", "a fine film"])
    assert [r["text"] for r in rows] == ["", "zzzz qqqq", "a fine film"]


def test_weight_average_changes_the_model_and_survives_a_resume(tmp_path, data_dir):
    """`ema`: each epoch ends on Adam's moving average of the weights; its state is checkpointed, so
    a run stopped after epoch 1 and resumed ends with the very weights of an uninterrupted one."""
    whole = fit(small("bilstm", ema=0.9), data_dir, str(tmp_path / "ema"), log=lambda m: None)
    fit(small("bilstm"), data_dir, str(tmp_path / "plain"), log=lambda m: None)
    w_ema, w_plain = (load_run(str(tmp_path / n))[2].get_weights() for n in ("ema", "plain"))
    assert not all(np.array_equal(x, y) for x, y in zip(w_ema, w_plain))

    def stop_after_first_epoch(msg):
        if msg.startswith("epoch 1/2"):
            raise KeyboardInterrupt

    out = str(tmp_path / "resumed")
    with pytest.raises(KeyboardInterrupt):
        fit(small("bilstm", ema=0.9), data_dir, out, log=stop_after_first_epoch)
    resumed = fit(small("bilstm", ema=0.9), data_dir, out, log=lambda m: None)
    assert resumed["dev_accuracy"] == whole["dev_accuracy"]
    assert all(np.array_equal(x, y) for x, y in zip(load_run(out)[2].get_weights(), w_ema))
    with pytest.raises(UserError, match="ema"):
        Config(student="bilstm", ema=1.0)


def test_word_dropout_trains_the_unk_row_and_only_it_changes(tmp_path, data_dir):
    """With min_freq 1 no training token is <unk>, so its embedding row never moves; with word
    dropout it does. Padding is never replaced, and the same seed gives the same replacements."""
    from tfdistil.training.batches import drop_words
    ids = np.array([[5, 6, 7, 8, 0, 0], [9, 1, 10, 0, 0, 0]], np.int32)
    a = drop_words(ids, 0.5, np.random.default_rng(0))
    assert np.array_equal(a, drop_words(ids, 0.5, np.random.default_rng(0)))
    assert np.all(a[ids == 0] == 0) and set(np.unique(a[(ids > 1) & (a != ids)])) <= {1}
    many = drop_words(np.full((200, 50), 7, np.int32), 0.1, np.random.default_rng(1))
    assert 0.08 < (many == 1).mean() < 0.12

    def unk_row_moved(rate):
        out = str(tmp_path / f"wd{rate}")
        fit(small(epochs=1, word_dropout=rate), data_dir, out, log=lambda m: None)
        cfg, vocab, student = load_run(out)
        trained = student.get_layer("embedding").get_weights()[0]
        from tfdistil.students.builders import build_student
        import keras
        keras.utils.set_random_seed(cfg.seed)
        initial = build_student(cfg).get_layer("embedding").get_weights()[0]
        assert not np.array_equal(trained[2], initial[2])      # ordinary words always train
        return not np.array_equal(trained[1], initial[1])

    assert not unk_row_moved(0.0)
    assert unk_row_moved(0.2)


def test_paper_exact_sizes(tmp_path):
    """--paper-exact: 1 filter per kernel size and a 9,825-word cap give the paper's 0.63 M CNN."""
    import keras
    from tfdistil.config import PAPER_EXACT
    from tfdistil.students.builders import build_student
    cnn = build_student(Config(student="cnn", vocab_size=PAPER_EXACT["max_vocab"], **PAPER_EXACT))
    assert round(cnn.count_params() / 1e6, 2) == 0.63
    assert [cnn.get_layer(f"conv{k}").filters for k in (3, 4, 5)] == [1, 1, 1]
    attn = build_student(Config(student="bilstm_attn", vocab_size=PAPER_EXACT["max_vocab"], **PAPER_EXACT))
    assert 0.70 < attn.count_params() / 1e6 < 0.75     # the paper's Table 3: 0.75 M
    assert keras.backend.backend() == "tensorflow"


def test_a_run_distilled_from_the_shipped_targets_names_them(tmp_path, data_dir, monkeypatch):
    """metrics.json (and the CLI's `teacher_logits:` line) names the shipped asset, not None."""
    import tfdistil.training.fit as F
    from tfdistil.data.splits import load_split
    from tfdistil.teacher.logits_cache import CACHE_FORMAT, SHIPPED_NAME, write_cache
    train = load_split(data_dir, "train", 400)  # small(): train_limit=400
    shipped = tmp_path / "assets" / "sst2_minilm_logits.npz"  # stands in for the 67k-row shipped cache
    write_cache(str(shipped), {"format": CACHE_FORMAT, "splits": {"train": {"rows": 400, "sha256": train.sha256}}},
                {"train": np.where(train.labels[:, None] == [0, 1], 2.0, -2.0)})
    monkeypatch.setattr(F, "SHIPPED", str(shipped))
    metrics = fit(small(epochs=1, distill=True), data_dir, str(tmp_path / "d"), log=lambda m: None)
    assert metrics["teacher_logits"] == SHIPPED_NAME == "tfdistil/assets/sst2_minilm_logits.npz"
    assert Config.load(str(tmp_path / "d" / "config.json")).teacher_logits == ""  # the default, as before
    baseline = fit(small(epochs=1), data_dir, str(tmp_path / "b"), log=lambda m: None)
    assert baseline["teacher_logits"] is None  # no teacher at all


def test_the_python_api_drops_tensorflows_start_up_lines_as_the_cli_does(tmp_path, data_dir):
    """`import tfdistil; tfdistil.fit(...)` in a plain process: no oneDNN/CUDA/absl lines on stderr."""
    import re
    import subprocess
    import sys
    code = ("import sys, tfdistil\n"
            "cfg = tfdistil.Config(embed_dim=8, filters=8, epochs=1, train_limit=200)\n"
            "tfdistil.fit(cfg, sys.argv[1], sys.argv[2], log=lambda m: None)\n"
            "print(tfdistil.predict(sys.argv[2], ['a fine film'])[0]['label'])\n")
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TFDISTIL_VERBOSE")}
    proc = subprocess.run([sys.executable, "-c", code, data_dir, str(tmp_path / "r")], capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 0 and proc.stdout.strip() in ("0", "1"), proc.stderr[-2000:]
    noise = [line for line in proc.stderr.splitlines()
             if re.match(r"[IWE]\d{4} |WARNING: All log messages before absl", line) or "oneDNN" in line
             or "cuInit" in line or "cuda drivers" in line]
    assert not noise, noise
