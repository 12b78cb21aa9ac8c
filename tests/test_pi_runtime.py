"""The Raspberry Pi runner in the runtime a Pi user gets: tflite-runtime 2.14.0 with numpy<2, in a
venv of its own (made from PyPI in the test session if missing; no skip if it cannot be made)."""
import os
import subprocess

import numpy as np
import pytest

from conftest import ROOT

STUDENTS = ("cnn", "bilstm", "bilstm_attn")


@pytest.mark.parametrize("student", STUDENTS)
def test_int8_students_run_in_tflite_runtime_2_14_like_litert(pi_python, converted_int8, slice_tsv, student):
    from tfdistil.data.splits import read_tsv
    from tfdistil.data.vocab import Vocab
    from tfdistil.edge.host.evaluate import LiteRTRunner
    m = converted_int8[student]
    vocab = os.path.join(os.path.dirname(m["path"]), "vocab.json")
    proc = subprocess.run([pi_python, os.path.join(ROOT, "tflite", "classify.py"), m["path"], "--vocab", vocab,
                           "--tsv", slice_tsv], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-1500:]
    pi_labels = np.array([int(line.split("\t")[0]) for line in proc.stdout.splitlines()])
    rows = read_tsv(slice_tsv)
    runner = LiteRTRunner(open(m["path"], "rb").read())  # builtin kernels, as classify.py uses
    ids = Vocab.load(vocab).encode_batch(rows.sentences, runner.max_len)
    litert = [runner(ids[i:i + 1]) for i in range(len(ids))]
    assert len(pi_labels) == len(rows) == 120
    # the same int8 kernels: the same probabilities to the printed digit, not just the same labels
    pi_p = [line.split("\t")[1] for line in proc.stdout.splitlines()]
    p_pos = []
    for z in litert:  # classify.py's softmax, in float64
        e = np.exp(z.astype(np.float64) - z.max())
        p_pos.append(f"{e[1] / e.sum():.6f}")
    assert pi_p == p_pos


# Every committed int8 model over the whole test split in this runtime, to the recorded accuracy:
# tests/test_pi_aarch64.py (one classify_many.py process over all of them, whose labels the emulated
# Pi's are compared with).


@pytest.mark.parametrize("student", STUDENTS)
def test_dynamic_length_model_matches_the_fixed_one_in_both_pi_runtimes(pi_python, tiny_run, data_dir, slice_tsv,
                                                                          tmp_path, student):
    """`convert --dynamic-length`: each sentence runs at its own length. Same calibration, so the
    int8 outputs are the fixed-length file's, bit for bit, in LiteRT and in tflite-runtime 2.14;
    TFLite Micro, which cannot resize, is refused in one line and not listed in the manifest."""
    from tfdistil.data.splits import read_tsv
    from tfdistil.data.vocab import Vocab
    from tfdistil.edge.host.evaluate import LiteRTRunner, TFLMRunner
    from tfdistil.edge.convert.export import convert
    from tfdistil.errors import UserError
    kw = dict(data=data_dir, calibration_size=100, max_len=64)
    fixed = convert(tiny_run[student], "int8", out=str(tmp_path / "f" / "m.tflite"), **kw)
    dyn = convert(tiny_run[student], "int8", out=str(tmp_path / "d" / "m.tflite"), dynamic_length=True, **kw)
    assert dyn["dynamic_length"] and dyn["runtimes"] == ["litert", "tflite-runtime"]
    assert "cannot resize" in dyn["runtimes_not"]["tflm"]
    rows = read_tsv(slice_tsv)
    ids = Vocab.load(str(tmp_path / "f" / "vocab.json")).encode_batch(rows.sentences, 64)
    f_run, d_run = LiteRTRunner(open(fixed["path"], "rb").read()), LiteRTRunner(open(dyn["path"], "rb").read(), max_len=64)
    assert d_run.dynamic and not f_run.dynamic
    for i in range(len(ids)):
        assert np.array_equal(f_run(ids[i:i + 1]), d_run(ids[i:i + 1])), rows.sentences[i]
    printed = []
    for m in (fixed, dyn):
        proc = subprocess.run([pi_python, os.path.join(ROOT, "tflite", "classify.py"), m["path"], "--vocab",
                               os.path.join(os.path.dirname(m["path"]), "vocab.json"), "--tsv", slice_tsv, ""],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-1500:]
        printed.append(proc.stdout)
    assert printed[0] == printed[1] and len(printed[0].splitlines()) == len(rows) + 1
    with pytest.raises(UserError, match="cannot resize inputs"):
        TFLMRunner(open(dyn["path"], "rb").read())
