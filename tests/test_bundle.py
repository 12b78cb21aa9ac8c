"""`tfdistil bundle`: the static Linux classifier for a Raspberry Pi (armv7 / aarch64), run under qemu
user mode, answers as host TFLM does for every student type; bad input is one line, nothing written,
no TensorFlow. Needs Debian's cross compilers and qemu-user-static (.ci/run installs them)."""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from tfdistil.edge.mcu.bundle import find_tools, run_bundle
from tfdistil.edge.mcu.bundle_check import check_bundle

STUDENTS = ("cnn", "bilstm", "bilstm_attn")
ARM = ("linux-armv7", "linux-aarch64")


def cli(*args):
    """The CLI in a fresh process that reports whether TensorFlow got imported."""
    code = ("import sys\nfrom tfdistil.cli import main\ntry:\n    main(sys.argv[1:])\nfinally:\n"
            "    sys.stderr.write('TF=%s' % ('tensorflow' in sys.modules))\n")
    return subprocess.run([sys.executable, "-c", code, "bundle", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT)


def assert_one_line_error(proc, needle):
    err, tf = proc.stderr.rsplit("TF=", 1)
    lines = err.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert needle in lines[0], lines[0]
    assert tf == "False", "TensorFlow was imported before the error"


def test_bad_input_is_one_line_and_writes_nothing(tmp_path):
    model = os.path.join(ROOT, "results", "models", "cnn-distill", "cnn_int8_L64.tflite")
    assert_one_line_error(cli(model, "--target", "linux-mips", "--out", tmp_path / "a"), "unknown target 'linux-mips'")
    assert_one_line_error(cli(tmp_path / "nope.tflite", "--target", "linux-armv7", "--out", tmp_path / "b"),
                          "nope.tflite")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    assert_one_line_error(cli(model, "--target", "linux-armv7", "--out", theirs), "not made by tfdistil")
    assert sorted(os.listdir(tmp_path)) == ["theirs"] and os.listdir(theirs) == ["notes.txt"]


@pytest.fixture(scope="module")
def checks(converted_int8, slice_tsv, tmp_path_factory):
    """Each student bundled for armv7 and aarch64 and run on 120 test sentences under qemu user mode."""
    for target in ARM:
        find_tools(target)  # a missing cross compiler fails here, with the apt line
    out = tmp_path_factory.mktemp("bundles")
    return {s: check_bundle(converted_int8[s]["path"], slice_tsv, ARM, out_dir=str(out / s)) for s in STUDENTS}


@pytest.mark.parametrize("student", STUDENTS)
def test_arm_bundles_answer_as_host_tflm(checks, student):
    r = checks[student]
    assert r["n"] == 120
    for target in ARM:
        c = r["targets"][target]
        assert c["labels_identical"] == 120 and c["float_outputs_bit_identical"] == 120, (target, c)
        assert c["accuracy"] == r["host_tflm_accuracy"]
        assert 50_000 < c["binary_bytes"] < 3_000_000 and 0 < c["peak_rss_kb"] < 200_000


def test_binaries_are_static_arm_executables(checks, tmp_path_factory):
    d = checks["cnn"]["targets"]
    assert set(d) == set(ARM)
    out = str(tmp_path_factory.getbasetemp())
    for target, machine in (("linux-armv7", b"\x28\x00"), ("linux-aarch64", b"\xb7\x00")):
        exe = next(os.path.join(r, "classify") for r, _, f in os.walk(out) if "classify" in f and target in r)
        head = open(exe, "rb").read(64)
        assert head[:4] == b"\x7fELF" and head[18:20] == machine  # e_machine: ARM / AArch64
        info = json.load(open(os.path.join(os.path.dirname(exe), "bundle.json")))
        assert info["static"] and info["target"] == target
        # no program interpreter: the kernel runs it without a loader or shared libraries
        assert b"/lib/ld-linux" not in open(exe, "rb").read()


def test_sentences_from_arguments_and_stdin_agree(checks, converted_int8, tmp_path_factory):
    out = str(tmp_path_factory.getbasetemp())
    exe = next(os.path.join(r, "classify") for r, _, f in os.walk(out) if "classify" in f and "linux-armv7" in r
               and os.sep + "bilstm_attn" + os.sep in r + os.sep)
    sentences = ["a gorgeous , witty , seductive movie .", "dull", ""]
    via_stdin = run_bundle(exe, "linux-armv7", sentences)["lines"]
    args = subprocess.run(["qemu-arm-static", exe, *sentences], capture_output=True, text=True, check=True)
    assert args.stdout.splitlines() == via_stdin and len(via_stdin) == 3
    assert all(l.split("\t")[0] in ("0", "1") and 0.0 <= float(l.split("\t")[1]) <= 1.0 for l in via_stdin)
