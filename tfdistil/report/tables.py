"""The report's Markdown tables: Table 2 and 3 beside the paper, verdicts, tuned students, edge runtimes."""
import json
import numpy as np
from tfdistil.report.collect import by_setting
from tfdistil.report.paper import BERT_BASE_PARAMS, DASH, MODES, MODE_NAMES, PAPER, RUNTIME_GAP, SETTING_NAMES, STUDENT_NAMES
from tfdistil.report.stats import _value, bench_latency, int8_accuracy, mean_std, millions, ms, nbytes, pct, pct_ms, ratio, same_or_range, teacher_latency


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


def off_paper_settings(groups, students):
    """Which runs did not use the paper's settings (tfdistil's defaults), and how: a reader must not
    take a recipe change for an effect of the method."""
    from tfdistil.config import PAPER_EXACT, Config
    paper = {**Config().to_dict(), **PAPER_EXACT}   # tfdistil's defaults are not all the paper's
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
                if key == "filters" and s != "cnn":
                    continue  # only the CNN has filters
                vals = {json.dumps(r["config"].get(key, paper[key])) for r in rs}
                if vals != {json.dumps(paper[key])}:
                    shown_vals = " / ".join(sorted(vals))
                    if key == "max_vocab":  # the paper does not state it; PAPER_EXACT infers it
                        diffs.append(f"{label} {'none' if shown_vals == '0' else shown_vals} "
                                     f"(paper: not stated; {paper[key]} words give its Table 3 sizes)")
                    else:
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
