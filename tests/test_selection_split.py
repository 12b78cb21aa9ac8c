"""The selection split on data whose train rows are phrases of its own sentences (SST-2's shape).

Held-out rows that are spans of sentences left in train let a student vote with its memory;
`--selection-split sentences` (and `auto` on such data) holds out whole sentences and takes
their phrases out of train. Real carving on real files; the phrase search on SST-2 itself.
"""
import json
import os
import random

import pytest

from conftest import run_cli
from tfdistil.data.phrases import inside_other_rows, share_inside, spans_of


def test_phrases_are_found_as_whole_word_spans():
    texts = ["the film is not good", "not good", "film is", "the fil", "good", "not good", "a b c"]
    inside = inside_other_rows(texts).tolist()
    # "the fil" is not a word span of "the film ..."; the repeated "not good" counts as inside
    assert inside == [False, True, True, False, True, True, False]
    assert share_inside(["not good", "the film is", "bad"], ["The  film is NOT good"]) == pytest.approx(2 / 3)
    assert spans_of(["the film is not good"], texts) == [0, 1, 2, 4, 5]


def _phrase_task(tmp_path, sentences=60):
    """A CSV shaped like SST-2's train: whole sentences, each followed by some of its own phrases."""
    rng = random.Random(0)
    words = [f"w{i}" for i in range(300)]
    rows = []
    for i in range(sentences):
        s = [rng.choice(words) for _ in range(12)]
        label = "pos" if i % 2 else "neg"
        rows.append((" ".join(s), label))
        for _ in range(5):
            a = rng.randrange(0, 10)
            rows.append((" ".join(s[a:a + rng.randrange(2, 12 - a + 1)]), label))
    path = tmp_path / "train.csv"
    with open(path, "w", encoding="utf-8") as f:
        f.write("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    with open(tmp_path / "dev.csv", "w", encoding="utf-8") as f:  # a dev file: no dev carved out of train
        f.write("text,label\nw1 w2 w3,neg\nw4 w5,pos\n")
    return str(path), rows


def _carve(train, tmp_path, mode, dev=True, out=None):
    from tfdistil.distil.options import make_options
    from tfdistil.distil.workdata import carve
    o = make_options({"train": train, "dev": train.replace("train.csv", "dev.csv") if dev else None, "target": "pi",
                      "out": str(tmp_path / "out"), "selection_fraction": 0.2,
                      "selection_split": mode})
    folder = tmp_path / (out or mode)
    info = carve(o, str(folder))
    read = lambda n: [json.loads(line)["text"] for line in open(folder / f"{n}.jsonl", encoding="utf-8")]  # noqa: E731
    return (info, read("train"), read("selection")) + ((read("dev"),) if out else ())


def test_sentences_hold_out_whole_rows_and_take_their_phrases_out_of_train(tmp_path):
    train, rows = _phrase_task(tmp_path)
    info, tr, sel = _carve(train, tmp_path, "rows")
    assert info["selection_split"] == "rows" and info["selection_seen_in_train"] > 0.5  # the leak, measured
    info, tr, sel = _carve(train, tmp_path, "sentences")
    sentences = {t for i, (t, _) in enumerate(rows) if i % 6 == 0}
    assert info["selection_split"] == "sentences" and set(sel) <= sentences and len(sel) == 12
    assert info["selection_seen_in_train"] == 0 and share_inside(sel, tr) == 0
    assert info["phrases_dropped"] > 0 and len(tr) + len(sel) + info["phrases_dropped"] == len(rows)
    assert info["selection"]["per_class"] == {"neg": 6, "pos": 6}  # still stratified
    # auto reads the shape of the data: phrases here, so sentences
    info_auto, _, sel_auto = _carve(train, tmp_path, "auto")
    assert info_auto["selection_split"] == "sentences" and sel_auto == sel
    # no dev file: dev (which picks epochs) is carved from whole sentences too, and train keeps none of it
    info, tr, sel, dev = _carve(train, tmp_path, "sentences", dev=False, out="nodev")
    assert dev and set(dev) <= sentences and not set(dev) & set(sel)
    assert share_inside(dev, tr) == 0 and share_inside(sel, tr) == 0 and "whole sentences" in info["source"]["dev"]


def test_auto_keeps_rows_for_ordinary_data_and_a_carved_run_keeps_its_split(tmp_path):
    from tfdistil.distil.options import make_options
    from tfdistil.distil.workdata import selection_split
    rng = random.Random(2)
    ordinary = tmp_path / "ordinary.csv"  # texts that are not phrases of each other (a typical user's task)
    ordinary.write_text("text,label\n" + "".join(f"{' '.join(f'w{rng.randrange(300)}' for _ in range(10))},{i % 2}\n"
                                                  for i in range(200)))
    o = make_options({"train": str(ordinary), "target": "pi", "out": str(tmp_path / "o")})
    assert selection_split(o)[0] == "rows"
    train, _ = _phrase_task(tmp_path)
    o = make_options({"train": train, "target": "pi", "out": str(tmp_path / "o")})
    assert selection_split(o)[0] == "sentences"
    # a run carved before this option existed (no record of it) resumes with its rows, not a re-carve
    assert selection_split(o, existing={"selection_fraction": 0.1})[0] == "rows"
    assert selection_split(o, existing={"selection_split": "sentences"})[0] == "sentences"


def test_dry_run_says_which_split_and_why_and_a_bad_value_is_one_line(tmp_path):
    train, _ = _phrase_task(tmp_path)
    out = tmp_path / "plan"
    proc = run_cli("distil", "--train", train, "--target", "pi", "--out", str(out), "--dry-run", "--json")
    plan = json.loads(proc.stdout.strip().splitlines()[-1])
    assert plan["selection_split"]["mode"] == "sentences" and "phrases of other rows" in plan["selection_split"]["why"]
    assert not out.exists()
    toml = tmp_path / "bad.toml"
    toml.write_text('selection_split = "phrases"\n')
    proc = run_cli("distil", "--train", train, "--target", "pi", "--out", str(out), "--config", str(toml), check=False)
    assert proc.returncode == 2 and "--selection-split is one of auto, rows, sentences" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not out.exists()


def test_on_sst2_a_random_row_split_is_mostly_seen_and_a_sentence_split_is_not(data_dir):
    """The reason for the option, on the real file: ~89% of random held-out rows are spans of train rows."""
    from tfdistil.data.splits import load_split
    texts = load_split(data_dir, "train").sentences
    inside = inside_other_rows(texts)
    assert 0.85 < inside.mean() < 0.95 and (~inside).sum() == 6885
    rng = random.Random(1)
    held = set(rng.sample(range(len(texts)), 2000))
    rest = [t for i, t in enumerate(texts) if i not in held]
    assert share_inside([texts[i] for i in held], rest) > 0.8
    whole = [i for i in range(len(texts)) if not inside[i]]
    held = rng.sample(whole, 300)
    gone = set(spans_of([texts[i] for i in held], texts))
    assert share_inside([texts[i] for i in held], [t for i, t in enumerate(texts) if i not in gone]) == 0


def test_auto_follows_the_split_of_the_run_it_reuses(tmp_path):
    """--reuse DIR: the teacher's work there was made on DIR's split, so auto takes that split (here rows, on data
    that would otherwise carve by sentences) and the stage keys can match."""
    from tfdistil.files import atomic_write_json, mark
    train, _ = _phrase_task(tmp_path)
    first = tmp_path / "first"
    os.makedirs(first / "stages")
    mark(str(first), "distil")
    atomic_write_json(str(first / "stages" / "splits.json"), {"key": "k", "result": {"selection_fraction": 0.1}})
    plan = lambda *a: json.loads(run_cli("distil", "--train", train, "--target", "pi", "--out", str(tmp_path / "second"),  # noqa: E731
                                         "--dry-run", "--json", *a).stdout.strip().splitlines()[-1])["selection_split"]
    assert plan()["mode"] == "sentences"
    assert plan("--reuse", str(first)) == {"mode": "rows", "why": f"as --reuse {first} carved it"}
    assert plan("--reuse", str(first), "--selection-split", "sentences")["mode"] == "sentences"  # asked for wins


def test_a_row_held_out_for_selection_takes_its_copies_out_of_train(tmp_path):
    """Users' files repeat rows: a held-out row whose copy stayed in train would be a vote on memory."""
    rng = random.Random(3)
    texts = [" ".join(f"w{rng.randrange(300)}" for _ in range(10)) for _ in range(100)]
    rows = [(t, "pos" if i % 2 else "neg") for i, t in enumerate(texts)]
    rows += [(t.upper(), y) for t, y in rows[:30]]  # 30 rows again, in capitals (same words to the tokenizer)
    (tmp_path / "train.csv").write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    (tmp_path / "dev.csv").write_text("text,label\nw1 w2 w3,neg\nw4 w5,pos\n")
    info, tr, sel = _carve(str(tmp_path / "train.csv"), tmp_path, "rows")
    low = lambda ts: {t.lower() for t in ts}  # noqa: E731
    assert not low(sel) & low(tr) and info["selection_seen_in_train"] == 0
    copies = sum(t.lower() in low(sel) for t, _ in rows) - len(sel)  # the held rows' twins
    assert copies > 0 and info["phrases_dropped"] == copies and len(tr) + len(sel) + copies == len(rows)
    # no dev file: the dev carved from train (it picks the epochs) takes its copies out of train too
    info, tr, sel, dev = _carve(str(tmp_path / "train.csv"), tmp_path, "rows", dev=False, out="nodev")
    assert dev and not low(dev) & low(tr) and not low(sel) & low(tr) and not low(dev) & low(sel)
