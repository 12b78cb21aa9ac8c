"""The firmware on every emulated board with both kernel sets (tfdistil.edge.mcu.boards,
tfdistil.edge.mcu.cmsis): a tiny int8 student answers exactly as host TFLM on each, CMSIS-NN
answers exactly as the reference kernels for every student type, and a firmware that does not fit
the Netduino's real flash fails at link time with one line.

Needs arm-none-eabi-gcc with newlib and qemu-system-arm (.ci/run installs them); a missing tool
fails. Each (CPU, kernel set, op set) library is built once and cached like test_firmware_qemu's.
"""
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import ROOT
from tfdistil.cli import main
from tfdistil.data.splits import load_split
from tfdistil.data.vocab import Vocab
from tfdistil.edge.mcu.firmware import write_firmware_kit
from tfdistil.edge.mcu.run import host_reference, instruction_counts, run_on_board
from tfdistil.edge.mcu.boards import BOARDS, HEAP_BYTES, STACK_BYTES, ticks_per_instruction
from tfdistil.edge.mcu.cmsis import PATCHES, patched
from tfdistil.edge.mcu.memory import firmware_memory
from tfdistil.errors import UserError

N = 8
KERNELS = ("cmsis-nn", "reference")


def kit_and_host(model, data_dir, folder, n=N):
    """The kit of `model` and host TFLM's answers for the first n dev sentences."""
    kit = write_firmware_kit(model, str(folder))
    sentences = load_split(data_dir, "dev", n).sentences
    vocab = Vocab.load(os.path.join(os.path.dirname(model), "vocab.json"))
    with open(model, "rb") as f:
        host = host_reference(f.read(), vocab, sentences)
    return kit, sentences, host


@pytest.fixture(scope="module")
def attn(converted_int8, data_dir, tmp_path_factory):
    """The tiny BiLSTM-Attn (GATHER, LSTM, FULLY_CONNECTED incl. the 3-D one, SOFTMAX, MUL, ...)."""
    folder = tmp_path_factory.mktemp("boards")
    kit, sentences, host = kit_and_host(converted_int8["bilstm_attn"]["path"], data_dir, folder / "kit")
    return folder, kit, sentences, host


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("board", list(BOARDS))
def test_every_board_answers_as_host_tflm(board, kernels, attn):
    folder, kit, sentences, host = attn
    out = folder / f"{board}-{kernels}"
    build, out_board = run_on_board(str(folder / "kit"), str(out), board, kit["ops"], sentences, kernels)
    assert build["tflm"]["kernels"] == kernels
    if kernels == "cmsis-nn":
        assert {"fully_connected", "unidirectional_sequence_lstm", "softmax"} <= set(build["tflm"]["cmsis_nn_kernels"])
    fw = out_board["sentences"]
    assert [s["label"] for s in fw] == host["labels"].tolist()
    assert np.array_equal(np.array([s["raw"] for s in fw]), host["raw"])
    assert np.array_equal(np.array([s["bits"] for s in fw], dtype=np.uint32), host["bits"])
    counts, clock = instruction_counts(out_board)
    # the board's timer runs at the rate the table says, so the counts are instructions
    assert clock["ticks_per_instruction"] == pytest.approx(ticks_per_instruction(board), rel=1e-4)
    assert counts[:, 2].min() > 10_000
    memory = firmware_memory(build["elf"], build["map"], board)
    assert 0 < memory["flash"]["total"] <= memory["board_flash_bytes"]
    assert memory["ram"]["total"] <= memory["board_ram_bytes"]
    assert memory["ram"]["stack_reserved"] == STACK_BYTES and memory["ram"]["heap_reserved"] == HEAP_BYTES
    ram = memory["ram"]
    assert ram["total"] == ram["arena"] + ram["tflm_runtime"] + ram["stack_reserved"] + ram["heap_reserved"] + ram["other"]
    end = out_board["end"]
    assert 0 < end["inference_stack_bytes"] < STACK_BYTES - 4096 and 0 < end["heap_bytes"] <= HEAP_BYTES
    assert 0 < out_board["ready"]["arena_used"] <= memory["ram"]["arena"]


@pytest.mark.parametrize("student", ["cnn", "bilstm", "bilstm_attn"])
def test_cmsis_nn_answers_as_the_reference_kernels(student, converted_int8, data_dir, tmp_path):
    """Same kit, same board (Cortex-M4): the int8 tensor before DEQUANTIZE, the float outputs and
    the labels are identical with either kernel set; the LSTM students run in fewer instructions."""
    kit, sentences, _ = kit_and_host(converted_int8[student]["path"], data_dir, tmp_path / "kit", n=12)
    runs = {k: run_on_board(str(tmp_path / "kit"), str(tmp_path / k), "mps2-an386", kit["ops"], sentences, k)[1]
            for k in KERNELS}
    a, b = runs["cmsis-nn"]["sentences"], runs["reference"]["sentences"]
    assert [s["raw"] for s in a] == [s["raw"] for s in b] and all(s["raw"] for s in a)
    assert [s["bits"] for s in a] == [s["bits"] for s in b]
    cost = {k: instruction_counts(r)[0][:, 2].mean() for k, r in runs.items()}
    print(student, cost)
    if student != "cnn":
        assert cost["cmsis-nn"] < 0.8 * cost["reference"], cost


def test_patches_apply_only_to_the_text_they_were_written_for():
    assert set(PATCHES) == {"unidirectional_sequence_lstm.cc", "fully_connected.cc"}
    with pytest.raises(UserError, match="does not apply"):
        patched("fully_connected.cc", "TFLITE_DCHECK_GE(data.buffer_conv_1x1_idx, 3);\n")
    fixed = patched("fully_connected.cc", "x\n      TFLITE_DCHECK_GE(data.buffer_conv_1x1_idx, 4);\n")
    assert "buffer_conv_1x1_idx, 0)" in fixed and "buffer_conv_1x1_idx, 4)" not in fixed


def test_too_big_for_the_netduino_fails_at_link_time(data_dir, tmp_path):
    """1.2 MB of model + vocabulary cannot fit the STM32F405's 1 MB flash: the link fails, the last
    stderr line is the one error line, exit 2, and no result file."""
    model = os.path.join(ROOT, "results", "models", "cnn-baseline", "cnn_int8_L64.tflite")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["firmware", model, "--board", "netduinoplus2", "--data", data_dir,
                                       "--split", "dev", "--limit", "2", "--out", str(out)])
    lines = result.stderr.strip().splitlines()  # progress lines (the kit was written), then the error
    assert result.exit_code == 2 and "Traceback" not in result.stderr, (result.exit_code, lines[-20:])
    assert [l for l in lines if l.startswith("error:")] == lines[-1:], lines[-20:]
    assert lines[-1].startswith("error: the firmware does not fit netduinoplus2: flash needs "), lines[-1]
    assert lines[-1].endswith(" of 1,048,576 bytes"), lines[-1]
    assert not out.exists()


def test_cli_rejects_an_unknown_kernel_set(converted_int8, data_dir):
    result = CliRunner().invoke(main, ["firmware", converted_int8["cnn"]["path"], "--kernels", "cmsis",
                                       "--data", data_dir])
    err = result.stderr.strip()
    assert result.exit_code == 2 and err == "error: unknown kernel set 'cmsis'; choose one of: cmsis-nn, reference"
    result = CliRunner().invoke(main, ["firmware", converted_int8["cnn"]["path"], "--board", "mps2-an999",
                                       "--data", data_dir])
    assert result.exit_code == 2 and all(b in result.stderr for b in BOARDS)
    json.dumps(BOARDS)  # the table is plain data (written into results)
