"""A multi-class text task nobody here wrote: Debian's fortune quotations, labelled by topic.

Each file under /usr/share/games/fortunes/ (package `fortunes`) holds one topic's
quotations separated by `%` lines. We clean every entry (overstrike underlining
removed, whitespace collapsed), drop empty and over-long ones, drop any text that
occurs under two topics (its label would be a coin toss), keep topics with enough
entries and split each topic 80/10/10 with a fixed seed. Same package + seed gives
byte-identical CSVs, so a result on this task can be reproduced elsewhere.

    apt-get install fortunes
    python experiments/fortunes/make_fortunes_task.py --out data/fortunes [--seed 0]

writes train.csv, dev.csv, test.csv (columns text,label), task.json, and unlabelled.txt (one text a line:
the other fortune files' entries, none of them a task text) for `distil --unlabelled`.
"""
import argparse
import csv
import hashlib
import io
import json
import os
import re
import subprocess
import sys

import numpy as np

SOURCE = "/usr/share/games/fortunes"
CANDIDATES = ("computers", "science", "politics", "work", "law", "education", "food", "sports", "love")
SPLITS = ("train", "dev", "test")
HELD_OUT = 0.1  # of each topic for dev and for test (rounded); train takes the rest


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def clean(entry):
    """One line of plain text: terminal overstrike (`_\\bx` underlines, `'\\be` accents) resolved to
    the struck character, other control characters dropped, whitespace collapsed."""
    while "\b" in entry:
        undone = re.sub(r"[^\b\n]\x08", "", entry)
        if undone == entry:  # a backspace with nothing to strike
            undone = entry.replace("\b", "")
        entry = undone
    entry = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", entry)
    return " ".join(entry.split())


def read_topic(path, max_chars):
    """The cleaned entries of one fortune file, in file order, without repeats."""
    with open(path, encoding="utf-8") as f:
        raw = f.read()
    entries, seen = [], set()
    for entry in re.split(r"^%[ \t]*$", raw, flags=re.M):
        text = clean(entry)
        if text and len(text) <= max_chars and text not in seen:
            seen.add(text)
            entries.append(text)
    return entries


def package_version():
    try:
        proc = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "fortunes"], capture_output=True, text=True)
    except OSError:
        return None
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def split_topic(entries, rng):
    """80/10/10 of one topic: a seeded permutation cut by rounded fractions (test takes the rest)."""
    order = rng.permutation(len(entries))
    n_dev = n_test = int(np.floor(HELD_OUT * len(entries) + 0.5))
    n_train = len(entries) - n_dev - n_test
    cuts = {"train": order[:n_train], "dev": order[n_train:n_train + n_dev], "test": order[n_train + n_dev:]}
    return {part: [entries[i] for i in idx] for part, idx in cuts.items()}


def csv_bytes(rows):
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="folder for train.csv, dev.csv, test.csv and task.json")
    ap.add_argument("--seed", type=int, default=0, help="seed of the split and of the row order (default 0)")
    ap.add_argument("--source", default=SOURCE, help=f"fortune files (default {SOURCE})")
    ap.add_argument("--topics", default=",".join(CANDIDATES),
                    help="comma-separated candidate topics (default: %(default)s)")
    ap.add_argument("--min-entries", type=int, default=140, help="drop topics with fewer entries (default 140)")
    ap.add_argument("--min-topics", type=int, default=6, help="fail with fewer topics left (default 6)")
    ap.add_argument("--max-chars", type=int, default=600, help="drop longer entries (default 600)")
    args = ap.parse_args(argv)

    if not os.path.isdir(args.source):
        fail(f"{args.source}: fortunes folder not found (apt-get install fortunes)")
    candidates = [t.strip() for t in args.topics.split(",") if t.strip()]
    entries, absent = {}, []
    for topic in candidates:
        path = os.path.join(args.source, topic)
        if os.path.isfile(path):
            entries[topic] = read_topic(path, args.max_chars)
        else:
            absent.append(topic)
    # A text filed under two topics says nothing about either: drop it from both.
    owners = {}
    for topic, texts in entries.items():
        for text in texts:
            owners.setdefault(text, set()).add(topic)
    shared = sum(len(o) > 1 for o in owners.values())
    entries = {t: [x for x in texts if len(owners[x]) == 1] for t, texts in entries.items()}
    dropped = {t: len(x) for t, x in entries.items() if len(x) < args.min_entries}
    topics = sorted(t for t in entries if t not in dropped)
    if len(topics) < args.min_topics:
        fail(f"{args.source}: only {len(topics)} topics with at least {args.min_entries} entries "
             f"({', '.join(topics) or 'none'}; missing: {', '.join(absent) or 'none'}; too small: "
             f"{', '.join(f'{t} {n}' for t, n in sorted(dropped.items())) or 'none'}); apt-get install fortunes")

    rng = np.random.default_rng(args.seed)
    rows = {part: [] for part in SPLITS}
    counts = {part: {} for part in SPLITS}
    for topic in topics:
        for part, texts in split_topic(entries[topic], rng).items():
            rows[part].extend((text, topic) for text in texts)
            counts[part][topic] = len(texts)
    os.makedirs(args.out, exist_ok=True)
    data, temps = {}, []
    for part in SPLITS:  # rows shuffled so a reader that streams the file sees mixed topics
        order = rng.permutation(len(rows[part]))
        data[part] = csv_bytes([rows[part][i] for i in order])
    # In-domain text without labels: every other fortune file's entries, minus any text of the
    # candidate topics (so no train, dev or test text is in it). A user's unlabelled pile.
    others = sorted(f for f in os.listdir(args.source) if "." not in f and f not in candidates
                    and os.path.isfile(os.path.join(args.source, f)))
    unlabelled = [t for f in others for t in read_topic(os.path.join(args.source, f), args.max_chars) if t not in owners]
    data["unlabelled"] = "".join(t + "\n" for t in dict.fromkeys(unlabelled)).encode("utf-8")
    info = {
        "source": os.path.abspath(args.source),
        "fortunes_version": package_version(),
        "seed": args.seed,
        "max_chars": args.max_chars,
        "min_entries": args.min_entries,
        "topics": topics,
        "dropped_topics": dropped,
        "absent_topics": absent,
        "texts_in_two_or_more_topics_dropped": shared,
        "counts": {**counts, "total": {t: sum(counts[p][t] for p in SPLITS) for t in topics}},
        "sha256": {f"{part}.csv": hashlib.sha256(b).hexdigest() for part, b in data.items() if part in SPLITS},
        "unlabelled": {"files": others, "texts": data["unlabelled"].count(b"\n"),
                       "sha256": hashlib.sha256(data["unlabelled"]).hexdigest()},
    }
    data["task"] = (json.dumps(info, indent=2) + "\n").encode("utf-8")
    # Atomic: every file is written under a temporary name first, then all are renamed.
    for part, blob in data.items():
        final = os.path.join(args.out, {"task": "task.json", "unlabelled": "unlabelled.txt"}.get(part, f"{part}.csv"))
        tmp = f"{final}.tmp{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        temps.append((tmp, final))
    for tmp, final in temps:
        os.replace(tmp, final)
    total = sum(info["counts"]["total"].values())
    print(f"{len(topics)} topics, {total} texts "
          f"({', '.join(f'{p} {sum(counts[p].values())}' for p in SPLITS)}) -> {args.out}")
    if dropped:
        print(f"dropped (< {args.min_entries} entries): {', '.join(f'{t} {n}' for t, n in sorted(dropped.items()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
