"""`OUT/report.md` and `OUT/report.json`: what distil did, what it chose and why, read once on test."""
import os

from tfdistil.distil.plan import planned
from tfdistil.errors import UserError
from tfdistil.files import atomic_write_json, atomic_write_text


def _pct(x):
    return "–" if x is None else f"{100 * x:.2f}"


def _shape(r):
    """'vocabulary rows x embedding, hidden' of a candidate: what the grown lever changes. Rows from the
    run's own vocabulary (`vocab_rows`, or its vocab.json for records made before that was kept)."""
    cf = r["config"]
    rows = r.get("vocab_rows")
    if not rows:  # an older record: the run's vocabulary file says it
        from tfdistil.data.vocab import Vocab
        try:
            rows = len(Vocab.load(os.path.join(r["run"], "vocab.json")))
        except (OSError, ValueError, KeyError, UserError):
            rows = cf.get("hash_buckets") or cf.get("max_vocab")
    return f"{rows:,} × {cf['embed_dim']}, h{cf['hidden']}" if rows else f"all × {cf['embed_dim']}, h{cf['hidden']}"


def _ms(d, n=True):
    if d is None:
        return "–"
    return f"{100 * d['mean']:.2f} ± {100 * d['std']:.2f}" + (f" (n={d['n']})" if n else "")


def _seen_lines(test):
    """The test texts the run's other inputs hold word for word (a read made before this was counted: none)."""
    seen = test.get("seen_before")
    if not seen:
        return []
    if not seen["any"]:
        return ["", "No test text occurs word for word in train, dev or --unlabelled."]
    where = ", ".join(f"{k} {v:,}" for k, v in seen.items() if k != "any" and v)
    line = (f"**{seen['any']:,} of {test['rows']:,} test texts occur word for word in the run's other files** ({where}): "
            "a student that trained on them scores its memory there.")
    u = test.get("unseen")
    if u:
        line += (f" On the other {u['rows']:,}: recipe accuracy {_ms(u['accuracy'], False)}, macro-F1 "
                 f"{_ms(u['macro_f1'], False)}; the teacher {_pct(u['teacher']['accuracy'])} and "
                 f"{_pct(u['teacher']['macro_f1'])}.")
    return ["", line]


def lead_lines(candidates, chosen, seeds, metric):
    """Each lever's lead over the recipe it was weighed against, with the split's paired interval."""
    levers = [r for r in candidates if r.get("lead")]
    if not levers:
        return []
    later = kept_levers(candidates, chosen)
    L = ["", f"Each lever against the recipe it was weighed against (selection {metric}, "
             f"{'the mean of ' + str(seeds) + ' seeds' if seeds > 1 else 'seed 0'} a side; 95 % paired bootstrap "
             "interval over the split's rows: an interval that spans 0 is a lead this split cannot tell from none):", ""]
    for r in levers:
        lead = r["lead"]
        L.append(f"- `{r['name']}` against `{r['against']}`: {lead['value']:+.2f} ({lead['ci95'][0]:+.2f} to "
                 f"{lead['ci95'][1]:+.2f}){', kept' if r['name'] in later else ''}")
    return L + ["", "![each lever's lead with its interval](levers.png)"]


def kept_levers(candidates, chosen):
    """The names the chain moved to: each kept lever is what the next one was weighed against, or the choice."""
    return {r.get("against") for r in candidates} | {chosen["name"]}


def _vote(r):
    if r.get("lever_margin_out"):
        return f"{100 * r['vote']['mean']:.2f} (seed 0 only: more than {r['lever_margin_out']:g} under the best)"
    return _ms(r.get("vote"), False)


def _toml(o):
    lines = []
    for k, v in o.to_dict().items():
        if isinstance(v, bool):
            lines.append(f"{k} = {'true' if v else 'false'}")
        elif isinstance(v, (int, float)):
            lines.append(f"{k} = {v}")
        elif isinstance(v, list):
            lines.append(f"{k} = [{', '.join(repr(str(x)).replace(chr(39), chr(34)) for x in v)}]")
        else:
            lines.append(f'{k} = "{v}"')
    return "\n".join(lines)


def portable(obj):
    """Paths under the working folder written relative to it: a report can be committed and moved."""
    import json
    here = os.path.realpath(os.getcwd()).rstrip("/") + "/"
    return json.loads(json.dumps(obj, default=str).replace(json.dumps(here)[1:-1], ""))


def selection_standard_error(accuracy, rows):
    """sqrt(p(1-p)/n): how far one accuracy on the selection split may sit from the truth by chance.
    Why in the report: on a small task (fortunes: 249 rows, +-2.8 points) a lever can win the
    selection vote by noise (experiments/fortunes/README.md: +2.2 there, +0.05 on a second file)."""
    p = min(max(float(accuracy), 0.0), 1.0)
    return (p * (1 - p) / max(int(rows), 1)) ** 0.5


def _gap(x):
    return "–" if x is None else f"{100 * x:+.1f}"


def slice_lines(slices):
    """Candidates and seeds by slice of the selection split: accuracy, and the gap to the teacher."""
    models = slices["models"]
    names = [r["slice"] for r in models[0]["rows"]]
    teacher = {r["slice"]: r for r in models[0]["rows"]}
    L = ["| model | seed | " + " | ".join(f"{n} (n={teacher[n]['n']:,})" for n in names) + " |",
         "|---|---|" + "---|" * len(names),
         "| teacher | | " + " | ".join(_pct(teacher[n]["teacher_accuracy"]) for n in names) + " |"]
    for m in models:
        cells = [f"{_pct(r['accuracy'])} ({_gap(r['gap'])})" for r in m["rows"]]
        L.append(f"| {m['name']} | {m['seed']} | " + " | ".join(cells) + " |")
    return L


def _held(sp):
    if sp.get("selection_split") == "sentences":
        return (f"'s whole sentences; {sp.get('phrases_dropped', 0):,} train rows that are phrases of them were "
                "taken out of train")
    copies = sp.get("phrases_dropped", 0)
    return f"; {copies:,} train rows that repeat them were taken out of train" if copies else ""


def _seen(sp):
    """How much of the selection split train still holds (a span of a train row, or one): a vote on
    seen text measures memory too."""
    seen = sp.get("selection_seen_in_train")
    if seen is None:
        return []
    return [f"Selection texts that train still contains (as a span of a train row): **{100 * seen:.1f}%**"
            + (" — most of the vote is on text the students saw; `--selection-split sentences` holds out whole "
               "sentences instead." if seen > 0.5 else "."), ""]


def refit_lines(o, c, refits, chosen):
    """What --refit added and how each seed's dev moved: the one view of the refit models before test
    (the selection split is now in their training text)."""
    rt = c.result("refit-text")
    L = ["## Refit with the held-back text (after every choice)", "",
         f"The chosen recipe's {len(refits)} seeds trained again with {rt['held_back_rows']:,} held-back train rows "
         f"(the selection split{' and the phrases taken out with it' if c.splits.get('selection_split') == 'sentences' else ''}"
         f") and {rt['augmented']:,} augmented texts of them added to the transfer set, labelled by the teacher; the "
         "same vocabulary (flash unchanged but for the C table) and epochs picked on dev. They cannot be scored on the "
         "selection split any more, so nothing was chosen among them: the seed chosen above ships, and test is read "
         "for these models.", "",
         "| seed | dev acc before | dev acc refit | flash bytes (model + C vocab) | ships |", "|---|---|---|---|---|"]
    for r in refits:
        L.append(f"| {r['seed']} | {_pct(r['refit_of']['dev_accuracy'])} | {_pct(r['dev_accuracy'])} | "
                 f"{r['flash_bytes']:,} ({r['model_bytes']:,} + {r['c_vocab_bytes']:,}) | "
                 f"{'yes' if r['seed'] == chosen['seed'] else ''} |")
    return L + [""]


def write_report(o, c, candidates, seeds, chosen, metric, checks, test, bundle, cuts, estimates, slices=None,
                 refits=None):
    from tfdistil.distil.steps import mean_std
    shipped = next(r for r in refits if r["seed"] == chosen["seed"]) if refits else chosen
    voted = any(r.get("vote") for r in candidates)
    t = c.result("teacher")
    lg = c.result("logits")
    sp = c.splits
    tr = c.result("transfer")
    sel_scores = mean_std([r["selection"][metric] for r in seeds])
    L = [f"# tfdistil distil: {o.target}", "",
         f"Task: {len(sp['label_names'])} classes ({', '.join(sp['label_names'])}); train {sp['train']['rows']:,}, "
         f"dev {sp['dev']['rows']:,}, selection {sp['selection']['rows']:,} rows "
         f"(stratified {o.selection_fraction:g} of train{_held(sp)}, seed {o.selection_seed}, sha256 "
         f"`{sp['selection']['sha256'][:16]}…`). Choices are made on **{metric}** of the selection split.", "",
         *_seen(sp),
         "## The protocol", "",
         "- dev picks each run's best epoch and nothing else;",
         "- every choice (tuner proposals → candidate recipe → seed) is made on the selection split, carved from "
         "train before anything trained; no stage but the last receives the test file;",
         *(["- `--refit`: after every choice, the chosen recipe's seeds trained again with the held-back text; "
            "nothing was chosen among the refit models;"] if refits else []),
         f"- test was read **{'once' if test.get('read') else 'never (no test file)'}**, after every choice, for the "
         f"chosen recipe's {len(seeds)} {'refit ' if refits else ''}seeds (`test_read.json`).", "",
         "## Teacher", "",
         f"`{t.get('base', t['dir'])}` ({'reused' if t['reused'] else f'fine-tuned {o.teacher_epochs} epochs'}, "
         f"{(t.get('params') or 0) / 1e6:.1f} M parameters): dev accuracy {_pct(t.get('dev_accuracy'))}; "
         f"selection accuracy {_pct(lg['selection']['accuracy'])}, macro-F1 {_pct(lg['selection']['macro_f1'])}.", "",
         *([f"Reused from `{o.reuse}` (made there with the same settings and data): {', '.join(c.reused)}.", ""]
           if c.reused else []),
         f"Transfer set: {tr['rows']:,} teacher-labelled rows ({tr['labelled_rows']:,} train, "
         f"{tr.get('augmented', 0):,} augmented, {(tr.get('unlabelled') or {}).get('rows', 0):,} unlabelled).", "",
         f"## Candidates on the selection split (seed 0{f'; each weighed on the mean of {o.lever_seeds} seeds' if voted else ''})", "",
         "| candidate | student | vocabulary × embedding, hidden | flash bytes (model + C vocab) | fits | dev acc | "
         "selection acc | selection macro-F1 |" + (f" selection {metric}, {o.lever_seeds} seeds (the vote) |" if voted else ""),
         "|---|---|---|---|---|---|---|---|" + ("---|" if voted else "")]
    for r in candidates:
        L.append(f"| {r['name']}{' **chosen**' if r['name'] == chosen['name'] else ''} | {r['student']} | {_shape(r)} | "
                 f"{r['flash_bytes']:,} ({r['model_bytes']:,} + {r['c_vocab_bytes']:,}) | {'yes' if r['fits'] else 'no'} | "
                 f"{_pct(r['dev_accuracy'])} | {_pct(r['selection']['accuracy'])} | {_pct(r['selection']['macro_f1'])} |"
                 + (f" {_vote(r)} |" if voted else ""))
    L += ["", "![candidates: flash against selection score, and the chosen one by slice](candidates.png)"]
    se = selection_standard_error(chosen["selection"]["accuracy"], sp["selection"]["rows"])
    L += ["", f"One selection accuracy on {sp['selection']['rows']:,} rows carries a standard error of about "
          f"±{100 * se:.1f} points (binomial, at the chosen candidate's accuracy): candidates or levers closer than "
          "about twice that are not told apart by this split; a larger `--selection-fraction`, or a `--dev` file of "
          "your own that gives the carved dev rows back to train, narrows it."
          + (f" A lever was kept only when it beat the best recipe so far by more than {o.keep_margin:g} points "
             "(`--keep-margin`)." if o.keep_margin else "")]
    L += lead_lines(candidates, chosen, o.lever_seeds, metric)
    if slices and slices.get("models"):
        L += ["", "By slice of the selection split (accuracy, and in brackets the teacher's lead in points; a text is "
              "in a slice when one of its words matches, plain = in none). This informs; the choice above was made "
              "on the whole split:", ""] + slice_lines(slices)
    L += ["", f"## The chosen recipe over {len(seeds)} seeds", "",
          "| seed | selection acc | selection macro-F1 | chosen |", "|---|---|---|---|"]
    for r in seeds:
        L.append(f"| {r['seed']} | {_pct(r['selection']['accuracy'])} | {_pct(r['selection']['macro_f1'])} | "
                 f"{'yes' if r['seed'] == chosen['seed'] else ''} |")
    L += ["", f"Selection {metric}: {_ms(sel_scores)}. Seed {chosen['seed']} is chosen: best on selection.", ""]
    if refits:
        L += refit_lines(o, c, refits, chosen)
    if test.get("read"):
        L += ["## Test (read once)", "",
              *([f"These models were read in `{test['reused_from']}` (`test_read.json` there); that read is "
                 "reported here, and test was not read again.", ""] if test.get("reused_from") else []),
              f"{test['rows']:,} rows, int8 in {test['runtime'].upper()}: recipe accuracy {_ms(test['accuracy'])}, "
              f"macro-F1 {_ms(test['macro_f1'])}; the chosen seed {test['chosen']['seed']}: accuracy "
              f"{_pct(test['chosen']['accuracy'])}, macro-F1 {_pct(test['chosen']['macro_f1'])}. The teacher on the "
              f"same rows: accuracy {_pct(test['teacher']['accuracy'])}, macro-F1 {_pct(test['teacher']['macro_f1'])}."
              + (f" The teacher's lead in {test['gap']['metric'].replace('_', '-')}: {test['gap']['value']:.2f} points "
                 f"(95 % paired bootstrap over the test rows, {test['gap']['draws']:,} draws: {test['gap']['ci95'][0]:.2f} "
                 f"to {test['gap']['ci95'][1]:.2f})." if test.get("gap") else "")]
        L += _seen_lines(test)
        if test.get("slices"):
            L += ["", f"By slice (a text is in a slice when one of its words matches; plain = in none), recipe mean ± "
                  f"std over {len(seeds)} seeds, gap = teacher − student in points:", "",
                  "| slice | n | teacher acc | recipe acc | gap | chosen seed acc |", "|---|---|---|---|---|---|"]
            for r in test["slices"]["rows"]:
                L.append(f"| {r['slice']} | {r['n']:,} | {_pct(r['teacher_accuracy'])} | {_ms(r['accuracy'], False)} | "
                         f"{_ms(r['gap'], False)} | {_pct(r['chosen_accuracy'])} |")
            L += ["", "Slices: " + "; ".join(f"{k} `{v}`" for k, v in test["slices"]["patterns"].items()) + "."]
        if "tflite_runtime_chosen_accuracy" in test:
            L.append(f"The Pi runner (`classify.py`, tflite-runtime 2.14): accuracy "
                     f"{_pct(test['tflite_runtime_chosen_accuracy'])}.")
        L.append("")
    L += ["## Runtime checks (selection split)", "",
          *(["The shipped model is the refit one, which trained on these texts: the checks compare runtimes; "
             "their accuracy is not a forecast.", ""] if refits else []),
          f"- LiteRT accuracy {_pct(checks['litert']['accuracy'])}, TFLM {_pct(checks['tflm']['accuracy'])}; "
          f"labels identical {checks['litert_vs_tflm_labels_identical']}/{checks['rows']}"]
    if "tflite_runtime" in checks:
        tr_ = checks["tflite_runtime"]
        L.append(f"- tflite-runtime {tr_['version']} via classify.py: accuracy {_pct(tr_['accuracy'])}, labels identical "
                 f"to LiteRT {tr_['labels_identical_to_litert']}/{checks['rows']}")
    if "board" in checks:
        b = checks["board"]
        L.append(f"- emulated {b['board']} ({b['cpu']}, {b.get('kernels', 'reference')} kernels): {b['n']} texts, "
                 "labels identical to host TFLM "
                 f"{b['labels_identical']}/{b['n']}; whole image {b['flash_bytes']:,} B flash, {b['ram_bytes']:,} B RAM; "
                 f"{b['instructions_per_sentence']['mean']:,.0f} instructions per text (mean)")
        L.append(f"- model + C vocabulary: {shipped['flash_bytes']:,} B (budget {o.flash:,} B)")
    L += ["", f"Bundle: `{os.path.relpath(bundle['dir'], o.out)}/` ({', '.join(bundle['files'])}).", "",
          "## Stages (seconds: actual / estimate)", "",
          ", ".join(f"{k} {c.seconds.get(k, 0):.0f}/{estimates.get(planned(k), 0):.0f}" for k in c.results), ""]
    if cuts:
        L += ["Cut to fit --time-budget: " + "; ".join(cuts), ""]
    L += ["## Settings", "", "```toml", _toml(o), "```", ""]
    summary = {"target": o.target, "metric": metric, "chosen": {k: chosen[k] for k in (
        "name", "seed", "student", "model", "flash_bytes", "model_bytes", "c_vocab_bytes", "selection", "config")},
        "teacher": {"dev_accuracy": t.get("dev_accuracy"), "selection": lg["selection"]},
        "transfer": tr, "candidates": candidates, "seeds": seeds, "selection": sel_scores,
        "selection_rows": sp["selection"]["rows"], "selection_split": sp.get("selection_split", "rows"),
        "selection_seen_in_train": sp.get("selection_seen_in_train"), "selection_standard_error": round(se, 4), "selection_slices": slices,
        "test": test, "checks": checks,
        "refit": {"text": c.result("refit-text"), "seeds": refits,
                  "shipped": {k: shipped[k] for k in ("name", "seed", "model", "flash_bytes", "dev_accuracy")}}
        if refits else None,
        "bundle": bundle, "settings": o.to_dict(), "cuts": cuts,
        "stage_seconds": c.seconds, "reused": {"from": o.reuse, "stages": c.reused} if c.reused else None}
    from tfdistil.distil.plots import candidates_png
    png = os.path.join(o.out, "candidates.png")
    candidates_png(png + ".tmp.png", candidates, chosen, metric, lg["selection"].get(metric), o.flash, slices)
    os.replace(png + ".tmp.png", png)
    levers = [r for r in candidates if r.get("lead")]
    if levers:
        from tfdistil.distil.plots import levers_png
        png = os.path.join(o.out, "levers.png")
        levers_png(png + ".tmp.png", levers, kept_levers(candidates, chosen), metric, o.keep_margin)
        os.replace(png + ".tmp.png", png)
    atomic_write_text(os.path.join(o.out, "report.md"), "\n".join(L))
    atomic_write_json(os.path.join(o.out, "report.json"), portable(summary))
    return {"report": os.path.join(o.out, "report.md"), "chosen": chosen["name"], "seed": chosen["seed"],
            f"selection_{metric}": chosen["selection"][metric], **({"shipped": shipped["name"] + " (refit)"} if refits else {}),
            **({f"test_{metric}_chosen": test["chosen"][metric], f"test_{metric}_recipe_mean": test[metric]["mean"]}
               if test.get("read") else {})}
