"""Damaged or mismatched artifacts (a truncated weights file, another run's vocab.json, a model
changed after `convert`, a cut .npz, a hand-edited config): one line, exit 2, before any result.
Each case is a real run folder or flatbuffer damaged the way a kill, a copy or an editor does it."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from test_cli_errors import assert_user_error, invoke


def truncate(path, keep=1000):
    with open(path, "rb") as f:
        head = f.read(keep)
    with open(path, "wb") as f:
        f.write(head)


def edit_json(path, **changes):
    with open(path) as f:
        d = json.load(f)
    d.update(changes)
    with open(path, "w") as f:
        json.dump(d, f)


@pytest.fixture(scope="module")
def damaged(tiny_run, converted_int8, data_dir, tmp_path_factory):
    """name -> path of a damaged copy of a tiny cnn run or its int8 flatbuffer."""
    base = tmp_path_factory.mktemp("damaged")
    run = tiny_run["cnn"]
    model = converted_int8["cnn"]["path"]
    paths = {}

    def run_copy(name):
        shutil.copytree(run, base / name)
        paths[name] = str(base / name)
        return base / name

    truncate(run_copy("truncated_weights") / "model.weights.h5")
    edit_json(run_copy("config_types") / "config.json", epochs="abc")
    edit_json(run_copy("config_range") / "config.json", dropout=2.0)
    edit_json(run_copy("config_negative") / "config.json", hidden=-4)
    shutil.copy(os.path.join(ROOT, "results", "models", "cnn-distill", "vocab.json"), run_copy("other_vocab") / "vocab.json")
    # a vocab of the right size with its words in another order: only the fingerprint catches it
    with open(os.path.join(run, "vocab.json")) as f:
        v = json.load(f)
    v["itos"] = v["itos"][:2] + v["itos"][2:][::-1]
    with open(run_copy("shuffled_vocab") / "vocab.json", "w") as f:
        json.dump(v, f)

    def model_copy(name):
        d = base / name
        shutil.copytree(os.path.dirname(model), d)
        paths[name] = str(d / os.path.basename(model))
        return paths[name]

    truncate(model_copy("truncated_tflite"), 5000)
    changed = model_copy("changed_tflite")
    with open(changed, "r+b") as f:  # a byte of the weights flipped after convert: the manifest disagrees
        f.seek(os.path.getsize(changed) // 2)  # inside the embedding table, the bulk of the file
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    with open(model_copy("bad_manifest")[: -len(".tflite")] + ".json", "w") as f:
        f.write("{not json")
    no_manifest = model_copy("foreign_vocab")
    os.remove(no_manifest[: -len(".tflite")] + ".json")
    shutil.copy(os.path.join(ROOT, "results", "models", "cnn-distill", "vocab.json"),
                os.path.join(os.path.dirname(no_manifest), "vocab.json"))

    from tfdistil.data.splits import load_split
    train = load_split(data_dir, "train", 600)
    shipped = os.path.join(ROOT, "tfdistil", "assets", "sst2_minilm_logits.npz")
    paths["truncated_npz"] = str(base / "truncated.npz")
    shutil.copy(shipped, paths["truncated_npz"])
    truncate(paths["truncated_npz"], 3000)
    paths["empty_npz"] = str(base / "empty.npz")
    open(paths["empty_npz"], "wb").close()
    header = {"format": "tfdistil-logits-1", "teacher": "t", "splits": {"train": {"rows": 600, "sha256": train.sha256}}}
    paths["wrong_shape_npz"] = str(base / "shape.npz")
    np.savez(paths["wrong_shape_npz"], header=np.array(json.dumps(header)), train_logits=np.zeros((300, 2), np.float16))
    paths["run"], paths["model"] = run, model
    return paths


CASES = [
    (["evaluate", "{truncated_weights}"], "cannot read the weights"),
    (["predict", "{truncated_weights}", "a fine film"], "cannot read the weights"),
    (["convert", "{truncated_weights}"], "cannot read the weights"),
    (["evaluate", "{config_types}"], "epochs must be int"),
    (["evaluate", "{config_range}"], "dropout must be in [0, 1)"),
    (["evaluate", "{config_negative}"], "hidden must be positive"),
    (["evaluate", "{other_vocab}"], "not this run's vocabulary"),
    (["evaluate", "{shuffled_vocab}"], "not this run's vocabulary"),
    (["convert", "{run}", "--calibration-size", "0"], "--calibration-size must be at least 1"),
    (["convert", "{run}", "--c-array", "{model}"], "is a file, not a folder"),
    (["evaluate-tflite", "{truncated_tflite}", "--runtime", "tflm"], "damaged or truncated model"),
    (["evaluate-tflite", "{truncated_tflite}"], "damaged or truncated model"),
    (["evaluate-tflite", "{changed_tflite}"], "does not match its manifest"),
    (["evaluate-tflite", "{bad_manifest}"], "unreadable manifest"),
    (["evaluate-tflite", "{foreign_vocab}"], "wrong vocab.json for this model"),
    (["firmware", "{changed_tflite}"], "does not match its manifest"),
    (["fit", "--limit", "600", "--distill", "--teacher-logits", "{truncated_npz}"], "truncated"),
    (["fit", "--limit", "600", "--distill", "--teacher-logits", "{empty_npz}"], "truncated"),
    (["fit", "--limit", "600", "--distill", "--teacher-logits", "{wrong_shape_npz}"], "expected [600, classes]"),
    (["fit", "--lr", "nan"], "lr must be a finite number"),
    (["teacher", "logits", "--teacher", "{run}", "--out", "{tmp}/t.npz"], "a tfdistil student run, not a teacher"),
    (["teacher", "logits", "--teacher", "{run}", "--out", "{tmp}/t.txt"], "must end in .npz"),
]


@pytest.mark.parametrize("args,needle", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_damaged_artifact_is_one_line_exit_2(args, needle, damaged, data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = [a.format(tmp=tmp_path, **damaged) for a in args]
    if argv[0] in ("evaluate", "fit", "convert", "evaluate-tflite", "firmware") and "--data" not in argv:
        argv += ["--data", data_dir]
    result = invoke(*argv)
    assert_user_error(result, needle)
    assert not os.path.exists(tmp_path / "t.npz") and not list(tmp_path.glob("*.partial"))


def test_undamaged_copies_still_work(damaged, data_dir):
    """The checks refuse only damage: the run and its flatbuffer as written pass them."""
    result = invoke("evaluate", damaged["run"], "--data", data_dir, "--split", "dev")
    assert result.exit_code == 0, result.output + result.stderr
    result = invoke("evaluate-tflite", damaged["model"], "--data", data_dir, "--limit", "20")
    assert result.exit_code == 0, result.output + result.stderr


def test_a_hub_name_offline_fails_in_seconds(tmp_path, monkeypatch):
    """No network here: a hub name must not retry for minutes; it names the offline alternative."""
    import time
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    start = time.time()
    result = invoke("teacher", "fit", "--model", "bert-base-uncased", "--out", str(tmp_path / "t"))
    assert_user_error(result, "cannot reach the model hub", "--model minilm")
    assert time.time() - start < 10
    assert not (tmp_path / "t").exists()


def test_int8_conversion_that_kept_float_weights_is_refused(tiny_run, tmp_path):
    """The converter writes a float32 model when it has nothing to calibrate with; never call it int8."""
    from tfdistil.edge.convert.export import assert_integer_only, convert
    from tfdistil.errors import UserError
    float_model = convert(tiny_run["cnn"], "float32", out=str(tmp_path / "f.tflite"))
    with pytest.raises(UserError, match="left float32 weights"):
        assert_integer_only(open(float_model["path"], "rb").read())


CLASSIFY_CASES = [
    (["--vocab", "{tmp}/nope.json", "good"], "vocabulary file not found"),
    (["--vocab", "{tmp}/bad.json", "good"], "not a tfdistil vocab.json"),
    (["--vocab", "{big_vocab}", "good"], "words but the model's embedding has"),
    (["--vocab", "{vocab}", "--tsv", "{tmp}/labels.tsv"], "labels.tsv:3: label 'positive' is not 0 or 1"),
    (["--vocab", "{vocab}", "--tsv", "{tmp}/nope.tsv"], "file not found"),
    (["good"], "required: --vocab"),
    (["--vocab", "{vocab}", "--threads", "two", "good"], "invalid int value"),
]


@pytest.mark.parametrize("args,needle", CLASSIFY_CASES, ids=[" ".join(a) for a, _ in CLASSIFY_CASES])
def test_pi_runner_errors_are_one_line_exit_2(args, needle, damaged, tmp_path):
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "labels.tsv").write_text("sentence\tlabel\na good film\t1\na bad film\tpositive\n")
    vocab = os.path.join(os.path.dirname(damaged["model"]), "vocab.json")
    big_vocab = os.path.join(ROOT, "results", "models", "cnn-distill", "vocab.json")
    argv = [a.format(tmp=tmp_path, vocab=vocab, big_vocab=big_vocab) for a in args]
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tflite", "classify.py"), damaged["model"], *argv],
                          capture_output=True, text=True)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    err = proc.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and needle in err, err
