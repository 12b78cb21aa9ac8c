"""tfdistil's LSTM step (tfdistil/edge/mcu/src/tfdistil_lstm_step_s8.c: a DSP path for the Cortex-M4,
Helium activations for the M55) computes the same integers as CMSIS-NN's arm_nn_lstm_step_s8 it
replaces: tests/lstm_step_check.c runs both on 900 random steps (sizes 4-32, clamps and table
saturation reached), and two ops in turn through arm_lstm_unidirectional_s8 (the M4's widened weights
are cached per op), on each emulated board; on the M4 also the packed path's sigmoid/tanh on every int16
input. A few seconds per board: no model, no TFLM."""
import os
import subprocess

import pytest

from tfdistil.edge.mcu import cmsis as mcu_cmsis
from tfdistil.edge.mcu.boards import BOARDS, board_defines, link_flags
from tfdistil.edge.mcu.build import MCU_SRC, find_tools

HERE = os.path.dirname(os.path.abspath(__file__))
STEP = "Source/NNSupportFunctions/arm_nn_lstm_step_s8.c"
LOOP = "Source/LSTMFunctions/arm_lstm_unidirectional_s8.c"


@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
def test_fast_lstm_step_is_cmsis_nn_step(board, tmp_path):
    tools = find_tools()
    _, cmsis = mcu_cmsis.vendor_dirs()
    harness = os.path.join(HERE, "lstm_step_check.c")
    flags = [*BOARDS[board]["cpu_flags"], mcu_cmsis.C_OPT, *mcu_cmsis.C_FLAGS, *mcu_cmsis.include_flags(),
             "-ffunction-sections", "-fdata-sections", "-DTFDISTIL_STEP_COUNT"]
    units = [(mcu_cmsis.source_path(rel), []) for rel in mcu_cmsis.cmsis_sources([harness])]
    assert mcu_cmsis.source_path(STEP) != os.path.join(cmsis, STEP)  # the firmware's step is tfdistil's
    rename = ["-Darm_nn_lstm_step_s8=cmsis_lstm_step_s8", "-Darm_lstm_unidirectional_s8=cmsis_lstm_unidirectional_s8"]
    units += [(os.path.join(cmsis, STEP), rename), (os.path.join(cmsis, LOOP), rename), (harness, [])]
    objects = []
    for i, (src, extra) in enumerate(units):
        obj = str(tmp_path / f"{i}.o")
        subprocess.run([tools["gcc"], *flags, *extra, "-c", src, "-o", obj], check=True)
        objects.append(obj)
    vectors = str(tmp_path / "vectors.o")
    subprocess.run([tools["gcc"], *BOARDS[board]["cpu_flags"], "-O2", *board_defines(board), f"-I{MCU_SRC}", "-c",
                    os.path.join(MCU_SRC, "vectors.c"), "-o", vectors], check=True)
    elf = str(tmp_path / "check.elf")
    subprocess.run([tools["gcc"], *link_flags(board, str(tmp_path)), "-o", elf, vectors, *objects], check=True)
    proc = subprocess.run([tools["qemu"], "-M", BOARDS[board]["machine"], "-nographic", "-semihosting", "-kernel", elf],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    out = proc.stdout.split()
    assert proc.returncode == 0 and out[:2] == ["ok", "900"], (proc.returncode, proc.stdout, proc.stderr)
    if board == "mps2-an386":  # the M4's packed path and its int8 fallback both ran; its activations are exact
        assert out[2] == "packed" and 300 <= int(out[3]) <= 800, proc.stdout
        assert out[4:] == ["act_differences", "0"], proc.stdout
    else:
        assert len(out) == 2, proc.stdout
