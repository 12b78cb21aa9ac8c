"""Rewrite an existing int8 attention flatbuffer so that every runtime can run it.

Students converted before the attention was made DIV-free renormalised the masked
softmax, `alpha = softmax(s) * mask / (sum(softmax(s) * mask) + 1e-9)`, which lowers
to an int8 DIV. tflite-runtime 2.14 (the last release, what a Raspberry Pi OS
Python 3.11 gets) has no int8 DIV kernel: "Div only supports FLOAT32, INT32 and
quantized UINT8". The renormalisation is nearly the identity — padding sits 20
below the real scores before the softmax, so the masked weights already sum to
1 within int8 rounding — and `students/builders.py` no longer has it.

This rewrite makes old flatbuffers match the new graph without retraining: the
MUL that masks the softmax writes straight into the tensor the DIV wrote (int8
MUL takes any output scale, so the DIV's output quantization is kept), the DIV
goes, and then every op whose outputs nothing reads (the SUM and ADD that fed the
DIV). The result is re-measured like any other model; it is not assumed equal.
"""
from tfdistil.errors import UserError


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema
    return schema


def _op_name(model, op):
    schema = _schema()
    code = model.operatorCodes[op.opcodeIndex]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}[builtin]


def remove_dead_ops(graph):
    """Drop ops none of whose outputs is read by another op or is a graph output (repeat until none)."""
    removed = 0
    while True:
        read = {t for op in graph.operators for t in (op.inputs if op.inputs is not None else [])}
        read |= set(graph.outputs)
        keep = [op for op in graph.operators if any(t in read for t in op.outputs)]
        if len(keep) == len(graph.operators):
            return removed
        removed += len(graph.operators) - len(keep)
        graph.operators = keep


def drop_attention_renormalisation(model_bytes):
    """(new flatbuffer bytes, number of DIVs removed) for an int8 attention student."""
    import flatbuffers
    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(model_bytes, 0)
    divs = 0
    for graph in model.subgraphs:
        producer = {t: op for op in graph.operators for t in op.outputs}
        for op in list(graph.operators):
            if _op_name(model, op) != "DIV":
                continue
            numerator = producer.get(op.inputs[0])
            if numerator is None or _op_name(model, numerator) != "MUL":
                raise UserError("DIV is not the attention renormalisation (its numerator is not a MUL); "
                                "not rewriting an unknown graph")
            numerator.outputs = [op.outputs[0]]
            graph.operators = [o for o in graph.operators if o is not op]
            divs += 1
        remove_dead_ops(graph)
    builder = flatbuffers.Builder(len(model_bytes) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), divs


def reorder_embedding_rows(model_bytes, order):
    """The flatbuffer with its word-embedding rows renumbered: new id 2 + k is old id `order[k]`
    (ids 0 and 1, padding and <unk>, stay). The firmware's fingerprint-ranks word table stores
    only the sorted word hashes and takes a word's rank as its id, which saves an id per word
    in flash; the rows follow the ranks instead. Only bytes move: scale and zero point are
    per tensor (asserted), so every lookup returns the same int8 row as before."""
    import flatbuffers
    import numpy as np
    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(model_bytes, 0)
    graph = model.subgraphs[0]
    token_ids = [t for t in graph.inputs if b"token_ids" in (graph.tensors[t].name or b"")]
    gathers = [op for op in graph.operators if _op_name(model, op) == "GATHER" and token_ids
               and int(op.inputs[1]) == token_ids[0]]
    if len(gathers) != 1:
        raise UserError("no single embedding lookup of token_ids in this model; cannot reorder its rows")
    table = graph.tensors[int(gathers[0].inputs[0])]
    data = model.buffers[table.buffer].data
    rows = int(table.shape[0])
    if data is None or len(table.shape) != 2 or rows != len(order) + 2 or sorted(order) != list(range(2, rows)):
        raise UserError(f"the embedding has {rows} rows; the word order names {len(order)} words + 2")
    q = table.quantization
    if q is not None and q.scale is not None and len(q.scale) > 1:
        raise UserError("the embedding is quantized per row; reordering its rows would need its scales too")
    matrix = np.asarray(data, np.uint8).reshape(rows, -1)
    model.buffers[table.buffer].data = np.concatenate([matrix[:2], matrix[np.asarray(order)]]).reshape(-1)
    builder = flatbuffers.Builder(len(model_bytes) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


# The attention masks padding by adding a penalty (-20) to a padded position's score before the
# int8 SOFTMAX. A padded position then gets weight exactly 0, and leaves the real weights as they
# are, only while every padded input sits far enough below the largest real one. From the int8
# ranges alone: the largest real score is at least the score tensor's lowest value, a padded one at
# most max(highest score - penalty, lowest value of the ADD's output). GAP_FOR_EXACT: a padded
# weight below 1/512 rounds to int8 zero (ln 512 = 6.2), and up to 63 of them change the
# softmax's sum by less than one int8 step of a real weight (ln(63 * 512) = 10.4).
GAP_FOR_EXACT = 10.4


def _real_range(tensor):
    q = tensor.quantization
    scale, zero = float(q.scale[0]), int(q.zeroPoint[0])
    return scale * (-128 - zero), scale * (127 - zero)


def attention_padding(model_bytes):
    """None for a model without the masked attention; else {score_range, penalty, add_low, gap,
    exact, softmax_output} from the int8 quantization of the ADD that feeds the SOFTMAX (see above).
    `exact` is a guarantee from the ranges alone; a False says only that they do not guarantee it."""
    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(model_bytes, 0)
    graph = model.subgraphs[0]
    producer = {int(t): op for op in graph.operators for t in op.outputs}
    for op in graph.operators:
        if _op_name(model, op) != "SOFTMAX":
            continue
        add = producer.get(int(op.inputs[0]))
        if add is None or _op_name(model, add) != "ADD":
            continue
        kinds = [_op_name(model, producer[int(t)]) if int(t) in producer else None for t in add.inputs]
        if kinds.count("MUL") != 1 or graph.tensors[int(op.inputs[0])].type != schema.TensorType.INT8:
            continue
        mask_t = int(add.inputs[kinds.index("MUL")])
        score_t = int(add.inputs[1 - kinds.index("MUL")])
        lo_s, hi_s = _real_range(graph.tensors[score_t])
        lo_m, _ = _real_range(graph.tensors[mask_t])
        lo_a, _ = _real_range(graph.tensors[int(add.outputs[0])])
        mask = graph.tensors[mask_t].quantization
        # the penalty: the mask branch's value at a padded position, as its int8 range holds it
        penalty = -max(lo_m, -20.0)
        padded_high = max(hi_s - penalty, lo_a)
        gap = lo_s - padded_high
        return {"score_range": [round(lo_s, 4), round(hi_s, 4)], "penalty": round(penalty, 4),
                "add_low": round(lo_a, 4), "gap": round(gap, 4), "exact": gap >= GAP_FOR_EXACT,
                "gap_needed": GAP_FOR_EXACT, "softmax_output": int(op.outputs[0]), "mask_scale": float(mask.scale[0])}
    return None


def padding_warning(bound):
    """The line `convert` prints when an int8 attention's ranges do not guarantee exact padding."""
    if not bound or bound["exact"]:
        return None
    return (f"warning: int8 attention scores span {bound['score_range'][0]:.1f} .. {bound['score_range'][1]:.1f}; "
            f"padding sits only {bound['gap']:.1f} below the lowest real score (exact needs "
            f"{bound['gap_needed']}), so padded positions may take weight and a label can differ from the "
            "unpadded model (check with experiments/firmware/firmware_attention_padding.py)")
