import ast
import json
import os

from tfdistil.data import tokenizer as tokenizer
from tfdistil.data.splits import load_split
from tfdistil.data.vocab import Vocab
from conftest import ROOT


def test_split_words_rules():
    assert tokenizer.split_words("Great  movie!\t") == ["great", "movie!"]
    assert tokenizer.split_words("") == [] and tokenizer.split_words("   ") == []
    assert tokenizer.split_words("CAFÉ") == ["cafÉ"]  # ASCII-only lowercasing, same as the C tokenizer
    assert tokenizer.peel('"wow,"') == ['"', "wow", ",", '"'] and tokenizer.peel("...") == [".", ".", "."]


def test_encode_peels_only_unknown_words():
    vocab = {"great": 2, "movie": 3, "!": 4, "u.s.": 5, ".": 6, "...": 7, '"': 8, "wow": 9, ",": 10}
    assert tokenizer.encode("Great movie!", vocab, 5) == [2, 3, 4, 0, 0]
    assert tokenizer.encode("u.s. ... .", vocab, 4) == [5, 7, 6, 0]
    assert tokenizer.encode('"Wow," zzz!', vocab, 8) == [8, 9, 10, 8, 1, 4, 0, 0]
    assert tokenizer.encode("great " * 9, vocab, 3, pad=False) == [2, 2, 2]


def test_sst_sentences_are_unchanged(data_dir):
    dev = load_split(data_dir, "dev")
    for s in dev.sentences:
        assert tokenizer.split_words(s) == s.split()


def test_vocab_roundtrip_and_encoding(tmp_path, data_dir):
    train = load_split(data_dir, "train", limit=2000)
    vocab = Vocab.build(train.sentences, max_len=12, min_freq=2, max_size=500)
    assert len(vocab) == 500 and vocab.itos[:2] == ["<pad>", "<unk>"]
    path = tmp_path / "vocab.json"
    vocab.save(str(path))
    again = Vocab.load(str(path))
    assert again.itos == vocab.itos and again.max_len == 12
    ids = again.encode("the film zzzunknownzzz")
    assert len(ids) == 12 and ids[2] == 1 and ids[3:] == [0] * 9
    assert again.encode("") == [0] * 12
    batch = again.encode_batch(["a " * 40, "good"])
    assert batch.shape == (2, 12) and (batch[0] != 0).all()
    assert json.loads(path.read_text())["format"] == "tfdistil-vocab-1"


def _function_sources(path, names):
    tree = ast.parse(open(path, encoding="utf-8").read())
    found = {n.name: ast.unparse(n) for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names}
    wanted = ("PUNCT_TAIL", "ASCII_SPACE", "FNV_BASIS, FNV_PRIME")
    consts = {ast.unparse(t): ast.unparse(n.value) for n in tree.body if isinstance(n, ast.Assign)
              for t in n.targets if ast.unparse(t) in wanted}
    return found, consts


def test_pi_runner_carries_the_same_tokenizer():
    names = {"split_words", "peel", "fnv1a32", "hashed_id", "wordpiece", "encode"}
    ours = _function_sources(os.path.join(ROOT, "tfdistil", "data", "tokenizer.py"), names)
    theirs = _function_sources(os.path.join(ROOT, "tflite", "classify.py"), names)
    assert set(ours[0]) == names
    assert ours == theirs


def test_wordpiece_rule():
    """Rule 6: greedy longest match first, '##' after the first piece, uncoverable -> one unk."""
    vocab = {"bleak": 2, "##ly": 3, "b": 4, "##l": 5, "!": 6, "the": 7, "##e": 8, "##a": 9, "##k": 10}
    assert tokenizer.encode("bleakly!", vocab, 6, subwords=True) == [2, 3, 6, 0, 0, 0]
    assert tokenizer.encode("bleakly!", vocab, 6) == [1, 6, 0, 0, 0, 0]  # words only: the old <unk>
    assert tokenizer.encode("bleak blea", vocab, 6, subwords=True) == [2, 4, 5, 8, 9, 0]
    assert tokenizer.encode("bleakx the", vocab, 4, subwords=True) == [1, 7, 0, 0]  # x: nothing covers it
    assert tokenizer.wordpiece("ly", vocab, 1) == [1]  # '##ly' is a continuation, not a start


def test_subword_vocabulary_from_a_wordpiece_file(tmp_path, data_dir, wordpiece_txt):
    """The vocabulary keeps only the pieces the train sentences use, no specials; unseen test
    words become pieces, not <unk>; vocab.json round-trips it, its fingerprint differs from the
    same list read as words; bad vocab.txt files are one-line errors."""
    import pytest
    from tfdistil.data.vocab import read_wordpieces
    from tfdistil.errors import UserError
    pieces = read_wordpieces(wordpiece_txt)
    assert "[PAD]" not in pieces and "<s>" not in pieces and "##ly" in pieces
    assert read_wordpieces(os.path.dirname(wordpiece_txt)) == pieces  # a folder holding vocab.txt
    train = load_split(data_dir, "train", 3000).sentences
    vocab = Vocab.build(train, max_len=64, wordpieces=pieces)
    words = Vocab.build(train, max_len=64)
    assert vocab.subwords and set(vocab.itos[2:]) <= set(pieces) and len(vocab) < len(pieces) + 2
    test = load_split(data_dir, "test").sentences
    unk_pieces = sum(ids.count(1) for ids in (vocab.encode(s, pad=False) for s in test))
    unk_words = sum(ids.count(1) for ids in (words.encode(s, pad=False) for s in test))
    assert unk_pieces < unk_words / 10, (unk_pieces, unk_words)
    ly = vocab.encode("bleakly", pad=False)
    assert [vocab.itos[i] for i in ly][-1] == "##ly" and 1 not in ly
    vocab.save(str(tmp_path / "vocab.json"))
    again = Vocab.load(str(tmp_path / "vocab.json"))
    assert again.subwords and again.encode_batch(test).tolist() == vocab.encode_batch(test).tolist()
    assert again.sha256() == vocab.sha256() != Vocab(vocab.itos[2:], 64).sha256()
    with pytest.raises(UserError, match="not found"):
        read_wordpieces(str(tmp_path / "missing.txt"))
    (tmp_path / "words.txt").write_text("the\nfilm\n")
    with pytest.raises(UserError, match="'##'"):
        read_wordpieces(str(tmp_path / "words.txt"))


def test_subwords_bad_input_is_one_line(tmp_path, data_dir):
    """--subwords with a missing file, or with --hash-buckets: exit 2 and one line, nothing written."""
    from click.testing import CliRunner
    from tfdistil.cli import main
    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["fit", "--subwords", str(tmp_path / "nope.txt"), "--data", data_dir, "--out", str(out)])
    assert r.exit_code == 2 and "WordPiece vocabulary not found" in r.stderr and len(r.stderr.splitlines()) == 1
    r = CliRunner().invoke(main, ["fit", "--subwords", str(tmp_path), "--hash-buckets", "100", "--data", data_dir,
                                  "--out", str(out)])
    assert r.exit_code == 2 and "--hash-buckets" in r.stderr
    assert not out.exists() and not (tmp_path / "run.partial").exists()
