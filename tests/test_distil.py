"""`tfdistil distil` end to end on a tiny task: every stage, resume after SIGKILLs, the bundles,
the selection protocol, and bad input (one line, exit 2, before TensorFlow, nothing written).

Real parts only: a tiny TFBertForSequenceClassification fine-tuned by the command, Keras Tuner
trials, Keras students, int8 conversion, LiteRT and TFLM, the firmware on the emulated
Cortex-M4, and tflite/classify.py under tflite-runtime 2.14 for the Pi target.
"""
import hashlib
import json
import re
import os
import shutil
import random
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, run_cli


def _csv(path, rows):
    import csv
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)
    return str(path)


@pytest.fixture(scope="module")
def tiny_task(tmp_path_factory, data_dir):
    """360 SST-2 train rows as a 'neg'/'pos' CSV; its test file: 80 dev rows and, as users' files often
    have, 4 rows copied from train (string labels)."""
    d = tmp_path_factory.mktemp("task")
    names = {"0": "neg", "1": "pos"}

    def rows(split, start, n):
        with open(os.path.join(data_dir, f"{split}.tsv"), encoding="utf-8") as f:
            lines = f.read().splitlines()[1 + start:1 + start + n]
        return [(s, names[y]) for s, y in (line.rsplit("\t", 1) for line in lines)]
    return {"train": _csv(d / "train.csv", rows("train", 0, 360)), "test": _csv(d / "test.csv", rows("dev", 0, 80) + rows("train", 100, 4))}


def tiny_args(task, teacher, out, target="cortex-m4", seeds=2):
    args = ["distil", "--train", task["train"], "--test", task["test"], "--teacher", teacher, "--teacher-epochs", "1",
            "--augment-factor", "1", "--students", "cnn", "--trials", "1", "--trial-epochs", "1", "--epochs", "2",
            "--seeds", str(seeds), "--embed-init", "off", "--max-len", "32", "--board-limit", "4", "--target", target,
            "--out", str(out), "--json"]
    return args + (["--flash", "256KB"] if target != "pi" else [])


def report(out):
    with open(os.path.join(out, "report.json"), encoding="utf-8") as f:
        return json.load(f)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture(scope="module")
def uninterrupted(tiny_task, tiny_bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("distil") / "m4"
    t0 = time.time()
    run_cli(*tiny_args(tiny_task, tiny_bert, out))
    return str(out), time.time() - t0


def test_every_stage_runs_and_the_report_follows_the_protocol(uninterrupted):
    out, _ = uninterrupted
    r = report(out)
    stages = sorted(os.listdir(os.path.join(out, "stages")))
    # the grow levers, weighed on selection: "-vocab" (the largest vocabulary cap that fits --flash, any
    # embedding width), then "-grown" (the widest embedding x hidden on its own vocabulary); a few hundred
    # rows leave 256 KB room for one of them unless the tuner's student is at its largest already
    cands = {c["name"]: c for c in r["candidates"]}
    base = cands["cnn"]["config"]
    grown = [n for n in cands if n.endswith(("-vocab", "-grown"))]
    if (base["hidden"], base["embed_dim"]) != (64, 64):
        assert grown
    text = open(os.path.join(out, "report.md"), encoding="utf-8").read()
    for name in grown:
        g, parent = cands[name], cands[name.rsplit("-", 1)[0]]
        assert g["flash_bytes"] <= 256 * 1024 and g["fits"] and g["config"]["hidden"] >= parent["config"]["hidden"]
        if name.endswith("-vocab"):
            assert g["vocab_rows"] > parent["vocab_rows"]  # rows as the run built them
        else:
            assert g["vocab_rows"] == parent["vocab_rows"] and g["config"]["embed_dim"] >= parent["config"]["embed_dim"]
        shape = f"{g['vocab_rows']:,} × {g['config']['embed_dim']}, h{g['config']['hidden']}"
        assert f"| {name} | cnn | {shape} |" in text.replace(" **chosen**", "")
    assert stages == sorted(["splits.json", "teacher.json", "logits.json", "transfer.json", "search-cnn.json",
                             "candidate-cnn.json", "seed-1.json", "selection-slices.json", "checks.json",
                             "test.json", "bundle.json"]
                            + [f"candidate-{n}.json" for n in cands if n.endswith(("-grown", "-vocab"))])
    # every candidate and seed by slice of the selection split, beside the teacher; 'all' is its selection score
    scored = {(m["name"], m["seed"]): {x["slice"]: x for x in m["rows"]} for m in r["selection_slices"]["models"]}
    assert set(scored) == {(c["name"], 0) for c in r["candidates"]} | {(s["name"], s["seed"]) for s in r["seeds"]}
    for c in r["candidates"]:
        assert scored[(c["name"], 0)]["all"]["accuracy"] == pytest.approx(c["selection"]["accuracy"])
        assert os.path.isfile(os.path.join(c["run"], "selection_labels.npy"))  # kept, not recomputed
        assert scored[(c["name"], 0)]["all"]["n"] == r["selection_rows"]
    # 360 rows of SST-2's train are hardly phrases of each other: auto holds out rows, and says how much train saw
    assert r["selection_split"] == "rows" and 0 <= r["selection_seen_in_train"] < 0.5
    assert "Selection texts that train still contains" in open(os.path.join(out, "report.md"), encoding="utf-8").read()
    # choices on the selection split: the chosen seed is the best one there
    best = max(r["seeds"], key=lambda s: (s["selection"]["accuracy"], -s["seed"]))
    assert r["chosen"]["seed"] == best["seed"] and r["metric"] == "accuracy"
    # test read once, for the chosen recipe's seeds, recorded
    assert r["test"]["read"] and r["test"]["rows"] == 84 and len(r["test"]["seeds"]) == 2
    with open(os.path.join(out, "test_read.json"), encoding="utf-8") as f:
        read = json.load(f)
    assert read["purpose"] == "the chosen recipe's seeds"
    # the teacher's lead with a paired bootstrap interval: the point value is the teacher minus the recipe mean
    gap = read["gap"]
    lead = 100 * (read["teacher"]["accuracy"] - read["accuracy"]["mean"])
    assert gap["metric"] == "accuracy" and abs(gap["value"] - lead) < 1e-3 and gap["draws"] == 2000
    assert gap["ci95"][0] <= gap["value"] <= gap["ci95"][1] and gap["ci95"][1] - gap["ci95"][0] > 1  # 84 rows: wide
    # the 4 test rows copied from train are counted (as train, or as the dev carved from it), and the recipe
    # and teacher are scored on the other 80
    seen = read["seen_before"]
    assert seen["any"] == 4 and seen["train"] + seen["dev"] >= 4 and seen["unlabelled"] == 0
    unseen = read["unseen"]
    assert unseen["rows"] == 80 and unseen["accuracy"]["n"] == 2 and 0 <= unseen["teacher"]["accuracy"] <= 1
    # no training stage got the test file: the runs' data has no test, and no run recorded a test score
    for run in os.listdir(os.path.join(out, "runs")):
        with open(os.path.join(out, "runs", run, "metrics.json"), encoding="utf-8") as f:
            assert "test_accuracy" not in json.load(f)
    # the selection rows are not in the rows anything trained on
    data = os.path.join(out, "data")
    texts = lambda name: {json.loads(line)["text"] for line in open(os.path.join(data, name), encoding="utf-8")}  # noqa
    assert not texts("selection.jsonl") & texts("train.jsonl")
    # the board ran the chosen model and agreed with host TFLM
    b = r["checks"]["board"]
    assert b["n"] == 4 and b["labels_identical"] == 4 and b["flash_bytes"] > r["chosen"]["flash_bytes"]
    assert r["chosen"]["flash_bytes"] <= 256 * 1024
    kit = os.path.join(out, "bundle", "kit")
    assert {"model_data.cpp", "model_settings.h", "tokenizer.c", "vocab_data.c", "kit.json"} <= set(os.listdir(kit))
    text = open(os.path.join(out, "report.md"), encoding="utf-8").read()
    assert "Test (read once)" in text and 'target = "cortex-m4"' in text
    assert f"The teacher's lead in accuracy: {gap['value']:.2f} points (95 % paired bootstrap" in text
    with open(os.path.join(out, "candidates.png"), "rb") as f:  # the picture the report shows
        assert f.read(8) == b"\x89PNG\r\n\x1a\n" and "](candidates.png)" in text
    # the same read, by slice, beside the teacher: 'all' is the overall figure, plain is in no named slice
    rows = {s["slice"]: s for s in r["test"]["slices"]["rows"]}
    assert list(rows) == ["all", "negation", "contrast", "plain"] and rows["all"]["n"] == 84
    assert rows["all"]["accuracy"]["mean"] == pytest.approx(r["test"]["accuracy"]["mean"])
    assert rows["all"]["teacher_accuracy"] == pytest.approx(r["test"]["teacher"]["accuracy"])
    assert rows["all"]["chosen_accuracy"] == pytest.approx(r["test"]["chosen"]["accuracy"])
    assert 0 < rows["negation"]["n"] < 84 and rows["plain"]["n"] < 84 - rows["negation"]["n"] + 1
    assert "**4 of 84 test texts occur word for word in the run's other files** (train " in text
    assert f"On the other 80: recipe accuracy {100 * unseen['accuracy']['mean']:.2f} ±" in text
    assert rows["negation"]["gap"]["mean"] == pytest.approx(
        rows["negation"]["teacher_accuracy"] - rows["negation"]["accuracy"]["mean"])
    assert f"| negation | {rows['negation']['n']:,} |" in text
    se = r["selection_standard_error"]  # binomial, at the chosen model's selection accuracy
    p, n = r["chosen"]["selection"]["accuracy"], r["selection_rows"]
    assert abs(se - (p * (1 - p) / n) ** 0.5) < 1e-4 and f"standard error of about ±{100 * se:.1f} points" in text


def test_the_grown_lever_grows_the_vocabulary_first_and_knows_its_bytes(uninterrupted):
    """grown_config on the finished run's best candidate: each vocabulary cap it weighs is built from
    train as the student's run builds it (the candidate's own cap gives the rows its run has); under a
    flash budget that holds the whole vocabulary only at a narrower embedding, the vocabulary lever
    takes the rows and narrows, and the widths lever keeps the rows and widens."""
    from tfdistil.data.vocab import Vocab
    from tfdistil.distil import grow as G
    from tfdistil.distil.steps import VOCAB_LAYOUT
    from tfdistil.distil.options import DistilOptions
    from tfdistil.distil.run import Context
    from tfdistil.edge.mcu.c_vocab import c_vocabulary_layout
    from tfdistil.search.space import estimate_int8_bytes
    from tfdistil.config import Config
    out, _ = uninterrupted
    best = dict(next(c for c in report(out)["candidates"] if c["name"] == "cnn"))
    o = DistilOptions(out=out, target="cortex-m4", flash=256 * 1024)  # only what grown_config reads
    c = Context(o, print)
    run_vocab = Vocab.load(os.path.join(best["run"], "vocab.json"))
    small = {**best["config"], "max_vocab": 100, "embed_dim": 32, "hidden": 16}
    vocabs = G._vocab_sizes(o, c, small)
    assert vocabs[100] == (100, c_vocabulary_layout(Vocab(run_vocab.itos[2:100], 32), VOCAB_LAYOUT)["flash_bytes"])
    assert G._vocab_sizes(o, c, small, larger=False) == {100: vocabs[100]}
    own = G._vocab_sizes(o, c, best["config"])[best["config"]["max_vocab"]]
    assert own == (len(run_vocab), c_vocabulary_layout(run_vocab, VOCAB_LAYOUT)["flash_bytes"])
    assert len(vocabs) >= 2 and max(r for r, _ in vocabs.values()) > 100  # the train rows hold more pieces
    size = lambda cfg: estimate_int8_bytes(Config.from_dict({**cfg, "vocab_size": vocabs[cfg["max_vocab"]][0]})) \
        + vocabs[cfg["max_vocab"]][1]  # noqa: E731
    biggest = max(vocabs, key=lambda v: vocabs[v][0])
    # a budget with room for the biggest vocabulary at embedding 16, not at the candidate's own 32
    measured = size(small) + 1000
    room = size({**small, "max_vocab": biggest, "embed_dim": 16}) - size(small) + 500
    assert size({**small, "max_vocab": biggest}) - size(small) > room
    o.flash = int((measured + room) / 0.98) + 1
    grown = G.grown_config(o, c, {"config": small, "flash_bytes": measured}, vocabulary=True)
    assert grown["max_vocab"] == biggest and grown["embed_dim"] == 16  # rows paid for with a narrower embedding
    assert size(grown) - size(small) <= room
    wide = G.grown_config(o, c, {"config": small, "flash_bytes": measured}, vocabulary=False)
    assert wide["max_vocab"] == 100 and wide["embed_dim"] >= 32 and wide["hidden"] >= 16 and wide != small
    o.flash = int(measured / 0.98) + 1  # no room at all: nothing to grow
    for vocabulary in (True, False):
        assert G.grown_config(o, c, {"config": small, "flash_bytes": measured}, vocabulary=vocabulary) is None


def test_a_finished_run_resumes_from_cache_and_refuses_a_second_test_read(uninterrupted, tiny_task, tiny_bert):
    out, _ = uninterrupted
    again = run_cli(*tiny_args(tiny_task, tiny_bert, out))
    assert again.stderr.count("done before (cached)") == len(os.listdir(os.path.join(out, "stages")))
    # a changed choice would need test again: refused at once (before anything trains), one line, exit 2
    stages = sorted(os.listdir(os.path.join(out, "stages")))
    changed = run_cli(*tiny_args(tiny_task, tiny_bert, out, seeds=3), check=False)
    line = changed.stderr.strip().splitlines()[-1]
    assert changed.returncode == 2 and "test was already read once" in line and "--seeds changed" in line
    assert len(changed.stderr.strip().splitlines()) == 1 and sorted(os.listdir(os.path.join(out, "stages"))) == stages


def test_sigkill_at_three_random_moments_then_the_same_chosen_model(uninterrupted, tiny_task, tiny_bert, tmp_path):
    ref, seconds = uninterrupted
    out = tmp_path / "killed"
    rng = random.Random(int(os.environ.get("TFDISTIL_KILL_SEED", time.time())))
    moments = sorted(rng.uniform(3, max(seconds * 0.9, 10)) for _ in range(3))
    cmd = [sys.executable, "-m", "tfdistil", *tiny_args(tiny_task, tiny_bert, out)]
    for at in moments:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            proc.wait(timeout=at)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the command and any QEMU/compiler it started
            proc.wait()
    run_cli(*tiny_args(tiny_task, tiny_bert, out))
    a, b = report(ref), report(out)
    why = f"killed at {[round(m, 1) for m in moments]} s"
    assert (a["chosen"]["name"], a["chosen"]["seed"]) == (b["chosen"]["name"], b["chosen"]["seed"]), why
    assert a["chosen"]["config"] == b["chosen"]["config"], why
    assert sha(a["chosen"]["model"]) == sha(b["chosen"]["model"]), why
    assert a["test"]["chosen"] == {**b["test"]["chosen"], "model": a["test"]["chosen"]["model"]}, why


def test_pi_target_with_composed_texts_bundle_runs_in_tflite_runtime(uninterrupted, tiny_task, tmp_path, pi_python):
    """--target pi, reusing the fine-tuned teacher, labelling on Ray, with the composed-text lever: the bundle's
    runner, in tflite-runtime 2.14, gives the test accuracy the report states."""
    ref, _ = uninterrupted
    out = tmp_path / "pi"
    run_cli(*tiny_args(tiny_task, os.path.join(ref, "teacher"), out, target="pi"), "--compose", "1",
            "--disagree-weight", "1", "--engine", "ray", "--workers", "1")
    r = report(out)
    assert r["transfer"]["engine"] == "ray"  # the transfer set was labelled by a Ray actor pool
    # two levers, each tried on the best recipe so far and weighed on the selection split: the
    # disagreement-weighted loss, then the composed texts (on whichever of the two won)
    plain, weighted, composed = r["candidates"]
    assert [plain["name"], weighted["name"]] == ["cnn", "cnn-disagree"]
    assert (plain["config"]["disagree_weight"], weighted["config"]["disagree_weight"]) == (0.0, 1.0)
    won = weighted if weighted["selection"]["accuracy"] > plain["selection"]["accuracy"] else plain
    assert composed["name"] == won["name"] + "-composed" and composed["config"] == won["config"]
    assert "+" in composed["shards"]
    bundle = os.path.join(out, "bundle")
    assert sorted(r["bundle"]["files"]) == ["README.md", "classify.py", "model.tflite", "vocab.json"]
    tsv = _as_tsv(tiny_task["test"], tmp_path)
    proc = subprocess.run([pi_python, os.path.join(bundle, "classify.py"), os.path.join(bundle, "model.tflite"),
                           "--vocab", os.path.join(bundle, "vocab.json"), "--tsv", tsv],
                          capture_output=True, text=True, check=True)
    accuracy = float(proc.stderr.split("accuracy ")[1].split()[0])
    assert abs(accuracy - r["test"]["tflite_runtime_chosen_accuracy"]) < 1e-4
    assert r["checks"]["tflite_runtime"]["labels_identical_to_litert"] == r["checks"]["rows"]


def test_another_target_reuses_the_teachers_work_and_leaves_the_first_run_untouched(uninterrupted, tiny_task,
                                                                                        tiny_bert, tmp_path):
    """--reuse: the same task for a second target takes the first run's teacher, logits and labelled
    transfer set (same keys) instead of remaking them, and reads that folder without writing to it."""
    ref, _ = uninterrupted
    before = {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns for d, _, fs in os.walk(ref) for f in fs}
    out = tmp_path / "again"
    args = tiny_args(tiny_task, tiny_bert, out, seeds=1)
    run_cli(*[a if a != "256KB" else "200KB" for a in args], "--reuse", ref, "--no-grow", "--soft-alpha", "0.2",
            "--lr-scale", "0.5", "--lr-decay", "0.5")
    r = report(out)
    assert r["reused"] == {"from": ref, "stages": ["teacher", "logits", "transfer"]}
    # the three recipe levers, each on the best so far, weighed on the selection split
    plain, soft, slow, decayed = r["candidates"]
    assert soft["name"] == "cnn-soft" and soft["config"] == {**plain["config"], "alpha": 0.2}
    from tfdistil.distil.steps import best_of
    won = best_of([plain, soft], "accuracy")
    assert slow["name"] == won["name"] + "-lr"
    assert slow["config"] == {**won["config"], "lr": round(won["config"]["lr"] * 0.5, 8)}
    won = best_of([won, slow], "accuracy")
    assert decayed["name"] == won["name"] + "-decay" and decayed["config"] == {**won["config"], "gamma": 0.5}
    assert won["config"]["gamma"] == 0.9
    for name in ("teacher", "logits", "transfer"):
        with open(os.path.join(out, "stages", f"{name}.json"), encoding="utf-8") as f:
            mine = json.load(f)
        with open(os.path.join(ref, "stages", f"{name}.json"), encoding="utf-8") as f:
            theirs = json.load(f)
        assert mine["result"] == theirs["result"] and mine["key"] == theirs["key"] and mine["reused_from"] == ref
    assert not os.path.exists(os.path.join(out, "teacher")) and "Reused from" in open(
        os.path.join(out, "report.md"), encoding="utf-8").read()
    after = {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns for d, _, fs in os.walk(ref) for f in fs}
    assert after == before


def test_each_family_is_grown_not_only_the_best(uninterrupted, tiny_task, tiny_bert, tmp_path):
    """With two families the grow levers ("-vocab", then "-grown") are tried on each family's best, not
    only on the overall best: the tuner ranks small students, and growing can reorder them. --reuse of
    the one-family run supplies the CNN's work; the BiLSTM-Attn's search, candidate and growth train."""
    ref, _ = uninterrupted
    out = tmp_path / "two"
    args = tiny_args(tiny_task, tiny_bert, out, seeds=1)
    del args[args.index("--students"):args.index("--students") + 2]
    args += ["--reuse", ref, "--students", "cnn,bilstm_attn"]
    plan = [p["stage"] for p in json.loads(run_cli(*args, "--dry-run").stdout.strip().splitlines()[-1])["plan"]]
    assert {"candidate-cnn-vocab", "candidate-cnn-grown", "candidate-bilstm_attn-vocab",
            "candidate-bilstm_attn-grown"} <= set(plan), plan
    run_cli(*args)
    r, theirs = report(out), report(ref)
    cands = {c["name"]: c for c in r["candidates"]}
    assert {c["name"] for c in theirs["candidates"]} <= set(cands)  # the CNN's candidates and growth, reused
    for family in ("cnn", "bilstm_attn"):  # the tiny task's train holds more words than a 1,000 cap: room to grow
        assert f"{family}-vocab" in cands, list(cands)
        grown = [n for n in cands if n.startswith(family + "-") and n.endswith(("-vocab", "-grown"))]
        for name in grown:
            parent = cands[name.rsplit("-", 1)[0]]
            assert cands[name]["student"] == parent["student"] == family and cands[name]["fits"]


def test_one_more_lever_with_reuse_trains_only_that_lever(uninterrupted, tiny_task, tiny_bert, tmp_path):
    """--reuse of a finished run for the same task and target, plus --more-transfer: every stage whose
    key matches is taken from there (teacher, logits, transfer set, search, every candidate), and only
    the new lever trains: the best recipe on the first transfer set plus a second augmented draw with
    none of the first draw's texts and none of the selection split's, labelled by the teacher."""
    ref, _ = uninterrupted
    before = {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns for d, _, fs in os.walk(ref) for f in fs}
    out = tmp_path / "more"
    run_cli(*tiny_args(tiny_task, tiny_bert, out), "--reuse", ref, "--more-transfer", "1")
    r, theirs = report(out), report(ref)
    old = [c["name"] for c in theirs["candidates"]]
    assert r["reused"]["stages"][:4] == ["teacher", "logits", "transfer", "search-cnn"]
    assert [f"candidate-{n}" for n in old] == r["reused"]["stages"][4:4 + len(old)]
    assert [c["name"] for c in r["candidates"][:-1]] == old
    for mine, their in zip(r["candidates"], theirs["candidates"]):
        assert mine["selection"] == their["selection"] and mine["model"] == their["model"]
    from tfdistil.distil.steps import best_of
    won, more = best_of(theirs["candidates"], "accuracy"), r["candidates"][-1]
    assert more["name"] == won["name"] + "-more" and more["config"] == won["config"]
    first_draw, second = more["shards"].split("+")
    assert first_draw == theirs["candidates"][0]["shards"] and second.startswith(str(out))
    from tfdistil.transfer.augment import normalise, read_sentences
    drawn = {normalise(s) for s in read_sentences(os.path.join(out, "transfer", "more_f1.tsv"))}
    assert drawn and not drawn & {normalise(s) for s in read_sentences(os.path.join(ref, "transfer", "augmented_f1.tsv"))}
    from tfdistil.data.splits import load_split
    from tfdistil.distil.workdata import selection_data
    held = {normalise(s) for s in load_split(selection_data(os.path.join(out, "data")), "test").sentences}
    assert held and not drawn & held
    if r["chosen"]["name"] != more["name"]:  # the lever lost: its seeds, too, were trained there already
        assert "seed-1" in r["reused"]["stages"] and r["chosen"]["model"] == theirs["chosen"]["model"]
    after = {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns for d, _, fs in os.walk(ref) for f in fs}
    assert after == before


def test_refit_gives_the_held_back_text_to_the_chosen_recipe_and_test_reads_only_those(uninterrupted, tiny_task,
                                                                                        tiny_bert, tmp_path):
    """--refit with --reuse of a finished run: every choice is the reused run's (same candidates, same seed
    chosen on selection), then the chosen recipe's seeds train again with the rows the carve held back
    (the selection split and any phrases taken out with it) plus their augmentations, labelled by the
    teacher; the same vocabulary, so the same flash rows. Test reads those models, the bundle ships the
    chosen seed's, and the report says so."""
    ref, _ = uninterrupted
    out = tmp_path / "refit"
    args = (*tiny_args(tiny_task, tiny_bert, out), "--reuse", ref, "--refit")
    plan = json.loads(run_cli(*args, "--dry-run").stdout.strip().splitlines()[-1])["plan"]
    assert [p["stage"] for p in plan if p["stage"].startswith("refit")] == ["refit-text", "refit-0", "refit-1"]
    run_cli(*args)
    r, theirs = report(out), report(ref)
    assert "seed-1" in r["reused"]["stages"] and not any(s.startswith("refit") for s in r["reused"]["stages"])
    assert (r["chosen"]["name"], r["chosen"]["seed"]) == (theirs["chosen"]["name"], theirs["chosen"]["seed"])
    assert r["chosen"]["model"] == theirs["chosen"]["model"]
    sp = json.load(open(os.path.join(out, "data", "splits.json"), encoding="utf-8"))
    text = r["refit"]["text"]
    assert text["held_back_rows"] == sp["selection"]["rows"] + sp["phrases_dropped"] > 0
    rows = lambda path: [json.loads(line) for line in open(path, encoding="utf-8")]  # noqa: E731
    back = rows(os.path.join(out, "refit", "data", "train.jsonl"))
    kept = {(x["text"], x["label"]) for x in rows(os.path.join(out, "data", "train.jsonl"))}
    assert {(x["text"], x["label"]) for x in rows(os.path.join(out, "data", "selection.jsonl"))} <= \
        {(x["text"], x["label"]) for x in back}
    assert not kept & {(x["text"], x["label"]) for x in back}  # exactly what train lacked
    assert text["augmented"] > 0 and text["rows"] == text["held_back_rows"] + text["augmented"]
    seeds = {s["seed"]: s for s in theirs["seeds"]}
    for f in r["refit"]["seeds"]:
        before = seeds[f["seed"]]
        assert f["name"] == before["name"] + "-refit" and f["selection"] is None
        assert f["config"] == before["config"] and f["model"] != before["model"]
        assert f["shards"] == before["shards"] + "+" + text["shards"]
        assert f["refit_of"]["model"] == before["model"]
        assert open(os.path.join(f["run"], "vocab.json")).read() == open(os.path.join(before["run"], "vocab.json")).read()
    read = json.load(open(os.path.join(out, "test_read.json"), encoding="utf-8"))
    assert [s["model"] for s in read["seeds"]] == [f["model"] for f in r["refit"]["seeds"]]
    assert r["refit"]["shipped"]["seed"] == r["chosen"]["seed"] and read["chosen"]["model"] == r["refit"]["shipped"]["model"]
    md = open(os.path.join(out, "report.md"), encoding="utf-8").read()
    assert "## Refit with the held-back text" in md and "refit seeds" in md
    # a later run on the same data that reuses this one finds the labelled held-back text and, with the
    # same choices, the refit models there (its dry run says so; it writes nothing)
    args = (*tiny_args(tiny_task, tiny_bert, tmp_path / "again"), "--reuse", out, "--refit")
    again = {p["stage"]: p.get("done") for p in json.loads(run_cli(*args, "--dry-run").stdout.strip().splitlines()[-1])["plan"]}
    assert again["refit-text"] == again["refit-0"] == again["refit-1"] == "reused" and not (tmp_path / "again").exists()
    # run, it ships the same models: their test read in `out` stands, and test is not read again
    log = run_cli(*args).stderr
    mine = json.load(open(tmp_path / "again" / "test_read.json", encoding="utf-8"))
    assert mine["reused_from"] == str(out) and mine["identity"] == read["identity"] and mine["seeds"] == read["seeds"]
    assert "that read stands (not read again)" in log and not (tmp_path / "again" / "data" / "test.jsonl").exists()
    assert "test was not read again" in open(tmp_path / "again" / "report.md", encoding="utf-8").read()
    assert os.path.isfile(os.path.join(out, "bundle", "kit", "model_data.cc")) or os.listdir(os.path.join(out, "bundle", "kit"))


def _doctored_copy(out, dst, scores):
    """A copy of a run's stage records with the named stages' selection scores set to a value: the same
    keys, so --reuse takes them as they are, and a choice that depends on them is certain."""
    os.makedirs(dst / "stages")
    shutil.copy(os.path.join(out, ".tfdistil"), dst)  # tfdistil's mark: a folder --reuse may read
    for f in os.listdir(os.path.join(out, "stages")):
        with open(os.path.join(out, "stages", f), encoding="utf-8") as fh:
            rec = json.load(fh)
        if f in scores:
            rec["result"]["selection"] = {k: scores[f] for k in rec["result"]["selection"]}
        with open(dst / "stages" / f, "w", encoding="utf-8") as fh:
            json.dump(rec, fh)
    return dst


def test_lever_seeds_weigh_every_candidate_on_the_mean_of_its_seeds(uninterrupted, tiny_task, tiny_bert, tmp_path):
    """--lever-seeds 2 with --reuse and the KL lever: each candidate's seed 1 trains beside its reused
    seed 0 (a reused run's `seed-1` is found by its key as this run's `candidate-cnn-s1`), choices follow
    the mean of the two, and the chosen recipe's seeds are those two: no separate seed stage. The reused
    run has one candidate (--no-grow), so which recipe its `seed-1` belongs to does not depend on a vote.
    Then, on doctored copies of its records: --lever-margin stops a clear loser at seed 0, and
    --keep-margin keeps a clear winner out of the chain when its lead is under the margin."""
    ref, _ = uninterrupted
    one = tmp_path / "one"
    run_cli(*tiny_args(tiny_task, tiny_bert, one), "--reuse", ref, "--no-grow")
    # a run between that takes the candidate from `one` but needs no seed 1: --reuse reaches through it
    between = tmp_path / "between"
    run_cli(*tiny_args(tiny_task, tiny_bert, between, seeds=1), "--reuse", str(one), "--no-grow")
    assert not os.path.exists(os.path.join(between, "stages", "seed-1.json"))
    out = tmp_path / "voted"
    args = (*tiny_args(tiny_task, tiny_bert, out), "--reuse", str(between), "--no-grow", "--lever-seeds", "2",
            "--kl-temperature", "2", "--ema", "0.9")
    plan = [p["stage"] for p in json.loads(run_cli(*args, "--dry-run").stdout.strip().splitlines()[-1])["plan"]]
    assert {"candidate-cnn-s1", "candidate-kl", "candidate-kl-s1", "candidate-ema", "candidate-ema-s1"} <= set(plan)
    assert "seed-1" not in plan
    run_cli(*args)
    r = report(out)
    key = lambda folder, name: json.load(open(os.path.join(folder, "stages", f"{name}.json"), encoding="utf-8"))["key"]  # noqa: E731
    assert "candidate-cnn-s1" in r["reused"]["stages"] and key(out, "candidate-cnn-s1") == key(one, "seed-1")
    stages = os.listdir(os.path.join(out, "stages"))
    names = [x["name"] for x in r["candidates"]]
    assert names[:2] == ["cnn", "cnn-kl"] and names[2] in ("cnn-ema", "cnn-kl-ema") and len(names) == 3
    # the weight-average lever: the best recipe after the KL vote, with Adam's moving average at 0.9
    ema, parent = r["candidates"][2], r["candidates"][names.index(names[2][:-len("-ema")])]
    assert ema["config"] == {**parent["config"], "ema": 0.9} and parent["config"]["ema"] == 0
    for cand in r["candidates"]:
        with open(os.path.join(out, "stages", f"candidate-{cand['name']}-s1.json"), encoding="utf-8") as f:
            s1 = json.load(f)["result"]
        assert s1["seed"] == 1 and s1["config"] == {**cand["config"], "seed": 1}
        both = [cand["selection"]["accuracy"], s1["selection"]["accuracy"]]
        assert cand["vote"]["n"] == 2 and abs(cand["vote"]["mean"] - sum(both) / 2) < 1e-9
    kl = r["candidates"][1]
    assert kl["config"]["distill_loss"] == "kl" and kl["config"]["temperature"] == 2
    # each lever's lead over the recipe it was weighed against, from the kept selection labels: the same
    # number as the votes' difference, inside its own paired interval
    lead, cnn = kl["lead"], r["candidates"][0]
    assert kl["against"] == "cnn" and lead["draws"] == 2000 and lead["ci95"][0] <= lead["value"] <= lead["ci95"][1]
    assert abs(lead["value"] - 100 * (kl["vote"]["mean"] - cnn["vote"]["mean"])) < 0.01
    fitting = [x for x in r["candidates"] if x["fits"]]
    top = max(x["vote"]["mean"] for x in fitting)
    assert r["chosen"]["name"] in {x["name"] for x in fitting if x["vote"]["mean"] == top}
    assert sorted(x["seed"] for x in r["seeds"]) == [0, 1] and "seed-1.json" not in stages
    md = open(os.path.join(out, "report.md"), encoding="utf-8").read()
    assert "each weighed on the mean of 2 seeds" in md and "(the vote)" in md
    assert f"- `cnn-kl` against `cnn`: {lead['value']:+.2f} ({lead['ci95'][0]:+.2f} to {lead['ci95'][1]:+.2f})" in md
    with open(os.path.join(out, "levers.png"), "rb") as f:  # the same leads as a picture, linked from the report
        assert f.read(8) == b"\x89PNG\r\n\x1a\n" and "](levers.png)" in md
    # --lever-margin: a lever whose seed 0 falls more than the margin under the best recipe's vote trains
    # no more seeds. A copy of this run's records with the KL lever's seed 0 scored 0 (same keys, so
    # --reuse takes it as it is) makes that case certain; its seed 1 is then never looked for.
    doctored = _doctored_copy(out, tmp_path / "doctored", {"candidate-cnn-kl.json": 0.0})
    raced = tmp_path / "raced"
    log = run_cli(*tiny_args(tiny_task, tiny_bert, raced), "--reuse", str(doctored), "--no-grow", "--lever-seeds", "2",
                  "--kl-temperature", "2", "--lever-margin", "0.5").stderr
    r = report(raced)
    kl = r["candidates"][1]
    assert kl["lever_margin_out"] == 0.5 and kl["vote"]["n"] == 1 and "out by --lever-margin 0.5" in log
    assert "candidate-cnn-kl-s1.json" not in os.listdir(raced / "stages")
    assert "candidate-cnn-s1" in r["reused"]["stages"] and r["chosen"]["name"] == "cnn"
    assert "seed 0 only: more than 0.5 under the best" in open(raced / "report.md", encoding="utf-8").read()
    # --keep-margin: a lever that beats the best recipe by less than the margin does not move the chain. The
    # KL lever scored 1.0 on both seeds here would win by any amount under 100 points without it (the
    # default keeps any gain); with --keep-margin 100 nothing can clear it, so the tuner's recipe ships.
    doctored = _doctored_copy(out, tmp_path / "doctored-high",
                              {"candidate-cnn-kl.json": 1.0, "candidate-cnn-kl-s1.json": 1.0})
    kept = tmp_path / "kept"
    log = run_cli(*tiny_args(tiny_task, tiny_bert, kept), "--reuse", str(doctored), "--no-grow", "--lever-seeds", "2",
                  "--kl-temperature", "2", "--keep-margin", "100").stderr
    r = report(kept)
    assert r["candidates"][1]["vote"]["mean"] == 1.0 and r["chosen"]["name"] == "cnn"
    assert "not more than --keep-margin 100: not kept" in log
    assert "by more than 100 points (`--keep-margin`)" in open(kept / "report.md", encoding="utf-8").read()


def test_a_dry_run_counts_what_is_done_as_done(uninterrupted, tiny_task, tiny_bert, tmp_path):
    """The plan of a finished run shows every stage at 0 minutes: "cached", or "not needed" for a planned
    stage its walk never met (a lever its recipe already had, a family with no room to grow); a second target with
    --reuse shows the teacher's work at 0 ("reused") and everything it must train in full; the same
    target with --reuse finds the search, every candidate and lever (the grown levers' vocabularies read
    from the reused run's split, which has this run's key) and the seeds done there: what is left is
    the carve, the checks, the test read and the bundle. A dry run writes nothing."""
    ref, _ = uninterrupted
    plan = lambda out, *extra: {p["stage"]: p for p in json.loads(run_cli(  # noqa: E731
        *tiny_args(tiny_task, tiny_bert, out), *extra, "--dry-run").stdout.strip().splitlines()[-1])["plan"]}
    mine = plan(ref)
    from tfdistil.distil.plan import planned
    made = {planned(f[:-len(".json")]) for f in os.listdir(os.path.join(ref, "stages"))}
    for n, p in mine.items():  # what the walk never met (a lever the recipe has already) is "not needed"
        assert p.get("done") == (None if n == "report" else "cached" if n in made else "not needed"), (n, p)
    assert all(p["estimated_minutes"] == 0 for n, p in mine.items() if n != "report")
    assert made - {"report"} <= set(mine)
    r = report(ref)
    trained = [f"candidate-{c['name']}" for c in r["candidates"]] + [f"seed-{s['seed']}" for s in r["seeds"][1:]]
    assert len(trained) >= 3  # the tuner's student, a grow lever at least, seed 1
    other = plan(tmp_path / "pi", "--reuse", ref, "--target", "pi")
    assert [n for n, p in other.items() if p.get("done")] == ["teacher", "logits", "transfer"]
    assert all(p["done"] == "reused" for p in other.values() if p.get("done"))
    assert "done" not in other["splits"] and not (tmp_path / "pi").exists()  # its own split: not done
    same = plan(tmp_path / "m4", "--reuse", ref)
    assert [n for n, p in same.items() if p.get("done") == "reused"] == ["teacher", "logits", "transfer", "search-cnn",
                                                                         *[planned(n) for n in trained]]
    assert {n for n, p in same.items() if p.get("done") == "not needed"} == \
        {n for n, p in mine.items() if p.get("done") == "not needed"}
    assert [n for n, p in same.items() if not p.get("done")] == ["splits", "selection-slices", "checks", "test",
                                                                 "bundle", "report"]
    assert not (tmp_path / "m4").exists()


def test_a_changed_recipe_in_the_same_out_trains_in_its_own_folder(tiny_task, tiny_bert, tmp_path):
    """Run again with another --epochs: the candidates retrain (their key changed) into new run
    folders named by what they train on, instead of meeting the older runs' finished output."""
    out = tmp_path / "again"
    args = tiny_args(tiny_task, tiny_bert, out, seeds=1)
    args = args[:args.index("--test")] + args[args.index("--test") + 2:]  # no test file: nothing to read twice
    run_cli(*args)
    first = {c["name"]: c["run"] for c in report(out)["candidates"]}
    run_cli(*[a if a != "2" or args[i - 1] != "--epochs" else "3" for i, a in enumerate(args)])
    again = {c["name"]: c for c in report(out)["candidates"]}
    assert again["cnn"]["config"]["epochs"] == 3 and again["cnn"]["run"] != first["cnn"]
    assert os.path.isdir(first["cnn"]) and os.path.isdir(again["cnn"]["run"])
    assert re.fullmatch(r"cnn-s0-[0-9a-f]{8}", os.path.basename(again["cnn"]["run"]))


def _as_tsv(csv_path, folder):
    import csv
    path = os.path.join(folder, "test.tsv")
    with open(csv_path, encoding="utf-8") as f, open(path, "w", encoding="utf-8") as g:
        g.write("sentence\tlabel\n")
        for row in csv.DictReader(f):
            g.write(f"{' '.join(row['text'].split())}\t{row['label']}\n")
    return path


CHECK_NO_TF = ("import sys\nfrom tfdistil.cli import main\nsys.argv = ['tfdistil'] + sys.argv[1:]\n"
               "try:\n    main()\nfinally:\n    print('TF' if 'tensorflow' in sys.modules else 'noTF', file=sys.stderr)\n")


@pytest.mark.parametrize("extra, needle", [
    (["--target", "cortex-m9"], "unknown target"),
    (["--target", "cortex-m4", "--flash", "8KB"], "no student fits; the smallest"),
    (["--target", "cortex-m4"], "give --flash"),
    (["--target", "pi", "--time-budget", "0.01"], "too small for one teacher epoch"),
    (["--target", "pi", "--students", "rnn"], "--students: unknown rnn"),
    (["--target", "pi", "--pre-conv", "-1"], "--lever-margin and --keep-margin cannot be negative"),
    (["--target", "pi", "--disagree-weight", "-1"], "--lever-margin and --keep-margin cannot be negative"),
    (["--target", "pi", "--keep-margin", "-0.5"], "--lever-margin and --keep-margin cannot be negative"),
    (["--target", "pi", "--lever-margin", "1"], "--lever-margin 1 decides which levers get more seeds: give --lever-seeds 2"),
    (["--target", "pi", "--slices", "no-such-slices.json"], "--slices no-such-slices.json: file not found"),
    (["--target", "pi", "--reuse", "tests"], "--reuse tests: not a folder `tfdistil distil` made"),
    (["--target", "pi", "--lr-scale", "0"], "--lr-scale must be positive"),
    (["--target", "pi", "--lr-decay", "1.5"], "--lr-decay is the learning rate's factor per epoch"),
    (["--target", "pi", "--ema", "1"], "--ema is the weight average's momentum a step, in [0, 1)"),
    (["--target", "pi", "--test", "@train"], "is the same file as --train: test must be texts no stage trains on"),
    (["--target", "pi", "--dev", "@copy"], "is the same file as --train: dev must be texts"),  # same bytes, other name
    (["--target", "pi", "--dev", "@test", "--test", "@test"], "is the same file as --dev: dev picks the epochs"),
])
def test_bad_input_is_one_line_exit_2_before_tensorflow_and_writes_nothing(tiny_task, tmp_path, extra, needle):
    out = tmp_path / "out"
    shutil.copy(tiny_task["train"], tmp_path / "copy.csv")
    files = {"@train": tiny_task["train"], "@test": tiny_task["test"], "@copy": str(tmp_path / "copy.csv")}
    proc = subprocess.run([sys.executable, "-c", CHECK_NO_TF, "distil", "--train", tiny_task["train"],
                           "--out", str(out), *(files.get(x, x) for x in extra)], capture_output=True, text=True, cwd=ROOT)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and lines[-1] == "noTF", proc.stderr
    assert len(lines) == 2 and lines[0].startswith("error: ") and needle in lines[0], proc.stderr
    assert not out.exists()


def test_an_out_folder_distil_did_not_make_is_refused_and_untouched(tiny_task, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    proc = run_cli("distil", "--train", tiny_task["train"], "--target", "pi", "--out", str(out), check=False)
    assert proc.returncode == 2 and "not made by `tfdistil distil`" in proc.stderr
    assert sorted(os.listdir(out)) == ["notes.txt"] and (out / "notes.txt").read_text() == "keep me"


def test_dry_run_prints_the_plan_with_estimates_and_the_cuts(tiny_task, tmp_path):
    out = tmp_path / "plan"
    proc = run_cli("distil", "--train", tiny_task["train"], "--target", "pi", "--time-budget", "6", "--out", str(out),
                   "--dry-run", "--json")
    plan = json.loads(proc.stdout.strip().splitlines()[-1])
    names = [p["stage"] for p in plan["plan"]]
    assert names[:4] == ["splits", "teacher", "logits", "transfer"] and "checks" in names and "test" in names
    assert plan["estimated_minutes"] <= 6 and plan["cuts"], plan
    assert "cut to fit --time-budget" in proc.stderr and not out.exists()
    # --pre-conv: one more candidate (the lever) for an LSTM family, none for the CNN alone
    lever = lambda *a: [p["stage"] for p in json.loads(run_cli(  # noqa: E731
        "distil", "--train", tiny_task["train"], "--target", "pi", "--out", str(out), "--dry-run", "--json",
        *a).stdout.strip().splitlines()[-1])["plan"]]
    assert "candidate-preconv" in lever("--students", "bilstm_attn", "--pre-conv", "3")
    assert "candidate-preconv" not in lever("--students", "cnn", "--pre-conv", "3")
    assert "candidate-preconv" not in lever("--students", "bilstm_attn")
    assert "candidate-disagree" in lever("--disagree-weight", "1")  # the loss lever: any family


@pytest.mark.parametrize("student", ["cnn", "bilstm_attn"])
def test_a_run_published_before_its_stage_was_recorded_counts_as_finished(tmp_path, student):
    """A kill after fit publishes runs/NAME-sSEED but before the stage is recorded: the rerun must
    take that run, not refuse its folder. (CI found the CNN's tuple field compared to a list.)"""
    from tfdistil.config import Config
    from tfdistil.distil.steps import finished
    from tfdistil.files import atomic_write_json
    from tfdistil.runfolder import CONFIG, METRICS
    cfg = Config(student=student, seed=1, teacher_logits="x.npy")
    run = tmp_path / "run"
    run.mkdir()
    atomic_write_json(str(run / CONFIG), cfg.to_dict())
    atomic_write_json(str(run / METRICS), {"dev_accuracy": 0.5})
    assert finished(str(run), cfg) == {"dev_accuracy": 0.5}
    assert finished(str(run), Config.from_dict({**cfg.to_dict(), "seed": 2})) is None


def test_a_resumed_run_keeps_its_eta():
    """Resumed after the teacher (cached, 40 min estimated): the next stage is still estimated at its
    own 50 min, not ~0, and the speed learnt afterwards comes from stages run now."""
    from tfdistil.distil.plan import Clock
    clock = Clock([("teacher", 2400), ("logits", 3000), ("transfer", 6000)])
    clock.cached("teacher")
    minutes, _ = clock.start("logits", 0)
    assert minutes == pytest.approx(50)
    clock.done("logits", 6000)  # twice as slow as estimated
    minutes, eta = clock.start("transfer", 0)
    assert minutes == pytest.approx(200)
    assert eta == time.strftime("%H:%M", time.localtime(12000))


def test_a_resumed_run_learns_speed_from_its_cached_stages_and_names_levers_as_planned():
    """Cached stages carry the seconds they took: a resume after a slow search expects the students
    to be as slow. Speed is learnt per kind of work: a teacher that ran 7x under its estimate says
    nothing about the students. A lever's stage ("candidate-bilstm_attn-ei-grown") is estimated as
    the plan's "candidate-bilstm_attn-grown" (the grow levers are tried on each family's best), not
    the 1-minute default."""
    from tfdistil.distil.plan import Clock
    plan = [("teacher", 2400), ("search-cnn", 600), ("candidate-bilstm_attn-grown", 600), ("seed-1", 600)]
    clock = Clock(plan)
    clock.cached("teacher", 4800)  # the teacher ran at half the estimated speed
    assert clock.start("candidate-bilstm_attn-ei-grown", 0)[0] == pytest.approx(10)  # students: no sample yet
    clock.cached("search-cnn", 1800)  # the students at a third
    minutes, eta = clock.start("candidate-bilstm_attn-ei-grown", 0)
    assert minutes == pytest.approx(30)
    assert eta == time.strftime("%H:%M", time.localtime(3600))
    clock.done("candidate-bilstm_attn-ei-grown", 1200)
    assert "candidate-bilstm_attn-grown" in clock.finished
    # a --reuse run has timed nothing itself yet: the run folders' measured speed stands in
    primed = Clock(plan, done=["teacher"], speed={"student": 0.25})
    assert primed.start("search-cnn", 0) == (pytest.approx(2.5), time.strftime("%H:%M", time.localtime(450)))
    primed.done("search-cnn", 600)  # then its own timing wins
    assert primed.start("seed-1", 0)[0] == pytest.approx(10)
    # --lever-seeds: a lever's seed K keeps its "-sK"; a stage the plan does not know teaches no speed
    from tfdistil.distil.plan import planned
    assert planned("candidate-bilstm_attn-ei-grown-s2") == "candidate-bilstm_attn-grown-s2"
    assert planned("candidate-cnn-vocab") == "candidate-cnn-vocab"
    assert planned("candidate-bilstm_attn-ei-vocab-disagree-s1") == "candidate-disagree-s1"
    assert planned("candidate-cnn-ei-s1") == "candidate-cnn-ei-s1"
    primed.done("candidate-unplanned", 6000)
    assert primed.start("seed-1", 0)[0] == pytest.approx(10)
    # the slice table reads saved labels in seconds: it must not make the next student look 50x faster
    sliced = Clock(plan + [("selection-slices", 600)], speed={"student": 1.0})
    sliced.done("selection-slices", 5)
    assert sliced.start("seed-1", 0)[0] == pytest.approx(10)


def test_measured_speed_reads_the_stages_that_ran_here_by_kind(tmp_path):
    from tfdistil.distil.plan import measured_speed, scaled
    stages = tmp_path / "stages"
    stages.mkdir()
    write = lambda name, **r: (stages / f"{name}.json").write_text(json.dumps(r))  # noqa: E731
    assert measured_speed(str(tmp_path)) == ({}, 0)
    write("teacher", seconds=1000, estimated_seconds=7000)
    write("logits", seconds=400, estimated_seconds=1000, reused_from="elsewhere")  # ran elsewhere: no sample
    write("search-cnn", seconds=50, estimated_seconds=100)  # under 5 minutes of estimates: too little to go by
    (stages / "broken.json").write_text("{")
    speed, n = measured_speed(str(tmp_path))
    assert speed == {"teacher": pytest.approx(1 / 7)} and n == 2
    assert scaled([("teacher", 700), ("transfer", 700), ("candidate-bilstm_attn-ei-grown", 60)], speed) == \
        [("teacher", pytest.approx(100)), ("transfer", 700), ("candidate-bilstm_attn-ei-grown", 60)]  # reading: no sample
    assert measured_speed(str(tmp_path / "nothing-here"), "") == ({}, 0)
    # a --reuse run: the first run's records count (they ran on this machine), its own reused copies do not
    other = tmp_path / "second" / "stages"
    other.mkdir(parents=True)
    (other / "teacher.json").write_text(json.dumps({"seconds": 0, "estimated_seconds": 7000, "reused_from": "x"}))
    (other / "search-cnn.json").write_text(json.dumps({"seconds": 600, "estimated_seconds": 300}))
    speed, n = measured_speed(str(tmp_path / "second"), str(tmp_path))
    assert speed == {"teacher": pytest.approx(1 / 7), "student": pytest.approx(650 / 400)} and n == 3


def test_a_budget_gives_back_the_levers_a_reused_transfer_set_makes_room_for():
    """A second target reusing a first run's transfer set at augmentation factor 2: fitting a
    budget first cuts the levers, then the factor (10 -> 5 -> 2, where the labelled set costs
    nothing); the levers that fit again are given back, the most valuable first."""
    from tfdistil.distil.options import DistilOptions as Options
    from tfdistil.distil.plan import fit_to_budget, estimate
    base = dict(train="t.csv", out="o", target="pi", students=["bilstm_attn"], augment_factor=10, trials=2,
                soft_alpha=0.5, lr_scale=0.5, lr_decay=0.5, embed_init="on", grow=False)
    shape = (60000, 9.4, 0)
    done = lambda o: {"teacher": "reused", "logits": "reused", **({"transfer": "reused"} if o.augment_factor == 2 else {})}  # noqa: E731
    left = lambda o: sum(sec for n, sec in estimate(o, *shape) if n not in done(o)) / 60  # noqa: E731
    lever = dict(estimate(Options(**{**base, "augment_factor": 2}), *shape))["candidate-lr"] / 60
    floor = left(Options(**{**base, "augment_factor": 2, "soft_alpha": -1.0, "lr_scale": 1.0, "lr_decay": 0.0}))
    budget = floor + 1.5 * lever  # room for one lever, not two
    o, cuts = fit_to_budget(Options(**{**base, "time_budget": budget}), shape, done)
    assert o.augment_factor == 2 and left(o) <= budget
    assert o.lr_scale == 0.5 and o.soft_alpha == -1.0 and o.lr_decay == 0.0  # lr comes last in CUTS: given back
    assert "the learning-rate lever: 0.5 -> 1.0" not in cuts and "the soft-loss lever: 0.5 -> -1.0" in cuts


def test_a_budget_on_a_resumed_run_fits_what_is_left(uninterrupted, tiny_task, tiny_bert, tmp_path):
    """A run killed after its search, resumed with --time-budget (a dry run): the stages already made
    cost nothing, so a budget that holds what is left cuts nothing, and a tighter one never cuts what
    is done (fewer tuner trials, a smaller transfer set) to save time already spent."""
    from tfdistil.files import MARKER
    ref, _ = uninterrupted
    resumed = tmp_path / "resumed"
    (resumed / "stages").mkdir(parents=True)
    shutil.copy(os.path.join(ref, MARKER), resumed / MARKER)
    for name in ("splits", "teacher", "logits", "transfer", "search-cnn"):  # the records, as a kill leaves them
        shutil.copy(os.path.join(ref, "stages", f"{name}.json"), resumed / "stages")
    plan = lambda out, *extra: json.loads(run_cli(  # noqa: E731
        *tiny_args(tiny_task, tiny_bert, out), "--soft-alpha", "0.5", *extra, "--dry-run").stdout.strip().splitlines()[-1])
    free = plan(resumed)
    left = sum(p["estimated_minutes"] for p in free["plan"] if not p.get("done"))
    whole = sum(p["estimated_minutes"] for p in plan(tmp_path / "fresh")["plan"])
    assert left < whole
    roomy = plan(resumed, "--time-budget", f"{(left + whole) / 2:.3f}")
    assert roomy["cuts"] == [] and roomy["estimated_minutes"] == pytest.approx(free["estimated_minutes"], abs=0.2)
    tight = plan(resumed, "--time-budget", f"{left * 0.9:.3f}")
    assert tight["cuts"] and tight["estimated_minutes"] <= left * 0.9 + 0.05, tight
    assert not any(c.startswith(("tuner trials", "transfer set")) for c in tight["cuts"]), tight["cuts"]
    assert all(p.get("done") for p in tight["plan"] if p["stage"] in ("teacher", "logits", "transfer", "search-cnn"))


def test_the_first_eta_leaves_out_stages_another_run_will_supply():
    """A --reuse run carves its splits before it meets the reused teacher stages: the ETA printed for
    the splits must not count the teacher's hours (it once said 05:47 for a run due at 00:41)."""
    from tfdistil.distil.plan import Clock
    clock = Clock([("splits", 6), ("teacher", 7200), ("search-cnn", 600)], done=["teacher"])
    _, eta = clock.start("splits", 0)
    assert eta == time.strftime("%H:%M", time.localtime(606))
    clock.cached("teacher")  # met later, with no seconds: the speed is not disturbed
    assert clock.start("search-cnn", 0)[0] == pytest.approx(10)


def test_only_choice_making_options_count_as_a_change_after_the_test_read(tmp_path):
    from tfdistil.distil.options import DistilOptions as Options, changed_since_test_read, choice_options
    o = Options(train="t.csv", out=str(tmp_path), target="cortex-m4", flash=262144)
    record = str(tmp_path / "test_read.json")
    assert changed_since_test_read(o, record) == []  # no read yet
    with open(record, "w", encoding="utf-8") as f:
        json.dump({"purpose": "x", "choice": choice_options(o)}, f)
    assert changed_since_test_read(o, record) == []
    faster = Options(**{**o.to_dict(), "workers": 8, "engine": "ray", "board_limit": 3, "time_budget": 60.0})
    assert changed_since_test_read(faster, record) == []
    other = Options(**{**o.to_dict(), "seeds": 5, "students": ["cnn"]})
    assert changed_since_test_read(other, record) == ["seeds", "students"]
    # a read recorded before an option existed (here --pre-conv): that option was at its default then
    older = {k: v for k, v in choice_options(o).items() if k != "pre_conv"}
    with open(record, "w", encoding="utf-8") as f:
        json.dump({"purpose": "x", "choice": older}, f)
    assert changed_since_test_read(o, record) == []
    assert changed_since_test_read(Options(**{**o.to_dict(), "pre_conv": 3}), record) == ["pre_conv"]
