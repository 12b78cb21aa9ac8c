"""Stage records: the key a stage is made with, and where a record with that key is found.

A stage's record (`OUT/stages/NAME.json`) holds its result and the key of its inputs: the options it
reads (`READS`) and the keys of the stages it builds on. A record is good wherever its key matches:
in --out (a resumed run) or in --reuse DIR (another run's work on the same data and options). A dry
run walks the same stages with `probe`, which only looks records up, to say what is done already.
"""
import hashlib
import json
import os

from tfdistil.distil.options import ADDED_LATER
from tfdistil.errors import UserError

# Which options each stage reads (beyond the results of the stages before it).
READS = {
    "splits": ("train", "dev", "data", "text_column", "label_column", "limit", "selection_fraction", "selection_seed",
               "selection_split"),
    "teacher": ("teacher", "teacher_epochs", "teacher_lr", "teacher_max_len", "teacher_limit"),
    "logits": ("teacher_max_len",),
    "transfer": ("augment_factor", "unlabelled", "shard_size", "teacher_max_len"),  # not engine: same shards
    "composed": ("compose", "shard_size", "teacher_max_len"),
    "more": ("more_transfer", "augment_factor", "shard_size", "teacher_max_len"),
    "search": ("target", "flash", "trials", "trial_epochs", "subwords", "max_len"),
    "candidate": ("target", "flash", "epochs", "embed_init"),
    "refit-text": ("augment_factor", "shard_size", "teacher_max_len"),
    "refit": ("target", "flash", "epochs", "embed_init"),
    "selection-slices": ("slices",),
    "checks": ("target", "board_limit", "ram"),
    "test": ("target",), "bundle": ("target",), "report": (),
}


def key(o, group, deps):
    """A stage's key: the options it reads (those at their default when added later are left out, so
    older records still match) and the keys or results it builds on."""
    opts = {k: getattr(o, k) for k in READS[group] if ADDED_LATER.get(k, object()) != getattr(o, k)}
    d = {"options": opts, "deps": deps}
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


# The teacher's work (the same for every target) and the students' (the same wherever the keys match:
# same data, options and results all the way up), so a run that adds one lever trains only that lever;
# the held-back text a refit labelled, and a refit whose choices came out the same, likewise.
REUSABLE = ("teacher", "logits", "transfer", "composed", "more", "search", "candidate", "refit-text", "refit")


def reused(o, name, key):
    """`--reuse DIR`'s record of stage `name` if it was made with this key (the same options and
    data all the way up), else None. Its files stay in DIR; they must be reachable from here."""
    path = os.path.join(o.reuse, "stages", f"{name}.json")
    try:
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
    except (OSError, ValueError):
        saved = {}
    if saved.get("key") != key:  # the same work under another name (a seed DIR trained as `seed-1` is
        saved = by_key(o.reuse).get(key)  # this run's `candidate-NAME-s1` under --lever-seeds)
        if saved is None:
            return None
    r = saved["result"]
    files = [r.get("dir"), r.get("path"), r.get("run"), r.get("model"), *(r.get("shards") or "").split("+")]
    missing = [p for p in files if p and not os.path.exists(p)]
    if missing:
        raise UserError(f"--reuse {o.reuse}: its {name} stage names {missing[0]}, which is not there from this "
                        "folder; run from the folder that run was started in")
    return {**saved, "seconds": 0, "reused_from": o.reuse}


_READ = {}


def _records(folder):
    """{key: stage record} of folder/stages, read once per folder state (a folder that gained stages
    is read again)."""
    d = os.path.join(folder, "stages")
    stamp = (folder, os.stat(d).st_mtime_ns if os.path.isdir(d) else 0)
    if stamp not in _READ:
        found = {}
        for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            try:
                with open(os.path.join(d, f), encoding="utf-8") as fh:
                    saved = json.load(fh)
                found.setdefault(saved["key"], saved)
            except (OSError, ValueError, KeyError, TypeError):
                continue
        _READ[stamp] = found
    return _READ[stamp]


def chain(folder, seen=()):
    """`folder` and, behind it, every folder its stage records were reused from (what --reuse reaches)."""
    if not folder or folder in seen:
        return []
    out = [folder]
    for back in sorted({r.get("reused_from") or "" for r in _records(folder).values()} - {"", folder}):
        out += [x for x in chain(back, (*seen, folder)) if x not in out]
    return out


def by_key(folder):
    """{key: stage record} of every stage record in folder/stages and, behind those, in the folders
    they were themselves reused from: --reuse DIR reaches what DIR reused (a seed the run before DIR
    trained, which DIR did not need)."""
    found = {}
    for f in chain(folder):
        for k, v in _records(f).items():
            found.setdefault(k, v)
    return found


def saved_record(folder, name, key):
    """folder/stages/NAME.json if it was made with this key, else None."""
    try:
        with open(os.path.join(folder, "stages", f"{name}.json"), encoding="utf-8") as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) and saved.get("key") == key else None


class Unknown(Exception):
    """A dry run needed a result that only running its stage would give."""


class Pending:
    """The result of a stage a dry run found not done: reading it stops the walk (`Unknown`), since
    what follows (which recipe won, the levers built on it) depends on it."""

    def __init__(self, name):
        self.name = name

    def __getitem__(self, k):
        raise Unknown(self.name)

    def get(self, *a):
        raise Unknown(self.name)

    def keys(self):
        raise Unknown(self.name)


def probe(o, c, done):
    """A `stage` function for a dry walk: it finds each stage's record in --out ("cached") or
    --reuse ("reused") by its key and writes nothing; `done` collects {stage: how}. A stage not
    found yields a `Pending`; the walk ends at the first read of one."""
    def stage(name, group, deps, fn):
        k = c.keys[name] = key(o, group, deps)
        saved = saved_record(o.out, name, k)
        how = "cached"
        if saved is None and o.reuse and group in REUSABLE:
            saved, how = reused(o, name, k), "reused"
        if saved is None and name == "splits" and o.reuse:  # carved again here, the same rows: what
            saved, how = saved_record(o.reuse, name, k), None  # follows can be looked up in --reuse
        if saved is None:
            c.results[name] = Pending(name)
        else:
            c.results[name] = saved["result"]
            if how:
                done[name] = how
        return c.results[name]
    return stage


def earlier_test_read(o, identity):
    """A test read made in a folder --reuse reaches, of exactly these models (seed and sha256 of each
    flatbuffer) and the same test file: that read stands for this run, so the protocol's one read is
    not repeated by a second folder that chose the same recipe. (folder, record) or None."""
    for folder in chain(o.reuse):
        try:
            with open(os.path.join(folder, "test_read.json"), encoding="utf-8") as f:
                before = json.load(f)
        except (OSError, ValueError):
            continue
        same_file = (before.get("choice") or {}).get("test") == o.test and (before.get("choice") or {}).get("data") == o.data
        if before.get("read") and before.get("identity") == identity and same_file:
            return folder, before
    return None

