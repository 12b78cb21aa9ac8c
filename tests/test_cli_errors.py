"""Every bad input: one line on stderr, exit code 2, no traceback, nothing half-written."""
import json
import os

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


def test_evaluate_checks_the_data_before_tensorflow_loads(tmp_path):
    """`evaluate RUN --data /nonexistent`: the one line comes at once, TensorFlow never imported."""
    import subprocess
    import sys
    code = ("import sys\nfrom tfdistil.cli import main\ntry:\n    main(['evaluate', sys.argv[1], '--data', sys.argv[2]])\n"
            "except SystemExit as e:\n    print(e.code, 'tensorflow' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path), str(tmp_path / "nope")], capture_output=True,
                          text=True)
    assert proc.stdout.split() == ["2", "False"], (proc.stdout, proc.stderr)
    assert proc.stderr.strip().startswith("error: ") and "data folder not found" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_result_prints_only_the_fields_that_apply():
    """`convert` of a CNN printed `lstm_states: None`: a None field is left out (--json keeps it)."""
    import click
    from tfdistil.cli.common import command

    @click.command()
    @command
    def show():
        return {"student": "cnn", "lstm_states": None, "bytes": 0, "ops": ["CONV_2D"]}

    assert CliRunner().invoke(show, []).output == "student: cnn\nbytes: 0\n"
    assert json.loads(CliRunner().invoke(show, ["--json"]).output)["lstm_states"] is None


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
    assert_user_error(r, "sst2_minilm_logits.npz", "stale teacher logits", "drop --limit", "tfdistil teacher fit",
                      "--teacher-logits logits.npz")
    # the fix is never to write into the installed package's assets/
    from tfdistil.teacher.logits_cache import SHIPPED
    assert f"--out {SHIPPED}" not in r.stderr and "--out tfdistil/assets" not in r.stderr


# Every bad input a user can type, across the commands: one `error:` line, exit 2, within a
# second (validation comes before TensorFlow), and nothing written. {data} is a good GLUE
# folder, {tmp} an empty folder, {foreign} a folder of someone else's files, {file} a file,
# {junk} a file that is not a flatbuffer, {badjson} a truncated JSON file.
BAD_INPUTS = [
    (["fit", "--student", "foo"], "unknown student"),
    (["fit", "--epochs", "0"], "must be positive"),
    (["fit", "--epochs", "-3"], "must be positive"),
    (["fit", "--batch-size", "0"], "must be positive"),
    (["fit", "--max-len", "0"], "must be positive"),
    (["fit", "--alpha", "1.5"], "--alpha must be in [0, 1]"),
    (["fit", "--alpha", "-0.1"], "--alpha must be in [0, 1]"),
    (["fit", "--lr", "0"], "lr must be positive"),
    (["fit", "--lr", "-1e-3"], "lr must be positive"),
    (["fit", "--seed", "-1"], "--seed must be in"),
    (["fit", "--max-vocab", "-1"], "--max-vocab"),
    (["fit", "--word-dropout", "1.5"], "--word-dropout must be in [0, 1)"),
    (["fit", "--word-dropout", "-0.1"], "--word-dropout must be in [0, 1)"),
    (["fit", "--epochs", "two"], "Invalid value for '--epochs'"),
    (["fit", "--bogus"], "No such option '--bogus'"),
    (["fitt"], "No such command 'fitt'"),
    (["fit", "--data", "{tmp}/nope"], "data folder not found"),
    (["fit", "--data", "{data}", "--out", "{foreign}"], "was not made by tfdistil"),
    (["fit", "--data", "{data}", "--out", "{file}"], "is a file"),
    (["fit", "--data", "{data}", "--out", "/"], "refusing to write"),
    (["fit", "--data", "{data}", "--config", "{badjson}"], "not valid JSON"),
    (["fit", "--data", "{data}", "--config", "{tmp}/nope.json"], "config file not found"),
    (["fit", "--data", "{data}", "--distill", "--teacher-logits", "{tmp}/nope.npz"], "not found"),
    (["evaluate", "{tmp}/nope"], "run folder not found"),
    (["evaluate", "{foreign}"], "not a tfdistil run folder"),
    (["evaluate", "{foreign}", "--split", "foo"], "Invalid value for '--split'"),
    (["predict", "{tmp}/nope", "a fine film"], "run folder not found"),
    (["predict", "{foreign}", "a fine film"], "not a tfdistil run folder"),
    (["convert", "{tmp}/nope"], "run folder not found"),
    (["convert", "{foreign}"], "not a tfdistil run folder"),
    (["convert", "{foreign}", "--quantize", "int9"], "Invalid value for '--quantize'"),
    (["convert"], "Missing argument"),
    (["evaluate-tflite", "{tmp}/nope.tflite"], "model file not found"),
    (["evaluate-tflite", "{junk}", "--data", "{data}"], "not a TFLite flatbuffer"),
    (["evaluate-tflite", "{junk}", "--runtime", "gpu"], "Invalid value for '--runtime'"),
    (["firmware", "{tmp}/nope.tflite"], "model file not found"),
    (["firmware", "{junk}", "--board", "stm32"], "unknown board"),
    (["firmware", "{junk}", "--kernels", "cmsis"], "unknown kernel set"),
    (["firmware", "{foreign}"], "not a run folder"),
    (["firmware", "{junk}", "--limit", "0"], "--limit must be positive"),
    (["evaluate-tflite", "{junk}", "--data", "{data}", "--limit", "-5"], "--limit must be positive"),
    (["teacher", "fit"], "Missing option '--out'"),
    (["teacher", "logits", "--data", "{data}"], "Missing option"),
    (["tune", "--student", "foo"], "Invalid value for '--student'"),
    (["tune", "--budget-kb", "0"], "Missing option '--student'"),
    (["augment"], "Missing option '--out'"),
    (["augment", "--data", "{data}", "--out", "{tmp}/a.tsv", "--exclude-from", "{tmp}/nope.tsv"],
     "--exclude-from file not found"),
    (["augment", "--data", "{data}", "--out", "{tmp}/a.tsv", "--max-rows", "0"], "--max-rows must be at least 1"),
    (["fit-stream", "--shards", "{tmp}/nope"], "no manifest.json"),
    (["report", "{tmp}/nope"], "Missing option '--out'"),
    (["report", "{tmp}/nope", "--out", "{tmp}/report"], "runs folder not found"),
]


@pytest.fixture
def bad_input_paths(good_data, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("do not delete")
    (tmp_path / "notes.txt").write_text("a file")
    (tmp_path / "junk.tflite").write_bytes(b"not a model")
    (tmp_path / "bad.json").write_text('{"student": 3')
    return {"data": good_data, "tmp": str(tmp_path), "foreign": str(foreign), "file": str(tmp_path / "notes.txt"),
            "junk": str(tmp_path / "junk.tflite"), "badjson": str(tmp_path / "bad.json")}


@pytest.mark.parametrize("args,needle", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_and_fast(args, needle, bad_input_paths, tmp_path, monkeypatch):
    import time
    monkeypatch.chdir(tmp_path)  # a default --out would land here: nothing may appear
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    start = time.time()
    result = invoke(*[a.format(**bad_input_paths) for a in args])
    assert_user_error(result, needle)
    assert time.time() - start < 5, "validation must come before TensorFlow"
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert (tmp_path / "foreign" / "thesis.tex").read_text() == "do not delete"


def test_default_data_is_found_from_any_folder_of_the_checkout(tmp_path, data_dir):
    """The default SST-2 folder resolves beside the checkout when the working folder has no ../shared."""
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    inner = os.path.join(root, "tests")  # one level down: ../shared from here does not exist
    env = {k: v for k, v in os.environ.items() if k != "TFDISTIL_DATA"}
    out = subprocess.run([sys.executable, "-c", "import os; from tfdistil.cli.common import DEFAULT_DATA as d; "
                          "print(d, os.path.isfile(os.path.join(d, 'train.tsv')))"],
                         cwd=inner, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out[1] == "True" and not os.path.isabs(out[0]), out
