"""Every bad input: one line on stderr, exit code 2, no traceback, nothing half-written."""
import json
import os
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from tfdistil.cli import main


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result


def assert_user_error(result, *needles):
    assert result.exit_code == 2, (result.exit_code, result.output, result.stderr)
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    assert "Traceback" not in result.output + result.stderr
    for n in needles:
        assert n in err, err


def write_split(folder, name, text, mode="w"):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}.tsv")
    with open(path, "wb" if isinstance(text, bytes) else "w") as f:
        f.write(text)
    return path


@pytest.fixture
def good_data(tmp_path, data_dir):
    """A GLUE folder with small real slices: 200 train, 100 dev, 100 test rows."""
    d = tmp_path / "sst2"
    d.mkdir()
    for split, n in (("train", 200), ("dev", 100), ("test", 100)):
        with open(os.path.join(data_dir, f"{split}.tsv"), encoding="utf-8") as f:
            lines = [next(f) for _ in range(n + 1)]
        (d / f"{split}.tsv").write_text("".join(lines), encoding="utf-8")
    return d


def test_missing_data_folder(tmp_path):
    assert_user_error(invoke("fit", "--data", tmp_path / "nope", "--out", tmp_path / "r"), "data folder not found")


def test_missing_split_file(good_data, tmp_path):
    os.remove(good_data / "dev.tsv")
    assert_user_error(invoke("fit", "--data", good_data, "--out", tmp_path / "r"), "dev.tsv", "file not found")


def test_malformed_row_names_file_and_line(good_data, tmp_path):
    with open(good_data / "train.tsv", "a") as f:
        f.write("a row without a label\n")
    assert_user_error(invoke("fit", "--data", good_data, "--out", tmp_path / "r"), "train.tsv:202", "2 tab-separated")


def test_label_not_binary(good_data, tmp_path):
    with open(good_data / "train.tsv", "a") as f:
        f.write("a fine film\t3\n")
    assert_user_error(invoke("fit", "--data", good_data, "--out", tmp_path / "r"), "train.tsv:202", "0 or 1")


def test_empty_split(good_data, tmp_path):
    (good_data / "dev.tsv").write_text("sentence\tlabel\n")
    assert_user_error(invoke("fit", "--data", good_data, "--out", tmp_path / "r"), "dev", "no rows")


def test_non_utf8(good_data, tmp_path):
    with open(good_data / "train.tsv", "ab") as f:
        f.write(b"caf\xe9 society\t1\n")
    assert_user_error(invoke("fit", "--data", good_data, "--out", tmp_path / "r"), "train.tsv:202", "UTF-8")


def test_unknown_student(good_data, tmp_path):
    assert_user_error(invoke("fit", "--student", "gpt", "--data", good_data, "--out", tmp_path / "r"),
                      "unknown student 'gpt'")


def test_distill_without_logits(good_data, tmp_path):
    r = invoke("fit", "--distill", "--teacher-logits", tmp_path / "none.npz", "--data", good_data,
               "--out", tmp_path / "r")
    assert_user_error(r, "teacher logits", "tfdistil teacher logits")
    assert not os.path.exists(tmp_path / "r")


def test_stale_logits_cache(good_data, tmp_path):
    header = {"format": "tfdistil-logits-1", "teacher": "x",
              "splits": {"train": {"rows": 200, "sha256": "0" * 64, "accuracy": 0.5}}}
    path = tmp_path / "stale.npz"
    np.savez(path, header=np.array(json.dumps(header)), train_logits=np.zeros((200, 2), np.float16))
    r = invoke("fit", "--distill", "--teacher-logits", path, "--data", good_data, "--out", tmp_path / "r")
    assert_user_error(r, "stale teacher logits", "regenerate")


def test_not_a_logits_cache(good_data, tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"not an npz")
    r = invoke("fit", "--distill", "--teacher-logits", path, "--data", good_data, "--out", tmp_path / "r")
    assert_user_error(r, "not a tfdistil teacher-logits cache")


def test_not_a_run_folder(tmp_path, good_data):
    (tmp_path / "empty").mkdir()
    assert_user_error(invoke("evaluate", tmp_path / "empty", "--data", good_data), "not a tfdistil run folder")
    assert_user_error(invoke("predict", tmp_path / "missing", "good"), "run folder not found")
    assert_user_error(invoke("convert", tmp_path / "empty", "--tflite"), "not a tfdistil run folder")


def test_bad_config_file(tmp_path, good_data):
    (tmp_path / "best.json").write_text('{"student": "cnn", "wings": 2}')
    assert_user_error(invoke("fit", "--config", tmp_path / "best.json", "--data", good_data), "unknown config keys")


def test_corrupt_tflite(tmp_path, good_data):
    bad = tmp_path / "model.tflite"
    bad.write_bytes(b"\x00" * 64)
    assert_user_error(invoke("evaluate-tflite", bad, "--data", good_data), "not a TFLite flatbuffer")
    assert_user_error(invoke("evaluate-tflite", tmp_path / "none.tflite", "--data", good_data), "not found")


def test_tfds_is_opt_in_and_has_no_test_labels():
    from tfdistil.data.splits import load_split
    from tfdistil.errors import UserError
    with pytest.raises(UserError, match="no test labels"):
        load_split("tfds", "test")  # refused before TFDS is touched (offline it would hang)


def test_shipped_logits_are_the_default_and_guard_their_data(good_data, tmp_path):
    """`--distill` with no cache given uses the shipped SST-2 cache, which refuses other data."""
    r = invoke("fit", "--distill", "--data", good_data, "--out", tmp_path / "r")
    assert_user_error(r, "sst2_minilm_logits.npz", "stale teacher logits")
