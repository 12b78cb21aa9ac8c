"""The Raspberry Pi runner in the runtime a Pi user gets: tflite-runtime 2.14.0 with numpy<2, in a
venv of its own (made from PyPI in the test session if missing; no skip if it cannot be made)."""
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import check_tflite_runtime as C  # noqa: E402

STUDENTS = ("cnn", "bilstm", "bilstm_attn")


@pytest.mark.parametrize("student", STUDENTS)
def test_int8_students_run_in_tflite_runtime_2_14_like_litert(pi_python, converted_int8, slice_tsv, student):
    from tfdistil.data.splits import read_tsv
    from tfdistil.data.vocab import Vocab
    from tfdistil.edge.evaluate import LiteRTRunner
    m = converted_int8[student]
    vocab = os.path.join(os.path.dirname(m["path"]), "vocab.json")
    proc = subprocess.run([pi_python, os.path.join(ROOT, "tflite", "classify.py"), m["path"], "--vocab", vocab,
                           "--tsv", slice_tsv], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-1500:]
    pi_labels = np.array([int(line.split("\t")[0]) for line in proc.stdout.splitlines()])
    rows = read_tsv(slice_tsv)
    runner = LiteRTRunner(open(m["path"], "rb").read())
    ids = Vocab.load(vocab).encode_batch(rows.sentences, runner.max_len)
    litert = np.array([int(np.argmax(runner(ids[i:i + 1]))) for i in range(len(ids))])
    assert len(pi_labels) == len(rows) == 120
    assert (pi_labels == litert).mean() >= 0.97, (pi_labels != litert).sum()


def test_committed_attention_students_reproduce_their_accuracy_in_tflite_runtime(pi_python, data_dir):
    """The two attention students the README recommends, on the whole test split."""
    recorded = C.recorded_accuracies()
    for folder in ("bilstm_attn-distill", "tuned-attn-256kb-stream"):
        model = f"results/models/{folder}/bilstm_attn_int8_L64.tflite"
        acc, err = C.classify_accuracy(pi_python, os.path.join(ROOT, model),
                                       os.path.join(ROOT, "results", "models", folder, "vocab.json"),
                                       os.path.join(data_dir, "test.tsv"))
        assert err is None, err
        assert abs(acc - recorded[model]) <= 0.001, (model, acc, recorded[model])
