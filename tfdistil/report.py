"""Render the paper's Tables 2 and 3 beside our measurements: REPORT.md, plots, results.json.

Everything we report is read from files that the pipeline wrote (run folders from
`scripts/reproduce.sh`, the teacher's provenance JSON, `scripts/benchmark.py`'s
JSON); the only numbers in this module are the paper's own, quoted in `PAPER` so
that the two can sit side by side. Whatever is missing renders as "–", so the
report can be regenerated at any point while runs are still training.

Layout read, per run folder `RUNS_DIR/<student>-<baseline|distill>-s<seed>/`:
  metrics.json, history.json, config.json, vocab.json,
  tflite/<student>_{int8,float32}_L<len>.{tflite,json},
  tflite/eval_int8_{litert,tflm}_test.json
"""
import glob
import json
import os
import re
import shutil

import numpy as np

from .data import atomic_write_json, atomic_write_text
from .errors import UserError

# The paper's Tables 2 and 3, as printed (test accuracy in %, parameters in millions).
# `inference` is the paper's "Inference" column verbatim; it is a parameter ratio, not a timing.
PAPER = {
    "source": "Tables 2 and 3 of the reproduced paper (BERT distillation into BiLSTM/CNN on SST-2)",
    "teacher": {"name": "BERT base", "test_accuracy": 93.46, "params_m": 110.0, "inference": "x1"},
    "students": {
        "bilstm_attn": {"baseline": 85.21, "distill": 85.37, "params_m": 0.75, "inference": "x160"},
        "bilstm": {"baseline": 83.03, "distill": 84.40, "params_m": None, "inference": None},
        "cnn": {"baseline": 79.47, "distill": 80.39, "params_m": 0.63, "inference": "x175"},
    },
}
BERT_BASE_PARAMS = PAPER["teacher"]["params_m"] * 1e6
STUDENT_ORDER = ("bilstm_attn", "bilstm", "cnn")  # the paper's row order
STUDENT_NAMES = {"bilstm_attn": "BiLSTM-Attn", "bilstm": "BiLSTM", "cnn": "CNN"}
MODES = ("baseline", "distill", "augment")  # augment = distilled on an augmented transfer set
MODE_NAMES = {"baseline": "the baseline", "distill": "plain distillation", "augment": "augmented distillation"}
RUN_NAME = re.compile(r"^(?P<student>[a-z_]+)-(?P<mode>baseline|distill|augment)-s(?P<seed>\d+)$")
SHIPPED_TEACHER_INFO = os.path.join(os.path.dirname(__file__), "assets", "sst2_minilm_logits.json")
DASH = "–"
COLORS = {"bilstm_attn": "tab:blue", "bilstm": "tab:green", "cnn": "tab:red"}


# --------------------------------------------------------------------------- reading
def read_json(path, notes=None):
    """A JSON file's content, or None when it is absent or unreadable (noted, never fatal:
    reproduce.sh stores the last log line, which is an error message when a step failed)."""
    if not path or not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        if notes is not None:
            notes.append(f"`{path}` is not valid JSON; treated as missing")
        return None


def _tflite_files(run_dir, student, quantization):
    """(flatbuffer, manifest) of one quantization; the L64 export first, any length otherwise."""
    folder = os.path.join(run_dir, "tflite")
    preferred = os.path.join(folder, f"{student}_{quantization}_L64.tflite")
    candidates = [preferred] + sorted(glob.glob(os.path.join(folder, f"{student}_{quantization}_L*.tflite")))
    for path in candidates:
        manifest = path[: -len(".tflite")] + ".json"
        if os.path.isfile(path) and os.path.isfile(manifest):
            return path, manifest
    return None, None


def read_run(run_dir, notes):
    """Everything one run folder has to say, or None when it has no metrics.json (still training)."""
    name = os.path.basename(os.path.normpath(run_dir))
    metrics = read_json(os.path.join(run_dir, "metrics.json"), notes)
    if not metrics:
        return None
    match = RUN_NAME.match(name)
    student = metrics.get("student") or (match and match["student"])
    distilled = bool(metrics.get("distilled", match and match["mode"] in ("distill", "augment")))
    augmented = bool(metrics.get("augmented", match and match["mode"] == "augment"))
    seed = metrics.get("seed", int(match["seed"]) if match else None)
    run = {"name": name, "dir": run_dir, "student": student, "distilled": distilled,
           "augmented": augmented, "mode": "augment" if augmented else "distill" if distilled else "baseline",
           "seed": seed, "metrics": metrics,
           "config": read_json(os.path.join(run_dir, "config.json"), notes) or {},
           "history": read_json(os.path.join(run_dir, "history.json"), notes) or []}
    for q in ("int8", "float32"):
        path, manifest = _tflite_files(run_dir, student, q)
        run[f"tflite_{q}"] = path
        run[f"manifest_{q}"] = read_json(manifest, notes) if manifest else None
    for rt in ("litert", "tflm"):
        ev = read_json(os.path.join(run_dir, "tflite", f"eval_int8_{rt}_test.json"), notes)
        if isinstance(ev, dict) and ev.get("split", "test") != "test":
            notes.append(f"{name}: eval_int8_{rt}_test.json is on the {ev['split']} split; ignored")
            ev = None
        run[f"eval_{rt}"] = ev if isinstance(ev, dict) and "accuracy" in ev else None
    return run


def collect_runs(runs_dir, notes):
    """Finished runs (sorted by student, mode, seed) and the names of unfinished ones."""
    if not os.path.isdir(runs_dir):
        raise UserError(f"{runs_dir}: runs folder not found (make runs with scripts/reproduce.sh)")
    runs, unfinished = [], []
    for entry in sorted(os.listdir(runs_dir)):
        path = os.path.join(runs_dir, entry)
        if not os.path.isdir(path):
            continue
        run = None if entry.endswith(".partial") else read_run(path, notes)
        if run is None:
            if entry.endswith(".partial") or RUN_NAME.match(entry):
                unfinished.append(entry)
            continue
        runs.append(run)
    order = {s: i for i, s in enumerate(STUDENT_ORDER)}
    runs.sort(key=lambda r: (order.get(r["student"], 99), r["student"], r["mode"], r["seed"] or 0))
    return runs, unfinished


def bert_params(config):
    """Parameter count of a BertForSequenceClassification from its config.json: lets the
    report state the teacher's size without loading TensorFlow."""
    try:
        h, i, n = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
        v, p, t = config["vocab_size"], config["max_position_embeddings"], config.get("type_vocab_size", 2)
        labels = len(config.get("id2label") or {}) or 2
    except (KeyError, TypeError):
        return None
    embeddings = (v + p + t) * h + 2 * h
    layer = 4 * (h * h + h) + 2 * h + (h * i + i) + (i * h + h) + 2 * h
    return embeddings + n * layer + (h * h + h) + (h * labels + labels)


def read_teacher(info_path, teacher_dir, bench, notes):
    """Teacher name, test accuracy and parameter count, each with where it came from."""
    teacher = {"name": None, "test_accuracy": None, "dev_accuracy": None, "params": None,
               "params_source": None, "source": shown(info_path), "commands": []}
    if info_path and info_path.endswith(".npz"):
        from .logits_cache import read_header
        header = read_header(info_path)
        splits = header.get("splits", {})
        teacher.update(name=header.get("teacher"), test_accuracy=splits.get("test", {}).get("accuracy"),
                       dev_accuracy=splits.get("dev", {}).get("accuracy"))
    else:
        info = read_json(info_path, notes)
        if info is None:
            notes.append(f"teacher provenance `{info_path}` not found: teacher row left empty")
        else:
            acc = info.get("accuracy", {})
            teacher.update(name=info.get("teacher"), test_accuracy=acc.get("test"), dev_accuracy=acc.get("dev"),
                           commands=info.get("commands", []))
    teacher["short"] = (teacher["name"] or DASH).split(" (")[0]
    if bench and (bench.get("teacher") or {}).get("params"):
        teacher.update(params=bench["teacher"]["params"], params_source="counted by scripts/benchmark.py")
    elif teacher_dir:
        params = bert_params(read_json(os.path.join(teacher_dir, "config.json")))
        if params:
            teacher.update(params=params, params_source=f"computed from `{teacher_dir}/config.json`")
    return teacher


def read_benchmark(path, notes):
    if not path:
        return None
    bench = read_json(path, notes)
    if bench is None:
        notes.append(f"benchmark `{path}` not found: latency columns left empty "
                     f"(make it with `python scripts/benchmark.py`)")
    return bench


# --------------------------------------------------------------------------- statistics
def group_runs(runs):
    """{(student, mode): [runs]} in the paper's row order."""
    groups = {}
    for r in runs:
        groups.setdefault((r["student"], r["mode"]), []).append(r)
    return groups


def students_of(runs):
    seen = []
    for r in runs:
        if r["student"] not in seen:
            seen.append(r["student"])
    return seen


def mean_std(values):
    """(mean, sample std or None, n) over the values that exist."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None, None, 0
    std = float(np.std(vals, ddof=1)) if len(vals) > 1 else None
    return float(np.mean(vals)), std, len(vals)


def pct(x, digits=2):
    return DASH if x is None else f"{100 * x:.{digits}f}"


def pct_ms(mean, std):
    """'82.43 ± 0.31' over seeds; just the mean for a single seed (no spread to show)."""
    if mean is None:
        return DASH
    return pct(mean) if std is None else f"{pct(mean)} ± {pct(std)}"


def nbytes(b):
    return DASH if b is None else f"{int(b):,}"


def kib(b):
    return DASH if b is None else f"{b / 1024:,.0f} KiB"


def millions(p):
    return DASH if p is None else f"{p / 1e6:.2f}M"


def ratio(a, b):
    return DASH if not a or not b else f"×{a / b:,.0f}" if a / b >= 10 else f"×{a / b:.1f}"


def ms(x):
    """Milliseconds with about three significant digits (int8 CNNs take microseconds)."""
    return DASH if x is None else f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def _value(runs, getter):
    """getter over runs, skipping runs where a file is missing."""
    out = []
    for r in runs:
        try:
            out.append(getter(r))
        except (KeyError, TypeError):
            out.append(None)
    return out


def same_or_range(values, fmt):
    vals = sorted({v for v in values if v is not None})
    if not vals:
        return DASH
    return fmt(vals[0]) if len(vals) == 1 else f"{fmt(vals[0])}–{fmt(vals[-1])}"


def setting_of(run_name):
    """A run's name without its seed (`x-s2` -> `x`): seeds of one setting are grouped by it."""
    return re.sub(r"-s\d+$", "", run_name)


def by_setting(runs):
    groups = {}
    for r in runs:
        groups.setdefault(setting_of(r["name"]), []).append(r)
    return groups


def best_run(runs):
    """The seed with the best dev accuracy (lowest seed on ties): the one we ship."""
    return max(runs, key=lambda r: (r["metrics"].get("dev_accuracy") or -1, -(r["seed"] or 0)))


def int8_accuracy(run):
    """Test accuracy of the int8 flatbuffer: LiteRT first (the interpreter `tflite/classify.py`
    runs on a Pi, so anyone can re-measure it), else TFLM. The TFLM figure has its own field;
    the two can differ by a few sentences because their int8 kernels round differently."""
    for rt in ("litert", "tflm"):
        if run.get(f"eval_{rt}"):
            return run[f"eval_{rt}"]["accuracy"], rt
    return None, None


# --------------------------------------------------------------------------- benchmark lookups
def bench_latency(bench, student, fmt, stat="latency_ms_p50"):
    """Median over the benchmarked runs of one student of one format's latency (ms)."""
    if not bench:
        return None
    vals = [m.get(stat) for m in bench.get("models", [])
            if m.get("student") == student and m.get("format") == fmt and m.get("status") == "ok"]
    vals = [v for v in vals if v is not None]
    return float(np.median(vals)) if vals else None


def teacher_latency(bench, stat="latency_ms_p50"):
    t = (bench or {}).get("teacher") or {}
    return t.get(stat) if t.get("status") == "ok" else None


# --------------------------------------------------------------------------- tables
def table2(groups, students, teacher):
    """Test accuracy, ours (mean ± std over seeds) beside the paper: baseline, distilled, and
    distilled on an augmented transfer set (the paper has no such column)."""
    rows = ["| Model | Seeds (base / dist / aug) | Baseline (ours) | Distilled (ours) | Δ (ours) "
            "| Distilled + augmented (ours) | Baseline (paper) | Distilled (paper) | Δ (paper) |",
            "|---|---|---|---|---|---|---|---|---|"]
    p = PAPER["teacher"]
    rows.append(f"| Teacher: {teacher['short']} | {1 if teacher['test_accuracy'] is not None else 0} "
                f"| {pct(teacher['test_accuracy'])} | {DASH} | {DASH} | {DASH} "
                f"| {p['test_accuracy']:.2f} ({p['name']}) | {DASH} | {DASH} |")
    for s in students:
        base, dist, aug = (mean_std(_value(groups.get((s, mode), []), lambda r: r["metrics"]["test_accuracy"]))
                           for mode in MODES)
        delta = f"{100 * (dist[0] - base[0]):+.2f}" if base[0] is not None and dist[0] is not None else DASH
        ps = PAPER["students"].get(s, {})
        pb, pd = ps.get("baseline"), ps.get("distill")
        pdelta = f"{pd - pb:+.2f}" if pb is not None and pd is not None else DASH
        rows.append(f"| {STUDENT_NAMES.get(s, s)} | {base[2]} / {dist[2]} / {aug[2]} | {pct_ms(base[0], base[1])} "
                    f"| {pct_ms(dist[0], dist[1])} | {delta} | {pct_ms(aug[0], aug[1])} "
                    f"| {pb if pb is not None else DASH} | {pd if pd is not None else DASH} | {pdelta} |")
    return "\n".join(rows)


SETTING_NAMES = {"embed_dim": "embedding", "hidden": "hidden", "filters": "filters", "dropout": "dropout",
                 "max_len": "max length", "min_freq": "min word count", "max_vocab": "vocabulary cap",
                 "epochs": "epochs", "batch_size": "batch", "lr": "lr", "gamma": "StepLR γ", "alpha": "α",
                 "distill_loss": "soft-target loss", "temperature": "temperature"}


def off_paper_settings(groups, students):
    """Which runs did not use the paper's settings (tfdistil's defaults), and how: a reader must not
    take a recipe change for an effect of the method."""
    from .config import Config
    paper = Config().to_dict()
    lines = []
    for s in students:
        for mode in MODES:
            rs = groups.get((s, mode), [])
            if not rs:
                continue
            diffs = []
            for key, label in SETTING_NAMES.items():
                if key in ("alpha", "distill_loss", "temperature") and mode == "baseline":
                    continue  # no soft targets, so no distillation knobs
                vals = {json.dumps(r["config"].get(key, paper[key])) for r in rs}
                if vals != {json.dumps(paper[key])}:
                    shown_vals = " / ".join(sorted(vals))
                    diffs.append(f"{label} {shown_vals} (paper {json.dumps(paper[key])})")
            if diffs:
                group = f"{STUDENT_NAMES.get(s, s)}, {MODE_NAMES[mode].replace('the ', '')}"
                lines.append(f"- {group}: " + ", ".join(diffs))
    return "\n".join(lines)


def _compare(groups, s, mode, against, what):
    """One sentence: did `mode` beat `against` for student s, and is it beyond the seed spread?"""
    name = STUDENT_NAMES.get(s, s)
    a = mean_std(_value(groups.get((s, mode), []), lambda r: r["metrics"]["test_accuracy"]))
    b = mean_std(_value(groups.get((s, against), []), lambda r: r["metrics"]["test_accuracy"]))
    if not a[2] or not b[2]:
        return None
    d = 100 * (a[0] - b[0])
    spread = max(a[1] or 0.0, b[1] or 0.0)
    if a[2] < 2 or b[2] < 2:
        caveat = " With a single seed on at least one side there is no seed spread to compare against."
    elif abs(d) <= 100 * spread:
        caveat = f" The difference is within the seed-to-seed spread (std up to {100 * spread:.2f} points)."
    else:
        caveat = f" The difference is larger than the seed-to-seed spread (std up to {100 * spread:.2f} points)."
    verb = "improved" if d > 0 else "did not improve"
    return (f"- **{name}**: {what} {verb} test accuracy over {MODE_NAMES[against]} "
            f"({pct(a[0])} vs {pct(b[0])}, {d:+.2f} points; means over {a[2]} and {b[2]} seed(s)).{caveat}")


def verdicts(groups, students):
    """One plain sentence per student: did distillation beat its own baseline (and augmentation
    beat plain distillation, where it was run)?"""
    lines = []
    for s in students:
        line = _compare(groups, s, "distill", "baseline", "distillation")
        if line is None:
            missing = "baseline" if not groups.get((s, "baseline")) else "distilled"
            line = (f"- **{STUDENT_NAMES.get(s, s)}**: no finished {missing} run yet, so we cannot say whether "
                    f"distillation helps.")
        lines.append(line)
        if groups.get((s, "augment")):
            lines.append(_compare(groups, s, "augment", "distill", "distilling on the augmented transfer set")
                         or f"- **{STUDENT_NAMES.get(s, s)}**: augmented runs but no plain distilled run to compare.")
    return "\n".join(lines)


def tuned_table(tuned):
    """Students from `tfdistil tune` (given with --tuned): architecture, size, and what the int8 file does."""
    rows = ["| Run | Vocab / embed / hidden | lr / α / dropout / epochs | Params | int8 bytes | Dev | Test (Keras) "
            "| int8 LiteRT test | int8 TFLM test | TFLM arena (min) | int8 ms LiteRT / TFLM | Trained on |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in tuned:
        c, m = r["config"], r["metrics"]
        source = (f"augmented transfer set ({nbytes(m.get('train_rows'))} rows)" if r["augmented"]
                  else "SST-2 train + teacher logits" if r["distilled"] else "SST-2 train")
        recipe = " / ".join(str(c.get(k, DASH)) for k in ("lr", "alpha", "dropout", "epochs"))
        rows.append(f"| {r['name']} | {c.get('vocab_size', DASH)} / {c.get('embed_dim', DASH)} / {c.get('hidden', DASH)} "
                    f"| {recipe} | {nbytes(m.get('params'))} | {nbytes((r['manifest_int8'] or {}).get('bytes'))} "
                    f"| {pct(m.get('dev_accuracy'))} | {pct(m.get('test_accuracy'))} "
                    f"| {pct((r['eval_litert'] or {}).get('accuracy'))} | {pct((r['eval_tflm'] or {}).get('accuracy'))} "
                    f"| {nbytes((r['eval_tflm'] or {}).get('arena_bytes_min'))} "
                    f"| {ms((r['eval_litert'] or {}).get('latency_ms_p50'))} / "
                    f"{ms((r['eval_tflm'] or {}).get('latency_ms_p50'))} | {source} |")
    return "\n".join(rows + tuned_seed_means(tuned))


def tuned_seed_means(tuned):
    """One line per tuned setting run with several seeds (names differing only in `-sN`): a single
    seed's test accuracy is ±0.8 points of noise on 1,821 sentences, so the mean is the claim."""
    lines = []
    for setting, rs in by_setting(tuned).items():
        if len(rs) < 2:
            continue
        dev, test = (mean_std(r["metrics"].get(k) for r in rs) for k in ("dev_accuracy", "test_accuracy"))
        lite, tflm = (mean_std((r[k] or {}).get("accuracy") for r in rs) for k in ("eval_litert", "eval_tflm"))
        lines.append(f"- **{setting}** over {len(rs)} seeds (mean ± std): dev {pct_ms(*dev[:2])}, "
                     f"test Keras {pct_ms(*test[:2])}, int8 LiteRT {pct_ms(*lite[:2])}, "
                     f"int8 TFLM {pct_ms(*tflm[:2])}.")
    return ["", *lines] if lines else []


def transfer_sets(runs):
    """The augmented transfer sets behind the "distilled + augmented" runs: size, how much of it is
    labelled, how fast the teacher labelled it, and what streaming training cost."""
    rows = ["| Run | Transfer set | Rows | Labelled (SST-2 train) | Augmented (teacher only) "
            "| Teacher labelling | Student s/epoch | Peak RSS |", "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        if not r["augmented"]:
            continue
        m = r["metrics"]
        ts = m.get("transfer_set") or {}
        lab = ts.get("labelling") or {}
        speed = (f"{lab['seconds'] / 60:.1f} min, {lab['sentences_per_second']:,.0f} sentences/s"
                 if lab.get("seconds") and lab.get("sentences_per_second") else DASH)
        rows.append(f"| {r['name']} | `{ts.get('dir', DASH)}` | {nbytes(m.get('train_rows'))} "
                    f"| {nbytes(m.get('labelled_rows'))} | {nbytes(m.get('unlabelled_rows'))} | {speed} "
                    f"| {m.get('seconds_per_epoch', DASH)} | {m.get('peak_rss_mb', DASH)} MB |")
    return "\n".join(rows) if len(rows) > 2 else ""


def table3(runs, groups, students, teacher, bench):
    """Size and speed: params, ratios, flatbuffer bytes, measured CPU latency and speed-up."""
    t50 = teacher_latency(bench)
    rows = ["| Model | Params (ours) | Smaller than teacher | Smaller than BERT-base (110M) "
            "| int8 .tflite bytes | float32 .tflite bytes | CPU ms/sentence: Keras | LiteRT float32 | LiteRT int8 "
            "| Speed-up vs teacher: Keras | LiteRT int8 | Params (paper) | \"Inference\" (paper) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    p = PAPER["teacher"]
    rows.append(f"| Teacher: {teacher['short']} | {millions(teacher['params'])} | ×1 "
                f"| {ratio(BERT_BASE_PARAMS, teacher['params'])} | {DASH} | {DASH} | {ms(t50)} | {DASH} | {DASH} "
                f"| {'×1' if t50 else DASH} | {DASH} | {p['params_m']:g}M ({p['name']}) | {p['inference']} |")
    for s in students:
        rs = [r for r in runs if r["student"] == s]
        params = _value(rs, lambda r: r["metrics"]["params"])
        known = [v for v in params if v]
        p_one = float(np.median(known)) if known else None
        k50, f50, i50 = (bench_latency(bench, s, f) for f in ("keras", "float32", "int8"))
        ps = PAPER["students"].get(s, {})
        rows.append(
            f"| {STUDENT_NAMES.get(s, s)} | {same_or_range(params, millions)} | {ratio(teacher['params'], p_one)} "
            f"| {ratio(BERT_BASE_PARAMS, p_one)} "
            f"| {same_or_range(_value(rs, lambda r: r['manifest_int8']['bytes']), nbytes)} "
            f"| {same_or_range(_value(rs, lambda r: r['manifest_float32']['bytes']), nbytes)} "
            f"| {ms(k50)} | {ms(f50)} | {ms(i50)} | {ratio(t50, k50)} | {ratio(t50, i50)} "
            f"| {str(ps['params_m']) + 'M' if ps.get('params_m') else DASH} | {ps.get('inference') or DASH} |")
    return "\n".join(rows)


def edge_table(groups, students):
    """What the shipped int8 file does on test, in LiteRT (Pi) and TFLite Micro (MCU)."""
    rows = ["| Model | Mode | Keras test (float) | int8 LiteRT test | int8 TFLM test "
            "| Agreement int8 vs Keras (TFLM, else LiteRT) "
            "| TFLM arena (min bytes) | LiteRT int8 ms p50 (eval) |",
            "|---|---|---|---|---|---|---|---|"]
    for s in students:
        for mode in MODES:
            rs = groups.get((s, mode), [])
            if not rs:
                continue

            def ev(key, rt):
                return mean_std(_value(rs, lambda r: r[f"eval_{rt}"][key]))

            def cell(stat):
                """mean ± std, with the number of runs when not every seed has the file."""
                text = pct_ms(stat[0], stat[1])
                return text if stat[2] in (0, len(rs)) else f"{text} (n={stat[2]} of {len(rs)})"

            keras = mean_std(_value(rs, lambda r: r["metrics"]["test_accuracy"]))
            lit, tflm = ev("accuracy", "litert"), ev("accuracy", "tflm")
            agree = mean_std(_value(rs, lambda r: (r["eval_tflm"] or r["eval_litert"])["agreement_with_keras"]))
            arena = _value(rs, lambda r: r["eval_tflm"]["arena_bytes_min"])
            lat = ev("latency_ms_p50", "litert")
            rows.append(f"| {STUDENT_NAMES.get(s, s)} | {mode} | {cell(keras)} "
                        f"| {cell(lit)} | {cell(tflm)} | {cell(agree)} "
                        f"| {same_or_range(arena, nbytes)} | {ms(lat[0])} |")
    return "\n".join(rows)


RUNTIME_GAP = 0.02  # int8 accuracy gap (LiteRT vs TFLM) worth a sentence: beyond rounding of one flatbuffer


def runtime_gaps(groups, students):
    """Sentences for (student, mode)s whose one int8 file scores differently in LiteRT and TFLM:
    the same flatbuffer should not, and a Pi (LiteRT) user gets the LiteRT number."""
    lines = []
    for s in students:
        for mode in MODES:
            rs = [r for r in groups.get((s, mode), []) if r["eval_litert"] and r["eval_tflm"]]
            if not rs:
                continue
            lit = np.mean([r["eval_litert"]["accuracy"] for r in rs])
            tflm = np.mean([r["eval_tflm"]["accuracy"] for r in rs])
            if abs(lit - tflm) > RUNTIME_GAP:
                agree = [np.mean([r[f"eval_{rt}"].get("agreement_with_keras") or np.nan for r in rs])
                         for rt in ("litert", "tflm")]
                lines.append(f"- **{STUDENT_NAMES.get(s, s)} {mode}**: the same int8 file scores {pct(lit)} in LiteRT "
                             f"but {pct(tflm)} in TFLite Micro (agreement with Keras {pct(agree[0])} vs "
                             f"{pct(agree[1])}, {len(rs)} run(s)); a Raspberry Pi running LiteRT gets the "
                             f"LiteRT number.")
    return "\n".join(lines)


def runs_table(runs, commit):
    """Every run, one row: the raw numbers behind the means."""
    rows = ["| Run | Params | Best epoch / epochs | Dev | Test | int8 bytes | int8 test (runtime) "
            "| Train time | Shipped |", "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        m = r["metrics"]
        acc, rt = int8_accuracy(r)
        shipped = commit.get(r["name"], {}).get("tflite_int8")
        minutes = DASH if m.get("train_seconds") is None else f"{m['train_seconds'] / 60:.1f} min"
        runtime = f" ({rt})" if rt else ""
        rows.append(f"| {r['name']} | {nbytes(m.get('params'))} | {m.get('best_epoch', DASH)} / {len(r['history'])} "
                    f"| {pct(m.get('dev_accuracy'))} | {pct(m.get('test_accuracy'))} "
                    f"| {nbytes((r['manifest_int8'] or {}).get('bytes'))} | {pct(acc)}{runtime} "
                    f"| {minutes} | {'`' + shipped + '`' if shipped else DASH} |")
    return "\n".join(rows)


# --------------------------------------------------------------------------- plots
def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path):
    """PNG via a temporary name: a reader never sees half an image."""
    plt = _plt()
    tmp = f"{path}.tmp{os.getpid()}"
    fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def plot_accuracy_vs_size(groups, students, teacher, path, tuned=()):
    """Test accuracy against int8 flatbuffer bytes; the paper (and our teacher, which has no
    int8 file) are placed at params × 1 byte, the size an int8 export of them would have.
    Tuned runs (--tuned) are drawn as their own points, one per setting (mean over its seeds)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 4.8))
    int8_labelled = False
    points = [(s, mode, marker, groups.get((s, mode), []), f"{STUDENT_NAMES.get(s, s)} {mode} (ours, Keras)")
              for s in students for mode, marker in (("baseline", "o"), ("distill", "s"), ("augment", "D"))]
    points += [(rs[0]["student"], "tuned", "P", rs, f"{setting} (tuned, ours, Keras)")
               for setting, rs in by_setting(tuned).items()]
    for s, mode, marker, rs, label in points:
        size = mean_std(_value(rs, lambda r: r["manifest_int8"]["bytes"]))[0]
        acc = mean_std(_value(rs, lambda r: r["metrics"]["test_accuracy"]))
        if size is None or acc[0] is None:
            continue
        ax.errorbar(size, 100 * acc[0], yerr=100 * (acc[1] or 0), fmt=marker, color=COLORS.get(s),
                    capsize=3, alpha=0.8, markersize=7 if mode == "baseline" else 6,
                    markeredgecolor="black" if mode == "tuned" else None, label=label)
        if mode == "tuned":  # several tuned settings can share a student's colour: name each point
            ax.annotate(label.split(" (")[0], (size, 100 * acc[0]), textcoords="offset points", xytext=(6, 4),
                        fontsize=6.5)
        q = mean_std([int8_accuracy(r)[0] for r in rs])[0]
        if q is not None:
            ax.plot(size, 100 * q, marker="x", color=COLORS.get(s), linestyle="none", markersize=8,
                    label=None if int8_labelled else "int8 .tflite's own test accuracy (ours)")
            int8_labelled = True
    if teacher["params"] and teacher["test_accuracy"] is not None:
        ax.plot(teacher["params"], 100 * teacher["test_accuracy"], marker="*", markersize=14, color="black",
                linestyle="none", label="teacher (ours), params × 1 B")
    p = PAPER["teacher"]
    ax.plot(p["params_m"] * 1e6, p["test_accuracy"], marker="*", markersize=14, markerfacecolor="none",
            color="gray", linestyle="none", label=f"{p['name']} (paper), params × 1 B")
    for s in STUDENT_ORDER:
        ps = PAPER["students"][s]
        if not ps["params_m"]:
            continue
        for mode, marker in (("baseline", "o"), ("distill", "s")):
            ax.plot(ps["params_m"] * 1e6, ps[mode], marker=marker, markerfacecolor="none", markersize=9,
                    color=COLORS[s], linestyle="none", label=f"{STUDENT_NAMES[s]} {mode} (paper), params × 1 B")
    ax.set_xscale("log")
    ax.set_xlabel("model size (bytes, log): int8 .tflite for ours; params × 1 byte where marked")
    ax.set_ylabel("SST-2 test accuracy (%)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=6.5, loc="center left", bbox_to_anchor=(1.01, 0.5))  # outside: the points need the room
    fig.tight_layout()
    _save(fig, path)


def plot_dev_curves(groups, students, path):
    """Dev accuracy per epoch, baseline against distilled, one panel per student, one line per seed."""
    plt = _plt()
    from matplotlib.ticker import MaxNLocator
    fig, axes = plt.subplots(1, max(1, len(students)), figsize=(4.2 * max(1, len(students)), 3.4), squeeze=False)
    for ax, s in zip(axes[0], students):
        for mode, color in (("baseline", "tab:blue"), ("distill", "tab:orange")):
            rs = [r for r in groups.get((s, mode), []) if r["history"]]
            for i, r in enumerate(rs):
                ax.plot([h["epoch"] for h in r["history"]], [100 * h["dev_accuracy"] for h in r["history"]],
                        color=color, alpha=0.35 if len(rs) > 1 else 1.0, marker="." if len(r["history"]) < 3 else None,
                        label=None if len(rs) > 1 else f"{mode} (seed {r['seed']})")
            if len(rs) > 1:
                n = min(len(r["history"]) for r in rs)
                mean = np.mean([[100 * h["dev_accuracy"] for h in r["history"][:n]] for r in rs], axis=0)
                ax.plot(range(1, n + 1), mean, color=color, linewidth=2.2, label=f"{mode} (mean of {len(rs)} seeds)")
        ax.set_title(STUDENT_NAMES.get(s, s))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel("dev accuracy (%)")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)


# --------------------------------------------------------------------------- models + results.json
def repo_root(out):
    """The folder paths in results.json are relative to: the git checkout holding `out`,
    else out's parent (so `results/models/...` reads the same everywhere)."""
    d = os.path.abspath(out)
    while True:
        if os.path.exists(os.path.join(d, ".git")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return os.path.dirname(os.path.abspath(out))
        d = parent


def _rel(path, root):
    """`path` relative to `root`, or as absolute when it lies outside root."""
    rel = os.path.relpath(os.path.abspath(path), root).replace(os.sep, "/")
    return os.path.abspath(path) if rel.startswith("..") else rel


def shown(path):
    """A path as a reader of REPORT.md can find it: relative to the working folder when inside it."""
    return _rel(path, os.getcwd()) if path else path


def model_folder(out, run):
    """Where a run's int8 model is committed: one folder per (student, mode), or per tuned setting."""
    name = f"tuned-{setting_of(run['name'])}" if run.get("tuned") else f"{run['student']}-{run['mode']}"
    return os.path.join(out, "models", name)


def _ship(r, dest, root, notes, chosen_by):
    """Copy one run's int8 flatbuffer + manifest + vocab (+ source.json) into dest, atomically."""
    tmp = f"{dest}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    model = os.path.join(tmp, os.path.basename(r["tflite_int8"]))
    shutil.copyfile(r["tflite_int8"], model)
    beside = os.path.join(os.path.dirname(r["tflite_int8"]), "vocab.json")
    shutil.copyfile(beside if os.path.isfile(beside) else os.path.join(r["dir"], "vocab.json"),
                    os.path.join(tmp, "vocab.json"))
    manifest = dict(r["manifest_int8"], run_dir=r["name"])  # no absolute paths of this machine
    atomic_write_json(model[: -len(".tflite")] + ".json", manifest)
    acc, rt = int8_accuracy(r)
    atomic_write_json(os.path.join(tmp, "source.json"), {
        "run": r["name"], "seed": r["seed"], "chosen_by": chosen_by,
        "dev_accuracy": r["metrics"].get("dev_accuracy"), "test_accuracy": r["metrics"].get("test_accuracy"),
        "tflite_int8_test_accuracy": acc, "tflite_int8_test_runtime": rt,
        "tflite_int8_tflm_test_accuracy": (r["eval_tflm"] or {}).get("accuracy")})
    if os.path.getsize(model) > 2 * 1024 * 1024:
        notes.append(f"`{_rel(dest, root)}`: flatbuffer is over 2 MB")
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    return {"tflite_int8": _rel(os.path.join(dest, os.path.basename(model)), root),
            "vocab": _rel(os.path.join(dest, "vocab.json"), root)}


def commit_models(groups, out, root, notes, tuned=()):
    """Copy the best seed's int8 flatbuffer + manifest + vocab of each (student, mode), and of each
    tuned setting, into out/models/<folder>/, small enough (< 2 MB) to live in git."""
    shipped = {}
    chosen = [(best_run(rs), "best dev accuracy over seeds") for rs in groups.values()]
    chosen += [(best_run(rs), "best dev accuracy over the seeds of a tuned setting (--tuned)")
               for rs in by_setting(tuned).values()]
    for r, why in chosen:
        if not r["tflite_int8"]:
            notes.append(f"{model_folder(out, r)}: `{r['name']}` has no int8 flatbuffer; nothing committed")
            continue
        shipped[r["name"]] = _ship(r, model_folder(out, r), root, notes, why)
    return shipped


def committed_models(runs, out, root):
    """Models committed by an earlier `--commit-models`, still matching their run: keeps
    results.json pointing at them when the report is re-rendered without the flag."""
    shipped = {}
    for r in runs:
        dest = model_folder(out, r)
        src = read_json(os.path.join(dest, "source.json"))
        model = os.path.join(dest, os.path.basename(r["tflite_int8"] or ""))
        if src and src.get("run") == r["name"] and r["tflite_int8"] and os.path.isfile(model):
            shipped[r["name"]] = {"tflite_int8": _rel(model, root),
                                  "vocab": _rel(os.path.join(dest, "vocab.json"), root)}
    return shipped


def results_entries(runs, shipped, root):
    """One JSON object per trained run: what a demo or a later analysis needs, no more."""
    entries = []
    for r in runs:
        m, man = r["metrics"], r["manifest_int8"] or {}
        acc, rt = int8_accuracy(r)
        ship = shipped.get(r["name"], {})
        entries.append({
            "name": r["name"], "student": r["student"], "distilled": r["distilled"],
            "augmented": r["augmented"], "tuned": bool(r.get("tuned")), "seed": r["seed"],
            "params": m.get("params"), "vocab_size": m.get("vocab_size"), "best_epoch": m.get("best_epoch"),
            "epochs": len(r["history"]) or r["config"].get("epochs"),
            "dev_accuracy": m.get("dev_accuracy"), "test_accuracy": m.get("test_accuracy"),
            "tflite_int8": ship.get("tflite_int8"), "vocab": ship.get("vocab"),
            "tflite_int8_bytes": man.get("bytes"),
            "tflite_float32_bytes": (r["manifest_float32"] or {}).get("bytes"),
            "tflite_int8_test_accuracy": acc, "tflite_int8_test_runtime": rt,
            "tflite_int8_litert_test_accuracy": (r["eval_litert"] or {}).get("accuracy"),
            "tflite_int8_tflm_test_accuracy": (r["eval_tflm"] or {}).get("accuracy"),
            "agreement_with_keras": (r["eval_tflm"] or r["eval_litert"] or {}).get("agreement_with_keras"),
            "tflm_arena_bytes_min": (r["eval_tflm"] or {}).get("arena_bytes_min"),
            # Input length of the int8 flatbuffer; the training max_len when there is no flatbuffer.
            "max_len": man.get("max_len") or r["config"].get("max_len"),
            "train_seconds": m.get("train_seconds"), "teacher_logits": m.get("teacher_logits"),
            **({"transfer_set_rows": m.get("train_rows"), "transfer_set_labelled_rows": m.get("labelled_rows")}
               if r["augmented"] else {}),
            "run_dir": _rel(r["dir"], root),
        })
    return entries


# --------------------------------------------------------------------------- REPORT.md
def fit_command(r, out, from_config=False):
    """The `tfdistil fit` / `fit-stream` line that trained run r (settings from its config.json)."""
    m, c = r["metrics"], r["config"]
    where = "--config CONFIG" if from_config else f"--student {r['student']}"
    if r["augmented"]:
        return (f"tfdistil fit-stream {where} --shards {(m.get('transfer_set') or {}).get('dir', m.get('teacher_logits'))} "
                f"--epochs {c.get('epochs')} --seed {r['seed']} --data $DATA --out {out} --json")
    flags = f" --distill --teacher-logits {m['teacher_logits']}" if r["distilled"] and not from_config else ""
    return f"tfdistil fit {where}{flags} --seed {r['seed']} --data $DATA --out {out} --json"


def commands_section(runs, teacher, bench, command, runs_dir, tuned=()):
    """The exact commands behind every number: teacher, students, benchmark, this report."""
    seeds = " ".join(str(s) for s in sorted({r["seed"] for r in runs if r["seed"] is not None}))
    students = " ".join(students_of(runs))
    lines = ["```bash", "# teacher (recorded in the teacher's provenance file)"]
    lines += teacher["commands"] or ["# (no commands recorded)"]
    lines += ["", "# every student run: fit -> int8/float32 conversion -> LiteRT/TFLM evaluation on test (resumable)",
              f'SEEDS="{seeds}" STUDENTS="{students}" JOBS=2 bash scripts/reproduce.sh',
              *([f'MODES=augment STUDENTS="{" ".join(sorted({r["student"] for r in runs if r["augmented"]}))}" '
                 f'SEEDS="{seeds}" JOBS=1 bash scripts/reproduce.sh'] if any(r["augmented"] for r in runs) else []),
              "",
              "# ... which runs, per run (DATA=../shared/data/sst2):"]
    for r in runs:
        lines.append(fit_command(r, f"{runs_dir.rstrip('/')}/{r['name']}"))
    if tuned:
        lines += ["", "# tuned students, per seed; CONFIG = a search's best.json (BEST=TUNE_DIR/best.json "
                  "MODE={fit,stream} bash scripts/tuned_students.sh) or a config taken from one "
                  "(scripts/configs/*.json); each run's settings are in its config.json"]
        lines += [fit_command(r, shown(r["dir"]), from_config=True) for r in tuned]
    lines += ["tfdistil convert RUN --tflite --quantize {int8,float32} --data $DATA --json",
              "tfdistil evaluate-tflite RUN/tflite/STUDENT_int8_L64.tflite --data $DATA --split test "
              "--runtime {litert,tflm} --json"]
    if bench and bench.get("command"):
        lines += ["", "# CPU latency", bench["command"]]
    lines += ["", "# this report", command, "```"]
    return "\n".join(lines)


def render(runs, unfinished, groups, teacher, bench, shipped, notes, command, runs_dir, bench_path, tuned=()):
    students = students_of(runs)
    off_paper = off_paper_settings(groups, students)
    t_note = (f"Teacher: {teacher['name'] or DASH}; test accuracy from `{teacher['source']}`; "
              f"parameters {teacher['params_source'] or 'unknown'}.")
    bench_note = ("No benchmark JSON given: latency columns are empty (`python scripts/benchmark.py`, then "
                  "`--benchmark results/benchmark.json`)." if not bench else
                  f"Latency: batch 1, median (p50) per sentence over {bench.get('n', DASH)} test sentences after "
                  f"warm-up, forward pass only, on `{(bench.get('cpu') or {}).get('model', 'this CPU')}` with "
                  f"{(bench.get('threads') or {}).get('summary', 'the recorded thread settings')}; teacher and "
                  f"students timed in the same run (`{bench_path}`, details in `benchmark.md`). Each student's cell "
                  f"is the median over its benchmarked runs. Speed-up = teacher ms / student ms.")
    parts = [
        "# Results: distilling a BERT-family teacher into tiny students on SST-2",
        "",
        "Generated by `tfdistil report` from the run folders; do not edit by hand. Every number of ours is read "
        "from the files listed under *Sources*; the paper's columns quote its Tables 2 and 3. "
        "\"–\" = not measured (yet).",
        "",
        "## Table 2: test accuracy (%)",
        "",
        "Ours: mean ± sample std over seeds (one seed: the value alone), best dev epoch of each run "
        "evaluated on the 1,821-sentence SST-2 test split, Keras float model. "
        f"{t_note} The paper's teacher is BERT-base; ours is the teacher named above.",
        "",
        table2(groups, students, teacher),
        "",
        *(["Settings other than the paper's (from each run's `config.json`):", "",
           off_paper, ""] if off_paper else []),
        "### Did distillation help?",
        "",
        verdicts(groups, students) or "- No finished runs yet.",
        "",
        *(["### The augmented transfer sets", "",
           "\"Distilled + augmented\" runs (`tfdistil fit-stream`) learn from the SST-2 train rows (label and "
           "teacher logits) plus augmented sentences (teacher logits only), streamed from TFRecord shards "
           "labelled by `tfdistil teacher shards`.", "", transfer_sets(runs), ""] if transfer_sets(runs) else []),
        "## Table 3: size and speed",
        "",
        "Parameters are counted by Keras (`metrics.json`); the paper's \"Inference\" column is printed as in the "
        "paper and is a parameter ratio, not a timing (the paper made no timing measurements). " + bench_note,
        "",
        table3(runs, groups, students, teacher, bench),
        "",
        "## The shipped int8 models on test",
        "",
        "Accuracy of the int8 flatbuffer (input length from its manifest, longer sentences cut) in LiteRT "
        "(Raspberry Pi runtime) and in the TensorFlow Lite Micro kernels, its agreement with the Keras model, and "
        "the smallest TFLM arena it runs in (from `tflite/eval_int8_*_test.json`).",
        "",
        edge_table(groups, students),
        "",
        runtime_gaps(groups, students),
        "",
        *(["## Tuned students (beyond the paper's recipe)", "",
           "Students whose architecture and/or training settings come from a `tfdistil tune` search under an int8 "
           "size budget (how each search ran is in its folder's `best.json` and leaderboard; the settings of each run "
           "are in its `config.json`). Not part of Table 2: their sizes or settings are not the paper's. "
           "Latency: p50 per sentence over the test split, batch 1, 1 thread, after warm-up, as timed by "
           "`evaluate-tflite` on this host (not the controlled benchmark of Table 3).", "",
           tuned_table(tuned), ""] if tuned else []),
        "## Plots",
        "",
        "![accuracy vs int8 size](accuracy_vs_int8_size.png)",
        "",
        "*Test accuracy against model size (log scale). Filled markers: our students (Keras test accuracy, mean ± "
        "std over seeds; ○ baseline, □ distilled, ◇ distilled + augmented, black-edged + tuned) at the size of "
        "their int8 .tflite file; × = the int8 file's own test accuracy (TFLite Micro, "
        "else LiteRT). The paper reports no int8 sizes, so its models (hollow markers) and our teacher (★, no int8 "
        "export) are placed at params × 1 byte, the size an int8 export would roughly have; the paper gives no "
        "parameter count for the plain BiLSTM, so it is not drawn.*",
        "",
        "![dev accuracy per epoch](dev_accuracy_per_epoch.png)",
        "",
        "*Dev accuracy after every epoch, baseline against distilled, per student (thin: one seed; thick: mean "
        "over seeds). Each run keeps its best dev epoch.*",
        "",
        "## All runs",
        "",
        runs_table(runs, shipped),
        "",
    ]
    if unfinished:
        parts += [f"Not finished (no `metrics.json` yet, not reported): {', '.join(unfinished)}.", ""]
    parts += ["## Commands", "", commands_section(runs, teacher, bench, command, runs_dir, tuned), "",
              "## Sources", "",
              f"- runs: `{runs_dir}/*/metrics.json`, `history.json`, `config.json`, `tflite/*.json`",
              f"- teacher: `{teacher['source']}`"
              + (f" ({teacher['params_source']})" if teacher["params_source"] else ""),
              f"- benchmark: `{bench_path}`" if bench else "- benchmark: none",
              f"- paper: {PAPER['source']}", ""]
    if notes:
        parts += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(parts)


def read_tuned(dirs, notes):
    """Run folders given with --tuned (students from `tfdistil tune`), flagged as such."""
    tuned = []
    for d in dirs:
        run = read_run(d.rstrip("/"), notes) if os.path.isdir(d) else None
        if run is None:
            raise UserError(f"--tuned {d}: not a finished run folder (no metrics.json)")
        tuned.append({**run, "tuned": True})
    return tuned


def write_report(runs_dir, out="results", benchmark=None, commit=False, teacher_info=SHIPPED_TEACHER_INFO,
                 teacher_dir="teachers/minilm-sst2", command=None, tuned_dirs=()):
    """Read the run folders, write out/REPORT.md, out/*.png, out/results.json (+ out/models/)."""
    notes = []
    runs, unfinished = collect_runs(runs_dir, notes)
    if not runs:
        raise UserError(f"{runs_dir}: no finished runs (folders with metrics.json) to report")
    tuned = read_tuned(tuned_dirs, notes)
    bench = read_benchmark(benchmark, notes)
    teacher = read_teacher(teacher_info, teacher_dir, bench, notes)
    groups = group_runs(runs)
    os.makedirs(out, exist_ok=True)
    root = repo_root(out)
    shipped = (commit_models(groups, out, root, notes, tuned) if commit
               else committed_models(runs + tuned, out, root))
    students = students_of(runs)
    plot_accuracy_vs_size(groups, students, teacher, os.path.join(out, "accuracy_vs_int8_size.png"), tuned)
    plot_dev_curves(groups, students, os.path.join(out, "dev_accuracy_per_epoch.png"))
    entries = results_entries(runs + tuned, shipped, root)
    atomic_write_json(os.path.join(out, "results.json"), entries)
    command = command or f"tfdistil report {runs_dir} --out {out}"
    atomic_write_text(os.path.join(out, "REPORT.md"),
                      render(runs, unfinished, groups, teacher, bench, shipped, notes, command, runs_dir, benchmark,
                             tuned))
    return {"report": os.path.join(out, "REPORT.md"), "results": os.path.join(out, "results.json"),
            "runs": len(runs), "unfinished": len(unfinished), "models_committed": len(shipped) if commit else 0,
            "notes": notes}
