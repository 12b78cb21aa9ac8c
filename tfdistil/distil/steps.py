"""The stages of `tfdistil distil`, each a call into the library the single commands use.

Every function takes the options, the stage context `c` (paths, earlier stages' results) and a
`log`, and returns a JSON-able dict the driver caches. Each library call is itself resumable
(teacher resume points, shard manifests, run checkpoints), so a stage killed half-way goes on
where it stopped when it runs again.
"""
import contextlib
import hashlib
import json
import os
import sys

import numpy as np

from tfdistil.config import Config
from tfdistil.errors import UserError
from tfdistil.files import atomic_save
from tfdistil.runfolder import CONFIG, METRICS, VOCAB, converted, tflite_path

SELECTION_LABELS = "selection_labels.npy"  # a candidate's int8 labels on the selection split

VOCAB_LAYOUT = "fingerprint-ranks"  # the MCU word table the budget counts: 4 bytes a word, no strings


def quiet():
    """Library progress goes to stderr; stdout stays for `--json`."""
    return contextlib.redirect_stdout(sys.stderr)


def is_finetuned_teacher(path):
    return os.path.isfile(os.path.join(path, "teacher_meta.json"))


# --------------------------------------------------------------------------- teacher
def teacher(o, c, log):
    """Reuse a fine-tuned teacher folder, or fine-tune `o.teacher` on the work split."""
    from tfdistil.teacher.fit import fit_teacher
    if os.path.isdir(o.teacher) and is_finetuned_teacher(o.teacher):
        with open(os.path.join(o.teacher, "teacher_meta.json"), encoding="utf-8") as f:
            meta = json.load(f)
        names = meta.get("label_names")
        if names and list(names) != c.splits["label_names"]:
            raise UserError(f"--teacher {o.teacher}: fine-tuned for classes {', '.join(names)}; the task has "
                            f"{', '.join(c.splits['label_names'])}")
        return {"dir": o.teacher, "reused": True, "dev_accuracy": meta.get("dev_accuracy"), "params": meta.get("params")}
    out = c.path("teacher")
    if is_finetuned_teacher(out):  # finished before a kill stopped the stage from recording it
        with open(os.path.join(out, "teacher_meta.json"), encoding="utf-8") as f:
            meta = json.load(f)
    else:
        with quiet():
            meta = fit_teacher(o.teacher, c.work, out, epochs=o.teacher_epochs, lr=o.teacher_lr, max_len=o.teacher_max_len,
                               eval_every=0, train_limit=o.teacher_limit or None, log=log)
    return {"dir": out, "reused": False, "base": o.teacher, "dev_accuracy": meta["dev_accuracy"],
            "params": meta["params"], "train_seconds": meta["train_seconds"], "epochs": o.teacher_epochs,
            "train_rows": meta.get("train_rows", o.teacher_limit or None)}


def logits(o, c, log):
    """The teacher's logits on train, dev and the selection split (its score there is the bar)."""
    from tfdistil.metrics import classification_report
    from tfdistil.teacher.logits_cache import read_logits
    from tfdistil.teacher.model import write_logits
    from tfdistil.data.splits import load_split
    path = c.path("cache", "teacher_logits.npz")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with quiet():
        # distil's selection split sits where a GLUE folder has test; the progress line says which it is
        header = write_logits([c.result("teacher")["dir"]], c.selection, path, max_len=o.teacher_max_len,
                              shown={"test": "selection"})
    sel = load_split(c.selection, "test")
    sel_logits, _ = read_logits(path, "test", sel.sha256, len(sel))
    rep = classification_report(sel.labels, sel_logits.argmax(-1), c.splits["label_names"])
    return {"path": path, "dev_accuracy": header["splits"]["dev"]["accuracy"],
            "selection": {"accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"]},
            "seconds": sum(s["seconds"] for s in header["splits"].values())}


# --------------------------------------------------------------------------- transfer set
def engine(o):
    """How `label_shards` runs: in this process, or on a Ray actor pool (same shards either way)."""
    if o.engine == "ray":
        return {"engine": "ray", "address": o.ray_address or None, "workers": o.workers}
    return {"engine": "local", "strategy": "default"}


def read_texts(path, text_column=""):
    """Texts without labels: a .txt is one text a line; .csv/.tsv/.jsonl name it by column
    (`text_column`, else `text` or `sentence`)."""
    import csv
    ext = os.path.splitext(path)[1].lower()
    with open(path, encoding="utf-8-sig", newline="") as f:
        if ext == ".jsonl":
            rows = [json.loads(line) for line in f if line.strip()]
        elif ext in (".csv", ".tsv"):
            rows = list(csv.DictReader(f, delimiter="\t" if ext == ".tsv" else ","))
        else:
            return [line.strip() for line in f]
    names = [text_column] if text_column else ["text", "sentence"]
    column = next((n for n in names if rows and n in rows[0]), None)
    if column is None:
        raise UserError(f"--unlabelled {path}: no {' or '.join(names)} column")
    return [str(r[column]) for r in rows]


def _unlabelled_tsv(o, c):
    """The user's unlabelled text as a one-column TSV (what `teacher shards` streams), minus any
    text of dev or selection (test is unread here: keep it out of --unlabelled)."""
    from tfdistil.data.splits import load_split
    from tfdistil.files import atomic_write_text
    from tfdistil.transfer.augment import normalise
    held = {normalise(s) for split in ("dev", "test") for s in load_split(c.selection, split).sentences}
    texts = []
    for path in o.unlabelled:
        texts += read_texts(path, o.text_column)
    clean = [" ".join(t.split()) for t in texts]
    kept = list(dict.fromkeys(t for t in clean if t and normalise(t) not in held))
    out = c.path("transfer", "unlabelled.tsv")
    atomic_write_text(out, "sentence\n" + "".join(t + "\n" for t in kept))
    return out, {"rows": len(kept), "dropped_as_dev_or_selection": sum(1 for t in clean if t and normalise(t) in held)}


def transfer(o, c, log):
    """Augment train (Tang et al.), add the unlabelled text, and have the teacher label it all into shards."""
    from tfdistil.transfer.augment import write_augmented
    from tfdistil.transfer import label as S
    from tfdistil.teacher.logits_cache import reusable_train_logits
    os.makedirs(c.path("transfer"), exist_ok=True)
    files, info = [], {}
    if o.augment_factor:
        aug = c.path("transfer", f"augmented_f{o.augment_factor}.tsv")
        if not os.path.isfile(aug + ".json"):
            write_augmented(c.selection, o.augment_factor, aug, seed=0, tagger="none", log=log)
        with open(aug + ".json", encoding="utf-8") as f:
            info["augmented"] = json.load(f)["rows"]
        files.append(aug)
    if o.unlabelled:
        path, info["unlabelled"] = _unlabelled_tsv(o, c)
        files.append(path)
    teacher_dir = c.result("teacher")["dir"]
    rows, sources = S.transfer_rows(c.work, files)
    known = reusable_train_logits(c.result("logits")["path"], teacher_dir, sources)
    with quiet():
        summary = S.label_shards(teacher_dir, rows, c.path("transfer", "shards"), sources, shard_size=o.shard_size,
                                 max_len=o.teacher_max_len, log=log, **engine(o), known_logits=known)
    return {"shards": summary["out"], "rows": summary["rows"], "labelled_rows": summary["labelled_rows"], **info,
            "engine": summary.get("engine", o.engine),
            "sentences_per_second": summary["sentences_per_second_all_runs"]}


def _extra_text(o, c, name, write, log):
    """A text set beside the transfer set (`transfer/NAME.tsv`, written once by `write(path)`), labelled
    by the teacher into `transfer/NAME-shards`; whether it helps is measured on the selection split
    (`train_and_score` with both shard sets), not assumed. The folder is made here: with the transfer
    set taken from --reuse DIR, this run has no transfer/ folder of its own yet."""
    from tfdistil.transfer import label as S
    os.makedirs(c.path("transfer"), exist_ok=True)
    path = c.path("transfer", f"{name}.tsv")
    if not os.path.isfile(path + ".json"):
        write(path)
    rows, sources = S.transfer_rows(c.work, [path], include_train=False)
    with quiet():
        summary = S.label_shards(c.result("teacher")["dir"], rows, c.path("transfer", f"{name.split('_')[0]}-shards"),
                                 sources, shard_size=o.shard_size, max_len=o.teacher_max_len, log=log, **engine(o))
    return {"shards": summary["out"], "rows": summary["rows"]}


def more_transfer(o, c, log):
    """A second draw of augmented train text (another seed; none of the first draw's sentences, none of
    dev or selection). More teacher-labelled text is what Tang et al. gained most from, but it costs
    labelling and training time in proportion: a lever, not a default."""
    from tfdistil.transfer.augment import write_augmented
    first = os.path.join(os.path.dirname(c.result("transfer")["shards"]), f"augmented_f{o.augment_factor}.tsv")
    return _extra_text(o, c, f"more_f{o.more_transfer}", lambda path: write_augmented(
        c.selection, o.more_transfer, path, seed=1, tagger="none", log=log,
        exclude_from=[first] if o.augment_factor and os.path.isfile(first) else []), log)


def composed(o, c, log):
    """Texts that compose clauses ("X , but Y" both ways, "although X , Y", negated predicates) from
    train, never dev or selection."""
    from tfdistil.transfer.compose import write_composed
    return _extra_text(o, c, f"composed_x{o.compose}",
                       lambda path: write_composed(c.selection, path, factor=o.compose, seed=0, log=log), log)


# --------------------------------------------------------------------------- students
def budget_bytes(o):
    return o.flash or 64 << 20  # no --flash: anything a Pi holds


def wordpiece_vocab(c, log):
    """The teacher folder when its vocab.txt is WordPiece (students then read pieces), else "" (words)."""
    from tfdistil.data.vocab import read_wordpieces
    teacher_dir = c.result("teacher")["dir"]
    try:
        read_wordpieces(teacher_dir)
    except UserError as e:
        log(f"note: students read words, not wordpieces ({e})")
        return ""
    return teacher_dir


def search(o, c, family, log):
    """Keras Tuner (random, seeded) for one student family under the budget; dev ranks the trials.
    The tuner proposes; the selection split decides among the proposals (`candidate`)."""
    from tfdistil.search.tune import tune
    mcu = o.kind == "mcu"
    subwords = wordpiece_vocab(c, log) if o.subwords else ""
    with quiet():
        r = tune(family, c.work, c.path("search", family), tuner="random", max_trials=o.trials,
                 budget_kb=budget_bytes(o) / 1024, distill=True, teacher_logits=c.result("logits")["path"],
                 epochs_per_trial=o.trial_epochs, top_k=1, budget_includes_vocab=mcu, vocab_layout=VOCAB_LAYOUT,
                 subwords=subwords, seed=0, space={"max_len": [o.max_len]}, log=log)
    return {"family": family, "config": r["config"], "dev_accuracy": r["dev_accuracy"], "trials": r["trials"],
            "completed": r["completed"], "int8_kb": r["int8_kb"], "leaderboard": r["leaderboard"]}


def candidate_configs(o, c, families):
    """Each family's tuner winner, trained longer on the transfer set; with and without
    teacher-started embeddings when `--embed-init both` (a lever the selection split weighs)."""
    out = []
    for family in families:
        base = dict(c.result(f"search-{family}")["config"])
        base.update(epochs=o.epochs, seed=0, distill=True, train_limit=0, teacher_logits="", vocab_size=0)
        inits = {"off": [""], "on": [c.result("teacher")["dir"]], "both": ["", c.result("teacher")["dir"]]}[o.embed_init]
        for init in inits:
            name = f"{family}{'-ei' if init else ''}"
            out.append((name, {**base, "embed_init": init}))
    return out


def finished(run, cfg):
    """metrics.json of a run `fit_stream` finished with `cfg` (a kill can land after the run is
    published and before its stage is recorded); None otherwise."""
    try:
        with open(os.path.join(run, METRICS), encoding="utf-8") as f:
            metrics = json.load(f)
        done = json.loads(json.dumps(Config.load(os.path.join(run, CONFIG)).to_dict()))
    except (OSError, ValueError, UserError):
        return None
    ignore = ("vocab_size", "num_classes", "teacher_logits", "distill")
    # both sides through JSON: a tuple field (the CNN's kernel_sizes) must compare equal to its list
    same = all(done.get(k) == v for k, v in json.loads(json.dumps(cfg.to_dict())).items() if k not in ignore)
    return metrics if same else None


def train_and_score(o, c, name, config, seed, log, shards=None, score=True):
    """Distil one (recipe, seed) from the transfer set, convert to int8, score it on the selection
    split in the target's runtime (TFLM for a microcontroller, LiteRT for a Pi); `score=False` for a
    model that trained on the selection split (`refit`): its "selection" is None."""
    from tfdistil.edge.host.evaluate import evaluate_tflite
    from tfdistil.edge.convert.export import convert
    from tfdistil.training.stream import fit_stream
    cfg = Config.from_dict({**config, "seed": seed})
    # named by what it trains on: a changed recipe (another --epochs, a grown size) gets its own folder
    # instead of meeting an older run's finished output or checkpoints under the same name
    made_of = json.dumps([cfg.to_dict(), shards or "", c.keys.get("transfer")], sort_keys=True, default=str)
    tag = hashlib.sha256(made_of.encode()).hexdigest()[:8]
    run = c.path("runs", f"{name}-s{seed}-{tag}")
    with quiet():
        shards = shards or c.result("transfer")["shards"]
        metrics = finished(run, cfg) or fit_stream(cfg, shards, c.work, run, log=log)
        model = tflite_path(run, cfg.student, "int8", f"L{cfg.max_len}")
        conv = convert(run, "int8", cfg.max_len, None, c.work, 300) if not converted(model) else \
            {"path": model, "bytes": os.path.getsize(model)}
        runtime = "tflm" if o.kind == "mcu" else "litert"
        ev = evaluate_tflite(conv["path"], c.selection, "test", runtime=runtime, run_dir=run,
                             keep_logits=True) if score else None
    if score:  # the labels behind the score, kept for the slice table (selection_slices): no second run
        labels = ev.pop("logits").argmax(-1)
        atomic_save(os.path.join(run, SELECTION_LABELS), lambda p: np.save(p, labels))
    from tfdistil.data.vocab import Vocab
    from tfdistil.edge.mcu.c_vocab import c_vocabulary_layout
    vocab = Vocab.load(os.path.join(run, VOCAB))
    vocab_bytes = c_vocabulary_layout(vocab, VOCAB_LAYOUT)["flash_bytes"] if o.kind == "mcu" else 0
    flash = conv["bytes"] + vocab_bytes
    return {"name": name, "seed": seed, "run": run, "model": conv["path"], "student": cfg.student, "shards": shards,
            "config": {k: v for k, v in cfg.to_dict().items() if k not in ("teacher_logits",)},
            "dev_accuracy": metrics["dev_accuracy"], "best_epoch": metrics["best_epoch"],
            "train_seconds": metrics["train_seconds"], "runtime": runtime,
            "selection": {"accuracy": ev["accuracy"], "macro_f1": ev.get("macro_f1", ev["accuracy"])} if score else None,
            "model_bytes": conv["bytes"], "c_vocab_bytes": vocab_bytes, "flash_bytes": flash, "vocab_rows": len(vocab),
            "fits": flash <= budget_bytes(o)}


def selection_slices(o, c, models, log):
    """Every candidate and seed by slice of the selection split, beside the teacher: how each lever
    moves the texts where meaning composes ("not", "but"). It informs; it chooses nothing (the choice
    was made on the whole selection split), and test is not opened."""
    from tfdistil.data.splits import load_split
    from tfdistil.edge.host.evaluate import evaluate_tflite
    from tfdistil.slices import load_slices, patterns, slice_report
    from tfdistil.teacher.logits_cache import read_logits
    slices = load_slices(o.slices or None)
    sel = load_split(c.selection, "test")
    teacher = read_logits(c.result("logits")["path"], "test", sel.sha256, len(sel))[0].argmax(-1)
    rows = []
    for r in models:
        saved = os.path.join(r["run"], SELECTION_LABELS)
        if os.path.isfile(saved):  # written beside the score by train_and_score
            pred = np.load(saved)
        else:  # a candidate scored before the labels were kept
            with quiet():
                ev = evaluate_tflite(r["model"], c.selection, "test", runtime=r["runtime"], run_dir=r["run"],
                                     keep_logits=True)
            pred = ev.pop("logits").argmax(-1)
        rows.append({"name": r["name"], "seed": r["seed"],
                     "rows": slice_report(sel.sentences, sel.labels, pred, c.splits["label_names"], slices, teacher)})
        log(f"  {r['name']} seed {r['seed']}: " + ", ".join(
            f"{x['slice']} {100 * x['accuracy']:.1f}" for x in rows[-1]["rows"] if x["accuracy"] is not None))
    return {"patterns": patterns(slices), "models": rows}


def lever_lead(c, lever_runs, against_runs, metric):
    """A lever's lead over the recipe it was weighed against (each side the mean over its seeds) on the
    selection split, with a 95 % paired bootstrap interval over the split's rows: seeds average out the
    training noise, not the sample's, and a lead inside the interval is one this split cannot tell from
    none. Read from the labels each scored run kept; None if one kept none (scored before they were)."""
    from tfdistil.data.splits import load_split
    from tfdistil.metrics import lead_interval
    if not all(isinstance(r, dict) for r in lever_runs + against_runs):
        return None
    paths = [os.path.join(r["run"], SELECTION_LABELS) for r in lever_runs + against_runs]
    if not all(map(os.path.isfile, paths)):
        return None
    labels = [np.load(p) for p in paths]
    gold = load_split(c.selection, "test").labels
    n = len(lever_runs)
    return lead_interval(gold, labels[:n], labels[n:], len(c.splits["label_names"]), metric)


def metric_name(o, c):
    if o.metric != "auto":
        return o.metric
    return "accuracy" if len(c.splits["label_names"]) == 2 else "macro_f1"


def vote(r, metric):  # what a choice compares: the mean over --lever-seeds seeds, or seed 0's score
    return r["vote"]["mean"] if r.get("vote") else r["selection"][metric]


def best_of(rows, metric):
    """The highest selection score (`vote`) that fits the budget; ties go to the smaller model."""
    fitting = [r for r in rows if r["fits"]]
    if not fitting:
        raise UserError("no candidate fits the budget once converted (the size estimate was too low); "
                        "run again with a slightly smaller --flash")
    return max(fitting, key=lambda r: (vote(r, metric), -r["flash_bytes"]))


def mean_std(values):
    v = np.asarray(values, float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "n": int(len(v))}
