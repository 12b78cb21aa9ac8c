"""The decision at the boundary is one rule everywhere: the first index of the largest logit, so equal
int8 outputs (p exactly 0.5) go to the lowest class index - in tfdistil's evaluators, tflite/classify.py
and the C runner of `tfdistil bundle` (the firmware main is compared with host argmax sentence by
sentence in test_firmware_qemu.py). Real ties come from a committed model on the SST-2 test split."""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from tfdistil.edge.host.decision import boundary_summary, decide, margin_steps, one_step_from_other_decision

MODEL = os.path.join(ROOT, "results", "models", "mcu-attn-e20h32a16-v8800-sw", "bilstm_attn_int8_L64.tflite")


def load_classify():
    spec = importlib.util.spec_from_file_location("classify", os.path.join(ROOT, "tflite", "classify.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_ties_go_to_the_lowest_class_index():
    assert decide([[3, 3], [-2, -2], [1, 4], [4, 1]]).tolist() == [0, 0, 1, 0]
    assert decide([[0, 7, 7], [7, 0, 7], [1, 2, 2]]).tolist() == [1, 0, 1]
    clf = load_classify()
    rng = np.random.default_rng(0)
    q = rng.integers(-3, 3, size=(500, 3))  # many ties
    assert [clf.decide(row.astype(np.float32)) for row in q] == decide(q).tolist()
    p = clf.softmax(np.array([0.25, 0.25], np.float32).astype(np.float64))
    assert p[1] == 0.5 and clf.decide(np.array([0.25, 0.25], np.float32)) == 0


def test_one_step_from_another_decision_is_exact():
    # class 0 wins ties, so "0 ahead by one" is safe and "1 ahead by one" is not
    q = np.array([[5, 5], [6, 5], [5, 6], [5, 7], [127, 127], [-128, -127]])
    assert one_step_from_other_decision(q).tolist() == [True, False, True, False, True, True]
    assert margin_steps(q).tolist() == [0, 1, 1, 2, 0, 1]
    three = np.array([[4, 4, 1], [1, 4, 3], [3, 4, 1], [4, 1, 1]])
    # [1, 4, 3]: lowering the 4 ties it with class 2, and the tie goes to class 1 again
    assert one_step_from_other_decision(three).tolist() == [True, False, True, False]
    s = boundary_summary(q, gold=[0, 0, 1, 1, 1, 1])
    assert s["ties"] == 2 and s["within_one_step"] == 4 and s["within_one_step_correct"] == 3
    assert s["accuracy_range_if_each_moves_one_step"][0] <= s["accuracy"] <= s["accuracy_range_if_each_moves_one_step"][1]


@pytest.fixture(scope="module")
def host_ties(data_dir):
    """Sentences of the SST-2 test split on which host TFLM / LiteRT give equal logits."""
    from tfdistil.data.splits import load_split
    from tfdistil.edge.mcu.bundle_check import host_tflm
    from tfdistil.data.vocab import Vocab
    from tfdistil.edge.host.evaluate import LiteRTRunner, read_model
    sentences = list(load_split(data_dir, "test").sentences)
    z = host_tflm(MODEL, sentences)["bits"].view(np.float32)
    runner = LiteRTRunner(read_model(MODEL))
    ids = Vocab.load(os.path.join(os.path.dirname(MODEL), "vocab.json")).encode_batch(sentences, runner.max_len)
    zl = np.stack([runner(ids[i:i + 1]) for i in range(len(ids))])
    tflm = [sentences[i] for i in np.flatnonzero(z[:, 0] == z[:, 1])]
    litert = [sentences[i] for i in np.flatnonzero(zl[:, 0] == zl[:, 1])]
    assert tflm and litert, "the committed model has ties on the test split (results/decision_boundary.json)"
    return {"tflm": tflm, "litert": litert}


def test_classify_py_gives_a_tie_to_class_0(host_ties):
    vocab = os.path.join(os.path.dirname(MODEL), "vocab.json")
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tflite", "classify.py"), MODEL, "--vocab", vocab,
                           *host_ties["litert"]], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    # the committed model's vocab.json records no class names: label, P(positive), the sentence
    assert proc.stdout.splitlines() == [f"0\t0.500000\t{t}" for t in host_ties["litert"]]
    assert proc.stderr.strip().splitlines()[-1] == "runtime: ai-edge-litert 2.3.0, builtin kernels"


def test_c_runner_gives_a_tie_to_class_0(host_ties, tmp_path):
    from tfdistil.edge.mcu.bundle import build_bundle, run_bundle
    built = build_bundle(MODEL, "linux-armv7", str(tmp_path / "b"))
    ran = run_bundle(str(tmp_path / "b" / built["binary"]), "linux-armv7", host_ties["tflm"])
    assert ran["lines"] == ["0\t0.500000"] * len(host_ties["tflm"])
    z = ran["bits"].view(np.float32)
    assert (z[:, 0] == z[:, 1]).all()
