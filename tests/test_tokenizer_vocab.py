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
    names = {"split_words", "peel", "fnv1a32", "hashed_id", "encode"}
    ours = _function_sources(os.path.join(ROOT, "tfdistil", "data", "tokenizer.py"), names)
    theirs = _function_sources(os.path.join(ROOT, "tflite", "classify.py"), names)
    assert set(ours[0]) == names
    assert ours == theirs
