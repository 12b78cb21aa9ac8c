"""Real quantization parameters for the int8 LSTMs' state tensors.

The TF 2.21 converter quantizes the tf_keras LSTM's zero initial states as constants, so the
hidden state gets a scale for ~±0.15 and the int16 cell state 2^-16 (±0.5). Both integer kernels
read them: LiteRT's clips every state and the model answers at chance; TFLM's loses less but
still disagrees with Keras on 2.7-7.1 % of SST-2 test sentences (results/logs/evaltflite-nofix-*:
TFLM 85.17 % for BiLSTM-Attn, 86.11 % for BiLSTM; LiteRT 49.92 % and 81.55 %; with the fix
85.23 % and 86.16 %, Keras 85.45 % and 86.16 %).

The fix: the hidden state is the op's output, so it (and the effective-hidden intermediate
LiteRT requantizes through) takes the output's parameters. The cell state takes, per LSTM
layer, the smallest power-of-two scale that holds the largest |cell| that layer reaches on the
calibration sentences, replayed in numpy at the export length (padding steps included). The
integer kernels want a power of two between 2^-15 (finer: LiteRT's kernel collapses) and 2^-9
(coarser: LiteRT refuses the model); a layer whose cell outgrows ±64 (2^-9 · 32767) is clipped
there, and `convert` says so.
"""
import math

import numpy as np

from tfdistil.errors import UserError

CELL_SCALE_POWERS = (-15, -9)  # allowed log2(cell scale), finest to coarsest
LSTM_LAYERS = ("lstm_fwd", "lstm_bwd")
# UNIDIRECTIONAL_SEQUENCE_LSTM inputs: 1 = input_to_input weights, 16/17 = projection
# weights/bias, 18/19 = hidden/cell state.
INPUT_TO_INPUT, PROJECTION_WEIGHTS, PROJECTION_BIAS, HIDDEN_STATE, CELL_STATE = 1, 16, 17, 18, 19


def lstm_cell_state_max(student, token_ids):
    """{layer name: largest |cell state| it reaches on `token_ids`} from a numpy replay of the
    Keras LSTM equations (gate order i, f, c, o); the backward layer reads reversed sentences."""
    from tfdistil.students.builders import reverse_index
    emb = student.get_layer("embedding").get_weights()[0]
    peaks = {}
    sigmoid = lambda v: 1.0 / (1.0 + np.exp(-v))
    for name, ids in (("lstm_fwd", token_ids), ("lstm_bwd", np.take_along_axis(token_ids, reverse_index(token_ids), 1))):
        kernel, recurrent, bias = student.get_layer(name).get_weights()
        x = emb[ids]  # [N, L, E]
        h = np.zeros((len(ids), recurrent.shape[0]), np.float32)
        c = np.zeros_like(h)
        peak = 0.0
        for t in range(ids.shape[1]):
            i, f, g, o = np.split(x[:, t] @ kernel + h @ recurrent + bias, 4, axis=1)
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h = sigmoid(o) * np.tanh(c)
            peak = max(peak, float(np.abs(c).max()))
        peaks[name] = peak
    return peaks


def cell_scale_power(cell_max):
    """log2 of the cell scale for a layer whose |cell| reaches `cell_max`, and whether it clips."""
    wanted = math.ceil(math.log2(max(cell_max, 1e-3) / 32767.0))
    lo, hi = CELL_SCALE_POWERS
    return min(max(wanted, lo), hi), wanted > hi


def _dequantized(model, graph, index):
    tensor = graph.tensors[index]
    raw = np.asarray(model.buffers[tensor.buffer].data, dtype=np.uint8).view(np.int8)
    q = tensor.quantization
    scale = np.asarray(q.scale, np.float32).reshape(-1, *([1] * (len(tensor.shape) - 1)))
    return raw.reshape(tensor.shape).astype(np.float32) * scale


def _layer_of(model, graph, op, layer_kernels):
    """Which Keras layer an LSTM op came from: the one whose input-gate kernel its int8
    input_to_input weights dequantize to (names in the flatbuffer are generic)."""
    weights = _dequantized(model, graph, op.inputs[INPUT_TO_INPUT])  # [units, E]
    errors = {name: float(np.abs(weights - k[:, :weights.shape[0]].T).max())
              for name, k in layer_kernels.items() if k[:, :weights.shape[0]].T.shape == weights.shape}
    if not errors:
        raise UserError("an int8 LSTM op matches no LSTM layer of the student: cannot set its state scales")
    return min(errors, key=errors.get)


def _lstm_ops(model, schema):
    """(graph, op) of every UNIDIRECTIONAL_SEQUENCE_LSTM in a flatbuffer object model."""
    for graph in model.subgraphs:
        for op in graph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            if max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM:
                yield graph, op


def fix_lstm_state_quantization(model_bytes, cell_state_max, layer_kernels):
    """Flatbuffer bytes with the state tensors' parameters set (see the module doc), and
    {layer: {"cell_max", "cell_scale", "clipped"}} of what was written.

    cell_state_max and layer_kernels are keyed by Keras layer name (lstm_cell_state_max();
    the layers' input kernels [E, 4 * units])."""
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(model_bytes, 0)
    written = {}
    for graph, op in _lstm_ops(model, schema):
        if any(op.inputs[k] >= 0 for k in (PROJECTION_WEIGHTS, PROJECTION_BIAS)):
            raise UserError("LSTM with a projection layer: the int8 state fix supports plain Keras LSTMs only "
                            "(convert with --no-lstm-state-fix to keep the converter's states)")
        out_q = graph.tensors[op.outputs[0]].quantization
        hidden, cell = graph.tensors[op.inputs[HIDDEN_STATE]], graph.tensors[op.inputs[CELL_STATE]]
        if hidden.quantization is None or cell.quantization is None or not hidden.quantization.scale:
            continue  # float model: nothing to fix
        layer = _layer_of(model, graph, op, layer_kernels)
        power, clipped = cell_scale_power(cell_state_max[layer])
        hidden.quantization.scale = list(out_q.scale)
        hidden.quantization.zeroPoint = list(out_q.zeroPoint)
        # The last intermediate is the hidden state before it is written out; LiteRT
        # requantizes through it, so a separately calibrated range clips h.
        if op.intermediates is not None and len(op.intermediates) == 5:
            effective_hidden = graph.tensors[op.intermediates[4]].quantization
            if effective_hidden is not None:
                effective_hidden.scale = list(out_q.scale)
                effective_hidden.zeroPoint = list(out_q.zeroPoint)
        cell.quantization.scale = [2.0 ** power]
        cell.quantization.zeroPoint = [0]
        written[layer] = {"cell_max": round(cell_state_max[layer], 6), "cell_scale": 2.0 ** power,
                          "clipped": clipped}
    builder = flatbuffers.Builder(len(model_bytes) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), written


def lstm_state_scales(model_bytes):
    """[(hidden scale, cell scale)] of every int8 LSTM op, in graph order (for tests and manifests)."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema
    model = schema.ModelT.InitFromPackedBuf(model_bytes, 0)
    scales = []
    for graph, op in _lstm_ops(model, schema):
        h, c = graph.tensors[op.inputs[HIDDEN_STATE]], graph.tensors[op.inputs[CELL_STATE]]
        scales.append((h.quantization.scale[0] if h.quantization and h.quantization.scale else None,
                       c.quantization.scale[0] if c.quantization and c.quantization.scale else None))
    return scales
