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
