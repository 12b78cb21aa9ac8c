"""experiments/fortunes/make_fortunes_task.py: a reproducible multi-class task from Debian's `fortunes` package."""
import csv
import json
import os
import subprocess
import sys

from conftest import ROOT
from tfdistil.data.readers import load_task

SOURCE = "/usr/share/games/fortunes"


def _make(out, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "fortunes", "make_fortunes_task.py"),
                           "--out", str(out), *args], capture_output=True, text=True)


def test_fortunes_task_is_reproducible_and_readable(tmp_path):
    # No skip: CI installs the package (apt-get install fortunes); without it this must fail.
    assert os.path.isdir(SOURCE), f"{SOURCE} missing: apt-get install fortunes"
    runs = [tmp_path / "a", tmp_path / "b"]
    for out in runs:
        proc = _make(out)
        assert proc.returncode == 0, proc.stderr
    for name in ("train.csv", "dev.csv", "test.csv", "unlabelled.txt"):
        assert (runs[0] / name).read_bytes() == (runs[1] / name).read_bytes(), name
    assert sorted(os.listdir(runs[0])) == ["dev.csv", "task.json", "test.csv", "train.csv", "unlabelled.txt"]  # no temp files

    info = json.loads((runs[0] / "task.json").read_text())
    topics = info["topics"]
    assert len(topics) >= 6 and all(info["counts"]["total"][t] >= 140 for t in topics), info["counts"]["total"]
    texts = {}
    for part in ("train", "dev", "test"):
        with open(runs[0] / f"{part}.csv", encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        texts[part] = [r["text"] for r in rows]
        assert {r["label"] for r in rows} == set(topics), part  # every split holds every topic
        for t in topics:
            assert sum(r["label"] == t for r in rows) == info["counts"][part][t]
    every = texts["train"] + texts["dev"] + texts["test"]
    assert len(every) == len(set(every)) == sum(info["counts"]["total"].values())  # no duplicates anywhere
    # the unlabelled pile (other fortune files, for `distil --unlabelled`) holds no task text
    unlabelled = (runs[0] / "unlabelled.txt").read_text(encoding="utf-8").splitlines()
    assert len(unlabelled) == info["unlabelled"]["texts"] > 1000 and not set(unlabelled) & set(every)
    assert all(0 < len(t) <= 600 and t == " ".join(t.split()) for t in every)

    task = load_task(str(runs[0] / "train.csv"), str(runs[0] / "dev.csv"), str(runs[0] / "test.csv"))
    assert task.label_names == tuple(sorted(topics))
    assert [len(task.splits[p]) for p in ("train", "dev", "test")] == [len(texts[p]) for p in ("train", "dev", "test")]
    assert task.notes == []

    other = _make(tmp_path / "c", "--seed", "1")
    assert other.returncode == 0 and (tmp_path / "c" / "train.csv").read_bytes() != (runs[0] / "train.csv").read_bytes()


def test_missing_fortunes_folder_is_one_line(tmp_path):
    proc = _make(tmp_path / "out", "--source", str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "fortunes folder not found (apt-get install fortunes)" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_wordnet_text_reads_glosses_and_examples_and_refuses_an_existing_out(tmp_path):
    """experiments/fortunes/wordnet_text.py (the levers' text with no task in it): one synset line gives
    'lemmas: definition' and its quoted examples, the licence header gives nothing; an existing --out
    or a missing WordNet is one line, exit 2."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("wordnet_text", os.path.join(ROOT, "experiments", "fortunes", "wordnet_text.py"))
    W = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(W)
    line = ('09968845 18 n 02 senator 0 legislator(a) 0 001 @ 10253995 n 0000 | a member of a senate; '
            '"the senator voted against the bill"; "yes"  \n')
    assert W.synset_texts(line) == ["senator, legislator: a member of a senate", "the senator voted against the bill"]
    assert W.synset_texts("  1 This software and database is being provided\n") == []
    folder = tmp_path / "dict"
    folder.mkdir()
    for part in W.PARTS:
        (folder / f"data.{part}").write_text("  licence line\n" + (line if part == "noun" else ""))
    out = tmp_path / "wn.txt"
    run = lambda: subprocess.run([sys.executable, spec.origin, "--out", str(out), "--source", str(folder)],  # noqa: E731
                                 capture_output=True, text=True)
    assert run().returncode == 0 and sorted(out.read_text().splitlines()) == sorted(W.synset_texts(line))
    again = run()
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1 and "exists" in again.stderr
    missing = subprocess.run([sys.executable, spec.origin, "--out", str(tmp_path / "x.txt"), "--source", str(tmp_path / "no")],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "wordnet-base" in missing.stderr and not (tmp_path / "x.txt").exists()
