"""Every student in every quantization `convert` offers, in every host runtime: LiteRT,
tflite-runtime 2.14 (the Raspberry Pi wheel, its own venv, through tflite/classify.py) and TFLite
Micro's reference kernels. The manifest's `runtimes` must be exactly where the model runs and
gives the Keras labels; `runtimes_not` names the op for the others, and convert warned about it.
(The Cortex-M4 build of the same kernels is tests/test_firmware_qemu.py.)
"""
import os
import subprocess

import numpy as np
import pytest

from conftest import ROOT
from tfdistil.edge.convert.export import QUANTIZATIONS, convert

STUDENTS = ("cnn", "bilstm", "bilstm_attn")
MIN_LABEL_AGREEMENT = 0.95  # the int8 tolerance; float models agree on every sentence here


@pytest.fixture(scope="module")
def keras_labels(tiny_run, slice_tsv):
    from tfdistil.data.splits import read_tsv
    from tfdistil.students.builders import model_inputs
    from tfdistil.training.fit import load_run
    sentences = read_tsv(slice_tsv, "test").sentences
    labels = {}
    for student, run in tiny_run.items():
        _, vocab, model = load_run(run)
        labels[student] = np.asarray(model(model_inputs(student, vocab.encode_batch(sentences, 64)),
                                           training=False)).argmax(-1)
    return labels


def classify_labels(python, model, tsv):
    proc = subprocess.run([python, os.path.join(ROOT, "tflite", "classify.py"), model, "--vocab",
                           os.path.join(os.path.dirname(model), "vocab.json"), "--tsv", tsv],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return None
    return np.array([int(line.split("\t")[0]) for line in proc.stdout.splitlines()])


def tflm_labels(model, tsv):
    from tfdistil.data.splits import read_tsv
    from tfdistil.data.vocab import Vocab
    from tfdistil.edge.host.evaluate import TFLMRunner, read_model
    from tfdistil.errors import UserError
    try:
        runner = TFLMRunner(read_model(model), 4 * 1024 * 1024)
    except UserError:
        return None
    ids = Vocab.load(os.path.join(os.path.dirname(model), "vocab.json")).encode_batch(read_tsv(tsv, "test").sentences,
                                                                                    runner.max_len)
    return np.array([runner(ids[i:i + 1]).argmax() for i in range(len(ids))])


@pytest.mark.parametrize("quantize", QUANTIZATIONS)
@pytest.mark.parametrize("student", STUDENTS)
def test_manifest_runtimes_are_where_the_model_runs(student, quantize, tiny_run, converted_int8, data_dir, slice_tsv,
                                                    pi_python, keras_labels, tmp_path):
    import sys
    warnings = []
    if quantize == "int8":  # the session's int8 conversion of this run (conftest): the same convert(), made once
        r = converted_int8[student]
    else:
        r = convert(tiny_run[student], quantize, out=str(tmp_path / f"{student}_{quantize}.tflite"), data=data_dir,
                    calibration_size=50, warn=warnings.append)
    ran = {"litert": classify_labels(sys.executable, r["path"], slice_tsv),
           "tflite-runtime": classify_labels(pi_python, r["path"], slice_tsv),
           "tflm": tflm_labels(r["path"], slice_tsv)}
    for runtime, labels in ran.items():
        if runtime in r["runtimes"]:
            assert labels is not None, f"{runtime} is listed but could not run the {quantize} {student}"
            agreement = float(np.mean(labels == keras_labels[student]))
            assert agreement >= MIN_LABEL_AGREEMENT, (runtime, agreement)
        else:
            assert labels is None, f"{runtime} ran the {quantize} {student} but the manifest says no"
            why = r["runtimes_not"][runtime]
            assert ":" in why and why.split(":")[0].isupper(), why  # names the op
            assert any(runtime in w and why in w for w in warnings), warnings
    assert ("cortex-m4" in r["runtimes"]) == ("tflm" in r["runtimes"])
    # What this stack can and cannot run today (found by this test; a change is news).
    assert "litert" in r["runtimes"]
    assert "tflite-runtime" in r["runtimes"]  # dynamic too: per-tensor hybrid FULLY_CONNECTED
    if quantize in ("float32", "int8"):
        assert "tflm" in r["runtimes"]
    if quantize == "float16":
        assert r["runtimes_not"]["tflm"].startswith("DEQUANTIZE")
    if quantize == "dynamic":  # TFLM has no hybrid kernels; the tiny BiLSTM's dynamic graph holds no hybrid op
        assert ("tflm" in r["runtimes"]) == (student == "bilstm"), r["runtimes_not"]
