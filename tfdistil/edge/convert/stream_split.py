"""Split an LSTM student's flatbuffer into a per-token step model and a head, so a
microcontroller's work follows the sentence instead of the padded length.

TFLite Micro has fixed shapes: a flatbuffer built for 64 tokens runs 64 LSTM steps per
direction whatever the sentence (an SST-2 test sentence has ~22 tokens). But the fused
LSTM keeps its hidden and cell state in *variable* tensors that persist between
`Invoke()` calls until `Reset()`, so the same LSTM op with a time axis of 1, invoked once
per token, computes exactly the steps of the 64-step op. Hence two flatbuffers cut from
the converted model, sharing no weights (so together they are the size of the original):

- `step`: inputs token_fwd [1,1] and token_bwd [1,1] (the sentence's t-th and (n-1-t)-th
  tokens) -> embedding GATHER -> forward LSTM / backward LSTM, one step each -> outputs
  h_fwd [1,1,H], h_bwd [1,1,H] (the backward output of step t is position t of the
  backward LSTM's reversed-order sequence, as in the full graph);
- `head` at length Lh: inputs lstm_fwd [1,Lh,H], lstm_bwd_reversed [1,Lh,H] and the original
  inputs it reads (reverse_index, and token_ids for the attention mask) -> the rest of the
  graph, unchanged. The attention head costs as much per position as a good part of an LSTM
  step, so several heads (e.g. 16/32/64) are cut and the runner takes the shortest that holds
  the sentence; the BiLSTM's head reads only the last states and needs one.

Nothing is re-quantized: every kept tensor keeps its scale, zero point and bytes, so a step
computes what the 64-step op computes at that step. Positions past the sentence are filled
with the quantized zero; they are masked (attention) or never read (BiLSTM).
"""
import copy

import numpy as np

from tfdistil.errors import UserError

STEP_INPUTS = ("token_fwd", "token_bwd")
HEAD_INPUTS = ("lstm_fwd", "lstm_bwd_reversed")


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema
    return schema


def _op_names(model):
    schema = _schema()
    by_code = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    return [by_code[max(c.builtinCode, c.deprecatedBuiltinCode)] for c in model.operatorCodes]


def _pack(model):
    import flatbuffers
    builder = flatbuffers.Builder(1 << 20)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _extract(model, ops, inputs, outputs, new_tensors=(), description=""):
    """A one-subgraph model holding `ops` (OperatorT, tensor indices into the source graph or
    into `new_tensors` as len(source tensors) + k), with only the tensors, buffers and
    operator codes they use."""
    schema = _schema()
    graph = model.subgraphs[0]
    pool = list(graph.tensors) + list(new_tensors)
    used = []
    for op in ops:
        for t in list(op.inputs) + list(op.outputs) + list(op.intermediates if op.intermediates is not None else []):
            if t >= 0 and t not in used:
                used.append(t)
    for t in list(inputs) + list(outputs):
        if t not in used:
            used.append(t)
    remap = {t: i for i, t in enumerate(used)}
    out = schema.ModelT()
    out.version = model.version
    out.description = description.encode()
    out.buffers = [schema.BufferT()]  # buffer 0: the empty sentinel every tensor without data uses
    codes, code_index = [], {}
    tensors = []
    for t in used:
        tensor = copy.deepcopy(pool[t])
        data = model.buffers[tensor.buffer].data if tensor.buffer < len(model.buffers) else None
        if data is not None and len(data):
            buf = schema.BufferT()
            buf.data = data
            out.buffers.append(buf)
            tensor.buffer = len(out.buffers) - 1
        else:
            tensor.buffer = 0
        tensors.append(tensor)
    new_ops = []
    for op in ops:
        op = copy.deepcopy(op)
        if op.opcodeIndex not in code_index:
            code_index[op.opcodeIndex] = len(codes)
            codes.append(copy.deepcopy(model.operatorCodes[op.opcodeIndex]))
        op.opcodeIndex = code_index[op.opcodeIndex]
        op.inputs = np.array([remap[t] if t >= 0 else -1 for t in op.inputs], np.int32)
        op.outputs = np.array([remap[t] for t in op.outputs], np.int32)
        if op.intermediates is not None:
            op.intermediates = np.array([remap[t] for t in op.intermediates], np.int32)
        new_ops.append(op)
    # names only where the runners look (inputs and outputs): the rest is flash for nothing
    keep = {remap[t] for t in list(inputs) + list(outputs)}
    for i, tensor in enumerate(tensors):
        if i not in keep:
            tensor.name = b""
    sub = schema.SubGraphT()
    sub.tensors, sub.operators = tensors, new_ops
    sub.inputs = np.array([remap[t] for t in inputs], np.int32)
    sub.outputs = np.array([remap[t] for t in outputs], np.int32)
    sub.name = b"main"
    out.subgraphs, out.operatorCodes = [sub], codes
    return _pack(out)


def _producers(graph):
    return {int(t): i for i, op in enumerate(graph.operators) for t in op.outputs}


def _with_shape(tensor, shape, name=None):
    t = copy.deepcopy(tensor)
    t.shape = np.array(shape, np.int32)
    t.shapeSignature = None
    if name:
        t.name = name.encode()
    t.isVariable = False
    return t


def analyse(model_bytes):
    """The pieces of an LSTM student's graph: {lstm_fwd, lstm_bwd (op indices), embedding_gather,
    token_ids, reverse_index (tensor indices), max_len, hidden}. One UserError if it is not one."""
    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(model_bytes, 0)
    if len(model.subgraphs) != 1:
        raise UserError("streaming split: expected a one-subgraph model")
    graph = model.subgraphs[0]
    names = _op_names(model)
    kinds = [names[op.opcodeIndex] for op in graph.operators]
    lstms = [i for i, k in enumerate(kinds) if k == "UNIDIRECTIONAL_SEQUENCE_LSTM"]
    if len(lstms) != 2:
        raise UserError("streaming split: only the bilstm and bilstm_attn students (two LSTM ops) can be split")
    by_name = {graph.tensors[t].name.decode(): int(t) for t in graph.inputs}
    token_ids = next((t for n, t in by_name.items() if "token_ids" in n), None)
    reverse_index = next((t for n, t in by_name.items() if "reverse_index" in n), None)
    if token_ids is None or reverse_index is None:
        raise UserError("streaming split: the model has no token_ids/reverse_index inputs")
    producers = _producers(graph)
    gathers = [i for i, k in enumerate(kinds) if k == "GATHER" and int(graph.operators[i].inputs[1]) == token_ids]
    if len(gathers) != 1:
        raise UserError("streaming split: no embedding lookup of token_ids found")
    emb_out = int(graph.operators[gathers[0]].outputs[0])
    fwd = [i for i in lstms if int(graph.operators[i].inputs[0]) == emb_out]
    if len(fwd) != 1:
        raise UserError("streaming split: the forward LSTM does not read the embeddings directly")
    bwd = [i for i in lstms if i != fwd[0]][0]
    if int(graph.operators[bwd].inputs[0]) not in producers:
        raise UserError("streaming split: the backward LSTM's input is not computed in the graph")
    if graph.tensors[int(graph.operators[fwd[0]].outputs[0])].type != _schema().TensorType.INT8:
        raise UserError("streaming split: only int8 models (the per-token firmware copies int8 LSTM outputs)")
    max_len = int(graph.tensors[token_ids].shape[1])
    hidden = int(graph.tensors[int(graph.operators[fwd[0]].outputs[0])].shape[-1])
    return model, {"lstm_fwd": fwd[0], "lstm_bwd": bwd, "embedding_gather": gathers[0], "token_ids": token_ids,
                   "reverse_index": reverse_index, "max_len": max_len, "hidden": hidden}


def step_model(model_bytes):
    """The per-token step flatbuffer (see the module doc)."""
    model, a = analyse(model_bytes)
    graph = model.subgraphs[0]
    n = len(graph.tensors)
    gather = graph.operators[a["embedding_gather"]]
    f_op, b_op = graph.operators[a["lstm_fwd"]], graph.operators[a["lstm_bwd"]]
    emb = graph.tensors[int(gather.outputs[0])]
    emb_b_src = graph.tensors[int(b_op.inputs[0])]
    E = int(emb.shape[-1])
    new = [_with_shape(graph.tensors[a["token_ids"]], [1, 1], STEP_INPUTS[0]),
           _with_shape(graph.tensors[a["token_ids"]], [1, 1], STEP_INPUTS[1]),
           _with_shape(emb, [1, 1, E], "embedding_fwd"),
           _with_shape(emb_b_src, [1, 1, E], "embedding_bwd"),
           _with_shape(graph.tensors[int(f_op.outputs[0])], [1, 1, a["hidden"]], "h_fwd"),
           _with_shape(graph.tensors[int(b_op.outputs[0])], [1, 1, a["hidden"]], "h_bwd")]
    tok_f, tok_b, emb_f, emb_b, h_f, h_b = range(n, n + 6)
    g_f, g_b = copy.deepcopy(gather), copy.deepcopy(gather)
    g_f.inputs = np.array([gather.inputs[0], tok_f], np.int32)
    g_f.outputs = np.array([emb_f], np.int32)
    g_b.inputs = np.array([gather.inputs[0], tok_b], np.int32)
    g_b.outputs = np.array([emb_b], np.int32)
    l_f, l_b = copy.deepcopy(f_op), copy.deepcopy(b_op)
    l_f.inputs = np.array([emb_f] + list(f_op.inputs[1:]), np.int32)
    l_f.outputs = np.array([h_f], np.int32)
    l_b.inputs = np.array([emb_b] + list(b_op.inputs[1:]), np.int32)
    l_b.outputs = np.array([h_b], np.int32)
    return _extract(model, [g_f, g_b, l_f, l_b], [tok_f, tok_b], [h_f, h_b], new,
                    "tfdistil streaming step: one token per direction per Invoke(); Reset() between sentences")


def _first_axis_with(shape, value):
    for k, d in enumerate(shape):
        if int(d) == value:
            return k
    return None


def head_model(model_bytes, length=None):
    """The head flatbuffer at `length` positions (default: the model's own)."""
    model, a = analyse(model_bytes)
    graph = model.subgraphs[0]
    L = a["max_len"]
    length = length or L
    if not 1 <= length <= L:
        raise UserError(f"head length {length} must be between 1 and the model's length {L}")
    f_out = int(graph.operators[a["lstm_fwd"]].outputs[0])
    b_out = int(graph.operators[a["lstm_bwd"]].outputs[0])
    producers = _producers(graph)
    # every op the output needs, walking back from it and stopping at the LSTM outputs
    needed, stack, seen_inputs = set(), [int(t) for t in graph.outputs], []
    while stack:
        t = stack.pop()
        if t in (f_out, b_out) or t < 0:
            continue
        if t in producers:
            i = producers[t]
            if i not in needed:
                needed.add(i)
                stack.extend(int(x) for x in graph.operators[i].inputs)
        elif t in (a["token_ids"], a["reverse_index"]) and t not in seen_inputs:
            seen_inputs.append(t)
    if a["lstm_fwd"] in needed or a["lstm_bwd"] in needed:
        raise UserError("streaming split: the head depends on the LSTMs' inputs")
    ops = [copy.deepcopy(graph.operators[i]) for i in sorted(needed)]
    inputs = [f_out, b_out] + sorted(seen_inputs, key=lambda t: graph.tensors[t].name)
    for t, name in zip((f_out, b_out), HEAD_INPUTS):
        graph.tensors[t].name = name.encode()
    outputs = [int(t) for t in graph.outputs]
    description = f"tfdistil streaming head over {length} positions"
    if length == L:
        return _extract(model, ops, inputs, outputs, description=description)
    _shorten_constants(model, graph, ops, L, length)
    head = _extract(model, ops, inputs, outputs, description=description)
    return _with_inferred_shapes(head, length)


def _shorten_constants(model, graph, ops, L, length):
    """Time axis L -> length in the shape vectors of RESHAPE and the begin/end vectors of
    STRIDED_SLICE. The time axis of the students' [1, L, ...] tensors is axis 1."""
    names = _op_names(model)
    touched = set()
    for op in ops:
        kind = names[op.opcodeIndex]
        for pos, t in enumerate(op.inputs):
            t = int(t)
            if t < 0 or t in touched:
                continue
            tensor = graph.tensors[t]
            data = model.buffers[tensor.buffer].data
            if data is not None and len(data) and tensor.type == 2 and len(tensor.shape) == 1 and (
                    (kind == "RESHAPE" and pos == 1) or (kind == "STRIDED_SLICE" and pos in (1, 2))):
                values = np.asarray(data, np.uint8).view(np.int32).copy()
                if len(values) >= 2 and values[1] == L:
                    values[1] = length
                    model.buffers[tensor.buffer].data = values.view(np.uint8)
                touched.add(t)
        if kind == "RESHAPE" and op.builtinOptions is not None and getattr(op.builtinOptions, "newShape", None) is not None:
            shape = np.asarray(op.builtinOptions.newShape, np.int32).copy()
            if len(shape) >= 2 and shape[1] == L:
                shape[1] = length
                op.builtinOptions.newShape = shape


def _with_inferred_shapes(head_bytes, length):
    """The head with every tensor's shape as LiteRT infers it from inputs of `length` positions
    (a feature axis may have the same size as the time axis, so shapes are not guessed)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    # no XNNPACK: its delegated nodes would keep their old output shapes in the tensor details
    it = Interpreter(model_content=head_bytes,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    for d in it.get_input_details():
        shape = list(d["shape"])
        shape[1] = length
        it.resize_tensor_input(d["index"], shape, strict=False)
    it.allocate_tensors()
    inferred = {d["index"]: list(d["shape"]) for d in it.get_tensor_details()}
    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(head_bytes, 0)
    for i, tensor in enumerate(model.subgraphs[0].tensors):
        data = model.buffers[tensor.buffer].data
        if (data is None or not len(data)) and i in inferred and tensor.shape is not None:
            tensor.shape = np.array(inferred[i], np.int32)
            tensor.shapeSignature = None
    return _pack(model)


def split(model_bytes, head_lengths=None):
    """{"step": bytes, "heads": {length: bytes}, "max_len", "hidden"}: the streaming form of a model."""
    _, a = analyse(model_bytes)
    L = a["max_len"]
    lengths = sorted(set(head_lengths or [L]) | {L})
    return {"step": step_model(model_bytes), "heads": {n: head_model(model_bytes, n) for n in lengths},
            "max_len": L, "hidden": a["hidden"]}


def pick_head(head_lengths, n_tokens):
    """The shortest head that holds the sentence (the firmware's rule too)."""
    return next(L for L in sorted(head_lengths) if L >= max(n_tokens, 1))


class PerTokenTFLM:
    """The split form run in the host TFLM interpreter exactly as the per-token firmware runs it:
    Reset(), one step Invoke() per token, then the shortest head that holds the sentence."""

    def __init__(self, parts, preserve_all_tensors=False):
        from ai_edge_litert.interpreter import Interpreter
        from tflite_micro.python.tflite_micro import runtime
        config = runtime.InterpreterConfig.kPreserveAllTensors if preserve_all_tensors else \
            runtime.InterpreterConfig.kAllocationRecording
        self.step = runtime.Interpreter.from_bytes(parts["step"], arena_size=1 << 20)
        step_outputs = Interpreter(model_content=parts["step"]).get_output_details()
        self.zero_points = [int(d["quantization"][1]) for d in step_outputs]
        self.hidden = int(step_outputs[0]["shape"][-1])
        self.heads, self.head_names, self.raw_index = {}, {}, {}
        for n, b in parts["heads"].items():
            self.heads[n] = runtime.Interpreter.from_bytes(b, arena_size=1 << 20, intrepreter_config=config)
            lite = Interpreter(model_content=b)
            self.head_names[n] = [d["name"] for d in lite.get_input_details()]
            out = lite.get_output_details()[0]["index"]
            producer = next((op for op in lite._get_ops_details() if out in op["outputs"]), None)
            self.raw_index[n] = int(producer["inputs"][0]) if producer and producer["op_name"] == "DEQUANTIZE" else None

    def __call__(self, token_ids, with_raw=False):
        """float32 logits for one right-padded row [1, L] (and the int8 logits if asked)."""
        row = np.asarray(token_ids, np.int32).reshape(-1)
        n = int((row != 0).sum())
        L = pick_head(self.heads, n)
        H = self.hidden
        fwd = np.full((1, L, H), self.zero_points[0], np.int8)
        bwd = np.full((1, L, H), self.zero_points[1], np.int8)
        self.step.reset()
        steps = max(n, 1)  # an empty sentence: the full model's answer is its first (padding) step
        for t in range(steps):
            self.step.set_input(row[t:t + 1].reshape(1, 1), 0)
            self.step.set_input(row[steps - 1 - t:steps - t].reshape(1, 1), 1)
            self.step.invoke()
            fwd[0, t] = np.asarray(self.step.get_output(0)).reshape(-1)
            bwd[0, t] = np.asarray(self.step.get_output(1)).reshape(-1)
        rev = np.array([[n - 1 - t if t < n else t for t in range(L)]], np.int32)
        feeds = {HEAD_INPUTS[0]: fwd, HEAD_INPUTS[1]: bwd, "reverse_index": rev, "token_ids": row[None, :L].copy()}
        head = self.heads[L]
        for k, name in enumerate(self.head_names[L]):
            head.set_input(feeds[next(key for key in feeds if key in name)], k)
        head.invoke()
        logits = np.asarray(head.get_output(0))[0].astype(np.float32)
        if not with_raw:
            return logits
        raw = None
        if self.raw_index[L] is not None:
            raw = np.asarray(head.GetTensor(self.raw_index[L], 0)["tensor_data"]).reshape(-1).astype(int)
        return logits, raw
