"""The int8 LSTM state fix (tfdistil/edge/convert/lstm_state.py), tested on what it writes and on what
LiteRT and TFLM then answer.

A tiny BiLSTM is given gate biases that make its cell state grow with every step (forget gate
open, input gate open): the converter's constant cell range (±0.5) then clips the state, the
fixed model follows Keras, and at a longer length the cell outgrows the ±64 the integer kernels
can hold and `convert` says so.
"""
import shutil

import numpy as np
import pytest

from tfdistil.edge.host.evaluate import _feeds
from tfdistil.edge.convert.export import convert
from tfdistil.edge.convert.lstm_state import CELL_SCALE_POWERS, LSTM_LAYERS, lstm_cell_state_max, lstm_state_scales

N = 24


@pytest.fixture(scope="module")
def growing_cell_run(tiny_run, tmp_path_factory):
    """A copy of the tiny BiLSTM run whose cells grow by ~0.3 per step."""
    from tfdistil.training.fit import load_run
    run = str(tmp_path_factory.mktemp("lstm") / "growing")
    shutil.copytree(tiny_run["bilstm"], run)
    cfg, _, student = load_run(run)
    units = cfg.hidden
    for name in LSTM_LAYERS:
        layer = student.get_layer(name)
        kernel, recurrent, bias = layer.get_weights()
        bias[:units] += 5.0                # input gate open
        bias[units:2 * units] += 8.0       # forget gate open: the cell accumulates
        bias[2 * units:3 * units] = 0.3    # candidate: ~tanh(0.3) added per step
        layer.set_weights([kernel, recurrent * 0.1, bias])
    student.save_weights(f"{run}/model.weights.h5")
    return run, student


def outputs(model_path, ids):
    """(LiteRT, TFLM) float outputs of a flatbuffer for every row of ids."""
    import tflite_micro
    from ai_edge_litert.interpreter import Interpreter
    model_bytes = open(model_path, "rb").read()
    lite = Interpreter(model_content=model_bytes)
    lite.allocate_tensors()
    names = [d["name"] for d in lite.get_input_details()]
    micro = tflite_micro.runtime.Interpreter.from_bytes(model_bytes, arena_size=4 * 1024 * 1024)
    lo, mo = [], []
    for i in range(len(ids)):
        feeds = _feeds(names, ids[i:i + 1])
        for d, x in zip(lite.get_input_details(), feeds):
            lite.set_tensor(d["index"], x)
        lite.reset_all_variables()
        lite.invoke()
        lo.append(lite.get_tensor(lite.get_output_details()[0]["index"])[0])
        for k, x in enumerate(feeds):
            micro.set_input(x, k)
        micro.reset()
        micro.invoke()
        mo.append(np.asarray(micro.get_output(0))[0])
    return np.array(lo), np.array(mo)


def keras_outputs(student, ids):
    from tfdistil.students.builders import model_inputs
    return np.asarray(student(model_inputs("bilstm", ids), training=False))


def test_fix_writes_per_layer_power_of_two_cell_scales_and_runtimes_follow_keras(growing_cell_run, data_dir, tmp_path):
    from tfdistil.data.splits import load_split
    from tfdistil.data.vocab import Vocab
    run, student = growing_cell_run
    fixed = convert(run, "int8", out=str(tmp_path / "fixed.tflite"), data=data_dir, calibration_size=100,
                    warn=lambda m: None)
    nofix = convert(run, "int8", out=str(tmp_path / "nofix.tflite"), data=data_dir, calibration_size=100,
                    fix_lstm_states=False, warn=lambda m: None)
    states = fixed["lstm_states"]
    assert set(states) == set(LSTM_LAYERS) and nofix["lstm_states"] is None
    for name, s in states.items():
        assert 5 < s["cell_max"] < 64, s  # grew well past the converter's ±0.5, within the kernels' ±64
        power = np.log2(s["cell_scale"])
        assert power == int(power) and CELL_SCALE_POWERS[0] <= power <= CELL_SCALE_POWERS[1]
        assert s["cell_scale"] * 32767 >= s["cell_max"] > s["cell_scale"] * 32767 / 2  # the smallest that holds it
        assert not s["clipped"]
    fixed_scales = lstm_state_scales(open(fixed["path"], "rb").read())
    nofix_scales = lstm_state_scales(open(nofix["path"], "rb").read())
    assert sorted(c for _, c in fixed_scales) == sorted(s["cell_scale"] for s in states.values())
    assert nofix_scales != fixed_scales  # the converter's constant ranges, replaced by the fix
    vocab = Vocab.load(f"{run}/vocab.json")
    ids = vocab.encode_batch(load_split(data_dir, "dev", N).sentences, 64)
    keras = keras_outputs(student, ids)
    fl, fm = outputs(fixed["path"], ids)
    nl, nm = outputs(nofix["path"], ids)
    tol = 0.1 * max(1.0, float(np.abs(keras).max()))
    assert np.abs(fl - keras).max() < tol and np.abs(fm - keras).max() < tol, (np.abs(fl - keras).max(), tol)
    # Without the fix the converter's constant ranges clip the states: LiteRT misses Keras by far
    # more, TFLM (which reads the cell scale but not the hidden one) by clearly more.
    assert np.abs(nl - keras).max() > 3 * np.abs(fl - keras).max()
    assert np.abs(nm - keras).max() > 1.5 * np.abs(fm - keras).max()


def test_cell_outgrowing_the_kernels_range_is_capped_and_reported(growing_cell_run, data_dir, tmp_path):
    """At L = 256 the cell passes ±64: the scale stays at the coarsest the kernels run (2^-9;
    LiteRT's integer tanh has no code for coarser and answers the same for every sentence) and
    `convert` warns."""
    run, student = growing_cell_run
    warnings = []
    r = convert(run, "int8", max_len=256, out=str(tmp_path / "long.tflite"), data=data_dir, calibration_size=50,
                warn=warnings.append)
    assert any(s["clipped"] and s["cell_max"] > 64 for s in r["lstm_states"].values()), r["lstm_states"]
    assert all(s["cell_scale"] == 2.0 ** CELL_SCALE_POWERS[1] for s in r["lstm_states"].values() if s["clipped"])
    assert len(warnings) == 1 and "clipped" in warnings[0] and "--max-len" in warnings[0]


def test_replay_is_per_layer(growing_cell_run, data_dir):
    """The backward layer reads reversed sentences: its peak differs from the forward one's once
    their weights differ."""
    from tfdistil.data.splits import load_split
    from tfdistil.data.vocab import Vocab
    run, student = growing_cell_run
    layer = student.get_layer("lstm_bwd")
    kernel, recurrent, bias = layer.get_weights()
    units = recurrent.shape[0]
    bias[2 * units:3 * units] = 0.1
    layer.set_weights([kernel, recurrent, bias])
    ids = Vocab.load(f"{run}/vocab.json").encode_batch(load_split(data_dir, "dev", 8).sentences, 64)
    peaks = lstm_cell_state_max(student, ids)
    assert peaks["lstm_fwd"] > 2 * peaks["lstm_bwd"] > 0
