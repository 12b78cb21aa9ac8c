"""The firmware kit on an emulated Cortex-M4 (QEMU mps2-an386), built with arm-none-eabi-gcc
against the vendored TFLite Micro: every student answers exactly as the host TFLM interpreter,
and its flash, RAM, stack and instruction counts add up.

Needs arm-none-eabi-gcc/g++ with newlib and qemu-system-arm (.ci/run installs them). A missing
tool fails these tests; it never skips them. The TFLM library is built once per op set and
cached (~/.cache/tfdistil/tflm or $TFDISTIL_CACHE/tflm), so only the first session pays for it.
"""
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
from tfdistil.edge.convert.export import convert
from tfdistil.edge.mcu.firmware import write_firmware_kit
from tfdistil.edge.mcu.run import run_firmware, run_qemu
from tfdistil.edge.mcu.boards import link_flags
from tfdistil.edge.mcu.build import (APT_PACKAGES, MCU_SRC, TOOLS, compile_flags, find_tools, tflm_library,
                                tflm_source_dir)

STUDENTS = ("cnn", "bilstm", "bilstm_attn")
BOARD = "mps2-an386"
N = 30


@pytest.fixture(scope="module")
def toolchain():
    missing = [name for name in TOOLS.values() if not shutil.which(name)]
    if missing:
        pytest.fail(f"{', '.join(missing)} not on PATH: apt-get install {APT_PACKAGES}", pytrace=False)
    return find_tools(), tflm_source_dir()


@pytest.fixture(scope="module")
def int8_models(tiny_run, data_dir):
    """Each tiny student converted to int8 where `convert` puts it: RUN/tflite/STUDENT_int8_L64.tflite."""
    return {s: convert(tiny_run[s], "int8", max_len=64, data=data_dir, calibration_size=100)["path"]
            for s in STUDENTS}


@pytest.fixture(scope="module", params=STUDENTS)
def board_run(request, toolchain, int8_models, data_dir, tmp_path_factory):
    student = request.param
    build_dir = tmp_path_factory.mktemp(f"fw-{student}")
    result = run_firmware(int8_models[student], data_dir, "dev", limit=N, board=BOARD, build_dir=str(build_dir),
                          progress=False, log=lambda m: None)
    print(f"{student}: libtflm.a {'cached' if result['build']['cached'] else 'built'} in "
          f"{result['build']['seconds']} s; wall {result['wall_seconds']}")
    return student, result, build_dir


def test_board_answers_exactly_as_host_tflm(board_run, data_dir):
    student, r, _ = board_run
    assert r["n"] == N and r["student"] == student and r["quantization"] == "int8"
    assert r["labels_identical"] == N, r["agreement_with_host_tflm"]
    assert r["int8_outputs_identical"] == N, r["agreement_with_host_tflm"]
    assert r["float_outputs_bit_identical"] == N, r["agreement_with_host_tflm"]
    assert r["accuracy"] == r["host_tflm_accuracy"]
    same_sources = r["agreement_with_host_build"]  # the vendored TFLM compiled for x86-64
    assert same_sources["labels_identical"] == same_sources["int8_outputs_identical"] == N
    assert same_sources["float_outputs_bit_identical"] == N
    dev = load_split(data_dir, "dev", N)
    assert r["per_sentence"]["gold"] == dev.labels.tolist()
    assert all(len(q) == 2 and all(-128 <= v <= 127 for v in q) for q in r["per_sentence"]["int8"])


def test_flash_and_ram_add_up(board_run, int8_models):
    student, r, _ = board_run
    flash, ram, kit = r["flash"], r["ram"], r["build"]["kit"]
    assert flash["model"] == os.path.getsize(int8_models[student])  # g_model is the flatbuffer, byte for byte
    assert flash["total"] == r["flash_bytes"] == flash["model"] + flash["vocabulary"] + flash["tflm_runtime"] + flash["other"]
    assert flash["other"] == sum(flash["other_detail"].values()) and flash["other_detail"]["c_runtime"] > 0
    # one blob of NUL-ended words, a 16-bit offset and a 16-bit id per word, kVocabCount and alignment
    words = kit["vocab_words"]
    assert 6 * words < kit["vocab_flash_bytes"] <= flash["vocabulary"] <= kit["vocab_flash_bytes"] + 12
    assert 20_000 < flash["tflm_runtime"] < 300_000
    # the kit's arena, or a larger one where the board's kernels needed more (ARENA_PERCENTS)
    assert ram["arena"] >= kit["arena_bytes"] * ram["arena_percent_of_kit"] // 100
    assert ram["arena"] <= kit["arena_bytes"] * ram["arena_percent_of_kit"] // 100 + 16
    assert ram["arena_percent_of_kit"] == 100 or ram["arena_percents_failed"]
    assert 0 < ram["arena_used_on_board"] <= ram["arena"]
    assert ram["total"] == r["ram_bytes"] == (ram["arena"] + ram["tflm_runtime"] + ram["stack_reserved"] +
                                              ram["heap_reserved"] + ram["other"])
    assert ram["other"] == sum(ram["other_detail"].values())
    stack = ram["stack_high_water_bytes"]
    assert 0 < stack["setup"] < 64 * 1024 and 0 < stack["inference"] < 64 * 1024
    assert r["stack_high_water_bytes"] == max(stack["setup"], stack["inference"])


def test_instructions_per_sentence(board_run):
    _, r, _ = board_run
    ins = r["instructions"]
    assert ins["ticks_per_instruction"] == pytest.approx(1.6, abs=1e-4)  # 64 ns per instruction, 25 MHz timer
    for step in ("invoke", "tokenize", "reset"):
        s = ins[step]
        assert 0 < s["min"] <= s["p50"] <= s["p95"] <= s["max"], (step, s)
    # inference outweighs tokenizing by more than an order of magnitude (CMSIS-NN brought the tiny
    # CNN's and BiLSTM's Invoke() to 50-90 times the longest tokenization)
    assert ins["invoke"]["min"] > 20 * ins["tokenize"]["max"]
    assert r["invoke_ms_estimate"]["p50"] == pytest.approx(ins["invoke"]["p50"] / 64e3, abs=0.01)
    assert "1 instruction per cycle" in r["invoke_ms_estimate"]["assumes"]


def test_instruction_counts_are_exact(board_run, data_dir):
    """The same sentence three times: the same count for every step, within one timer tick (0.625
    instruction: where the 25 MHz tick falls between two instructions depends on what ran before)."""
    _, _, build_dir = board_run
    sentence = load_split(data_dir, "dev", 1).sentences[0]
    out = run_qemu(str(build_dir / "build" / "firmware.elf"), [sentence] * 3, BOARD, str(build_dir))
    ticks = [s["ticks"] for s in out["sentences"]]
    for step in range(3):
        assert max(t[step] for t in ticks) - min(t[step] for t in ticks) <= 1, ticks
    assert out["sentences"][0]["bits"] == out["sentences"][1]["bits"] == out["sentences"][2]["bits"]


def test_main_example_compiles_and_links_for_cortex_m4(toolchain, int8_models, tmp_path):
    """firmware_notes/main_example.cc, built for the Cortex-M4 against a kit and linked with TFLM."""
    tools, src = toolchain
    kit_dir = tmp_path / "kit"
    kit = write_firmware_kit(int8_models["bilstm"], str(kit_dir))
    (tmp_path / "app.cc").write_text("void setup();\nvoid loop();\nint main() {\n  setup();\n  loop();\n}\n")
    objects = []
    for path, cxx in ((os.path.join(ROOT, "firmware_notes", "main_example.cc"), True), (tmp_path / "app.cc", True),
                      (kit_dir / "model_data.cpp", True), (kit_dir / "vocab_data.c", False),
                      (kit_dir / "tokenizer.c", False), (os.path.join(MCU_SRC, "vectors.c"), False)):
        obj = str(tmp_path / (os.path.basename(str(path)) + ".o"))
        proc = subprocess.run([tools["g++" if cxx else "gcc"], *compile_flags(src, BOARD, cxx=cxx), "-Wall",
                               f"-I{kit_dir}", f"-I{MCU_SRC}", "-c", str(path), "-o", obj], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
        objects.append(obj)
    lib, _ = tflm_library(kit["ops"], BOARD, tools, src)
    proc = subprocess.run([tools["g++"], *link_flags(BOARD, str(tmp_path)), "-o", str(tmp_path / "main_example.elf"),
                           *objects, lib, "-lm"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]


def invoke(*args):
    return CliRunner().invoke(main, ["firmware", *[str(a) for a in args]])


def assert_user_error(result, *needles):
    err = result.stderr.strip()
    assert result.exit_code == 2 and err.startswith("error: ") and "\n" not in err, (result.exit_code, err)
    for n in needles:
        assert n in err, err


def test_cli_on_a_run_folder_writes_json(toolchain, int8_models, tiny_run, data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(os.path.dirname(tiny_run["cnn"]))  # a relative run folder, as users type it
    result = invoke(os.path.basename(tiny_run["cnn"]), "--board", BOARD, "--data", data_dir, "--split", "dev", "--limit", 5,
                    "--json", "--out", tmp_path)
    assert result.exit_code == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    written = json.loads((tmp_path / "cnn-cmsis-nn-dev-sample5.json").read_text())
    assert printed["json"] == str(tmp_path / "cnn-cmsis-nn-dev-sample5.json")
    assert written["n"] == 5 and written["labels_identical"] == 5 and written["int8_outputs_identical"] == 5
    assert written["command"].startswith("tfdistil firmware ")
    assert not [f for f in os.listdir(tmp_path) if ".tmp" in f]


def test_cli_errors_are_one_line(int8_models, tiny_run, data_dir, tmp_path, monkeypatch):
    model = int8_models["cnn"]
    assert_user_error(invoke(model, "--board", "stm32f4-discovery", "--data", data_dir), "unknown board", BOARD)
    assert_user_error(invoke(tmp_path / "nope.tflite", "--data", data_dir), "model file not found")
    assert_user_error(invoke(tmp_path, "--data", data_dir), "not a run folder")
    run = tmp_path / "run"
    shutil.copytree(tiny_run["bilstm"], run, ignore=shutil.ignore_patterns("tflite"))
    assert_user_error(invoke(run, "--data", data_dir), "bilstm_int8_L64.tflite not found", "tfdistil convert")
    assert_user_error(invoke(model, "--data", tmp_path / "nodata"), "data folder not found")
    monkeypatch.setenv("TFDISTIL_TFLM_SRC", str(tmp_path))
    assert_user_error(invoke(model, "--data", data_dir), "TFLite Micro sources not found")
    monkeypatch.delenv("TFDISTIL_TFLM_SRC")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert_user_error(invoke(model, "--data", data_dir), "arm-none-eabi-gcc", "apt-get install")


def test_a_model_without_its_manifest_runs(toolchain, int8_models, data_dir, tmp_path):
    """The ops come from the flatbuffer, not the manifest: a bare .tflite + vocab.json is enough."""
    folder = tmp_path / "bare"
    folder.mkdir()
    shutil.copy(int8_models["bilstm_attn"], folder / "model.tflite")
    shutil.copy(os.path.join(os.path.dirname(int8_models["bilstm_attn"]), "vocab.json"), folder / "vocab.json")
    r = run_firmware(str(folder / "model.tflite"), data_dir, "dev", limit=3, board=BOARD, progress=False,
                     log=lambda m: None)
    assert r["labels_identical"] == 3 and r["agreement_with_host_build"]["int8_outputs_identical"] == 3


@pytest.mark.parametrize("student", STUDENTS)
def test_float32_students_run_on_the_board(student, toolchain, tiny_run, data_dir, tmp_path):
    """The manifest lists cortex-m4 for float32 too: it must have run there, not only on the host."""
    model = convert(tiny_run[student], "float32", max_len=64, out=str(tmp_path / f"{student}_float32.tflite"))
    assert "cortex-m4" in model["runtimes"]
    r = run_firmware(model["path"], data_dir, "dev", limit=10, board=BOARD, build_dir=str(tmp_path / "fw"),
                     progress=False, log=lambda m: None)
    assert r["quantization"] == "float32" and r["n"] == 10
    assert r["labels_identical"] == r["agreement_with_host_build"]["labels_identical"] == 10
    # float kernels: the board's newlib libm and fused multiply-add round differently from glibc
    assert r["agreement_with_host_tflm"]["float_outputs_max_abs_difference"] < 1e-4, r["agreement_with_host_tflm"]
    assert r["agreement_with_host_build"]["float_outputs_max_abs_difference"] < 1e-4


def test_a_pre_conv_student_from_keras_to_the_board(toolchain, data_dir, tmp_path):
    """`--pre-conv 3` (a convolution before the LSTMs, issue 34's word-order lever): int8 labels
    agree with Keras in LiteRT and TFLM, the size estimate holds, the emulated Cortex-M4 (CMSIS-NN)
    answers as host TFLM, and the per-token split refuses it in one line (a window reads ahead)."""
    from tfdistil.config import Config
    from tfdistil.edge.convert.stream_split import split
    from tfdistil.edge.host.evaluate import evaluate_tflite
    from tfdistil.errors import UserError
    from tfdistil.search import space as S
    from tfdistil.training.fit import fit
    run = str(tmp_path / "run")
    cfg = Config(student="bilstm_attn", embed_dim=16, hidden=16, epochs=1, train_limit=600, seed=1, pre_conv=3)
    fit(cfg, data_dir, run, log=lambda m: None)
    conv = convert(run, "int8", max_len=64, data=data_dir, calibration_size=100)
    assert "CONV_2D" in conv["ops"] and "UNIDIRECTIONAL_SEQUENCE_LSTM" in conv["ops"]
    for runtime in ("litert", "tflm"):
        r = evaluate_tflite(conv["path"], data_dir, "dev", runtime, limit=100)
        assert r["agreement_with_keras"] >= 0.95, (runtime, r)
    sized = Config.from_dict({**cfg.to_dict(), "vocab_size": conv["vocab_size"]})
    slack, fraction = S.ESTIMATE_TOLERANCE
    assert abs(S.estimate_int8_bytes(sized) - conv["bytes"]) <= max(slack, fraction * conv["bytes"]), conv["bytes"]
    board = run_firmware(conv["path"], data_dir, "dev", limit=12, board=BOARD, build_dir=str(tmp_path / "fw"),
                         progress=False, log=lambda m: None)
    assert board["labels_identical"] == board["int8_outputs_identical"] == 12
    with pytest.raises(UserError, match="does not read the embeddings directly"):
        split(open(conv["path"], "rb").read())


def test_hashed_vocabulary_from_keras_to_the_board(toolchain, data_dir, tmp_path):
    """`fit --hash-buckets`: no word table anywhere. Python, the Pi runner and the C tokenizer hash
    every word alike, and the firmware (no vocabulary in flash) answers as host TFLM does."""
    from tfdistil.config import Config
    from tfdistil.data.vocab import Vocab
    from tfdistil.training.fit import fit
    run = str(tmp_path / "run")
    fit(Config(student="cnn", embed_dim=16, filters=16, epochs=1, train_limit=600, seed=1, hash_buckets=500),
        data_dir, run, log=lambda m: None)
    vocab = Vocab.load(os.path.join(run, "vocab.json"))
    assert len(vocab) == 500 and vocab.itos == ["<pad>", "<unk>"]
    ids = vocab.encode("Great movie! unheard-of-word", pad=False)
    assert len(ids) == 4 and all(2 <= i < 500 for i in ids)  # "movie!" peeled into "movie" "!"
    model = convert(run, "int8", max_len=64, data=data_dir, calibration_size=100)["path"]

    kit = write_firmware_kit(model, str(tmp_path / "kit"))
    assert kit["hash_buckets"] == 500 and kit["vocab_words"] == 0
    exe = tmp_path / "tok"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-I", str(tmp_path / "kit"),
                    str(tmp_path / "kit" / "tokenizer.c"), str(tmp_path / "kit" / "vocab_data.c"),
                    os.path.join(ROOT, "tests", "c", "tokenize_main.c"), "-o", str(exe)], check=True)
    sentences = load_split(data_dir, "dev", 200).sentences + ["Great movie!", "café au lait ...", "UNK?!", ""]
    proc = subprocess.run([str(exe)], input="\n".join(sentences) + "\n", capture_output=True, text=True, check=True)
    c_ids = [[int(t) for t in line.split()] for line in proc.stdout.splitlines()[::2]]
    assert c_ids == vocab.encode_batch(sentences, 128).tolist()

    pi = subprocess.run([sys.executable, os.path.join(ROOT, "tflite", "classify.py"), model, "--vocab",
                         os.path.join(os.path.dirname(model), "vocab.json"), "Great movie!"],
                        capture_output=True, text=True)
    assert pi.returncode == 0 and pi.stdout.split("\t")[0] in ("0", "1"), pi.stderr

    r = run_firmware(model, data_dir, "dev", limit=12, board=BOARD, progress=False, log=lambda m: None)
    assert r["labels_identical"] == r["int8_outputs_identical"] == 12
    assert r["flash"]["vocabulary"] < 64  # kVocabCount only: no words, no ids


def test_per_token_firmware_follows_the_sentence(toolchain, int8_models, data_dir, tmp_path):
    """`firmware --per-token`: the step model runs once per token and the shortest head after it.
    The board answers bit for bit as host TFLM running the same pieces, the model's flash is the
    pieces', and a sentence costs instructions in proportion to its tokens, not to 64. With the
    word table as fingerprint ranks (4 bytes a word, embedding rows reordered in the kit) the
    board still answers as host TFLM running the model as trained, on Python's ids."""
    model = int8_models["bilstm_attn"]
    per_token = run_firmware(model, data_dir, "dev", limit=N, board=BOARD, build_dir=str(tmp_path / "pt"),
                             progress=False, log=lambda m: None, head_lengths=[16, 32],
                             vocab_layout="fingerprint-ranks")
    assert per_token["vocab_layout"] == "fingerprint-ranks"
    assert 4 * per_token["build"]["kit"]["vocab_words"] <= per_token["flash"]["vocabulary"] < (
        4 * per_token["build"]["kit"]["vocab_words"] + 64)
    assert per_token["labels_identical"] == per_token["int8_outputs_identical"] == N
    assert per_token["float_outputs_bit_identical"] == N
    kit = per_token["build"]["kit"]
    assert kit["per_token"]["head_lengths"] == [16, 32, 64]
    assert per_token["flash"]["model"] == kit["model_bytes"] == kit["per_token"]["step_bytes"] + sum(
        kit["per_token"]["head_bytes"].values())
    for name in ("step.tflite", "head_L16.tflite", "head_L32.tflite", "head_L64.tflite"):
        assert (tmp_path / "pt" / "kit" / name).is_file()
    full = run_firmware(model, data_dir, "dev", limit=N, board=BOARD, progress=False, log=lambda m: None)
    assert per_token["accuracy"] == full["accuracy"]  # the same answers as the 64-step model
    assert per_token["per_sentence"]["label"] == full["per_sentence"]["label"]
    tokens = np.array(per_token["per_sentence"]["tokens"])
    cost = np.array(per_token["per_sentence"]["invoke_instructions"])
    assert tokens.max() < 40 and cost.mean() < 0.6 * np.mean(full["per_sentence"]["invoke_instructions"])
    slope = np.polyfit(tokens, cost, 1)[0]
    # more tokens, more work (with CMSIS-NN's cheaper LSTM step the heads' fixed share is larger)
    assert slope > 0.25 * cost.min() / max(tokens.min(), 1)
