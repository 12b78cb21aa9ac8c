"""Augmented, sharded transfer sets: augment -> teacher shards (killed, resumed) -> fit-stream -> evaluate."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, run_cli
from tfdistil.transfer.augment import MASK, Replacer, augment, normalise, write_augmented
from tfdistil.data.splits import load_split
from tfdistil.errors import UserError
from tfdistil.data.tokenizer import split_words

# The CLI in a child process.
BOOT = "from tfdistil.cli import main; main(prog_name='tfdistil')"
# The same, SIGKILLed (no cleanup) the moment its first shard is committed: the kill lives
# here, in the test, not as a hook in the product.
KILLED_AFTER_FIRST_SHARD = """
import os, signal
import tfdistil.transfer.shards as S
commit = S.commit_shard
def commit_then_die(*args, **kwargs):
    commit(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
S.commit_shard = commit_then_die
""" + BOOT
# SIGKILLed the moment the first epoch checkpoint is saved (fit-stream's resume test).
KILLED_AFTER_FIRST_CHECKPOINT = """
import os, signal
from tfdistil.training import recipe
save = recipe.Checkpoints.save
def save_then_die(self, *args, **kwargs):
    save(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
recipe.Checkpoints.save = save_then_die
""" + BOOT


def tfdistil(*args, check=True, env=None, boot=BOOT):
    proc = subprocess.run([sys.executable, "-c", boot, *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"tfdistil {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def last_json(proc):
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- augmentation
def test_augment_deterministic_distinct_and_new(data_dir):
    train = load_split(data_dir, "train", 300).sentences
    a = augment(train, 4, seed=7)
    assert a == augment(train, 4, seed=7) and a != augment(train, 4, seed=8)
    assert len(a) == len(set(a)) and len(a) > 2 * len(train)
    originals = {normalise(s) for s in train}
    assert not originals & set(a)
    assert any(MASK in s.split() for s in a)
    assert not any(all(w == MASK for w in s.split()) for s in a)
    # Every word of the output is a train word or the mask (n-grams and replacements come from train).
    vocab = {w for s in train for w in split_words(s)}
    assert {w for s in a for w in s.split()} <= vocab | {MASK}
    with pytest.raises(UserError):
        augment(train, 0)


def test_replacement_keeps_the_pool():
    sents = ["the cat sat .", "a dog ran !", "the bird flew ."]
    tags = {"the": "D", "a": "D", "cat": "N", "dog": "N", "bird": "N", "sat": "V", "ran": "V", "flew": "V",
            ".": "P", "!": "P"}
    r = Replacer(sents, tagger=lambda ws: [tags[w] for w in ws])
    import random
    rng = random.Random(0)
    assert {r.draw("cat", "N", rng) for _ in range(50)} == {"dog", "bird"}
    assert {r.draw("the", "D", rng) for _ in range(50)} == {"a"}
    # No tagger: a word of the same frequency class, punctuation for punctuation.
    freq = Replacer(["the cat sat .", "a dog ran !", "the end"])
    assert {freq.draw(".", freq.key("."), rng) for _ in range(20)} == {"!"}
    assert {freq.draw("cat", freq.key("cat"), rng) for _ in range(200)} == {"sat", "a", "dog", "ran", "end"}
    assert freq.draw("the", freq.key("the"), rng) == "the"  # alone in its class (count 2)


def two_sentence_data(tmp_path):
    """A GLUE-style folder with two train sentences and one dev sentence."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.tsv").write_text("sentence\tlabel\nan utterly charming and hilarious film\t1\n"
                                    "a dull , lifeless and tedious mess\t0\n")
    (data / "dev.tsv").write_text("sentence\tlabel\nsomething else entirely\t1\n")
    return data


def test_augment_file_reads_only_train_and_skips_eval_sentences(tmp_path):
    data = two_sentence_data(tmp_path)
    first = write_augmented(str(data), 30, str(tmp_path / "a.tsv"), seed=1, log=lambda m: None)
    # dev content does not change the output (it is never an input)...
    (data / "dev.tsv").write_text("sentence\tlabel\nquite another sentence\t0\n")
    write_augmented(str(data), 30, str(tmp_path / "b.tsv"), seed=1, log=lambda m: None)
    a = (tmp_path / "a.tsv").read_text()
    assert a == (tmp_path / "b.tsv").read_text() and a.startswith("sentence\n")
    rows = a.splitlines()[1:]
    assert len(rows) == first["rows"] > 10 and json.loads((tmp_path / "a.tsv.json").read_text())["factor"] == 30
    # ...except that an output equal to a dev/test sentence is dropped (leakage guard).
    (data / "dev.tsv").write_text("sentence\tlabel\n" + "".join(f"{r}\t1\n" for r in rows[:3]))
    write_augmented(str(data), 30, str(tmp_path / "c.tsv"), seed=1, log=lambda m: None)
    assert (tmp_path / "c.tsv").read_text().splitlines()[1:] == rows[3:]


def test_a_held_out_augmented_set_shares_no_sentence_with_earlier_ones(tmp_path):
    data = two_sentence_data(tmp_path)
    quiet = {"log": lambda m: None}
    write_augmented(str(data), 30, str(tmp_path / "a.tsv"), seed=1, **quiet)
    seed2 = write_augmented(str(data), 30, str(tmp_path / "b.tsv"), seed=2, **quiet)
    earlier = set((tmp_path / "a.tsv").read_text().splitlines()[1:])
    b = (tmp_path / "b.tsv").read_text().splitlines()[1:]
    assert earlier & set(b), "two seeds of this tiny set overlap; the test needs that to mean anything"
    meta = write_augmented(str(data), 30, str(tmp_path / "held.tsv"), seed=2, exclude_from=[str(tmp_path / "a.tsv")],
                           max_rows=5, **quiet)
    held = (tmp_path / "held.tsv").read_text().splitlines()[1:]
    # Same generator as seed 2, minus what a.tsv already had, cut at --max-rows.
    assert held == [s for s in b if s not in earlier][:5] and meta["rows"] == 5 < seed2["rows"]
    assert meta["excluded_from"] == [{"path": str(tmp_path / "a.tsv"), "sentences": len(earlier)}]
    with pytest.raises(UserError, match="--exclude-from file not found"):
        write_augmented(str(data), 1, str(tmp_path / "x.tsv"), exclude_from=[str(tmp_path / "nope.tsv")], **quiet)
    with pytest.raises(UserError, match="--max-rows must be at least 1"):
        write_augmented(str(data), 1, str(tmp_path / "x.tsv"), max_rows=0, **quiet)
    assert not (tmp_path / "x.tsv").exists()


# --------------------------------------------------------------------------- in-graph tokenizer and loss
def test_tf_tokenizer_matches_encode(data_dir, wordpiece_txt):
    import tensorflow as tf

    from tfdistil.data.vocab import Vocab
    from tfdistil.transfer.stream import make_tokenizer, reverse_index
    from tfdistil.students.builders import reverse_index as reverse_index_np
    train = load_split(data_dir, "train").sentences
    # A vocabulary from few rows: many unknown words, so the peeling rules are exercised.
    vocab = Vocab.build(train[:500], max_len=24)
    texts = (train[:2000] + load_split(data_dir, "dev").sentences + load_split(data_dir, "test").sentences +
             ['Great movie!', '"Hello," he said.', '""', '".', 'a."', '..', '"a"', '"""', '."', 'ü! Ünïcode "x"',
              '<unk> <pad> the', '', '   ', 'A\tB\x0bC\fd\re', "the " * 40])
    got = make_tokenizer(vocab)(tf.constant(texts)).to_list()
    assert got == [vocab.encode(s, pad=False) for s in texts]
    hashed = Vocab.build(train[:500], max_len=24, hash_buckets=1000)  # fit-stream --hash-buckets
    assert make_tokenizer(hashed)(tf.constant(texts)).to_list() == [hashed.encode(s, pad=False) for s in texts]
    from tfdistil.data.vocab import read_wordpieces  # fit-stream --subwords
    pieces = Vocab.build(train[:500], max_len=24, wordpieces=read_wordpieces(wordpiece_txt))
    assert make_tokenizer(pieces)(tf.constant(texts)).to_list() == [pieces.encode(s, pad=False) for s in texts]
    ids = vocab.encode_batch(texts[:64])
    assert np.array_equal(reverse_index(tf.constant(ids)).numpy(), reverse_index_np(ids))


def test_masked_loss():
    from tfdistil.training.distill import distillation_loss
    from tfdistil.training.stream import masked_distillation_loss
    rng = np.random.default_rng(0)
    s, t = rng.normal(size=(6, 2)).astype("float32"), rng.normal(size=(6, 2)).astype("float32")
    y = np.array([0, 1, 1, 0, 1, 0])
    for kind in ("mse", "kl"):
        assert float(masked_distillation_loss(y, t, s, 0.3, kind, 2.0)) == pytest.approx(
            float(distillation_loss(y, t, s, 0.3, kind, 2.0)), rel=1e-6)
    # Unlabelled rows: only the soft term; changing the label of a -1 row changes nothing.
    y2 = np.array([0, 1, -1, -1, 1, -1])
    soft = float(distillation_loss(y, t, s, 0.0))
    ce_labelled = float(distillation_loss(y[[0, 1, 4]], t[[0, 1, 4]], s[[0, 1, 4]], 1.0))
    assert float(masked_distillation_loss(y2, t, s, 0.5)) == pytest.approx(0.5 * ce_labelled + 0.5 * soft, rel=1e-6)
    assert float(masked_distillation_loss(np.full(6, -1), t, s, 0.5)) == pytest.approx(0.5 * soft, rel=1e-6)


# --------------------------------------------------------------------------- teacher shards, killed and resumed
@pytest.fixture(scope="module")
def tiny_teacher(tiny_bert):
    return tiny_bert


def check_logits(teacher_dir, shards):
    """The shards' logits against a plain single-device forward pass of the teacher, in this process."""
    from tfdistil.teacher import model as T
    from tfdistil.transfer.shards import read_shards
    rows = list(read_shards(shards, shuffle_buffer=0)[0].as_numpy_iterator())
    model, tok = T.load_teacher(teacher_dir)
    shown = [r["sentence"].decode().replace("<unk>", tok.mask_token) for r in rows]
    ref = T.predict_logits(model, tok, shown)
    got = np.array([r["teacher_logits"] for r in rows])
    return {"max_err": float(np.abs(ref - got).max()), "spread": float(np.ptp(ref, axis=0).max()),
            "labels": [int(r["label"]) for r in rows], "sentences": [r["sentence"].decode() for r in rows]}


def test_shards_resume_after_kill_then_fit_stream(tiny_teacher, tmp_path, data_dir):
    from tfdistil.transfer.shards import shard_files
    aug = tmp_path / "aug.tsv"
    meta = last_json(tfdistil("augment", "--data", data_dir, "--limit", 100, "--factor", 2, "--seed", 3,
                              "--out", aug, "--json"))
    total = 100 + meta["rows"]
    assert 200 < total <= 300
    out = tmp_path / "shards"
    args = ["teacher", "shards", "--teacher", tiny_teacher, "--data", data_dir, "--limit", 100, "--augmented", aug,
            "--out", out, "--shard-size", 100, "--batch-size", 16, "--strategy", "mirrored", "--cpu-devices", 2,
            "--json"]

    # Killed (SIGKILL, no cleanup) right after the first shard is committed.
    killed = tfdistil(*args, check=False, boot=KILLED_AFTER_FIRST_SHARD)
    assert killed.returncode == -9, killed.stderr[-2000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert not manifest["complete"] and [s["index"] for s in manifest["shards"]] == [0]
    assert manifest["shards"][0]["strategy"] == {"name": "MirroredStrategy", "replicas": 2}
    first = out / "shard-00000.tfrecord"
    mtime = first.stat().st_mtime_ns
    with pytest.raises(UserError, match="unfinished transfer set"):
        shard_files(str(out))
    # Debris a kill mid-shard could leave: a half-written shard the manifest does not list.
    (out / "shard-00001.tfrecord").write_bytes(b"half a shard")

    resumed = last_json(tfdistil(*args))
    assert resumed["shards_skipped"] == 1 and resumed["shards_labelled_now"] == resumed["shards"] - 1 == 2
    assert resumed["complete"] and resumed["rows"] == total and resumed["labelled_rows"] == 100
    assert resumed["sentences_per_second"] > 0 and resumed["strategy"]["replicas"] == 2
    assert first.stat().st_mtime_ns == mtime  # the finished shard was not redone
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and sum(s["rows"] for s in manifest["shards"]) == total
    assert sorted(os.listdir(out)) == ["manifest.json"] + [f"shard-0000{i}.tfrecord" for i in range(3)]

    # A finished set is all skipped; other settings are refused.
    again = last_json(tfdistil(*args))
    assert again["shards_skipped"] == 3 and again["rows_labelled_now"] == 0
    other = list(args)
    other[other.index("--shard-size") + 1] = 50
    bad = tfdistil(*other, check=False)
    assert bad.returncode == 2 and "other settings" in bad.stderr and "Traceback" not in bad.stderr

    # The mirrored logits equal a plain single-device forward pass, in transfer-set order, with
    # augmentation's <unk> shown to BERT as [MASK].
    c = check_logits(tiny_teacher, str(out))
    assert c["max_err"] < 1e-6 and c["spread"] > 1e-5  # the tiny random teacher's logits differ little
    assert c["labels"][:100] == load_split(data_dir, "train", 100).labels.tolist() and set(c["labels"][100:]) == {-1}
    assert c["sentences"][100:] == aug.read_text().splitlines()[1:]

    # A student streams the shards; its run folder is an ordinary one.
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps({"student": "bilstm_attn", "embed_dim": 8, "hidden": 8, "epochs": 1, "seed": 2}))
    run = tmp_path / "run"
    metrics = last_json(run_cli("fit-stream", "--shards", out, "--config", cfg, "--limit", 300, "--data", data_dir,
                                "--out", run, "--json"))
    assert metrics["train_rows"] == total and metrics["unlabelled_rows"] == total - 100 and metrics["augmented"]
    assert metrics["distilled"] and metrics["best_epoch"] == 1 and metrics["peak_rss_mb"] > 0
    for f in ("config.json", "vocab.json", "model.weights.h5", "history.json", "metrics.json", "history.png"):
        assert (run / f).is_file(), f
    assert not os.path.exists(str(run) + ".partial")
    ev = last_json(run_cli("evaluate", run, "--data", data_dir, "--split", "dev", "--json"))
    assert ev["n"] == 872 and ev["accuracy"] == pytest.approx(metrics["dev_accuracy"])
    assert metrics["transfer_set"]["labelling"]["rows"] == total
    assert metrics["transfer_set"]["labelling"]["sentences_per_second"] > 0

    # fit-stream resumes like fit: SIGKILLed right after epoch 1's checkpoint, rerun, it ends where an
    # uninterrupted run ends (same history, same best epoch) without any clean-up by hand.
    cfg2 = tmp_path / "tiny2.json"
    cfg2.write_text(json.dumps({"student": "bilstm_attn", "embed_dim": 8, "hidden": 8, "epochs": 2, "seed": 2}))
    stream = ["fit-stream", "--shards", out, "--config", cfg2, "--limit", 300, "--data", data_dir, "--json"]
    whole = last_json(run_cli(*stream, "--out", tmp_path / "whole"))  # in this process; only the kill needs its own
    killed = tfdistil(*stream, "--out", tmp_path / "resumed", check=False, boot=KILLED_AFTER_FIRST_CHECKPOINT)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not (tmp_path / "resumed").exists() and (tmp_path / "resumed.partial").is_dir()
    resumed_proc = run_cli(*stream, "--out", tmp_path / "resumed")
    assert "resuming after epoch 1" in resumed_proc.stderr
    resumed = last_json(resumed_proc)
    assert resumed["best_epoch"] == whole["best_epoch"] and resumed["dev_accuracy"] == whole["dev_accuracy"]
    history = [json.loads((tmp_path / r / "history.json").read_text()) for r in ("whole", "resumed")]
    assert [h["dev_accuracy"] for h in history[0]] == [h["dev_accuracy"] for h in history[1]]

    # `tfdistil report` files it as "distilled + augmented": Table 2's third column, results.json.
    runs = tmp_path / "runs"
    shutil.copytree(run, runs / "bilstm_attn-augment-s2")
    last_json(run_cli("report", runs, "--out", tmp_path / "results", "--json"))
    [entry] = json.loads((tmp_path / "results" / "results.json").read_text())
    assert entry["augmented"] and entry["distilled"] and entry["transfer_set_rows"] == total
    assert entry["transfer_set_labelled_rows"] == 100
    md = (tmp_path / "results" / "REPORT.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| BiLSTM-Attn | 0 / 0 / 1 |"))
    assert f"| {100 * metrics['test_accuracy']:.2f} |" in row
    assert "### The augmented transfer sets" in md and f"| {total:,} | 100 |" in md


def test_shards_reuse_the_teachers_train_logits(tiny_teacher, tmp_path, data_dir):
    """`teacher shards --train-logits CACHE`: the train rows' logits come from the teacher's
    `teacher logits` cache (a base-size teacher need not score 67k rows twice); only the
    augmented rows are run. The shards equal a run without the cache (to the cache's float16)."""
    cache = tmp_path / "logits.npz"
    # every command in this test runs in the worker (no kill, no device setup): see conftest.run_cli
    run_cli("teacher", "logits", "--teacher", tiny_teacher, "--data", data_dir, "--limit", 100, "--out", cache)
    aug = tmp_path / "aug.tsv"
    tfdistil("augment", "--data", data_dir, "--limit", 60, "--factor", 1, "--seed", 4, "--out", aug)
    base = ["teacher", "shards", "--teacher", tiny_teacher, "--data", data_dir, "--limit", 100, "--augmented", aug,
            "--shard-size", 64, "--batch-size", 16, "--json"]
    plain = last_json(run_cli(*base, "--out", tmp_path / "plain"))
    reused = last_json(run_cli(*base, "--train-logits", cache, "--out", tmp_path / "reused"))
    assert reused["rows"] == plain["rows"] > 100 and reused["complete"]
    assert reused["rows_labelled_now"] == plain["rows"] - 100  # only the augmented rows went through the teacher
    manifest = json.loads((tmp_path / "reused" / "manifest.json").read_text())
    assert [s["logits_reused"] for s in manifest["shards"]][:2] == [64, 36]
    assert any(src["kind"] == "train_logits" for src in manifest["sources"])
    from tfdistil.transfer.shards import read_shards
    a, b = [np.array([r["teacher_logits"] for r in read_shards(str(tmp_path / d), shuffle_buffer=0)[0].as_numpy_iterator()])
            for d in ("plain", "reused")]
    # train rows: the cache's float16; augmented rows: other batches, so float32 rounding only
    assert np.abs(a[:100] - b[:100]).max() < 2e-3 and np.abs(a[100:] - b[100:]).max() < 1e-6
    # several transfer sets of one teacher stream as one: --shards A --shards B
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps({"student": "cnn", "embed_dim": 8, "filters": 8, "hidden": 8, "epochs": 1, "seed": 2}))
    both = last_json(run_cli("fit-stream", "--shards", tmp_path / "plain", "--shards", tmp_path / "reused",
                             "--config", cfg, "--limit", 300, "--data", data_dir, "--out", tmp_path / "both", "--json"))
    assert both["train_rows"] == 2 * plain["rows"] and both["labelled_rows"] == 200
    assert both["transfer_set"]["dir"] == f"{tmp_path / 'plain'}+{tmp_path / 'reused'}"
    # a cache made by another teacher folder is refused, in one line
    other = tmp_path / "other-teacher"
    shutil.copytree(tiny_teacher, other)
    bad = run_cli(*[str(other) if x == tiny_teacher else x for x in base], "--train-logits", cache,
                  "--out", tmp_path / "bad", check=False)
    assert bad.returncode == 2 and "made by teacher" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_registers_the_new_commands():
    from tfdistil.cli import main, teacher
    assert "shards" in teacher.commands
    assert {"augment", "fit-stream", "report", "tune"} <= set(main.commands)
