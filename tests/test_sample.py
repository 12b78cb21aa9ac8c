"""tfdistil.data.sample: `firmware --limit N` runs a stratified sample, not the first N rows (the first
20 SST-2 test sentences are all positive), and says which rows it ran."""
import json
import os

import numpy as np
from click.testing import CliRunner

from conftest import ROOT
from tfdistil.cli import main
from tfdistil.data.sample import class_counts, describe, load_sample, stratified, stratified_indices
from tfdistil.data.splits import load_split


def test_the_first_rows_can_be_one_class_the_sample_keeps_both(data_dir):
    test = load_split(data_dir, "test")
    assert set(load_split(data_dir, "test", 20).labels.tolist()) == {1}  # why --limit needs this
    s = load_sample(data_dir, "test", 20)
    share = np.bincount(test.labels) / len(test)
    assert len(s) == 20 and np.bincount(s.labels).tolist() == np.round(share * 20).astype(int).tolist()
    idx = stratified_indices(test.labels, 20)
    assert idx == sorted(idx) and s.sentences == [test.sentences[i] for i in idx]  # file order, real rows
    assert s.labels.tolist() == test.labels[idx].tolist()
    assert load_sample(data_dir, "test", 20).sentences == s.sentences  # deterministic
    assert s.sha256 != load_split(data_dir, "test", 20).sha256 != test.sha256
    assert idx[-1] > len(test) // 2  # spread over the file, not its head
    assert load_sample(data_dir, "test", 20, "first").sentences == load_split(data_dir, "test", 20).sentences
    assert stratified(test, None) is test and stratified(test, 10 ** 6) is test


def test_class_counts_follow_the_shares_and_keep_a_rare_class():
    labels = [0] * 90 + [1] * 9 + [2] * 1
    assert class_counts(labels, 10) == {0: 8, 1: 1, 2: 1}  # 9 / 0.9 / 0.1: the rare class still gets a row
    assert class_counts(labels, 100) == {0: 90, 1: 9, 2: 1}
    assert class_counts([0, 1, 1, 1], 2) == {0: 1, 1: 1}
    assert class_counts([0, 0, 0, 1], 1) == {0: 1, 1: 0}  # fewer rows than classes: the shares decide
    assert len(stratified_indices(labels, 10)) == 10 == len(set(stratified_indices(labels, 10)))


def test_describe_says_which_rows(data_dir):
    s = load_sample(data_dir, "dev", 10)
    assert describe(s, 10) == ("dev: a stratified sample of 10 (each class in its share of the split, evenly "
                               "spaced through the file); per class: 0 5, 1 5")
    first = load_sample(data_dir, "dev", 10, "first")
    assert describe(first, 10, "first").startswith("dev: the first 10 rows of the file; per class: ")


def test_firmware_limit_runs_and_reports_the_stratified_sample(data_dir, tmp_path):
    """The real thing: the committed 256 KB student on the emulated M4, --limit 20 of the test split."""
    model = os.path.join(ROOT, "results", "models", "mcu-attn-e20h32a16-v8800-sw", "bilstm_attn_int8_L64.tflite")
    result = CliRunner().invoke(main, ["firmware", model, "--kernels", "reference", "--data", data_dir,
                                       "--split", "test", "--limit", "20", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.stderr[-3000:]
    assert "sample: test: a stratified sample of 20 (each class in its share" in result.output
    written = json.loads((tmp_path / "mcu-attn-e20h32a16-v8800-sw-test-sample20.json").read_text())
    expected = load_sample(data_dir, "test", 20)
    assert written["n"] == 20 and written["per_sentence"]["gold"] == expected.labels.tolist()
    assert sorted(set(written["per_sentence"]["gold"])) == [0, 1]
    assert written["sample"].endswith("per class: 0 10, 1 10") and written["labels_identical"] == 20
