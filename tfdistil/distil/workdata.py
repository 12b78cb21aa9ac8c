"""The splits `distil` works on, and the guard that lets the test file be read once.

Why a selection split: dev picks each run's best epoch, so dev accuracy is already spent; a
choice between runs made on it (or on test) flatters the winner. `carve` holds out a
stratified fraction of train, with a fixed seed, before anything trains: the teacher, the
augmentation and every student see train without it, so a score on it is a fair vote.
When train is mostly phrases of its own rows (SST-2), a random row is usually a span of a
sentence left in train, so the vote would partly measure memory: then whole rows are held out
and their phrases leave train (`tfdistil.data.phrases`); the report gives the share of the
selection split that train still contains either way.

Every stage gets `work` data (train, dev; no test). Selection scores come from `selection`
data, the same files with the selection split in the test slot. The user's test file is
opened only by `TestGuard.read`, once.
"""
import hashlib
import json
import os

import numpy as np

from tfdistil.data.phrases import copies_of, inside_other_rows, share_inside, spans_of
from tfdistil.data.readers import _carve_dev, label_set, read_labelled
from tfdistil.data.splits import TaskFiles, load_split
from tfdistil.errors import UserError
from tfdistil.files import atomic_write_json, atomic_write_text


def _write_jsonl(path, texts, labels):
    atomic_write_text(path, "".join(json.dumps({"text": t, "label": lab}, ensure_ascii=False) + "\n"
                                    for t, lab in zip(texts, labels)))
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _source(o, mode="rows"):
    """(train, dev) as (texts, label names) lists, and the label names, from the user's files or a GLUE folder.
    Without a dev file, dev is carved from train (10%, seed 0) as the selection split is: copies of a dev
    row leave train with it, and in `sentences` mode dev is whole sentences whose phrases leave train, so
    the epochs are not picked on text the student trained on."""
    if o.train and not o.dev:
        t = read_labelled(o.train, o.text_column or None, o.label_column, name="train")
        names = list(label_set(t.labels))
        if len(names) < 2:
            raise UserError(f"{o.train}: every row has label {names[0]!r}; a classifier needs at least two labels")
        held, keep = _hold_out(t.texts, t.labels, names, 0.1, 0, mode)
        if not held:
            raise UserError(f"{o.train}: too few {'whole sentences' if mode == 'sentences' else 'rows'} to hold out "
                            "a dev split (every label occurs once); pass --dev")
        part = lambda rows: ([t.texts[i] for i in rows], [t.labels[i] for i in rows])  # noqa: E731
        return part(np.flatnonzero(keep)), part(held), names
    if o.train:
        data = TaskFiles(o.train, o.dev or None, None, o.text_column or None, o.label_column)
    else:
        data = o.data
    train, dev = load_split(data, "train"), load_split(data, "dev")
    names = list(train.label_names)
    as_names = lambda s: [names[i] for i in s.labels]  # noqa: E731
    return (train.sentences, as_names(train)), (dev.sentences, as_names(dev)), names


def _hold_out(texts, labels, names, fraction, seed, mode):
    """(held-out row indices, mask of the rows train keeps): a stratified fraction of the rows, with
    every copy of a held-out row taken out of train too, or in `sentences` mode of the rows no other row
    contains, with every row that is a span of one held out taken out of train too."""
    keep = np.ones(len(texts), bool)
    if mode == "sentences":
        whole = np.flatnonzero(~inside_other_rows(texts))
        held = sorted(whole[_carve_dev([labels[i] for i in whole], names, fraction, seed)].tolist())
        keep[spans_of([texts[i] for i in held], texts)] = False
    else:
        held = _carve_dev(labels, names, fraction, seed)
        keep[copies_of([texts[i] for i in held], texts)] = False  # a repeated row leaves train with its copy
    keep[held] = False
    return held, keep


PHRASE_SHARE = 0.2  # auto: hold out whole sentences when at least this share of train rows are phrases of others


def _train(o):
    (texts, labels), _, names = _source(o)
    return (texts[:o.limit], labels[:o.limit], names) if o.limit else (texts, labels, names)


def selection_split(o, existing=None, whose="this run"):
    """(rows | sentences, why): what --selection-split auto means for this train file. A run that
    already carved (`existing`, its splits record) keeps its own split: a new default must not
    re-carve, and so retrain, a run half done."""
    if o.selection_split != "auto":
        return o.selection_split, "asked for"
    if existing is not None:
        return existing.get("selection_split", "rows"), f"as {whose} carved it"
    texts, _, _ = _train(o)
    share = float(inside_other_rows(texts).mean()) if texts else 0.0
    mode = "sentences" if share >= PHRASE_SHARE else "rows"
    return mode, f"{100 * share:.0f}% of train rows are phrases of other rows (auto: sentences from {PHRASE_SHARE:.0%})"


def carve(o, folder):
    """Write folder/{train,dev,selection}.jsonl; return what the report says about them."""
    mode = selection_split(o)[0]
    (tr_texts, tr_labels), (dev_texts, dev_labels), names = _source(o, mode)
    if o.limit:
        tr_texts, tr_labels = tr_texts[:o.limit], tr_labels[:o.limit]
    held, keep = _hold_out(tr_texts, tr_labels, names, o.selection_fraction, o.selection_seed, mode)
    if not held:
        raise UserError("train is too small to hold out a selection split (every label occurs once"
                        + (" among rows that are not phrases of others)" if mode == "sentences" else ")"))
    rows = np.flatnonzero(keep)
    train = ([tr_texts[i] for i in rows], [tr_labels[i] for i in rows])
    selection = ([tr_texts[i] for i in held], [tr_labels[i] for i in held])
    if list(label_set(train[1])) != names:
        raise UserError("a label occurs only in the rows held out for selection; add rows of it to --train")
    os.makedirs(folder, exist_ok=True)
    info = {"label_names": names, "selection_fraction": o.selection_fraction, "selection_seed": o.selection_seed,
            "selection_split": mode, "phrases_dropped": int(len(tr_texts) - keep.sum() - len(held)),  # or copies
            "selection_seen_in_train": round(share_inside(selection[0], train[0]), 4),
            "source": {"train": o.train or os.path.join(o.data, "train.tsv"),
                       "dev": o.dev or (os.path.join(o.data, "dev.tsv") if o.data else
                                        f"carved from train (10%{' of its whole sentences' if mode == 'sentences' else ''}, seed 0)")}}
    for name, (texts, labels) in (("train", train), ("dev", (dev_texts, dev_labels)), ("selection", selection)):
        sha = _write_jsonl(os.path.join(folder, f"{name}.jsonl"), texts, labels)
        info[name] = {"rows": len(texts), "sha256": sha,
                      "per_class": {n: labels.count(n) for n in names}}
    atomic_write_json(os.path.join(folder, "splits.json"), info)
    return info


def held_back(o, folder):
    """(texts, labels) of the train rows the carve kept out of train: the selection split and, in
    `sentences` mode, the phrases of its sentences. `--refit` gives them back once every choice is made.
    Carved again from the user's files with the recorded mode, fraction and seed (the carve is
    deterministic), and checked against the train file the run trained on, so a changed --train
    cannot slip in."""
    with open(os.path.join(folder, "splits.json"), encoding="utf-8") as f:
        info = json.load(f)
    mode = info.get("selection_split", "rows")
    (tr_texts, tr_labels), _, names = _source(o, mode)
    if o.limit:
        tr_texts, tr_labels = tr_texts[:o.limit], tr_labels[:o.limit]
    _, keep = _hold_out(tr_texts, tr_labels, names, info["selection_fraction"], info["selection_seed"], mode)
    kept = "".join(json.dumps({"text": tr_texts[i], "label": tr_labels[i]}, ensure_ascii=False) + "\n"
                   for i in np.flatnonzero(keep))
    if hashlib.sha256(kept.encode("utf-8")).hexdigest() != info["train"]["sha256"]:
        raise UserError(f"{o.train or o.data}: train is not the file this run carved its splits from; "
                        "--refit needs the same train file")
    back = np.flatnonzero(~keep)
    return [tr_texts[i] for i in back], [tr_labels[i] for i in back]


def write_held_back(o, folder, out):
    """`out`/{train,dev}.jsonl: the held-back rows as a train split beside the run's own dev (its
    epochs are still picked there). Returns (TaskFiles, rows)."""
    texts, labels = held_back(o, folder)
    os.makedirs(out, exist_ok=True)
    _write_jsonl(os.path.join(out, "train.jsonl"), texts, labels)
    with open(os.path.join(folder, "dev.jsonl"), encoding="utf-8") as f:
        atomic_write_text(os.path.join(out, "dev.jsonl"), f.read())
    return work_data(out), len(texts)


def work_data(folder):
    """train + dev only: what every training stage gets (it cannot read test: there is none)."""
    return TaskFiles(os.path.join(folder, "train.jsonl"), os.path.join(folder, "dev.jsonl"), None, "text", "label")


def selection_data(folder):
    """The same files with the selection split in the test slot: `evaluate_tflite(.., split='test')` scores it."""
    return TaskFiles(os.path.join(folder, "train.jsonl"), os.path.join(folder, "dev.jsonl"),
                     os.path.join(folder, "selection.jsonl"), "text", "label")


def seen_before(o, folder, texts):
    """{source: mask}: which of `texts` (the test file's) the run's other inputs hold word for word, as
    the tokenizer sees them: the user's train file (all of it: the refit trains on the selection split
    too), dev, and --unlabelled. A student that trained on a test text, labelled or teacher-labelled,
    scores its memory there, and users' files often share rows. Test is never filtered: the report says
    how many and scores the rest beside."""
    from tfdistil.distil.steps import read_texts
    from tfdistil.transfer.augment import normalise
    with open(os.path.join(folder, "splits.json"), encoding="utf-8") as f:
        mode = json.load(f).get("selection_split", "rows")
    (train, _), (dev, _), _ = _source(o, mode)
    sources = {"train": train[:o.limit] if o.limit else train, "dev": dev,
               "unlabelled": [t for path in o.unlabelled for t in read_texts(path, o.text_column)]}
    keys = [normalise(t) for t in texts]
    masks = {}
    for name, rows in sources.items():
        known = {normalise(t) for t in rows}
        masks[name] = np.array([k in known for k in keys], bool)
    return masks


class TestGuard:
    """The one door to the test file. `read` converts it for the library and records the read;
    a second read (after the choice changed, say) is refused unless the user asks by name."""

    def __init__(self, o, folder, record):
        self.o, self.folder, self.record = o, folder, record

    @property
    def available(self):
        return bool(self.o.test or (self.o.data and os.path.isfile(os.path.join(self.o.data, "test.tsv"))))

    def read(self, purpose):
        if not self.available:
            return None
        if os.path.isfile(self.record):
            with open(self.record, encoding="utf-8") as f:
                before = json.load(f)
            if not self.o.read_test_again:
                raise UserError(f"test was already read once in {self.o.out} (for {before.get('purpose')}); the protocol "
                                "allows one read. Start a new --out, or pass --read-test-again (the report will say so)")
        names = json.load(open(os.path.join(self.folder, "splits.json"), encoding="utf-8"))["label_names"]
        if self.o.test:
            t = read_labelled(self.o.test, self.o.text_column or None, self.o.label_column, name="test")
            texts, labels = t.texts, t.labels
            unknown = sorted(set(labels) - set(names))
            if unknown:
                raise UserError(f"--test {self.o.test}: label(s) {', '.join(map(repr, unknown))} not in train")
        else:
            s = load_split(self.o.data, "test")
            texts, labels = s.sentences, [names[i] for i in s.labels]
        path = os.path.join(self.folder, "test.jsonl")
        sha = _write_jsonl(path, texts, labels)
        return TaskFiles(os.path.join(self.folder, "train.jsonl"), os.path.join(self.folder, "dev.jsonl"), path,
                         "text", "label"), {"rows": len(texts), "sha256": sha, "purpose": purpose}
