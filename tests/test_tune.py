"""Keras Tuner student search: real keras-tuner, real training on 300 real rows, real int8 conversion + TFLM."""
import csv
import json
import os
import re

import keras
import keras_tuner as kt
import numpy as np
import pytest
from click.testing import CliRunner

from tfdistil.search import space as S
from tfdistil.search import tune as T
from tfdistil.search import tuner as TU
from tfdistil.cli import main
from tfdistil.cli.tune import tune as tune_cmd
from tfdistil.config import STUDENTS, Config
from tfdistil.data.splits import load_split
from tfdistil.teacher.logits_cache import SHIPPED

ROWS = 300
# Only max_vocab 500 + embed_dim 8 + kernel 3 fits 11 KB, so the oracle must throw samples away.
SPACE = {"max_vocab": [500, 2000], "embed_dim": [8, 16], "filters": [8], "kernel_sizes": [[3], [3, 5]],
         "hidden": [8, 16], "max_len": [32, 48]}
BUDGET_KB = 11


def cli_args(data_dir, out, space_path, budget_kb=BUDGET_KB, teacher_logits=None):
    args = ["--student", "cnn", "--tuner", "hyperband", "--max-trials", "2", "--budget-kb", str(budget_kb),
            "--epochs-per-trial", "1", "--limit", str(ROWS), "--space", str(space_path), "--top-k", "2",
            "--eval-limit", "100", "--calibration-size", "50", "--data", data_dir, "--out", str(out), "--json"]
    return args + (["--distill", "--teacher-logits", str(teacher_logits)] if teacher_logits else [])


@pytest.fixture
def space_path(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps(SPACE))
    return path


@pytest.fixture
def sliced_logits(tmp_path, data_dir):
    """The shipped (real MiniLM) teacher logits for the first ROWS train rows, with the slice's own hash."""
    train = load_split(data_dir, "train", ROWS)
    with np.load(SHIPPED) as z:
        header = json.loads(str(z["header"]))
        logits = z["train_logits"][:ROWS]
    header["splits"] = {"train": {**header["splits"]["train"], "rows": ROWS, "sha256": train.sha256}}
    path = tmp_path / "logits.npz"
    np.savez(path, header=np.array(json.dumps(header)), train_logits=logits)
    return path


@pytest.mark.parametrize("student", STUDENTS)
def test_hypermodel_builds_keras3_student_and_closed_form_param_count(student):
    space = S.search_space(student, distill=True)
    hm = TU.StudentHyperModel(Config(student=student, distill=True), space, {c: c for c in space["max_vocab"]})
    hp = kt.HyperParameters()
    model = hm.build(hp)
    assert isinstance(model, keras.Model) and set(space) <= set(hp.values)
    cfg = hm.config(hp)
    assert model.student.count_params() == S.count_params(cfg)
    assert S.estimate_int8_bytes(cfg) > S.count_params(cfg)


def test_budget_smaller_than_any_configuration_is_a_clear_error(tmp_path, data_dir, space_path):
    out = tmp_path / "tune"
    result = CliRunner().invoke(tune_cmd, cli_args(data_dir, out, space_path, budget_kb=4))
    assert result.exit_code == 2, result.output
    assert "--budget-kb 4 is smaller than any cnn configuration" in result.stderr
    assert "estimated 9.3 KB" in result.stderr and not out.exists()
    (tmp_path / "bad.json").write_text(json.dumps({"units": [8]}))
    result = CliRunner().invoke(tune_cmd, cli_args(data_dir, out, tmp_path / "bad.json"))
    assert result.exit_code == 2 and "'units' is not searched for cnn" in result.stderr


def test_budget_can_pay_for_the_c_vocabulary_too(tmp_path, data_dir, space_path):
    """--budget-includes-vocab: a microcontroller stores the C word table beside the model; the
    smallest configuration that fits 11 KB as a flatbuffer alone no longer does with its table."""
    from tfdistil.data.vocab import Vocab
    from tfdistil.edge.mcu.c_vocab import c_vocabulary_layout
    out = tmp_path / "tune"
    result = CliRunner().invoke(tune_cmd, cli_args(data_dir, out, space_path) + ["--budget-includes-vocab"])
    assert result.exit_code == 2, result.output
    train = load_split(data_dir, "train", ROWS)
    table = c_vocabulary_layout(Vocab.build(train.sentences, 48, 1, 500, train.label_names))
    assert table["offset_type"] == table["id_type"] == "uint16_t" and table["words"] == 498
    said = float(re.search(r"estimated ([0-9.]+) KB int8 \+ C vocabulary", result.stderr).group(1))
    assert said == pytest.approx(9.3 + table["flash_bytes"] / 1024, abs=0.06) and not out.exists()  # 9.3: alone


def test_a_subword_search_counts_its_piece_table(tmp_path, data_dir, space_path, wordpiece_txt):
    """tune --subwords: every trial's vocabulary is wordpieces, and --budget-includes-vocab counts
    that table (not the word table); a missing vocab.txt is one line."""
    from tfdistil.data.vocab import Vocab, read_wordpieces
    from tfdistil.edge.mcu.c_vocab import c_vocabulary_layout
    out = tmp_path / "tune"
    result = CliRunner().invoke(tune_cmd, cli_args(data_dir, out, space_path) +
                                ["--budget-includes-vocab", "--subwords", wordpiece_txt])
    assert result.exit_code == 2, result.output
    train = load_split(data_dir, "train", ROWS)
    pieces = Vocab.build(train.sentences, 48, 1, 500, train.label_names, wordpieces=read_wordpieces(wordpiece_txt))
    words = Vocab.build(train.sentences, 48, 1, 500, train.label_names)
    table = c_vocabulary_layout(pieces)
    assert pieces.subwords and table["flash_bytes"] != c_vocabulary_layout(words)["flash_bytes"]
    said = float(re.search(r"estimated ([0-9.]+) KB int8 \+ C vocabulary", result.stderr).group(1))
    assert said == pytest.approx(9.3 + table["flash_bytes"] / 1024, abs=0.06) and not out.exists()
    result = CliRunner().invoke(tune_cmd, cli_args(data_dir, out, space_path) + ["--subwords", str(tmp_path / "no")])
    assert result.exit_code == 2 and "WordPiece vocabulary not found" in result.stderr and not out.exists()


def test_two_trial_search_resumes_converts_and_best_json_retrains(tmp_path, data_dir, space_path,
                                                                   sliced_logits, monkeypatch):
    out = tmp_path / "tune"
    splits = []
    real_load_split = T.load_split
    monkeypatch.setattr(T, "load_split", lambda d, s, *a: splits.append(s) or real_load_split(d, s, *a))

    def interrupt_second_trial(message):
        if message.startswith("trial 1:"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        T.tune("cnn", data_dir, str(out), max_trials=2, budget_kb=BUDGET_KB, distill=True,
               teacher_logits=str(sliced_logits), epochs_per_trial=1, limit=ROWS, space=SPACE, top_k=2,
               eval_limit=100, calibration_size=50, log=interrupt_second_trial)
    assert not (out / "best.json").exists()

    # The same command again continues: trial 0 is kept, only the interrupted trial 1 runs.
    result = CliRunner().invoke(tune_cmd, cli_args(data_dir, out, space_path, teacher_logits=sliced_logits))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    trial_lines = [l for l in result.stderr.splitlines() if l.startswith("trial ")]
    assert [l.split(":")[0] for l in trial_lines] == ["trial 1"], trial_lines
    assert summary["trials"] == summary["completed"] == 2 and summary["over_budget_rejected"] > 0
    assert set(splits) == {"train", "dev"}  # the search never reads test

    with open(out / "leaderboard.csv") as f:
        board = list(csv.DictReader(f))
    assert [r["rank"] for r in board] == ["1", "2"] and "alpha" in board[0]
    assert all(float(r["est_int8_kb"]) <= BUDGET_KB and r["int8_kb"] for r in board)
    assert (out / "leaderboard.md").read_text().startswith("| rank | trial |")
    for trial in ("0", "1"):  # the estimate against two real int8 conversions of trained models
        record = json.loads((out / "search" / f"trial_{trial}" / "tfdistil.json").read_text())
        slack, fraction = S.ESTIMATE_TOLERANCE
        assert abs(record["int8_bytes_estimated"] - record["int8_bytes"]) <= max(slack, fraction * record["int8_bytes"])

    best = json.loads((out / "best.json").read_text())
    assert best["trial"]["trial"] == summary["best_trial"] == board[0]["trial"]
    assert best["config"]["distill"] and best["config"]["train_limit"] == ROWS
    assert best["reproduced"] and best["tflite"]["fits_budget"] and best["tflite"]["bytes"] <= BUDGET_KB * 1024
    assert 0.0 <= best["tflite"]["tflm_dev_accuracy"] <= 1.0 and best["tflite"]["tflm_dev_rows"] == 100
    assert os.path.isfile(best["tflite"]["path"])

    refit = CliRunner().invoke(main, ["fit", "--config", str(out / "best.json"), "--data", data_dir,
                                      "--out", str(tmp_path / "refit"), "--json"])
    assert refit.exit_code == 0, refit.output
    assert json.loads(refit.stdout.strip().splitlines()[-1])["dev_accuracy"] == best["trial"]["dev_accuracy"]

    changed = CliRunner().invoke(tune_cmd, cli_args(data_dir, out, space_path, budget_kb=12,
                                                    teacher_logits=sliced_logits))
    assert changed.exit_code == 2 and "other settings (budget_kb: 11.0 -> 12.0)" in changed.stderr


def test_bayesian_without_scikit_learn_is_one_line(monkeypatch):
    """scikit-learn is the `bayesian` extra (it is imported by Keras at every start-up when present):
    without it the Bayesian oracle is refused with the install line, the other tuners still build."""
    from keras_tuner.src.tuners import bayesian
    from tfdistil.errors import UserError
    monkeypatch.setattr(bayesian, "sklearn", None)
    with pytest.raises(UserError, match=r"pip install 'tfdistil\[bayesian\]'"):
        TU.make_oracle("bayesian", 4, 2, 0)
    assert TU.make_oracle("random", 4, 2, 0).max_trials == 4
