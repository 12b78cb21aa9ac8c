"""tfdistil.data.readers: CSV/TSV/JSONL of any labels, FILE:LINE errors, stratified dev carving."""
import json
import os
from collections import Counter

import numpy as np
import pytest

from tfdistil.data.readers import label_set, load_task, read_labelled
from tfdistil.data.splits import read_tsv
from tfdistil.errors import UserError


def _write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return str(path)


def _error(match_start, fn, *args, **kw):
    with pytest.raises(UserError) as e:
        fn(*args, **kw)
    assert str(e.value).startswith(match_start), str(e.value)
    return str(e.value)


def test_csv_quoting_bom_crlf_blank_lines(tmp_path):
    raw = ("\ufefftext,label\r\n"
           "\r\n"
           '"first line\r\nsecond line",pos\r\n'
           '"commas, and ""quotes"" inside",neg\r\n'
           "\r\n"
           "plain, \r\n"  # the label is only whitespace: caught below, not here
           )
    bad = _write(tmp_path / "bad.csv", raw)
    _error(f"{bad}:7: empty label", read_labelled, bad)
    good = _write(tmp_path / "t.csv", raw.replace("plain, \r\n", "plain , pos \r\n"))
    d = read_labelled(good)
    assert d.texts == ["first line\nsecond line", 'commas, and "quotes" inside', "plain "]
    assert d.labels == ["pos", "neg", "pos"]
    assert d.lines == [3, 5, 7]  # physical line where each record starts
    assert label_set(d.labels) == ("neg", "pos")


def test_tsv_and_jsonl_with_integer_labels(tmp_path):
    tsv = _write(tmp_path / "a.tsv", 'sentence\tlabel\tid\none, two\t10\t1\n"tab\tin it"\t2\t2\nthree\t0\t3\n')
    d = read_labelled(tsv)
    assert d.texts == ["one, two", "tab\tin it", "three"] and d.labels == ["10", "2", "0"]
    lines = [{"text": "alpha", "label": 3}, {"text": "beta", "label": "10"}, {"text": "gamma", "label": 2}]
    jl = _write(tmp_path / "a.jsonl", "\n" + "\n\n".join(json.dumps(x) for x in lines) + "\n")
    d = read_labelled(jl)
    assert d.texts == ["alpha", "beta", "gamma"] and d.labels == ["3", "10", "2"] and d.lines == [2, 4, 6]
    assert label_set(d.labels) == ("2", "3", "10")  # numeric, not string order
    assert label_set(["1", "0", "1"]) == ("0", "1")  # SST-2: index == int label
    assert label_set(["b", "10", "2"]) == ("10", "2", "b")  # mixed: plain string order


def test_text_column_default_and_explicit(tmp_path):
    both = _write(tmp_path / "both.csv", "text,sentence,label,body\nT,S,x,B\n")
    assert read_labelled(both).texts == ["S"]  # `sentence` wins over `text`
    assert read_labelled(_write(tmp_path / "t.csv", "label,text\nx,T\n")).texts == ["T"]
    assert read_labelled(both, text_column="body").texts == ["B"]
    jl = _write(tmp_path / "b.jsonl", json.dumps({"body": "B", "y": "x"}) + "\n")
    assert read_labelled(jl, text_column="body", label_column="y").texts == ["B"]


def test_defects_name_file_and_line(tmp_path):
    p = _write(tmp_path / "nocol.csv", "\nbody,label\nhello,1\n")
    msg = _error(f"{p}:2: no 'sentence' or 'text' column", read_labelled, p)
    assert "'body', 'label'" in msg
    _error(f"{p}:2: no text column 'words'", read_labelled, p, text_column="words")
    _error(f"{p}:2: no label column 'y'", read_labelled, p, text_column="body", label_column="y")
    p = _write(tmp_path / "empty.tsv", "sentence\tlabel\na\t1\n\nb\t \n")
    _error(f"{p}:4: empty label", read_labelled, p)
    p = _write(tmp_path / "emptytext.csv", 'text,label\na,1\n"multi\nline",1\n" ",0\n')
    _error(f"{p}:5: empty text", read_labelled, p)
    p = _write(tmp_path / "cols.csv", "text,label\na,b,c\n")
    _error(f"{p}:2: expected 2 columns", read_labelled, p)
    p = _write(tmp_path / "bad.jsonl", '{"text": "a", "label": 1}\n\n{"text": "b", "label": 1\n')
    _error(f"{p}:3: not valid JSON", read_labelled, p)
    p = _write(tmp_path / "nolabel.jsonl", '{"text": "a", "label": 1}\n{"text": "b"}\n')
    _error(f"{p}:2: no 'label' field", read_labelled, p)
    p = _write(tmp_path / "float.jsonl", '{"text": "a", "label": 1.5}\n')
    _error(f"{p}:1: 'label' must be a string or an integer", read_labelled, p)
    p = _write(tmp_path / "latin1.csv", "text,label\nfine,1\n'caf\xe9',1\n".encode("latin-1"))
    _error(f"{p}:3: not valid UTF-8", read_labelled, p)
    p = _write(tmp_path / "bom_latin1.csv", b"\xef\xbb\xbftext,label\n\nx\xff,1\n")
    _error(f"{p}:3: not valid UTF-8", read_labelled, p)
    p = _write(tmp_path / "data.txt", "text,label\na,1\n")
    msg = _error(f"{p}: unsupported file type '.txt'", read_labelled, p)
    assert ".csv, .tsv, .jsonl" in msg
    p = _write(tmp_path / "quote.csv", 'text,label\na,1\n"never closed,1\nb,0\n')
    _error(f"{p}:3: malformed CSV", read_labelled, p)
    _error(f"{tmp_path / 'nope.csv'}: file not found", read_labelled, str(tmp_path / "nope.csv"))
    p = _write(tmp_path / "header_only.csv", "text,label\n\n")
    _error(f"{p}: no rows", read_labelled, p)


def test_unseen_dev_label(tmp_path):
    train = _write(tmp_path / "train.csv", "text,label\na,x\nb,y\nc,x\n")
    dev = _write(tmp_path / "dev.jsonl", '{"text": "d", "label": "x"}\n{"text": "e", "label": "z"}\n')
    _error(f"{dev}:2: label 'z' does not occur in the training file {train}", load_task, train, dev)


def test_load_task_with_dev_and_test_files(tmp_path):
    train = _write(tmp_path / "train.tsv", "sentence\tlabel\na\t2\nb\t10\nc\t2\nd\t1\n")
    dev = _write(tmp_path / "dev.csv", "text,label\ne,10\nc,1\n")
    task = load_task(train, dev, dev)
    assert task.label_names == ("1", "2", "10")
    tr, dv, te = (task.splits[k] for k in ("train", "dev", "test"))
    assert tr.labels.dtype == np.int32 and tr.labels.tolist() == [1, 2, 1, 0]
    assert dv.labels.tolist() == [2, 0] and dv.label_names == ("1", "2", "10") and te.sentences == ["e", "c"]
    assert tr.sha256 == read_labelled(train).sha256
    assert any("no rows with label '2'" in n for n in task.notes)
    assert any("1 of 2 texts also occur in train" in n for n in task.notes)
    assert load_task(train, dev).splits["test"] is None


def _carving_train(tmp_path):
    # 3 classes of 50 / 30 / 7 rows, interleaved; a class of 1 row must stay in train.
    rows = [(f"row {i}", ["a", "b", "c"][(i % 3) if i < 21 else (0 if i < 71 else 1)]) for i in range(87)]
    rows.append(("the only one", "d"))
    return _write(tmp_path / "train.csv", "text,label\n" + "".join(f"{t},{lab}\n" for t, lab in rows))


def test_stratified_dev_is_seeded_and_keeps_proportions(tmp_path):
    train = _carving_train(tmp_path)
    full = Counter(read_labelled(train).labels)
    a, again, other = load_task(train), load_task(train), load_task(train, seed=1)
    tr, dv = a.splits["train"], a.splits["dev"]
    assert tr.sentences + dv.sentences != read_labelled(train).texts  # something was held out
    assert sorted(tr.sentences + dv.sentences) == sorted(read_labelled(train).texts)
    assert not set(tr.sentences) & set(dv.sentences)
    for part in ("train", "dev"):
        assert again.splits[part].sentences == a.splits[part].sentences
        assert np.array_equal(again.splits[part].labels, a.splits[part].labels)
        assert again.splits[part].sha256 == a.splits[part].sha256
    assert other.splits["dev"].sentences != dv.sentences
    assert other.splits["dev"].sha256 != dv.sha256 and other.splits["train"].sha256 != tr.sha256
    assert load_task(train, dev_fraction=0.2).splits["dev"].sha256 != dv.sha256
    assert dv.sha256 != tr.sha256 != read_labelled(train).sha256
    # Proportions: per class within one row of 10 %, at least one row for classes of two or more.
    held = Counter(a.label_names[i] for i in dv.labels)
    for label, n in full.items():
        assert abs(held[label] - 0.1 * n) <= 1, (label, held[label], n)
        assert (held[label] >= 1) == (n >= 2)
    assert held["d"] == 0 and "d" in a.label_names
    # Row order kept inside each part.
    order = {t: i for i, t in enumerate(read_labelled(train).texts)}
    for s in (tr, dv):
        assert [order[t] for t in s.sentences] == sorted(order[t] for t in s.sentences)
    assert a.notes[0] == f"no --dev file: 10% of train ({len(dv)} rows, stratified, seed 0) held out as dev"
    assert dv.name == "dev" and dv.label_names == a.label_names
    _error("--dev-fraction must be between 0 and 1", load_task, train, dev_fraction=1.0)


def test_single_label_train_is_refused(tmp_path):
    train = _write(tmp_path / "train.csv", "text,label\na,x\nb,x\n")
    _error(f"{train}: every row has label 'x'", load_task, train)


@pytest.mark.parametrize("split", ["dev", "test"])
def test_sst2_reads_as_before(data_dir, split):
    path = os.path.join(data_dir, f"{split}.tsv")
    old, new = read_tsv(path, split), read_labelled(path)
    assert new.texts == old.sentences and new.sha256 == old.sha256
    assert np.array_equal(np.asarray(new.labels, np.int32), old.labels)
    assert label_set(new.labels) == ("0", "1") == old.label_names
    task = load_task(path, path, path)
    assert np.array_equal(task.splits["dev"].labels, old.labels)  # label index == int label
