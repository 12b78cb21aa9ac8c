"""Slices: named regexes over the raw text, per-slice scores beside the teacher's, in both evaluate commands."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, run_cli
from studies import study_module
from tfdistil.data.splits import load_split
from tfdistil.errors import UserError
from tfdistil.slices import (DEFAULT_SLICES, compile_slices, evaluate_slices, load_slices, markdown, slice_masks,
                             slice_report, teacher_predictions)

COMMITTED = os.path.join(ROOT, "results", "models", "mcu-attn-e20h32a16-v8800-sw", "bilstm_attn_int8_L64.tflite")


def test_default_slices_match_whole_words_of_raw_and_ptb_text():
    slices = load_slices(None)
    texts = ["It doesn't work.", "it does n't work", "NOT bad", "But it is fine", "a button and a yeti",
             "nothingness itself", "fine , though slow", "fun ; however , long", "Not good, but fun", "plain text",
             "it doesn\u2019t"]
    m = slice_masks(texts, slices)
    assert m["negation"].tolist() == [1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 1]
    assert m["contrast"].tolist() == [0, 0, 0, 1, 0, 0, 1, 1, 1, 0, 0]
    # a row in both slices counts in each; plain = in no named slice; all = every row
    assert m["plain"].tolist() == [0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0] and m["all"].all()
    assert set(DEFAULT_SLICES) == {"negation", "contrast"}


def test_slice_scores_and_teacher_gap_by_hand():
    slices = compile_slices({"neg": "not", "contrast": "but"})
    texts = ["not good", "not bad but fine", "good", "bad", "fine but dull"]
    labels = [0, 1, 1, 0, 0]
    student = [0, 0, 1, 1, 0]
    teacher = [0, 1, 1, 0, 1]
    rows = {r["slice"]: r for r in slice_report(texts, labels, student, ["0", "1"], slices, teacher)}
    assert [r for r in rows] == ["all", "neg", "contrast", "plain"]
    assert rows["neg"]["n"] == 2 and rows["neg"]["accuracy"] == 0.5 and rows["neg"]["teacher_accuracy"] == 1.0
    assert rows["neg"]["gap"] == pytest.approx(0.5)
    assert rows["contrast"]["n"] == 2 and rows["contrast"]["accuracy"] == 0.5 and rows["contrast"]["gap"] == 0.0
    assert rows["plain"]["n"] == 2 and rows["plain"]["accuracy"] == 0.5 and rows["all"]["accuracy"] == 0.6
    # macro-F1 on a slice: neg holds one row of each class, the student gets class 0 only -> F1 (2/3 + 0) / 2
    assert rows["neg"]["macro_f1"] == pytest.approx(1 / 3, abs=1e-6)
    empty = slice_report(texts, labels, student, ["0", "1"], compile_slices({"x": "zzz"}))
    assert empty[1] == {"slice": "x", "n": 0, "accuracy": None, "macro_f1": None}
    assert "| x | 0 | – | – |" in markdown({"rows": empty})


def test_shipped_teacher_reproduces_the_issue_table(data_dir):
    """Issue 34's teacher row: MPNet 93.96 / negation 94.68 / contrast 92.58 / plain 94.28 on SST-2 test."""
    test = load_split(data_dir, "test")
    pred, info = teacher_predictions(test)
    assert info["path"] == "tfdistil/assets/sst2_mpnet_logits.npz"
    got = {r["slice"]: (r["n"], round(100 * r["accuracy"], 2))
           for r in evaluate_slices(test, pred, test.label_names)["rows"]}
    assert got == {"all": (1821, 93.96), "negation": (357, 94.68), "contrast": (337, 92.58), "plain": (1241, 94.28)}
    # the first N rows (--limit N) still find their teacher rows; other data finds none
    first, info = teacher_predictions(load_split(data_dir, "test", 100))
    assert first.tolist() == pred[:100].tolist()
    dev = load_split(data_dir, "dev")
    other = dev.__class__("test", dev.sentences, dev.labels, dev.sha256, dev.label_names)
    assert teacher_predictions(other)[0] is None
    with pytest.raises(UserError, match="stale teacher logits"):  # an explicit cache must match
        teacher_predictions(other, os.path.join(ROOT, "tfdistil", "assets", "sst2_mpnet_logits.npz"))


@pytest.mark.parametrize("name,text,needle", [
    ("missing.json", None, "file not found"),
    ("bad.json", "{negation: not}", "not valid JSON"),
    ("bad.toml", "negation = not", "not valid TOML"),
    ("regex.json", json.dumps({"neg": "(not"}), "bad regular expression"),
    ("empty.json", "{}", "no slices"),
    ("list.json", json.dumps(["not"]), "no slices"),
    ("blank.toml", 'neg = ""', "non-empty regular expression"),
    ("reserved.json", json.dumps({"plain": "x"}), "reserved"),
])
def test_bad_slices_file_is_a_user_error(tmp_path, name, text, needle):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(UserError, match=needle):
        load_slices(str(path))


CLI_ERRORS = """
import json, sys
from click.testing import CliRunner
from tfdistil.cli import main
out = []
for argv in json.loads(sys.argv[1]):
    r = CliRunner().invoke(main, argv)
    out.append([r.exit_code, r.stderr])
print(json.dumps({"results": out, "tensorflow": "tensorflow" in sys.modules}))
"""


def test_cli_bad_slices_one_line_exit_2_before_tensorflow(tmp_path):
    (tmp_path / "bad.json").write_text('{"neg": "[not"}')
    (tmp_path / "bad.toml").write_text("neg = [")
    (tmp_path / "empty.toml").write_text("")
    argvs = []
    for cmd in (["evaluate", "runs/none"], ["evaluate-tflite", "none.tflite"]):
        for f in ("bad.json", "bad.toml", "empty.toml", "missing.json"):
            argvs.append(cmd + ["--slices", str(tmp_path / f)])
    argvs.append(["evaluate-tflite", "none.tflite", "--teacher-logits", str(tmp_path / "bad.json")])
    proc = subprocess.run([sys.executable, "-c", CLI_ERRORS, json.dumps(argvs)], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not got["tensorflow"]
    for argv, (code, err) in zip(argvs, got["results"]):
        err = err.strip()
        assert code == 2 and err.startswith("error: ") and "\n" not in err, (argv, code, err)
        assert ("not a tfdistil teacher-logits cache" if "--teacher-logits" in argv else "--slices") in err, err


def test_evaluate_tflite_slices_in_library_and_cli(tmp_path, data_dir):
    """A committed int8 model on the first 300 test rows: the slice rows are what its own predictions give."""
    from tfdistil.edge.host.evaluate import evaluate_tflite
    custom = tmp_path / "slices.toml"
    custom.write_text('negation = "not|[a-z]*n\'t"\nsuperlative = "best|worst"\n')
    r = evaluate_tflite(COMMITTED, data_dir, "test", limit=300, warmup=0, keep_logits=True, slices=str(custom))
    split = load_split(data_dir, "test", 300)
    pred = r["logits"].argmax(-1)
    rows = {x["slice"]: x for x in r["slices"]["rows"]}
    assert list(rows) == ["all", "negation", "superlative", "plain"]
    assert rows["all"]["accuracy"] == pytest.approx(r["accuracy"]) and rows["all"]["n"] == 300
    sup = np.array(["best" in s.split() or "worst" in s.split() for s in split.sentences])
    assert rows["superlative"]["n"] == sup.sum() > 0
    assert rows["superlative"]["accuracy"] == pytest.approx(np.mean(pred[sup] == split.labels[sup]))
    assert r["slices"]["teacher"]["path"].endswith("sst2_mpnet_logits.npz") and "gap" in rows["negation"]
    # the CLI: the table on stderr, the same rows in --json
    proc = run_cli("evaluate-tflite", COMMITTED, "--data", data_dir, "--limit", "300", "--slices", str(custom), "--json")
    cli = json.loads(proc.stdout.strip().splitlines()[-1])
    assert cli["slices"]["rows"] == r["slices"]["rows"] and "| superlative |" in proc.stderr


def test_evaluate_keras_run_has_slices(tmp_path, data_dir):
    """`tfdistil evaluate` on a real (tiny) run folder: per-slice scores with the explicit teacher cache."""
    from tfdistil.config import Config
    from tfdistil.training.fit import evaluate, fit
    run = str(tmp_path / "cnn")
    fit(Config(student="cnn", embed_dim=8, filters=8, hidden=8, epochs=1, train_limit=300, seed=1), data_dir, run,
        log=lambda m: None)
    cache = os.path.join(ROOT, "tfdistil", "assets", "sst2_minilm_logits.npz")
    r = evaluate(run, data_dir, "dev", slices={"neg": "not|n't"}, teacher_logits=cache)
    rows = {x["slice"]: x for x in r["slices"]["rows"]}
    assert list(rows) == ["all", "neg", "plain"] and rows["neg"]["n"] + rows["plain"]["n"] == r["n"] == 872
    assert rows["all"]["accuracy"] == pytest.approx(r["accuracy"])
    assert rows["all"]["teacher_accuracy"] == pytest.approx(0.8899, abs=1e-4)  # MiniLM's dev accuracy
    assert r["slices"]["teacher"]["path"] == cache


def test_slice_table_script_writes_md_and_json(tmp_path, data_dir):
    """experiments/slices/slice_table.py on one committed model: both teachers, the model, the command it was run with."""
    slice_table = study_module("slices", "slice_table")
    out = str(tmp_path / "slices")
    slice_table.main(["--models", os.path.join(ROOT, "results", "models", "cnn-distill"), "--data", data_dir,
                      "--out", out])
    table = json.loads(open(out + ".json").read())
    assert table["command"] == "python experiments/slices/slice_table.py" and table["slices"] == DEFAULT_SLICES
    names = [m["name"] for m in table["models"]]
    assert names == ["teacher MPNet-base", "teacher MiniLM-L6", "cnn-distill"]
    cnn = table["models"][2]
    recorded = json.load(open(os.path.join(ROOT, "results", "results.json")))
    same = [r for r in recorded if r.get("tflite_int8") == cnn["model"]]
    assert same and cnn["accuracy"] == pytest.approx(same[0]["tflite_int8_litert_test_accuracy"])
    assert cnn["kernels"] == "builtin" and "| cnn-distill | 1,024,296 |" in open(out + ".md").read()
