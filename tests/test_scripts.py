"""experiments/paper_tables/tuned_students.sh: a tuner's best.json retrained per seed, converted and measured on test."""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from studies import study_module


def _script(env):
    return subprocess.run(["bash", os.path.join(ROOT, "experiments", "paper_tables", "tuned_students.sh")], capture_output=True,
                          text=True, env={**os.environ, "TFDISTIL": f"{sys.executable} -m tfdistil", **env})


def test_tuned_students_retrains_best_json_and_measures_int8(tmp_path, data_dir):
    best = tmp_path / "tune" / "tiny" / "best.json"
    best.parent.mkdir(parents=True)
    best.write_text(json.dumps({"config": {"student": "cnn", "embed_dim": 8, "filters": 8, "hidden": 8,
                                           "epochs": 1, "train_limit": 200, "max_len": 32}}))
    env = {"BEST": str(best), "MODE": "fit", "SEEDS": "0 1", "DATA": data_dir,
           "RUNS": str(tmp_path / "runs"), "LOGS": str(tmp_path / "logs")}
    proc = _script(env)
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout
    for seed in (0, 1):
        run = tmp_path / "runs" / f"tiny-fit-s{seed}"
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["seed"] == seed and metrics["train_rows"] == 200
        for rt in ("litert", "tflm"):
            ev = json.loads((run / "tflite" / f"eval_int8_{rt}_test.json").read_text())
            assert ev["runtime"] == rt and ev["split"] == "test" and ev["n"] == 1821
            assert ev["max_len"] == 64  # convert's device length, whatever the training max_len
        assert f"[done] tiny-fit-s{seed}: test {metrics['test_accuracy']}" in proc.stdout
    # Resumable: a second call finds every step done and trains nothing.
    again = _script(env)
    assert again.returncode == 0 and "[fit]" not in again.stdout and again.stdout.count("[done]") == 2


def test_tuned_students_bad_input_is_one_line(tmp_path):
    proc = _script({"BEST": str(tmp_path / "nope.json")})
    assert proc.returncode == 2 and "not found" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    best = tmp_path / "best.json"
    best.write_text("{}")
    proc = _script({"BEST": str(best), "MODE": "walk"})
    assert proc.returncode == 2 and "MODE must be fit or stream" in proc.stderr


def test_paper_attn_summary_reads_seeds_teacher_init_and_tflm(tmp_path):
    """The summary behind experiments/paper_attn_mpnet/paper_attn_mpnet.md: one row per finished fit log, the --embed-init
    line read from the log, TFLM from the log beside it, and a mean only for three seeds or more."""
    S = study_module("paper_attn_mpnet", "summarize")
    for seed, test in enumerate((0.87, 0.88, 0.89)):
        metrics = {"params": 1000, "train_rows": 50, "best_epoch": 2, "dev_accuracy": 0.8, "test_accuracy": test}
        head = "embeddings: 9 of 10 words start from teachers/t's input embeddings\n" if seed else ""
        (tmp_path / f"fit-bilstm_attn-augment-x-s{seed}.log").write_text(head + "epoch 1/1\r\n" + json.dumps(metrics) + "\n")
        (tmp_path / f"evaltflite-bilstm_attn-augment-x-s{seed}-tflm.log").write_text(json.dumps({"accuracy": test - 0.01}))
    (tmp_path / "fit-bilstm_attn-augment-y-s0.log").write_text("epoch 1/4: still training\n")
    table = S.rows([str(tmp_path)])
    assert [(r["seed"], r["embed_init"], r["tflm_test"]) for r in table] == [
        (0, "random", 0.86), (1, "teachers/t", 0.87), (2, "teachers/t", 0.88)]
    text = S.markdown(table)
    assert "| bilstm_attn-augment-x | 0, 1, 2 | 88.00 ± 1.00 | 87.00 ± 1.00 |" in text


def test_teacher_effect_pairs_students_by_teacher_and_skips_other_rows(tmp_path):
    """The summary behind experiments/paper_attn_mpnet/teacher_effect.md: per teacher and student, finished train-rows-only
    seeds from the fit logs, the teacher's test accuracy from its provenance JSON, a mean only for
    three seeds; an unfinished log or a run on other rows (a --limit run) is not a row."""
    S = study_module("paper_attn_mpnet", "teacher_effect")
    teachers = {}
    for name, tag, test in (("A", "", 0.9), ("B", "-b", 0.95)):
        logs = tmp_path / name
        logs.mkdir()
        (logs / "info.json").write_text(json.dumps({"accuracy": {"test": test}}))
        teachers[name] = (str(logs), tag, str(logs / "info.json"))
    for seed, acc in enumerate((0.83, 0.84, 0.85)):
        (tmp_path / "A" / f"fit-cnn-distill-s{seed}.log").write_text(
            "epoch 1/20\n" + json.dumps({"train_rows": 67349, "test_accuracy": acc}) + "\n")
    (tmp_path / "B" / "fit-cnn-distill-b-s0.log").write_text(json.dumps({"train_rows": 67349, "test_accuracy": 0.86}))
    (tmp_path / "B" / "fit-cnn-distill-b-s1.log").write_text("epoch 3/20: still training\n")
    (tmp_path / "B" / "fit-cnn-distill-b-s2.log").write_text(json.dumps({"train_rows": 500, "test_accuracy": 0.7}))
    table = S.rows(teachers)
    assert [(r["teacher"], r["student"], r["seeds"]) for r in table] == [
        ("A", "cnn", {0: 0.83, 1: 0.84, 2: 0.85}), ("B", "cnn", {0: 0.86})]
    text = S.markdown(table)
    assert "| cnn | A (90.00) | 0, 1, 2 | 83.00 / 84.00 / 85.00 | 84.00 ± 1.00 |" in text
    assert "| cnn | B (95.00) | 0 | 86.00 | — |" in text


def test_fingerprint_check_tries_what_the_c_wordpiece_loop_tries():
    """experiments/firmware/fingerprint_check.py simulates emit_wordpieces(): longest candidate first, stop at the
    first table entry, '##' after the first piece, nothing longer than the longest entry."""
    sys.path.insert(0, os.path.join(ROOT, "experiments", "firmware"))
    from fingerprint_check import greedy_lookups
    keys = {b"bleak", b"##ly", b"b", b"##l"}
    assert greedy_lookups(b"bleakly", keys, 10) == {b"bleakly", b"bleakl", b"bleak", b"##ly"}
    assert greedy_lookups(b"bleakly", keys, 6) == {b"bleakl", b"bleak", b"##ly"}
    assert greedy_lookups(b"xly", keys, 10) == {b"xly", b"xl", b"x"}  # nothing covers x: the word is <unk>


def test_teacher_agreement_chooses_the_run_that_follows_the_teacher(tmp_path, tiny_run, data_dir):
    """experiments/paper_attn_mpnet/teacher_agreement.py --choose: the held-out "teacher" here is the CNN run itself, so the CNN
    must agree on every row and be chosen; a run whose metrics say it trained on the set is refused."""
    import shutil
    from tfdistil.data.splits import load_split
    from tfdistil.transfer.shards import FORMAT, MANIFEST, write_shard
    from tfdistil.training.batches import predict_logits
    from tfdistil.training.fit import load_run
    sentences = load_split(data_dir, "dev").sentences[:120]
    cfg, vocab, model = load_run(tiny_run["cnn"])
    teacher_logits = predict_logits(model, cfg.student, vocab.encode_batch(sentences, cfg.max_len))
    shards = tmp_path / "held"
    shards.mkdir()
    write_shard(str(shards / "shard-00000.tfrecord"), sentences, [0] * len(sentences), teacher_logits)
    (shards / MANIFEST).write_text(json.dumps({"format": FORMAT, "teacher": "the-cnn", "num_labels": 2,
                                               "complete": True, "rows": len(sentences),
                                               "shards": [{"index": 0, "file": "shard-00000.tfrecord"}]}))
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "evaltflite-cnn-tflm.log").write_text("progress\n" + json.dumps({"accuracy": 0.5123}) + "\n")
    script = os.path.join(ROOT, "experiments", "paper_attn_mpnet", "teacher_agreement.py")
    out = tmp_path / "choice.md"
    runs = [tiny_run["bilstm_attn"], tiny_run["cnn"]]
    done = subprocess.run([sys.executable, script, "--shards", str(shards), "--rows", "100", "--choose", str(out),
                           "--tflm-logs", str(logs), *runs], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    by_run = {x["run"]: x for x in lines if "run" in x}
    assert lines[0]["rows"] == 100 and by_run[tiny_run["cnn"]]["agreement"] == 1.0
    assert by_run[tiny_run["cnn"]]["logit_mse"] < 1e-6 < by_run[tiny_run["bilstm_attn"]]["logit_mse"]
    assert lines[-1] == {"chosen": tiny_run["cnn"], "out": str(out)}
    table = out.read_text()
    assert f"| `{tiny_run['cnn']}` | 100.00 | 0.0000 |" in table and "| 51.23 | **yes** |" in table
    assert f"Chosen: `{tiny_run['cnn']}`, int8 TFLM test 51.23." in table
    assert "Rank correlation" not in table  # two runs (one without a TFLM log) rank nothing
    spearman = study_module("paper_attn_mpnet", "teacher_agreement").spearman
    assert spearman([1, 2, 3], [0.2, 0.5, 0.9]) == pytest.approx(1.0)
    assert spearman([1, 1, 2], [1, 2, 3]) == pytest.approx(3 ** 0.5 / 2)  # ties share their average rank
    # A run that trained on the "held-out" set is not held out: one line, exit 2.
    trained = tmp_path / "trained"
    shutil.copytree(tiny_run["cnn"], trained)
    metrics = json.loads((trained / "metrics.json").read_text())
    (trained / "metrics.json").write_text(json.dumps({**metrics, "teacher_logits": f"x+{shards}"}))
    done = subprocess.run([sys.executable, script, "--shards", str(shards), str(trained)], capture_output=True,
                          text=True, cwd=ROOT)
    assert done.returncode == 2 and done.stderr.strip() == f"error: {trained} trained on {shards}; it is not held out"


def test_budget_boards_only_rewrites_the_board_sections_and_keeps_the_rest(tmp_path):
    """firmware_budget.py --boards-only: the per-board and fits-on tables come from results/firmware/boards/*.json;
    hand-written sections between and after them stay byte for byte."""
    B = study_module("firmware", "firmware_budget")
    rows = B.board_rows()
    assert {r["board"] for r in rows} >= {"mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547",
                                          "netduinoplus2"}
    doc = tmp_path / "budget.md"
    doc.write_text("# Budget\n\nintro\n\n## Per board: stale\n\n| old | table |\n\n## Hand notes\n\nkeep me\n\n"
                   "## Fits on (parts)\n\n| old |\n\n## int16x8\n\nkeep me too\n", encoding="utf-8")
    assert B.main(["--boards-only", "--out", str(doc)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert "| old" not in text and "stale" not in text
    assert text.startswith("# Budget\n\nintro\n\n## Per board: the same firmware on six emulated boards")
    assert "## Hand notes\n\nkeep me\n\n## Fits on (parts)" in text and text.endswith("## int16x8\n\nkeep me too\n")
    m4 = next(r for r in rows if r["board"] == "mps2-an386" and r["kernels"] == "cmsis-nn")
    assert f"| {m4['flash_total']:,} |" in text  # the M4 image as measured, in both tables
    again = doc.read_text(encoding="utf-8")
    assert B.main(["--boards-only", "--out", str(doc)]) == 0 and doc.read_text(encoding="utf-8") == again
    (tmp_path / "other.md").write_text("# nothing to replace\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="has no '## Per board:' section"):
        B.main(["--boards-only", "--out", str(tmp_path / "other.md")])


def test_fortunes_levers_table_is_mean_and_std_over_each_levers_seeds():
    """experiments/fortunes/levers_table.py: one row a lever, sample std over its seeds, sizes with the C vocabulary."""
    T = study_module("fortunes", "levers_table")
    row = lambda lever, seed, f1, acc: {"lever": lever, "seed": seed, "selection_macro_f1": f1,  # noqa: E731
                                        "selection_accuracy": acc, "best_epoch": 3 + seed, "model_bytes": 1000,
                                        "c_vocab_bytes": 24}
    text = T.markdown([row("a", 0, 0.70, 0.80), row("b", 0, 0.60, 0.50), row("a", 1, 0.74, 0.82)])
    assert "| a | 0, 1 | 1,024 B | 3, 4 | 72.00 ± 2.83 | 81.00 ± 1.41 |" in text
    assert "| b | 0 | 1,024 B | 3 | 60.00 | 50.00 |" in text and "dev.csv" not in text
    second = [{**r, "also_macro_f1": 0.5 + i / 10, "also_accuracy": 0.6} for i, r in enumerate(
        [row("a", 0, 0.70, 0.80), row("a", 1, 0.74, 0.82)])]
    assert "| a | 0, 1 | 1,024 B | 3, 4 | 72.00 ± 2.83 | 81.00 ± 1.41 | 55.00 ± 7.07 | 60.00 ± 0.00 |" in T.markdown(second)
