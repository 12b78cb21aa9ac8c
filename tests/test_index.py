"""results/index.json: every committed model, nothing more, and figures that agree with the model's own files.
Reads JSON only (fast). The committed index must equal what tfdistil.report.index builds from the
committed files, so a new model or a changed figure fails here until the index is rebuilt."""
import copy
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT
from tfdistil.report.index import BUILT_BY, build, model_folders, validate


@pytest.fixture(scope="module")
def committed():
    with open(os.path.join(ROOT, "results", "index.json"), encoding="utf-8") as f:
        return json.load(f)


def test_the_committed_index_is_complete_and_agrees(committed):
    assert validate(committed) == []
    assert len(committed["models"]) == len(model_folders()) == 17


def test_the_committed_index_is_what_the_files_say(committed):
    assert committed == build(), f"results/index.json is stale: rebuild with {BUILT_BY}"


def test_every_entry_states_its_facts_or_why_not(committed):
    for m in committed["models"]:
        assert isinstance(m["test_in_view"], bool) and m["test_in_view_why"], m["name"]
        assert m["int8_test_accuracy"]["litert"]["accuracy"] and m["int8_test_accuracy"]["tflm"]["accuracy"], m["name"]
        assert m["commands"], (m["name"], m["commands_source"])
        assert m["seed"] is not None and m["dev_accuracy"] and m["test_accuracy"], m["name"]
        if m["run"] is None or m["chosen_by"] is None:
            assert any(n.startswith(("run folder", "chosen_by")) for n in m["notes"]), m["name"]
    in_view = {m["name"] for m in committed["models"] if m["test_in_view"]}
    assert {"mcu-attn-e20h32a16-v8800-sw", "paper-attn-mpnet-sw", "paper-attn-mpnet-ti"} <= in_view


def test_a_missing_model_is_named(committed):
    index = copy.deepcopy(committed)
    gone = index["models"].pop(3)["name"]
    assert validate(index) == [f"{gone}: committed model missing from the index"]


def test_a_model_that_does_not_exist_is_named(committed):
    index = copy.deepcopy(committed)
    ghost = dict(index["models"][0], name="no-such-model")
    index["models"].append(ghost)
    assert validate(index) == ["no-such-model: in the index but results/models/no-such-model/ holds no model"]


def test_a_figure_that_disagrees_with_the_eval_json_is_named(committed):
    index = copy.deepcopy(committed)
    m = next(m for m in index["models"] if m["name"] == "mcu-attn-e20h32a16-v8800-sw")
    m["int8_test_accuracy"]["tflm"]["accuracy"] = 0.9
    m["test_accuracy"] = 0.95
    problems = validate(index)
    assert len(problems) == 2
    assert "tflm accuracy 0.9 but results/models/mcu-attn-e20h32a16-v8800-sw/eval_int8_tflm_test.json records " \
           "0.8912685337726524" in problems[0]
    assert "test_accuracy 0.95 but source.json records 0.8912685337726524" in problems[1]


def test_a_new_committed_model_fails_until_indexed(committed, tmp_path):
    """A copy of the tree with one more model folder: validate names it; a rebuilt index lists it, and still
    fails until someone states whether test was in view when it was chosen (TEST_IN_VIEW)."""
    tree = tmp_path / "repo"
    shutil.copytree(os.path.join(ROOT, "results"), tree / "results",
                    ignore=shutil.ignore_patterns("logs", "firmware", "*.png", "distil"))
    shutil.copytree(tree / "results" / "models" / "cnn-distill", tree / "results" / "models" / "cnn-extra")
    assert validate(committed, str(tree)) == ["cnn-extra: committed model missing from the index"]
    assert validate(build(str(tree)), str(tree)) == ["cnn-extra: whether test was in view is not stated"]


def test_check_command_exits_1_naming_a_stale_index(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tfdistil.report.index", "--check"], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stdout
    bad = subprocess.run([sys.executable, "-m", "tfdistil.report.index", "--bogus"], capture_output=True, text=True,
                         cwd=ROOT)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_report_reads_the_index(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tfdistil", "report", "--index", "results/index.json"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    rows = [l for l in proc.stdout.splitlines()[2:] if l.startswith("| ")]
    assert sorted(r.split(" | ")[0][2:] for r in rows) == model_folders()
    assert "| mcu-attn-e20h32a16-v8800-sw | 0 | 86.93 | 89.13 | 89.07 | 89.13 |" in proc.stdout
    stale = tmp_path / "results"
    shutil.copytree(os.path.join(ROOT, "results", "models", "cnn-distill"), stale / "models" / "cnn-distill")
    shutil.copy(os.path.join(ROOT, "results", "index.json"), stale / "index.json")
    for argv, says in ((["--index", str(stale / "index.json")], "problem(s), first: "),
                       (["--index", str(tmp_path / "nope.json")], "index not found"),
                       (["runs", "--index", "results/index.json"], "give no RUNS_DIR")):
        bad = subprocess.run([sys.executable, "-m", "tfdistil", "report", *argv], capture_output=True, text=True,
                             cwd=ROOT)
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and says in bad.stderr, bad.stderr
