"""`compose`: contrast / concessive / negation sentences from train only, deterministic, labelled by the teacher."""
import json
import random
import re

import pytest

from conftest import run_cli
from tfdistil.errors import UserError
from tfdistil.transfer.compose import CONCESSIVE, CONTRAST, clause, iter_composed, negate, write_composed

TRAIN = ["the film is good .", "the plot was a mess", "it does work", "the actors can act !",
         "a warm , funny movie", "we will remember it", "dull and lifeless", "the ending has heart"]
QUIET = {"log": lambda m: None}


def small_data(tmp_path, dev=("something else entirely",), test=("another sentence",)):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "train.tsv").write_text("sentence\tlabel\n" + "".join(f"{s}\t{i % 2}\n" for i, s in enumerate(TRAIN)))
    (data / "dev.tsv").write_text("sentence\tlabel\n" + "".join(f"{s}\t1\n" for s in dev))
    (data / "test.tsv").write_text("sentence\tlabel\n" + "".join(f"{s}\t0\n" for s in test))
    return data


def rows_of(path):
    lines = path.read_text().splitlines()
    assert lines[0] == "sentence"
    return lines[1:]


def test_negate_inserts_after_an_auxiliary_in_ptb_tokens():
    rng = random.Random(0)
    forms = {" ".join(negate("the film is good".split(), rng)) for _ in range(20)}
    assert forms == {"the film is not good", "the film is n't good"}
    assert {" ".join(negate("i can go".split(), rng)) for _ in range(20)} == {"i can not go", "i ca n't go"}
    assert {" ".join(negate("it will last".split(), rng)) for _ in range(20)} == {"it will not last", "it wo n't last"}
    assert negate("a warm , funny movie".split(), rng) is None  # no auxiliary
    assert negate("it is not good".split(), rng) is None        # already negated
    assert negate("that is".split(), rng) is None               # nothing after it
    assert {" ".join(negate("it 's a mess".split(), rng)) for _ in range(20)} == {"it 's not a mess"}
    assert {" ".join(negate("they 're fun".split(), rng)) for _ in range(20)} == {"they 're not fun"}
    assert negate("the film 's score".split(), rng) is None      # a possessive, not a copula
    assert clause("the actors can act !") == ["the", "actors", "can", "act"]
    assert clause("but meditative and") == ["meditative"] and clause(", and .") == []


def test_compose_is_deterministic_for_a_seed(tmp_path):
    data = small_data(tmp_path)
    a = write_composed(str(data), str(tmp_path / "a.tsv"), factor=3, seed=1, **QUIET)
    b = write_composed(str(data), str(tmp_path / "b.tsv"), factor=3, seed=1, **QUIET)
    c = write_composed(str(data), str(tmp_path / "c.tsv"), factor=3, seed=2, **QUIET)
    assert (tmp_path / "a.tsv").read_text() == (tmp_path / "b.tsv").read_text()
    assert rows_of(tmp_path / "a.tsv") != rows_of(tmp_path / "c.tsv")
    assert a["rows"] == b["rows"] == len(rows_of(tmp_path / "a.tsv")) > 20 and c["rows"] > 20
    meta = json.loads((tmp_path / "a.tsv.json").read_text())
    assert meta["kind"] == "compose" and meta["seed"] == 1 and meta["factor"] == 3
    assert sum(meta["constructions"].values()) == meta["rows"]
    rows = rows_of(tmp_path / "a.tsv")
    assert len(set(rows)) == len(rows) and not set(rows) & {" ".join(clause(s)) for s in TRAIN}


def test_each_construction_appears_in_both_orders(tmp_path):
    data = small_data(tmp_path)
    meta = write_composed(str(data), str(tmp_path / "a.tsv"), factor=2, seed=0, **QUIET)
    rows = rows_of(tmp_path / "a.tsv")
    assert all(v > 0 for v in meta["constructions"].values()) and set(meta["constructions"]) == {
        "contrast", "concessive", "negation"}
    joins = [r for r in rows if re.search(rf" , ({'|'.join(CONTRAST)}) ", r)]
    assert joins
    for r in joins:  # "X , but Y" comes with "Y , but X" (unless that one was already emitted)
        x, word, y = re.match(rf"^(.*) , ({'|'.join(CONTRAST)}) (.*)$", r).groups()
        assert f"{y} , {word} {x}" in rows
    assert any(r.startswith(tuple(w + " " for w in CONCESSIVE)) and " , " in r for r in rows)
    assert any(" not " in r or " n't " in r for r in rows)
    only = write_composed(str(data), str(tmp_path / "n.tsv"), seed=0, constructions=("negation",), **QUIET)
    assert set(only["constructions"]) == {"negation"} and all(
        " not " in r or " n't " in r for r in rows_of(tmp_path / "n.tsv"))


def test_no_dev_or_test_sentence_in_the_output(tmp_path):
    data = small_data(tmp_path)
    write_composed(str(data), str(tmp_path / "a.tsv"), factor=2, seed=0, **QUIET)
    rows = rows_of(tmp_path / "a.tsv")
    # dev/test content is never an input: changing it leaves the output as it was...
    small_data(tmp_path, dev=("quite another sentence",), test=("and one more",))
    write_composed(str(data), str(tmp_path / "b.tsv"), factor=2, seed=0, **QUIET)
    assert rows_of(tmp_path / "b.tsv") == rows
    # ...except that an output equal to a dev or test sentence (after the tokenizer's lowercasing) is dropped
    leaked = {rows[0], rows[5], next(r for r in rows if " n't " in r or " not " in r)}
    small_data(tmp_path, dev=[rows[0].upper(), rows[5]], test=[r for r in leaked if r not in (rows[0], rows[5])])
    meta = write_composed(str(data), str(tmp_path / "c.tsv"), factor=2, seed=0, **QUIET)
    assert rows_of(tmp_path / "c.tsv") == [r for r in rows if r not in leaked] and meta["eval_sentences_excluded"] == 3
    # an augmented input file is read too, minus any dev/test sentence it holds
    aug = tmp_path / "aug.tsv"
    aug.write_text("sentence\nthe sequel is weaker\n" + rows[5] + "\n")
    meta = write_composed(str(data), str(tmp_path / "d.tsv"), factor=2, seed=0, augmented=[str(aug)], **QUIET)
    assert meta["augmented_inputs"] == [{"path": str(aug), "sentences": 1}]
    d = rows_of(tmp_path / "d.tsv")
    assert any("the sequel is weaker" in r for r in d) and not leaked & set(d)


def test_bad_settings_are_user_errors(tmp_path):
    data = small_data(tmp_path)
    with pytest.raises(UserError, match="unknown construction"):
        list(iter_composed(TRAIN, constructions=("sarcasm",)))
    with pytest.raises(UserError, match="--factor must be at least 1"):
        list(iter_composed(TRAIN, factor=0))
    with pytest.raises(UserError, match="--max-rows must be at least 1"):
        write_composed(str(data), str(tmp_path / "x.tsv"), max_rows=0, **QUIET)
    with pytest.raises(UserError, match="augmented sentences file not found"):
        write_composed(str(data), str(tmp_path / "x.tsv"), augmented=[str(tmp_path / "nope.tsv")], **QUIET)
    assert not (tmp_path / "x.tsv").exists()
    bad = run_cli("compose", "--data", str(data), "--out", str(tmp_path / "x.tsv"), "--constructions", "irony",
                  check=False)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: unknown construction")


def test_teacher_shards_label_the_composed_file(tiny_bert, tmp_path, data_dir):
    """The teacher, not a rule, labels composed sentences: `teacher shards --augmented` reads the file."""
    out = tmp_path / "composed.tsv"
    meta = json.loads(run_cli("compose", "--data", data_dir, "--limit", "40", "--max-rows", "60", "--seed", "3",
                              "--out", str(out), "--json").stdout.strip().splitlines()[-1])
    assert meta["rows"] == 60 and meta["train_rows"] == 40
    shards = json.loads(run_cli("teacher", "shards", "--teacher", tiny_bert, "--data", data_dir, "--no-train",
                                "--augmented", str(out), "--out", str(tmp_path / "shards"), "--shard-size", "100",
                                "--batch-size", "32", "--json").stdout.strip().splitlines()[-1])
    assert shards["complete"] and shards["rows"] == 60 and shards["labelled_rows"] == 0
