"""Real TFLite conversion, LiteRT and TFLite Micro interpreters, the Pi runner and the C firmware kit."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import ROOT
from tfdistil.cli import main
from tfdistil.data.splits import load_split
from tfdistil.data.vocab import Vocab
from tfdistil.edge.convert.export import convert
from tfdistil.edge.mcu.firmware import write_firmware_kit
from tfdistil.edge.host.evaluate import evaluate_tflite

STUDENTS = ("cnn", "bilstm", "bilstm_attn")


@pytest.fixture(scope="module")
def converted(tiny_run, data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("tflite")
    models = {}
    for s in STUDENTS:
        for q in ("float32", "int8"):
            models[s, q] = convert(tiny_run[s], q, max_len=64, out=str(out / s / f"{s}_{q}.tflite"),
                                   data=data_dir, calibration_size=100)
    return models


@pytest.mark.parametrize("student", STUDENTS)
def test_builtin_ops_only_and_fused_lstm(converted, student):
    for q in ("float32", "int8"):
        m = converted[student, q]
        assert not any(k in op for op in m["ops"] for k in ("FLEX", "WHILE", "CUSTOM")), m["ops"]
        assert "DIV" not in m["ops"], m["ops"]  # tflite-runtime 2.14 has no int8 DIV
        assert ("UNIDIRECTIONAL_SEQUENCE_LSTM" in m["ops"]) == (student != "cnn")
        assert m["inputs"][0]["shape"] == [1, 64] and m["vocab_size"] > 2
        assert os.path.isfile(m["path"][:-len(".tflite")] + ".json")
    assert converted[student, "int8"]["bytes"] < converted[student, "float32"]["bytes"]


@pytest.mark.parametrize("student", STUDENTS)
def test_float_tflite_matches_keras_in_litert_and_tflm(converted, tiny_run, data_dir, student):
    for runtime in ("litert", "tflm"):
        r = evaluate_tflite(converted[student, "float32"]["path"], data_dir, "dev", runtime, limit=150)
        assert r["agreement_with_keras"] == 1.0, r
        assert r["accuracy"] == pytest.approx(r["keras_accuracy_at_max_len"])


@pytest.mark.parametrize("student", STUDENTS)
def test_int8_agrees_with_keras_in_litert_and_tflm(converted, data_dir, student):
    """LiteRT's integer LSTM needs the state-quantization fix in export.py (at chance without it)."""
    tflm = evaluate_tflite(converted[student, "int8"]["path"], data_dir, "dev", "tflm", limit=150)
    assert tflm["arena_bytes_min"] > 0 and tflm["arena_bytes_used"] <= tflm["arena_bytes_min"]
    assert tflm["latency_ms_p50"] > 0
    litert = evaluate_tflite(converted[student, "int8"]["path"], data_dir, "dev", "litert", limit=150)
    for r in (tflm, litert):
        assert r["agreement_with_keras"] >= 0.9, r


@pytest.mark.parametrize("student", ("cnn", "bilstm_attn"))
def test_smallest_arena_is_the_smallest_one_process_a_try_would_accept(converted, student):
    """The arena search forks its tries from one probe process; its answer is checked here by
    the one-process-a-try probe: the found size runs, one step below does not, and a size too
    small to hold anything crashes only its own try (the search still answers)."""
    from tfdistil.edge.host.evaluate import TFLMRunner, smallest_arena
    from tfdistil.edge.host.runtimes import run_tflm_probe, run_tflm_search
    path = converted[student, "int8"]["path"]
    names = ["token_ids"] if student == "cnn" else ["token_ids", "reverse_index"]
    with open(path, "rb") as f:
        runner = TFLMRunner(f.read(), arena_size=4 * 1024 * 1024)
    runner(np.full((1, 64), 2, np.int32))
    used, _ = runner.arena_used()
    found = smallest_arena(path, runner.names, used)
    assert run_tflm_probe(path, found, names).returncode == 0
    assert run_tflm_probe(path, found - 64, names).returncode != 0
    assert run_tflm_search(path, 16, found - 64, 64, names) is None  # HI itself fails: no answer
    assert run_tflm_search(path, 16, found + 5000, 64, names) in range(found - 63, found + 64)


def test_a_flatbuffer_copied_away_from_its_run_still_evaluates(converted, data_dir, tmp_path):
    """A committed model keeps its manifest's run_dir, which then names no run (results/models/X/..):
    the Keras comparison is skipped, not an error; keep_logits returns what the accuracy came from."""
    src = converted["cnn", "int8"]["path"]
    here = evaluate_tflite(src, data_dir, "dev", "litert", limit=40)
    shipped = tmp_path / "models" / "cnn"
    shipped.mkdir(parents=True)
    for f in (src, src[:-len(".tflite")] + ".json", os.path.join(os.path.dirname(src), "vocab.json")):
        shutil.copy(f, shipped)
    manifest = shipped / (os.path.basename(src)[:-len(".tflite")] + ".json")
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "run_dir": ".."}))
    away = evaluate_tflite(str(shipped / os.path.basename(src)), data_dir, "dev", "litert", limit=40,
                           keep_logits=True)
    assert "agreement_with_keras" in here and "agreement_with_keras" not in away
    assert away["accuracy"] == here["accuracy"] and away["logits"].shape == (40, 2)
    assert np.mean(away["logits"].argmax(-1) == load_split(data_dir, "dev", 40).labels) == away["accuracy"]


def test_wrong_vocab_is_refused(converted, tmp_path, data_dir):
    model = converted["cnn", "int8"]["path"]
    Vocab(["only", "three", "words"], 64).save(str(tmp_path / "vocab.json"))
    result = CliRunner().invoke(main, ["evaluate-tflite", model, "--vocab", str(tmp_path / "vocab.json"),
                                       "--data", data_dir, "--limit", "5"])
    assert result.exit_code == 2 and "wrong vocab.json" in result.stderr


# classify.py with TensorFlow made unimportable (the same runner experiments/pi/check_pi_runner.py uses).
sys.path.insert(0, os.path.join(ROOT, "experiments", "pi"))
from check_pi_runner import NO_TF  # noqa: E402


def test_pi_runner_matches_keras_without_tensorflow(converted, tiny_run, data_dir, tmp_path):
    from tfdistil.training.batches import predict_logits
    from tfdistil.training.fit import load_run
    student = "bilstm_attn"
    model = converted[student, "float32"]["path"]
    vocab = os.path.join(os.path.dirname(model), "vocab.json")
    dev = load_split(data_dir, "dev", limit=200)
    tsv = tmp_path / "dev.tsv"
    tsv.write_text("sentence\tlabel\n" + "".join(f"{s}\t{l}\n" for s, l in zip(dev.sentences, dev.labels)))
    proc = subprocess.run([sys.executable, "-c", NO_TF, model, "--vocab", vocab, "--tsv", str(tsv)],
                          capture_output=True, text=True, check=True)
    labels = [int(line.split("\t")[0]) for line in proc.stdout.splitlines()]
    cfg, v, keras_model = load_run(tiny_run[student])
    keras_labels = predict_logits(keras_model, student, v.encode_batch(dev.sentences, 64)).argmax(-1)
    assert labels == keras_labels.tolist()
    assert "accuracy" in proc.stderr


def kit_ids(vocab, ids, layout):
    """Python's ids as the C kit numbers them: with fingerprint ranks, 2 + the rank of the word's hash."""
    if layout != "fingerprint-ranks":
        return ids
    from tfdistil.edge.mcu.c_vocab import rank_order
    kit_id = np.arange(len(vocab))
    kit_id[rank_order(vocab)] = np.arange(2, len(vocab))
    return kit_id[ids]


@pytest.mark.parametrize("layout", ["strings", "fingerprints", "fingerprint-ranks"])
def test_firmware_kit_compiles_and_tokenizes_like_python(converted, data_dir, tmp_path, layout):
    """Every C word table gives Python's ids on the whole SST-2 test split and odd inputs; the
    fingerprint table (a 32-bit hash a word) takes 6 bytes a word, no strings; the fingerprint
    ranks take 4 and give each word its hash's rank, the id of its row in the kit's reordered model."""
    assert shutil.which("gcc") and shutil.which("g++"), "gcc/g++ missing: .ci/run installs them (no silent skip)"
    model = converted["bilstm", "int8"]["path"]
    kit = write_firmware_kit(model, str(tmp_path / "kit"), vocab_layout=layout)
    vocab_c = (tmp_path / "kit" / "vocab_data.c").read_text()
    assert kit["vocab_layout"] == layout and ("kVocabWords" in vocab_c) == (layout == "strings")
    if layout != "strings":
        assert kit["vocab_flash_bytes"] == (6 if layout == "fingerprints" else 4) * kit["vocab_words"]
    assert ("kVocabIds" in vocab_c) == (layout != "fingerprint-ranks")
    settings = (tmp_path / "kit" / "model_settings.h").read_text()
    assert f"MicroMutableOpResolver<{len(kit['ops'])}>" in settings
    assert "AddUnidirectionalSequenceLSTM" in settings and kit["arena_bytes"] >= kit["arena_bytes_min"] > 0
    exe = tmp_path / "tok"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-I", str(tmp_path / "kit"),
                    str(tmp_path / "kit" / "tokenizer.c"), str(tmp_path / "kit" / "vocab_data.c"),
                    os.path.join(ROOT, "tests", "c", "tokenize_main.c"), "-o", str(exe)], check=True)
    subprocess.run(["g++", "-std=c++17", "-c", str(tmp_path / "kit" / "model_data.cpp"), "-o",
                    str(tmp_path / "model_data.o")], check=True)
    test = load_split(data_dir, "test")
    extra = ["Great movie!", '"Wow," she said.', "UNKNOWNWORD?!", "", "   ", "café au lait ...",
             "a <pad> <unk> film", "x" * 300 + "!", "THE FILM IS GREAT ."]
    sentences = test.sentences + extra
    proc = subprocess.run([str(exe)], input="\n".join(sentences) + "\n", capture_output=True, text=True, check=True)
    lines = proc.stdout.splitlines()
    vocab = Vocab.load(os.path.join(os.path.dirname(model), "vocab.json"))
    py_ids = vocab.encode_batch(sentences, 128)
    from tfdistil.students.builders import reverse_index
    py_rev = reverse_index(py_ids)
    py_ids = kit_ids(vocab, py_ids, layout)
    assert len(lines) == 2 * len(sentences)
    for i in range(len(sentences)):
        assert [int(t) for t in lines[2 * i].split()] == py_ids[i].tolist(), sentences[i]
        assert [int(t) for t in lines[2 * i + 1].split()] == py_rev[i].tolist()


def test_a_subword_student_trains_converts_and_runs_in_every_runtime(data_dir, tmp_path, wordpiece_txt):
    """fit --subwords end to end: the run's vocab.json holds wordpieces, the int8 flatbuffer's
    labels agree with Keras in LiteRT and TFLM, and the Pi runner (no TensorFlow) gives the same
    labels from the same vocab.json."""
    from tfdistil.config import Config
    from tfdistil.training.batches import predict_logits
    from tfdistil.training.fit import fit, load_run
    run = str(tmp_path / "run")
    cfg = Config(student="bilstm", embed_dim=16, hidden=16, epochs=1, train_limit=600, seed=1, subwords=wordpiece_txt)
    fit(cfg, data_dir, run, log=lambda m: None)
    _, vocab, keras_model = load_run(run)
    assert vocab.subwords and json.load(open(os.path.join(run, "vocab.json")))["subwords"] is True
    assert json.load(open(os.path.join(run, "metrics.json")))["tokens"] == "wordpieces"
    conv = convert(run, "int8", max_len=64, out=str(tmp_path / "tfl" / "bilstm_int8.tflite"), data=data_dir,
                   calibration_size=100)
    for runtime in ("litert", "tflm"):
        r = evaluate_tflite(conv["path"], data_dir, "dev", runtime=runtime, limit=150)
        assert r["agreement_with_keras"] >= 0.97, (runtime, r)
    dev = load_split(data_dir, "dev", limit=150)
    tsv = tmp_path / "dev.tsv"
    tsv.write_text("sentence\tlabel\n" + "".join(f"{s}\t{l}\n" for s, l in zip(dev.sentences, dev.labels)))
    proc = subprocess.run([sys.executable, "-c", NO_TF, conv["path"], "--vocab",
                           os.path.join(os.path.dirname(conv["path"]), "vocab.json"), "--tsv", str(tsv)],
                          capture_output=True, text=True, check=True)
    labels = [int(line.split("\t")[0]) for line in proc.stdout.splitlines()]
    from tfdistil.edge.host.evaluate import LiteRTRunner  # the runner tokenized by rule 6: LiteRT's labels exactly
    litert = LiteRTRunner(open(conv["path"], "rb").read())
    pi_ids = vocab.encode_batch(dev.sentences, 64)
    assert labels == [int(litert(pi_ids[i:i + 1]).argmax()) for i in range(len(pi_ids))]
    keras_labels = predict_logits(keras_model, "bilstm", pi_ids).argmax(-1)
    assert np.mean(np.array(labels) == keras_labels) >= 0.97


@pytest.mark.parametrize("layout", ["strings", "fingerprints", "fingerprint-ranks"])
def test_c_tokenizer_splits_wordpieces_like_python(data_dir, tmp_path, wordpiece_txt, layout):
    """A subword vocabulary (tokenizer rule 6) in C: the same ids as Python on the whole SST-2
    test split (thousands of unseen words split into pieces) and odd inputs (an uncoverable
    word, one longer than any piece, non-ASCII bytes, a cut at max_len mid-word)."""
    from tfdistil.data.vocab import read_wordpieces
    from tfdistil.edge.mcu.c_vocab import c_vocabulary_layout
    from tfdistil.edge.mcu.firmware import write_tokenizer_files
    assert shutil.which("gcc"), "gcc missing: .ci/run installs it (no silent skip)"
    vocab = Vocab.build(load_split(data_dir, "train", 3000).sentences, 128, max_size=1500,
                        wordpieces=read_wordpieces(wordpiece_txt))
    kit = tmp_path / "kit"
    kit.mkdir()
    write_tokenizer_files(vocab, c_vocabulary_layout(vocab, layout), str(kit))
    assert "#define TFDISTIL_SUBWORDS 1" in (kit / "vocab_data.h").read_text()
    exe = tmp_path / "tok"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-I", str(kit), str(kit / "tokenizer.c"),
                    str(kit / "vocab_data.c"), os.path.join(ROOT, "tests", "c", "tokenize_main.c"), "-o", str(exe)],
                   check=True)
    extra = ["Bleakly UNFUNNY!", "zzzzzzzzq café ü", "x" * 300 + "ly!", '"Wow," she mumbled.',
             "unbelievably " * 30, "a <pad> ##ly ## film", ""]
    sentences = load_split(data_dir, "test").sentences + extra
    proc = subprocess.run([str(exe)], input="\n".join(sentences) + "\n", capture_output=True, text=True, check=True)
    lines = proc.stdout.splitlines()
    py_ids = vocab.encode_batch(sentences, 128)
    py_ids = kit_ids(vocab, py_ids, layout)
    assert len(lines) == 2 * len(sentences)
    for i in range(len(sentences)):
        assert [int(t) for t in lines[2 * i].split()] == py_ids[i].tolist(), sentences[i]
    split = sum(len(vocab.encode(s, pad=False)) > len(s.split()) for s in sentences)
    assert split > 1000  # most test sentences have a word read as several pieces


@pytest.mark.parametrize("student", ["cnn", "bilstm_attn"])
def test_reordered_embedding_rows_answer_as_before(converted, data_dir, student):
    """The fingerprint-ranks kit's model: rows put in hash order, fed the ranked ids, gives the
    original model's outputs bit for bit (LiteRT); a wrong order is one UserError."""
    from tfdistil.edge.host.evaluate import LiteRTRunner
    from tfdistil.edge.mcu.c_vocab import rank_order
    from tfdistil.edge.convert.graph_rewrite import reorder_embedding_rows
    from tfdistil.errors import UserError
    model = converted[student, "int8"]["path"]
    vocab = Vocab.load(os.path.join(os.path.dirname(model), "vocab.json"))
    order = rank_order(vocab)
    assert order != sorted(order)  # a real permutation
    original = open(model, "rb").read()
    reordered = reorder_embedding_rows(original, order)
    kit_id = np.arange(len(vocab), dtype=np.int32)
    kit_id[order] = np.arange(2, len(vocab))
    ids = vocab.encode_batch(load_split(data_dir, "dev", 100).sentences, 64)
    before, after = LiteRTRunner(original), LiteRTRunner(reordered)
    expected = np.stack([before(ids[i:i + 1]) for i in range(len(ids))])
    assert np.array_equal(expected, np.stack([after(kit_id[ids[i:i + 1]]) for i in range(len(ids))]))
    assert not np.array_equal(expected, np.stack([after(ids[i:i + 1]) for i in range(len(ids))]))
    with pytest.raises(UserError, match="rows"):
        reorder_embedding_rows(original, order[:-1])


def test_fingerprint_table_avoids_a_collision():
    """w673879 and w1180600 share a standard FNV-1a-32 hash: the table moves to another basis,
    the same one every time, under which all words differ; a bad layout name is one UserError."""
    from tfdistil.data.tokenizer import FNV_BASIS, fnv1a32
    from tfdistil.edge.mcu.c_vocab import c_vocabulary_layout, fingerprint_table
    from tfdistil.errors import UserError
    assert fnv1a32(b"w673879") == fnv1a32(b"w1180600")
    vocab = Vocab(["w673879", "film", "w1180600"], max_len=8)
    basis, table = fingerprint_table(vocab)
    assert basis != FNV_BASIS and (basis, table) == fingerprint_table(vocab)
    assert sorted(i for _, i in table) == [2, 3, 4] and len({h for h, _ in table}) == 3
    assert [h for h, _ in table] == sorted(fnv1a32(w.encode(), basis) for w in vocab.itos[2:])
    with pytest.raises(UserError, match="layout"):
        c_vocabulary_layout(vocab, "zip")


@pytest.mark.parametrize("layout", ["fingerprints", "fingerprint-ranks"])
def test_c_tokenizer_with_a_non_default_fnv_basis(tmp_path, layout):
    """The C path of a moved basis: with w673879 and w1180600 in the vocabulary (same standard
    FNV-1a-32 hash) the kit's kVocabBasis is not the standard one, and the compiled C tokenizer
    still gives every word, both colliding ones included, Python's id (unknown words <unk>)."""
    from tfdistil.data.tokenizer import FNV_BASIS
    from tfdistil.edge.mcu.c_vocab import c_vocabulary_layout, fingerprint_table
    from tfdistil.edge.mcu.firmware import write_tokenizer_files
    assert shutil.which("gcc"), "gcc missing: .ci/run installs it (no silent skip)"
    words = ["w673879", "film", "w1180600", "good", "bad", "not"] + [f"x{i}" for i in range(200)]
    vocab = Vocab(words, max_len=16)
    basis, _ = fingerprint_table(vocab)
    assert basis != FNV_BASIS
    kit = tmp_path / "kit"
    kit.mkdir()
    write_tokenizer_files(vocab, c_vocabulary_layout(vocab, layout), str(kit))
    assert f"kVocabBasis = {basis}u" in (kit / "vocab_data.c").read_text()
    exe = tmp_path / "tok"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-I", str(kit), str(kit / "tokenizer.c"),
                    str(kit / "vocab_data.c"), os.path.join(ROOT, "tests", "c", "tokenize_main.c"), "-o", str(exe)],
                   check=True)
    sentences = ["w673879 film w1180600", "W1180600 w673879 !", "good not bad x7 x199 w673878 w1180601",
                 " ".join(words[:16]), ""]
    proc = subprocess.run([str(exe)], input="\n".join(sentences) + "\n", capture_output=True, text=True, check=True)
    lines = proc.stdout.splitlines()
    expected = kit_ids(vocab, vocab.encode_batch(sentences, 128), layout)
    for i, sentence in enumerate(sentences):
        assert [int(t) for t in lines[2 * i].split()] == expected[i].tolist(), sentence
    first = [int(t) for t in lines[0].split()]
    assert len(set(first[:3])) == 3 and 1 not in first[:3]  # the colliding words stay apart


@pytest.mark.parametrize("student", ["cnn", "bilstm", "bilstm_attn"])
def test_int16x8_converts_and_runs_or_says_why_in_one_line(tiny_run, data_dir, tmp_path, student):
    """16-bit activations: a flatbuffer LiteRT runs, or one line naming int16x8 and the converter's reason
    (TF 2.21 cannot calibrate the int32 token-id input; tensorflow/model-optimization#1090), exit 2."""
    out = tmp_path / f"{student}_int16x8.tflite"
    proc = subprocess.run([sys.executable, "-m", "tfdistil", "convert", tiny_run[student], "--quantize", "int16x8",
                           "--data", data_dir, "--calibration-size", "50", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    if proc.returncode == 0:
        r = evaluate_tflite(str(out), data_dir, "dev", runtime="litert", limit=50)
        assert r["agreement_with_keras"] >= 0.9
    else:
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
        assert lines[0].startswith("error: int16x8: TensorFlow ") and student in lines[0]
        assert not out.exists()


def test_convert_prints_the_run_as_given_and_no_field_that_does_not_apply(tiny_run, data_dir, tmp_path):
    """A CNN has no LSTM states: no `lstm_states: None` line; `run_dir` is the run, not the manifest's `..`."""
    out = tmp_path / "cnn.tflite"
    result = CliRunner().invoke(main, ["convert", tiny_run["cnn"], "--quantize", "float32", "--out", str(out),
                                       "--data", data_dir, "--calibration-size", "10"])
    assert result.exit_code == 0, result.output + result.stderr
    assert f"run_dir: {tiny_run['cnn']}\n" in result.output and "None" not in result.output
    assert json.loads((tmp_path / "cnn.json").read_text())["run_dir"] != tiny_run["cnn"]  # the manifest: relative


def test_one_vocab_sha256_and_classify_names_the_sst2_label_beside_the_text(tiny_run, data_dir, tmp_path):
    """The convert manifest's vocab_sha256 is the run's (metrics.json), the file's own hash is vocab_file_sha256;
    a replaced vocab.json is still refused, and a manifest from before (vocab_sha256 = the file's hash) still
    reads. classify.py prints the SST-2 label's name, recorded at fit time, and the sentence beside it."""
    import hashlib
    from tfdistil.edge.host.evaluate import check_vocab
    from tfdistil.errors import UserError
    out = tmp_path / "cnn.tflite"
    result = CliRunner().invoke(main, ["convert", tiny_run["cnn"], "--quantize", "float32", "--out", str(out),
                                       "--data", data_dir, "--calibration-size", "10"])
    assert result.exit_code == 0, result.output + result.stderr
    manifest = json.loads((tmp_path / "cnn.json").read_text())
    metrics = json.loads(open(os.path.join(tiny_run["cnn"], "metrics.json")).read())
    vocab_path = tmp_path / "vocab.json"
    assert manifest["vocab_sha256"] == metrics["vocab_sha256"]
    assert manifest["vocab_file_sha256"] == hashlib.sha256(vocab_path.read_bytes()).hexdigest()
    vocab = Vocab.load(str(vocab_path))
    assert vocab.class_names == ("negative", "positive") and vocab.labels == ("0", "1")
    model = out.read_bytes()
    check_vocab(model, manifest, vocab, str(vocab_path))
    old = {k: v for k, v in manifest.items() if k != "vocab_file_sha256"}
    check_vocab(model, {**old, "vocab_sha256": manifest["vocab_file_sha256"]}, vocab, str(vocab_path))
    with pytest.raises(UserError, match="word list differs"):
        check_vocab(model, {**manifest, "vocab_sha256": "0" * 64}, vocab, str(vocab_path))
    vocab_path.write_text(vocab_path.read_text().replace('"negative"', '"bad"'))
    with pytest.raises(UserError, match="sha256 differs"):
        check_vocab(model, manifest, vocab, str(vocab_path))
    vocab.save(str(vocab_path))  # back as convert wrote it
    texts = ["a gorgeous , witty movie", "dull\tand lifeless"]
    proc = subprocess.run([sys.executable, "-c", NO_TF, str(out), "--vocab", str(vocab_path), *texts],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for line, text in zip(proc.stdout.splitlines(), texts):
        label, p, name, echoed = line.split("\t")
        assert name == ("negative", "positive")[int(label)] and echoed == text.replace("\t", " ")
        assert (float(p) > 0.5) == (label == "1")
    # `tfdistil predict` names it too
    pred = CliRunner().invoke(main, ["predict", tiny_run["cnn"], texts[0]])
    label, p, name, echoed = pred.output.strip().split("\t")
    assert pred.exit_code == 0 and name == ("negative", "positive")[int(label)] and echoed == texts[0]


def test_a_conversion_counts_as_done_only_once_its_manifest_is_written(tiny_run, data_dir, tmp_path, monkeypatch):
    """convert writes the .tflite, then vocab.json, then its manifest. Killed before the manifest (here
    the manifest write raises), the flatbuffer is there but `converted` says no, so distil's resume
    converts again into the same place and the pair is whole (CI's random kills found a resume that
    trusted the .tflite alone and then had no vocab.json)."""
    from tfdistil.edge.convert import export
    from tfdistil.runfolder import converted, manifest_of, tflite_path, vocab_beside
    run = tmp_path / "run"
    shutil.copytree(tiny_run["cnn"], run)
    model = tflite_path(str(run), "cnn", "int8", "L32")

    def killed(path, value):
        raise KeyboardInterrupt  # what a SIGKILL at this point leaves: no manifest, no clean-up

    monkeypatch.setattr(export, "atomic_write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        export.convert(str(run), "int8", 32, None, data_dir, calibration_size=10)
    assert os.path.isfile(model) and not os.path.exists(manifest_of(model)) and not converted(model)
    monkeypatch.undo()
    again = export.convert(str(run), "int8", 32, None, data_dir, calibration_size=10)  # the resume's convert
    assert again["path"] == model and converted(model) and os.path.isfile(vocab_beside(model))
    with open(manifest_of(model), encoding="utf-8") as f:
        assert json.load(f)["sha256"] == again["sha256"]
