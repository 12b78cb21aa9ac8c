"""`tfdistil report` and `tfdistil benchmark` on real (tiny) run folders.

The runs are trained, converted and evaluated by the library itself, laid out the
way experiments/paper_tables/reproduce.sh lays them out, with some pieces deliberately missing or
broken, so the report is checked against the files it reads, number by number.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import ROOT
from tfdistil.cli.report import report
from tfdistil.report.paper import SHIPPED_TEACHER_INFO
from tfdistil.report.stats import ms

CNN_RUNS = ("cnn-baseline-s0", "cnn-baseline-s1", "cnn-distill-s0")
ALL_RUNS = CNN_RUNS + ("bilstm-baseline-s0",)


def _teacher_cache(path, train):
    """A teacher-logits cache for the training slice, in tfdistil/logits_cache.py's format:
    a confident teacher that knows the labels, plus noise (the report never sees it)."""
    from tfdistil.teacher.logits_cache import CACHE_FORMAT
    rng = np.random.default_rng(0)
    logits = np.where(train.labels[:, None] == np.arange(2), 2.0, -2.0) + rng.normal(0, 1, (len(train), 2))
    header = {"format": CACHE_FORMAT, "teacher": "synthetic test teacher",
              "splits": {"train": {"rows": len(train), "sha256": train.sha256, "accuracy": 1.0}}}
    np.savez_compressed(path, header=np.array(json.dumps(header)), train_logits=logits.astype(np.float16))


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory, data_dir):
    """runs/ as reproduce.sh leaves it, mid-way: three CNN runs with int8 flatbuffers (one
    also float32, one LiteRT-evaluated, one with a failed TFLM evaluation), a BiLSTM with
    no flatbuffer at all, and an unfinished run."""
    from tfdistil.config import Config
    from tfdistil.data.splits import load_split
    from tfdistil.files import atomic_write_json
    from tfdistil.edge.convert.export import convert
    from tfdistil.edge.host.evaluate import evaluate_tflite
    from tfdistil.training.fit import fit

    base = tmp_path_factory.mktemp("report")
    runs = base / "runs"
    cache = base / "logits.npz"
    _teacher_cache(cache, load_split(data_dir, "train", 200))
    for name in ALL_RUNS:
        student, mode, seed = name.split("-")
        cfg = Config(student=student, embed_dim=8, hidden=8, filters=8, epochs=2 if student == "cnn" else 1,
                     train_limit=200, seed=int(seed[1:]), distill=mode == "distill",
                     teacher_logits=str(cache) if mode == "distill" else "")
        fit(cfg, data_dir, str(runs / name), log=lambda m: None)
    for name in CNN_RUNS:
        convert(str(runs / name), "int8", 64, None, data_dir, calibration_size=20)
    convert(str(runs / "cnn-baseline-s0"), "float32", 64, None, data_dir)
    ev = evaluate_tflite(str(runs / "cnn-baseline-s0" / "tflite" / "cnn_int8_L64.tflite"), data_dir, "test",
                         "litert", limit=100)
    atomic_write_json(str(runs / "cnn-baseline-s0" / "tflite" / "eval_int8_litert_test.json"), ev)
    # reproduce.sh keeps the log's last line: an error message when the step failed.
    (runs / "cnn-distill-s0" / "tflite" / "eval_int8_tflm_test.json").write_text("error: TFLM crashed\n")
    os.makedirs(runs / "bilstm-distill-s0.partial")
    return runs


def metrics(runs, name):
    return json.loads((runs / name / "metrics.json").read_text())


def manifest(runs, name):
    return json.loads((runs / name / "tflite" / "cnn_int8_L64.json").read_text())


@pytest.fixture(scope="module")
def benchmark(runs_dir, data_dir):
    """`tfdistil benchmark` for real on two runs plus a missing one, no teacher: it must skip, not crash."""
    out = runs_dir.parent / "bench"
    proc = subprocess.run([sys.executable, "-m", "tfdistil", "benchmark",
                           str(runs_dir / "cnn-baseline-s0"), str(runs_dir / "bilstm-baseline-s0"),
                           str(runs_dir / "gone-baseline-s0"), "--teacher", str(runs_dir / "no-teacher"),
                           "--n", "8", "--warmup", "2", "--data", data_dir, "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_benchmark_times_what_exists_and_skips_the_rest(benchmark):
    result = json.loads((benchmark / "benchmark.json").read_text())
    assert result["teacher"]["status"].startswith("skipped") and result["n"] == 8
    status = {(m["run"], m.get("format")): m["status"] for m in result["models"]}
    for fmt in ("keras", "float32", "int8"):
        assert status["cnn-baseline-s0", fmt] == "ok"
    assert status["bilstm-baseline-s0", "keras"] == "ok"
    assert status["bilstm-baseline-s0", "int8"].startswith("skipped")
    assert status["gone-baseline-s0", "keras"].startswith("skipped")
    ok = [m for m in result["models"] if m["status"] == "ok"]
    assert all(0 < m["latency_ms_p50"] <= m["latency_ms_p95"] for m in ok)
    assert result["cpu"]["processors"] >= 1 and result["threads"]["litert_num_threads"] == 1
    md = (benchmark / "benchmark.md").read_text()
    assert result["command"] in md and "Skipped:" in md and "| cnn int8 |" in md


def _run_report(*args):
    res = CliRunner().invoke(report, [*args, "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return json.loads(res.output.strip().splitlines()[-1])


def test_report_tables_match_the_files(runs_dir, benchmark, tmp_path):
    bench = json.loads((benchmark / "benchmark.json").read_text())
    # A teacher timing, so the speed-up column has something to divide (the real one is minutes of loading).
    bench["teacher"] = {"status": "ok", "params": 4_000_000, "latency_ms_p50": 12.5, "latency_ms_p95": 20.0}
    bench_path = tmp_path / "benchmark.json"
    bench_path.write_text(json.dumps(bench))
    out = tmp_path / "results"
    summary = _run_report(str(runs_dir), "--out", str(out), "--benchmark", str(bench_path), "--commit-models")
    assert summary["runs"] == 4 and summary["unfinished"] == 1 and summary["models_committed"] == 2
    md = (out / "REPORT.md").read_text()

    # Table 2: mean ± sample std over the two CNN baseline seeds, the single distilled seed as is.
    base = [metrics(runs_dir, n)["test_accuracy"] for n in ("cnn-baseline-s0", "cnn-baseline-s1")]
    dist = metrics(runs_dir, "cnn-distill-s0")["test_accuracy"]
    cnn_row = next(l for l in md.splitlines() if l.startswith("| CNN | 2 / 1 / 0 |"))
    assert f"{100 * np.mean(base):.2f} ± {100 * np.std(base, ddof=1):.2f}" in cnn_row
    assert f"| {100 * dist:.2f} |" in cnn_row and f"{100 * (dist - np.mean(base)):+.2f}" in cnn_row
    assert "| 79.47 | 80.39 | +0.92 |" in cnn_row  # the paper's columns beside ours
    assert f"{100 * (dist - np.mean(base)):+.2f} | – | 79.47" in cnn_row  # no augmented run: empty column
    teacher_acc = json.load(open(SHIPPED_TEACHER_INFO))["accuracy"]["test"]
    assert f"{100 * teacher_acc:.2f}" in md and "93.46 (BERT base)" in md
    verb = "improved" if dist > np.mean(base) else "did not improve"
    assert f"**CNN**: distillation {verb} test accuracy" in md
    assert "**BiLSTM**: no finished distilled run yet" in md
    # The test runs are tiny: the report says so, per group, instead of passing them off as the paper's.
    assert "- CNN, baseline: embedding 8 (paper 64), hidden 8 (paper 64), filters 8 (paper 1), vocabulary cap none (paper: not stated; 9825 words give its Table 3 sizes), epochs 2 (paper 20)" in md

    # Table 3: params, int8/float32 bytes from the manifests, latency and speed-up from the benchmark.
    t3 = next(l for l in md.splitlines() if l.startswith("| CNN | ") and "×" in l)
    assert f"{metrics(runs_dir, 'cnn-baseline-s0')['params'] / 1e6:.2f}M" in t3
    assert f"{manifest(runs_dir, 'cnn-baseline-s0')['bytes']:,}" in t3
    f32 = json.loads((runs_dir / "cnn-baseline-s0" / "tflite" / "cnn_float32_L64.json").read_text())["bytes"]
    assert f"{f32:,}" in t3
    i50 = next(m["latency_ms_p50"] for m in bench["models"] if m["run"] == "cnn-baseline-s0" and m["format"] == "int8")
    assert f"| {ms(i50)} |" in t3 and f"×{12.5 / i50:,.0f}" in t3 and "0.63M | x175" in t3

    # Every run's dev/test in the run table; the unfinished run and the broken TFLM file are noted.
    for name in ALL_RUNS:
        m = metrics(runs_dir, name)
        row = next(l for l in md.splitlines() if l.startswith(f"| {name} |"))
        assert f"{100 * m['dev_accuracy']:.2f} | {100 * m['test_accuracy']:.2f}" in row
    assert "bilstm-distill-s0.partial" in md and "eval_int8_tflm_test.json` is not valid JSON" in md
    assert "tfdistil fit --student cnn --distill --teacher-logits" in md and bench["command"] in md
    assert f"--benchmark {bench_path} --commit-models" in md

    for png in ("accuracy_vs_int8_size.png", "dev_accuracy_per_epoch.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000 and f"]({png})" in md
    assert not [f for f in os.listdir(out) if ".tmp" in f]


def test_results_json_and_committed_models(runs_dir, benchmark, tmp_path):
    from tfdistil.data.vocab import Vocab
    out = tmp_path / "results"
    _run_report(str(runs_dir), "--out", str(out), "--commit-models")
    entries = {e["name"]: e for e in json.loads((out / "results.json").read_text())}
    assert sorted(entries) == sorted(ALL_RUNS)
    best = max(("cnn-baseline-s0", "cnn-baseline-s1"),
               key=lambda n: (metrics(runs_dir, n)["dev_accuracy"], -int(n[-1])))
    other = ({"cnn-baseline-s0", "cnn-baseline-s1"} - {best}).pop()
    for name, e in entries.items():
        m = metrics(runs_dir, name)
        assert (e["student"], e["distilled"], e["augmented"], e["seed"]) == (
            m["student"], m["distilled"], False, m["seed"])
        assert [e[k] for k in ("params", "dev_accuracy", "test_accuracy")] == [
            m[k] for k in ("params", "dev_accuracy", "test_accuracy")]
    assert entries[other]["tflite_int8"] is None and entries["bilstm-baseline-s0"]["tflite_int8"] is None
    assert entries["bilstm-baseline-s0"]["tflite_int8_test_accuracy"] is None
    ev = json.loads((runs_dir / "cnn-baseline-s0" / "tflite" / "eval_int8_litert_test.json").read_text())
    assert entries["cnn-baseline-s0"]["tflite_int8_test_accuracy"] == ev["accuracy"]
    assert entries["cnn-baseline-s0"]["tflite_int8_test_runtime"] == "litert"
    for name in (best, "cnn-distill-s0"):
        e = entries[name]
        assert e["max_len"] == 64 and e["tflite_int8"].endswith("cnn_int8_L64.tflite")
        # Paths are relative to the folder holding results/ (the repo root in real use).
        model, vocab = tmp_path / e["tflite_int8"], tmp_path / e["vocab"]
        assert model.read_bytes() == (runs_dir / name / "tflite" / "cnn_int8_L64.tflite").read_bytes()
        assert os.path.getsize(model) < 2 * 1024 * 1024
        assert len(Vocab.load(str(vocab))) == manifest(runs_dir, name)["vocab_size"]
        shipped = json.loads(model.with_suffix(".json").read_text())
        assert shipped["run_dir"] == name and not os.path.isabs(shipped["run_dir"])
    assert os.path.isdir(out / "models" / "cnn-baseline") and not os.path.exists(out / "models" / "bilstm-baseline")

    # Re-rendering without --commit-models keeps pointing at the models committed before.
    _run_report(str(runs_dir), "--out", str(out))
    again = {e["name"]: e for e in json.loads((out / "results.json").read_text())}
    assert again[best]["tflite_int8"] == entries[best]["tflite_int8"]


def test_tuned_runs_are_listed_apart(runs_dir, tmp_path):
    """--tuned: a tuner's student goes to its own section, results.json ("tuned": true) and
    models/tuned-NAME/, never into Table 2's means."""
    tuned = tmp_path / "tuned" / "cnn-small-budget-s0"
    shutil.copytree(runs_dir / "cnn-baseline-s0", tuned)
    shutil.copytree(runs_dir / "cnn-baseline-s1", tmp_path / "tuned" / "cnn-small-budget-s1")
    out = tmp_path / "results"
    _run_report(str(runs_dir), "--out", str(out), "--commit-models", "--tuned", str(tuned),
                "--tuned", str(tmp_path / "tuned" / "cnn-small-budget-s1"))
    entries = {e["name"]: e for e in json.loads((out / "results.json").read_text())}
    e = entries["cnn-small-budget-s0"]
    assert e["tuned"] and not entries["cnn-baseline-s0"]["tuned"]
    # One committed model per tuned setting: its best-dev seed, like Table 2's students.
    best = max((0, 1), key=lambda i: (entries[f"cnn-small-budget-s{i}"]["dev_accuracy"], -i))
    shipped = entries[f"cnn-small-budget-s{best}"]
    assert shipped["tflite_int8"] == "results/models/tuned-cnn-small-budget/cnn_int8_L64.tflite"
    assert entries[f"cnn-small-budget-s{1 - best}"]["tflite_int8"] is None
    src = tmp_path / "tuned" / f"cnn-small-budget-s{best}" / "tflite" / "cnn_int8_L64.tflite"
    assert (tmp_path / shipped["tflite_int8"]).read_bytes() == src.read_bytes()
    md = (out / "REPORT.md").read_text()
    assert "## Tuned students (beyond the paper" in md
    assert "| CNN | 2 / 1 / 0 |" in md  # the tuned copies are not more CNN baseline seeds
    tests = [entries[f"cnn-small-budget-s{i}"]["test_accuracy"] for i in (0, 1)]
    assert "**cnn-small-budget** over 2 seeds (mean ± std): " in md
    assert f"test Keras {100 * np.mean(tests):.2f} ± {100 * np.std(tests, ddof=1):.2f}" in md
    assert "tfdistil fit --config CONFIG --seed 1" in md
    res = CliRunner().invoke(report, [str(runs_dir), "--out", str(out), "--tuned", str(tmp_path / "gone")])
    assert res.exit_code == 2 and "--tuned" in res.output and "Traceback" not in res.output


def test_missing_runs_dir_is_a_user_error(tmp_path):
    res = CliRunner().invoke(report, [str(tmp_path / "nope"), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "runs folder not found" in res.output
    os.makedirs(tmp_path / "empty")
    res = CliRunner().invoke(report, [str(tmp_path / "empty"), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "no finished runs" in res.output
    shutil.rmtree(tmp_path / "r", ignore_errors=True)


def test_runtime_gap_is_said_in_words():
    from tfdistil.report.tables import runtime_gaps

    def run(litert, tflm):
        return {"eval_litert": {"accuracy": litert, "agreement_with_keras": litert},
                "eval_tflm": {"accuracy": tflm, "agreement_with_keras": tflm}}
    groups = {("bilstm", "baseline"): [run(0.60, 0.84)], ("cnn", "baseline"): [run(0.80, 0.805)]}
    text = runtime_gaps(groups, ["bilstm", "cnn"])
    assert "**BiLSTM baseline**" in text and "60.00 in LiteRT but 84.00 in TFLite Micro" in text
    assert "CNN" not in text


def test_report_compares_the_defaults_with_the_papers_sizes_not_with_themselves():
    """tfdistil's defaults are not all the paper's (64 CNN filters vs 1; a 14.8 k vocabulary vs the
    ~9.8 k its Table 3 implies): the report must say so instead of calling the defaults "paper"."""
    from tfdistil.config import PAPER_EXACT, Config
    from tfdistil.report.tables import off_paper_settings
    default = lambda s: [{"config": Config(student=s).to_dict()}]
    exact = lambda s: [{"config": Config(student=s, **PAPER_EXACT).to_dict()}]
    text = off_paper_settings({("cnn", "distill"): default("cnn"), ("bilstm", "distill"): default("bilstm")},
                              ["cnn", "bilstm"])
    cnn_line, bilstm_line = text.splitlines()
    assert "filters 64 (paper 1)" in cnn_line and "vocabulary cap none (paper: not stated; 9825" in cnn_line
    assert "filters" not in bilstm_line and "vocabulary cap none" in bilstm_line
    assert off_paper_settings({("cnn", "distill"): exact("cnn"), ("bilstm_attn", "baseline"): exact("bilstm_attn")},
                              ["cnn", "bilstm_attn"]) == ""


def test_script_sections_are_spliced_and_kept(tmp_path):
    """A section a script measured (fortunes, paper sizes) replaces its old copy, never duplicates,
    and a re-rendered report appends every saved section."""
    from tfdistil.report.sections import append_sections, splice, write_section
    report = "# Report\n\nbody\n"
    once = splice(report, "fortunes", "## Fortunes\n\nv1")
    twice = splice(once, "fortunes", "## Fortunes\n\nv2")
    assert once.count("<!-- section: fortunes -->") == twice.count("<!-- section: fortunes -->") == 1
    assert "v2" in twice and "v1" not in twice and twice.startswith(report.rstrip("\n"))
    (tmp_path / "REPORT.md").write_text(report)
    write_section(str(tmp_path), "paper_exact", "## Paper sizes\n\nrows")
    assert "rows" in (tmp_path / "REPORT.md").read_text()
    rerendered = append_sections("# Report\n\nnew body\n", str(tmp_path))
    assert "new body" in rerendered and "## Paper sizes" in rerendered


def _tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_commit_models_never_replaces_a_folder_tfdistil_did_not_make(runs_dir, tmp_path):
    """results/models/<name> of the user's own (no tfdistil source.json, or one of theirs): one line,
    exit 2, their folder intact and nothing else written; a folder tfdistil made is replaced."""
    out = tmp_path / "results"
    mine = out / "models" / "cnn-baseline"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("my own model notes\n")
    (mine / "source.json").write_text(json.dumps({"author": "me"}))  # a source.json, but not tfdistil's
    before = _tree(out)
    for _ in range(2):
        res = CliRunner().invoke(report, [str(runs_dir), "--out", str(out), "--commit-models"])
        assert res.exit_code == 2, res.output
        assert res.stderr.count("\n") == 1 and res.stderr.startswith(f"error: {mine} exists and tfdistil did not make it")
        assert _tree(out) == before  # no other model folder, no REPORT.md, no results.json
    (mine / "source.json").unlink()
    (mine / "notes.txt").unlink()
    mine.rmdir()
    _run_report(str(runs_dir), "--out", str(out), "--commit-models")
    _run_report(str(runs_dir), "--out", str(out), "--commit-models")  # its own folders: replaced
    assert json.loads((mine / "source.json").read_text())["run"] in ("cnn-baseline-s0", "cnn-baseline-s1")


def test_ship_commits_one_run_with_its_sources_and_refuses_a_user_folder(runs_dir, tmp_path):
    """`tfdistil ship` (one shipping path with report --commit-models): the model, manifest, vocab,
    metrics, both evaluations and source.json; over a folder of the user's: one line, exit 2, intact."""
    from tfdistil.cli import main
    run = runs_dir / "cnn-baseline-s0"
    model = run / "tflite" / "cnn_int8_L64.tflite"
    logs = {}
    for rt, acc in (("tflm", 0.81), ("litert", 0.82)):
        logs[rt] = tmp_path / f"evaltflite-{rt}.log"
        logs[rt].write_text("progress 1/2\r progress 2/2\n" + json.dumps(
            {"model": str(model), "split": "test", "runtime": rt, "accuracy": acc}) + "\n")
    out = tmp_path / "results"
    args = ["ship", str(run), "picked", "--tflm-log", str(logs["tflm"]), "--litert-log", str(logs["litert"]),
            "--chosen-by", "held-out agreement", "--command", "tfdistil fit ...", "--out", str(out), "--json"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    dest = out / "models" / "picked"
    assert sorted(os.listdir(dest)) == ["cnn_int8_L64.json", "cnn_int8_L64.tflite", "eval_int8_litert_test.json",
                                        "eval_int8_tflm_test.json", "metrics.json", "source.json", "vocab.json"]
    src = json.loads((dest / "source.json").read_text())
    assert (src["chosen_by"], src["commands"], src["seed"]) == ("held-out agreement", ["tfdistil fit ..."], 0)
    assert (src["tflite_int8_test_accuracy"], src["tflite_int8_tflm_test_accuracy"]) == (0.82, 0.81)
    assert json.loads((dest / "cnn_int8_L64.json").read_text())["run_dir"] == "cnn-baseline-s0"
    assert CliRunner().invoke(main, args).exit_code == 0  # its own folder: replaced
    # A wrong log (another model) is refused before anything is written.
    wrong = tmp_path / "wrong.log"
    wrong.write_text(json.dumps({"model": "elsewhere.tflite", "split": "test", "accuracy": 0.5}) + "\n")
    res = CliRunner().invoke(main, [*args[:2], "other", args[3], str(wrong), *args[5:]])
    assert res.exit_code == 2 and "is not a test-split evaluation" in res.stderr and not (out / "models" / "other").exists()
    user = out / "models" / "users"
    user.mkdir()
    (user / "model.tflite").write_bytes(b"mine")
    res = CliRunner().invoke(main, [*args[:2], "users", *args[3:]])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    assert res.stderr.startswith(f"error: {user} exists and tfdistil did not make it")
    assert _tree(user) == {"model.tflite": b"mine"} and sorted(os.listdir(out / "models")) == ["picked", "users"]


def test_benchmark_rerenders_the_committed_table_3(tmp_path):
    """`tfdistil benchmark --render-json`: the committed Table 3 (experiments/paper_tables/) comes back
    line for line from its JSON, int16x8 rows included; only the note on the moved script is extra."""
    from tfdistil.cli import main
    study = os.path.join(ROOT, "experiments", "paper_tables")
    res = CliRunner().invoke(main, ["benchmark", "--render-json", os.path.join(study, "benchmark.json"), "--out",
                                    str(tmp_path / "new"), "--int16x8",
                                    os.path.join(ROOT, "experiments", "ablations", "int16x8.json")])
    assert res.exit_code == 0, res.output
    committed = open(os.path.join(study, "benchmark.md"), encoding="utf-8").read().splitlines()
    assert (tmp_path / "new" / "benchmark.md").read_text().splitlines() == [
        line for line in committed if not line.startswith("- made by `scripts/benchmark.py`")]
