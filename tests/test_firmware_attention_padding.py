"""The int8 attention's padding bound (graph_rewrite.attention_padding): what `convert` records in
the manifest and warns about when the score range leaves padding too close to the real scores."""
import os

from conftest import ROOT
from tfdistil.edge.convert.graph_rewrite import GAP_FOR_EXACT, attention_padding, padding_warning

MODELS = os.path.join(ROOT, "results", "models")


def _model(name):
    with open(os.path.join(MODELS, name, "bilstm_attn_int8_L64.tflite"), "rb") as f:
        return f.read()


def test_committed_models_on_both_sides_of_the_bound():
    narrow = attention_padding(_model("mcu-attn-e20h32a16-v8800-sw"))
    wide = attention_padding(_model("mcu-bilstm_attn-distill-v2500"))
    assert narrow["exact"] and narrow["gap"] >= GAP_FOR_EXACT and padding_warning(narrow) is None
    assert not wide["exact"] and wide["score_range"][1] - wide["score_range"][0] > 17  # the review's 17.8-wide range
    assert padding_warning(wide).startswith("warning: int8 attention scores span")


def test_a_widened_score_range_breaks_the_bound():
    data = _model("mcu-attn-e20h32a16-v8800-sw")
    bound = attention_padding(data)
    assert bound["exact"] == (bound["gap"] >= GAP_FOR_EXACT) and bound["penalty"] > 0
    # the same graph with the score tensor's int8 range 20 wide: the bound must say it is not exact
    import flatbuffers
    import numpy as np
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema
    model = schema.ModelT.InitFromPackedBuf(data, 0)
    graph = model.subgraphs[0]
    by_output = {int(t): op for op in graph.operators for t in op.outputs}
    add = by_output[int(next(op for op in graph.operators if op.opcodeIndex == next(
        i for i, c in enumerate(model.operatorCodes) if max(c.builtinCode, c.deprecatedBuiltinCode) == 25)).inputs[0])]
    for t in add.inputs:  # the score: the ADD input that no MUL wrote
        op = by_output[int(t)]
        code = model.operatorCodes[op.opcodeIndex]
        if max(code.builtinCode, code.deprecatedBuiltinCode) != 18:
            graph.tensors[int(t)].quantization.scale = np.array([20 / 255], np.float32)
    builder = flatbuffers.Builder(1 << 20)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    widened = attention_padding(bytes(builder.Output()))
    assert widened["gap"] < bound["gap"] and not widened["exact"] and padding_warning(widened)
