"""tflite/classify.py in a 64-bit Raspberry Pi OS userland: Debian 12 arm64 with the aarch64 wheels of
tflite-runtime 2.14 (+ numpy<2) and ai-edge-litert 2.3.0, under qemu user mode as a Pi 4 (cortex-a72)
and a Pi 5 (cortex-a76). Labels must equal x86's; printed digits may differ (other kernels). The root
is built once per machine (~10-15 min, cached under $TFDISTIL_CACHE/pi-root, locked so two workers
never build it twice); no tool or network missing is skipped: it fails.

What CI covers, and why not more (one runtime/CPU pairing over all 17 models and all 1,821 test
sentences took ~290 s of emulated CPU, so all four are ~20 CPU-minutes, too slow for a suite held
near 10-15 min; that full run is committed instead):
- every tiny student, both runtimes, both CPUs, on the first 60 test sentences;
- every committed model of results/index.json on x86 over the whole test split, in the Pi's own
  runtime (tflite-runtime 2.14, its venv): its accuracy equals the recorded int8 figure (index = the
  model's own eval json or source.json; recorded in LiteRT). One process for all models: this is
  also the whole-test check of tests/test_pi_runtime.py's runtime, once instead of twice;
- every committed model, both runtimes, both CPUs, on the sentences of the test split that x86 puts
  within MARGIN of p = 0.5 (at least AT_LEAST a model): the ones the other kernels could flip
  (the largest |dp| seen between ISAs is 0.021). Labels must equal x86's; a differing sentence is
  named with both probabilities and its margin;
- the committed full run (results/pi_aarch64_check.json: all 4 pairings, all models, all 1,821
  sentences, `python experiments/pi/check_pi_aarch64.py`) covers every indexed model with labels = x86 and
  the recorded accuracy.
Each pairing runs in ONE emulated process over all models (tflite/classify_many.py), so qemu and
Python start-up are paid once per pairing.
"""
import json
import os
import subprocess

import numpy as np
import pytest

from conftest import ROOT
from tfdistil.data.splits import read_tsv
from tfdistil.edge.host.pi_check import classify_many_aarch64, classify_many_x86, near_boundary
from tfdistil.edge.host.pi_root import PI_CPUS, ensure_root
from tfdistil.report.index import validate

STUDENTS = ("cnn", "bilstm", "bilstm_attn")
RUNTIMES = ("tflite-runtime", "ai-edge-litert")
VERSIONS = {"tflite-runtime": "tflite-runtime 2.14.0", "ai-edge-litert": "ai-edge-litert 2.3.0"}
PAIRINGS = [f"{rt}/{pi}" for rt in RUNTIMES for pi in sorted(PI_CPUS)]
MARGIN, AT_LEAST = 0.05, 20
ASIMDDP = 1 << 20  # AT_HWCAP bit of the dot-product instructions: a Pi 5 has them, a Pi 4 does not


@pytest.fixture(scope="session")
def pi_root():
    root, _ = ensure_root()
    return root


@pytest.fixture(scope="module")
def first60(slice_tsv, tmp_path_factory):
    path = tmp_path_factory.mktemp("pi64") / "test60.tsv"
    with open(slice_tsv, encoding="utf-8") as f:
        path.write_text("".join(f.readlines()[:61]), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def indexed():
    """{model folder: its index entry} for every model of the committed results index (validated)."""
    with open(os.path.join(ROOT, "results", "index.json"), encoding="utf-8") as f:
        index = json.load(f)
    assert validate(index) == []
    return {os.path.join(ROOT, "results", "models", m["name"]): m for m in index["models"]}


@pytest.fixture(scope="module")
def test_split(data_dir):
    path = os.path.join(data_dir, "test.tsv")
    return path, read_tsv(path, "test")


@pytest.fixture(scope="module")
def x86_full(indexed, test_split, pi_python):
    """{folder: (labels, printed p, runtime)} of every committed model on the whole test split, on
    x86 in tflite-runtime 2.14 (what a Pi user installs; its kernels print LiteRT's digits)."""
    return classify_many_x86(sorted(indexed), test_split[0], python=pi_python)


@pytest.fixture(scope="module")
def boundary(x86_full, test_split, tmp_path_factory):
    """{folder: (indices, tsv of those test sentences)}: each model's sentences near p = 0.5 on x86."""
    out = tmp_path_factory.mktemp("boundary")
    with open(test_split[0], encoding="utf-8") as f:
        header, *rows = [line for line in f.read().splitlines() if line.strip()]
    chosen = {}
    for i, (folder, (_, printed, _)) in enumerate(sorted(x86_full.items())):
        idx = near_boundary(printed, MARGIN, AT_LEAST)
        path = out / f"m{i}.tsv"
        path.write_text("\n".join([header] + [rows[j] for j in idx]) + "\n", encoding="utf-8")
        chosen[folder] = (idx, str(path))
    return chosen


@pytest.mark.parametrize("pi", sorted(PI_CPUS))
def test_the_emulated_cpu_is_the_pis(pi_root, pi):
    """QEMU_CPU reaches qemu through binfmt: the aarch64 program sees the Pi's CPU features."""
    proc = subprocess.run(["chroot", pi_root, "/bin/true"], env={"PATH": "/usr/bin:/bin:/usr/sbin",
                          "QEMU_CPU": PI_CPUS[pi], "LD_SHOW_AUXV": "1"}, capture_output=True, text=True)
    hwcaps = [int(l.split()[-1], 16) for l in proc.stdout.splitlines() if l.startswith("AT_HWCAP:")]
    assert len(hwcaps) == 2, proc.stdout  # chroot itself (x86), then the aarch64 /bin/true
    assert bool(hwcaps[1] & ASIMDDP) == (pi == "pi5"), hex(hwcaps[1])


def _differing(x86_labels, x86_p, arm, idx, sentences):
    """Every sentence whose aarch64 label differs from x86's, named with both p and the x86 margin."""
    labels, printed, _ = arm
    return [f"#{j} {sentences[j][:60]!r}: x86 p {x86_p[j]} (margin {abs(float(x86_p[j]) - 0.5):.6f}), "
            f"aarch64 p {printed[k]}" for k, j in enumerate(idx) if labels[k] != x86_labels[j]]


@pytest.mark.parametrize("pairing", PAIRINGS)
def test_tiny_students_same_labels_as_x86(pi_root, converted_int8, first60, pairing):
    runtime, pi = pairing.split("/")
    folders = [os.path.dirname(converted_int8[s]["path"]) for s in STUDENTS]
    x86 = classify_many_x86(folders, first60)
    arm, _, _ = classify_many_aarch64(pi_root, runtime, pi, folders, first60)
    sentences = read_tsv(first60, "test").sentences
    for f in folders:
        assert arm[f][2].startswith(VERSIONS[runtime]), arm[f][2]
        assert len(arm[f][0]) == 60
        assert _differing(x86[f][0], x86[f][1], arm[f], range(60), sentences) == []


def test_committed_models_x86_accuracy_in_tflite_runtime_is_the_recorded_figure(indexed, x86_full, test_split):
    gold = test_split[1].labels
    for folder, m in indexed.items():
        labels, _, runtime = x86_full[folder]
        assert runtime.startswith("tflite-runtime 2.14.0") and runtime.endswith("builtin kernels"), runtime
        assert len(labels) == len(gold) == 1821
        recorded = m["int8_test_accuracy"]["litert"]["accuracy"]
        assert int((labels == gold).sum()) == round(recorded * len(gold)), (m["name"], recorded)


@pytest.mark.parametrize("pairing", PAIRINGS)
def test_committed_models_near_the_boundary_same_labels_as_x86(pi_root, indexed, x86_full, boundary, test_split,
                                                               pairing):
    runtime, pi = pairing.split("/")
    folders = sorted(indexed)
    arm, _, _ = classify_many_aarch64(pi_root, runtime, pi, folders, {f: boundary[f][1] for f in folders})
    sentences = test_split[1].sentences
    differing = {}
    for f in folders:
        idx = boundary[f][0]
        assert arm[f][2].startswith(VERSIONS[runtime]), arm[f][2]
        assert len(arm[f][0]) == len(idx) >= AT_LEAST
        d = _differing(x86_full[f][0], x86_full[f][1], arm[f], idx, sentences)
        if d:
            differing[indexed[f]["name"]] = d
    assert differing == {}


def test_the_committed_full_run_covers_every_indexed_model(indexed):
    with open(os.path.join(ROOT, "results", "pi_aarch64_check.json"), encoding="utf-8") as f:
        run = json.load(f)
    assert run["n"] == 1821 and run["split"] == "test"
    for m in indexed.values():
        row = run["models"][m["tflite"]]
        recorded = m["int8_test_accuracy"]["litert"]["accuracy"]
        assert row["x86_accuracy"] == round(recorded, 6), m["name"]
        for pairing in PAIRINGS:
            c = row[pairing]
            assert c["n"] == 1821 and c["runtime"].startswith(VERSIONS[pairing.split("/")[0]]), (m["name"], pairing)
            assert c["labels_identical"] == c["n"] and c["differing"] == [], (m["name"], pairing, c["differing"])
            assert c["accuracy"] == round(recorded, 6), (m["name"], pairing)


def test_near_boundary_takes_the_margin_and_at_least_the_nearest():
    printed = ["0.990000", "0.520000", "0.500000", "0.100000", "0.460000", "0.700000"]
    assert near_boundary(printed, 0.05, 1) == [1, 2, 4]
    assert near_boundary(printed, 0.0, 3) == [1, 2, 4]
    assert near_boundary(printed, 0.0, 4) == [1, 2, 4, 5]
    assert np.array_equal(near_boundary(printed, 0.5, 0), range(6))
