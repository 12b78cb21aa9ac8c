"""tflite/classify.py in a 64-bit Raspberry Pi OS userland: Debian 12 arm64 with the aarch64 wheels of
tflite-runtime 2.14 (+ numpy<2) and ai-edge-litert 2.3.0, under qemu user mode as a Pi 4 (cortex-a72)
and a Pi 5 (cortex-a76). Labels and accuracy must equal x86's; printed digits may differ (other
kernels). The root is built once per machine (~10-15 min, cached under $TFDISTIL_CACHE/pi-root,
locked so two workers never build it twice); no tool or network missing is skipped: it fails."""
import os
import subprocess

import pytest

from conftest import ROOT
from tfdistil.data.splits import read_tsv
from tfdistil.edge.pi_check import classify_aarch64, classify_x86, compare
from tfdistil.edge.pi_root import PI_CPUS, ensure_root

STUDENTS = ("cnn", "bilstm", "bilstm_attn")
RUNTIMES = ("tflite-runtime", "ai-edge-litert")
COMMITTED = ("cnn-distill", "bilstm-distill", "mcu-attn-e20h32a16-v8800-sw")  # one per student type
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


@pytest.mark.parametrize("pi", sorted(PI_CPUS))
def test_the_emulated_cpu_is_the_pis(pi_root, pi):
    """QEMU_CPU reaches qemu through binfmt: the aarch64 program sees the Pi's CPU features."""
    proc = subprocess.run(["chroot", pi_root, "/bin/true"], env={"PATH": "/usr/bin:/bin:/usr/sbin",
                          "QEMU_CPU": PI_CPUS[pi], "LD_SHOW_AUXV": "1"}, capture_output=True, text=True)
    hwcaps = [int(l.split()[-1], 16) for l in proc.stdout.splitlines() if l.startswith("AT_HWCAP:")]
    assert len(hwcaps) == 2, proc.stdout  # chroot itself (x86), then the aarch64 /bin/true
    assert bool(hwcaps[1] & ASIMDDP) == (pi == "pi5"), hex(hwcaps[1])


def _check(pi_root, model, tsv, runtime, pi):
    split = read_tsv(tsv, "test")
    c = compare(classify_x86(model, tsv), classify_aarch64(pi_root, runtime, pi, model, tsv),
                list(split.sentences), split.labels)
    assert c["runtime"].startswith(runtime + (" 2.14.0" if runtime == "tflite-runtime" else " 2.3.0"))
    assert c["labels_identical"] == c["n"], c["differing"]  # names each sentence, both p, the margin
    assert c["accuracy"] == c["accuracy_x86"]
    return c


@pytest.mark.parametrize("pi", sorted(PI_CPUS))
@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("student", STUDENTS)
def test_tiny_students_same_labels_as_x86(pi_root, converted_int8, first60, student, runtime, pi):
    c = _check(pi_root, converted_int8[student]["path"], first60, runtime, pi)
    assert c["n"] == 60


@pytest.mark.parametrize("pi", sorted(PI_CPUS))
@pytest.mark.parametrize("folder", COMMITTED)
def test_committed_models_same_labels_as_x86(pi_root, first60, folder, pi):
    d = os.path.join(ROOT, "results", "models", folder)
    model = os.path.join(d, next(n for n in os.listdir(d) if n.endswith("_int8_L64.tflite")))
    _check(pi_root, model, first60, "tflite-runtime", pi)
