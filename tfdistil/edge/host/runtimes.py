"""Which runtimes a converted flatbuffer runs in, found when it is converted.

`convert` runs every new flatbuffer once in LiteRT and in TFLite Micro's reference kernels (the
`tflite-micro` package, in a process of its own because TFLM can crash), so a graph a runtime
cannot run is named with its op at conversion time, not on the device. The firmware builds the
same TFLM kernels for the Cortex-M4 (`tfdistil firmware`), so "cortex-m4" follows "tflm".
tflite-runtime 2.14 (the Raspberry Pi wheel; its own numpy<2 venv, not importable here) is
judged by the ops it is known to lack, and tests/test_runtime_matrix.py runs every student in
every quantization through it, LiteRT and TFLM to keep these claims true.
"""
import os
import re
import subprocess
import sys

RUNTIMES = ("litert", "tflite-runtime", "tflm", "cortex-m4")
PROBE_ARENA_BYTES = 8 * 1024 * 1024
# tflite-runtime 2.14's DIV kernel: "Div only supports FLOAT32, INT32 and quantized UINT8 now".
TFLITE_RUNTIME_214_INT8_MISSING = {"DIV"}
# Newest op versions tflite-runtime 2.14 registers, where the converter can emit newer ones:
# a per-channel hybrid (dynamic-range) FULLY_CONNECTED is version 12 ("Didn't find op for
# builtin opcode 'FULLY_CONNECTED' version '12'"); export.to_tflite asks for per-tensor scales.
TFLITE_RUNTIME_214_MAX_VERSION = {"FULLY_CONNECTED": 11}


def probe_litert(model_bytes, input_names):
    """None if LiteRT allocates and invokes the model on a short sentence, else why not."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter
    try:
        it = Interpreter(model_content=model_bytes)
        if is_dynamic_length(it.get_input_details()):
            for d in it.get_input_details():
                it.resize_tensor_input(d["index"], [1, 3])
        it.allocate_tensors()
        for d, x in zip(it.get_input_details(), probe_inputs(input_names, it.get_input_details()[0]["shape"][1])):
            it.set_tensor(d["index"], x.astype(np.int32))
        it.invoke()
    except (ValueError, RuntimeError) as e:
        return _first_node_error(str(e)) or str(e).strip().splitlines()[0]
    return None


def run_tflm_probe(model_path, arena_bytes, input_names, explain=False):
    """`python -m tfdistil.edge.host.tflm_probe` in its own process (TFLM can crash, not raise). cwd: the
    folder holding the tfdistil package, so `-m` finds it even when not installed; hence the
    absolute model path."""
    from tfdistil.files import REPO as package_parent  # the folder holding tfdistil/
    return subprocess.run([sys.executable, "-m", "tfdistil.edge.host.tflm_probe", os.path.abspath(model_path),
                           str(arena_bytes), ",".join(input_names), *(["explain"] if explain else [])],
                          capture_output=True, text=True, cwd=package_parent)


def run_tflm_search(model_path, lo, hi, step, input_names):
    """Smallest arena in (lo, hi] that runs the model (bisection to `step` bytes), or None when hi
    does not: `tflm_probe search`, one process whose forked children make the tries."""
    from tfdistil.files import REPO as package_parent
    proc = subprocess.run([sys.executable, "-m", "tfdistil.edge.host.tflm_probe", "search", os.path.abspath(model_path),
                           str(lo), str(hi), str(step), ",".join(input_names)],
                          capture_output=True, text=True, cwd=package_parent)
    if proc.returncode == 3:
        return None
    if proc.returncode != 0:
        raise RuntimeError(f"the TFLM arena search failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
    return int(proc.stdout.split()[-1])


def probe_tflm(model_path, input_names):
    """None if TFLM's reference kernels allocate and invoke the model, else the failing op and TFLM's reason."""
    proc = run_tflm_probe(model_path, PROBE_ARENA_BYTES, input_names, explain=True)
    if proc.returncode == 0:
        return None
    return _first_node_error(proc.stderr) or f"TFLM could not run it (exit {proc.returncode})"


def _first_node_error(text):
    """'OP: reason' from a runtime's log ("REASON\\nNode OP (number N) failed to prepare")."""
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    for i, line in enumerate(lines):
        m = re.search(r"Node (?:number \d+ \()?([A-Z_0-9]+)\)? ?(?:\(number \d+\) )?failed to (prepare|invoke)", line)
        if m:
            reason = re.sub(r"^\S+\.cc(:\d+)? ", "", lines[i - 1]) if i else ""
            return f"{m.group(1)}: {reason or 'failed to ' + m.group(2)}"
    return None


def probe_inputs(names, max_len):
    """A three-word sentence (and its reverse index) for each named input, as a runtime's feeds
    (None for any other input: the caller fills it)."""
    import numpy as np
    n = min(3, max_len)
    ids = np.zeros((1, max_len), np.int32)
    ids[0, :n] = np.arange(2, 2 + n)
    rev = np.arange(max_len, dtype=np.int32)[None]
    rev[0, :n] = np.arange(n)[::-1]
    return [rev if "reverse_index" in n else ids if "token_ids" in n else None for n in names]


def feed_probe(it, names):
    """Set a TFLM interpreter's inputs to `probe_inputs`; any other input (a per-token step or
    head input of tfdistil.edge.convert.stream_split, where any values do) is filled with 2s / 0s."""
    import numpy as np
    for i, x in enumerate(probe_inputs(names, int(it.get_input_details(0)["shape"][1]))):
        if x is None:
            d = it.get_input_details(i)
            x = np.full(d["shape"], 2 if d["dtype"] == np.int32 else 0, d["dtype"])
        it.set_input(x, i)


def tflite_runtime_problem(op_facts):
    """Why tflite-runtime 2.14 cannot run a graph, from its (op, input type, version) triples; None if it can."""
    missing = sorted({op for op, dtype, _ in op_facts if op in TFLITE_RUNTIME_214_INT8_MISSING and dtype == "int8"})
    if missing:
        return f"{', '.join(missing)}: tflite-runtime 2.14 has no int8 kernel for it"
    newer = sorted({(op, v) for op, _, v in op_facts if v > TFLITE_RUNTIME_214_MAX_VERSION.get(op, v)})
    if newer:
        op, version = newer[0]
        return (f"{op}: version {version} is newer than tflite-runtime 2.14 knows "
                f"(at most {TFLITE_RUNTIME_214_MAX_VERSION[op]})")
    return None


def op_facts(model_bytes):
    """{(op name, type of its first input, op version)} of a flatbuffer."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    model = schema.ModelT.InitFromPackedBuf(model_bytes, 0)
    pairs = set()
    for graph in model.subgraphs:
        for op in graph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            name = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
            first = op.inputs[0] if op.inputs is not None and len(op.inputs) else -1
            pairs.add((name, types.get(graph.tensors[first].type, "?") if first >= 0 else "-", code.version))
    return pairs


def is_dynamic_length(input_details):
    """True for a flatbuffer whose time axis the runner resizes per sentence (`convert --dynamic-length`)."""
    sig = input_details[0].get("shape_signature")
    return sig is not None and len(sig) > 1 and int(sig[1]) == -1


NO_RESIZING = ("dynamic length: TFLite Micro plans every tensor once and cannot resize inputs; "
               "convert without --dynamic-length for a microcontroller")


def known_runtimes(model_path, model_bytes, input_names, dynamic_length=False):
    """(runtimes the model runs in, {runtime: why not} for the others)."""
    problems = {}
    litert = probe_litert(model_bytes, input_names)
    if litert:
        problems["litert"] = litert
    pi = tflite_runtime_problem(op_facts(model_bytes))
    if pi:
        problems["tflite-runtime"] = pi
    if dynamic_length:
        problems["tflm"] = problems["cortex-m4"] = NO_RESIZING
        return [r for r in RUNTIMES if r not in problems], problems
    tflm = probe_tflm(model_path, input_names)
    if tflm:
        problems["tflm"] = tflm
        problems["cortex-m4"] = f"{tflm} (the firmware builds the same TFLM kernels)"
    return [r for r in RUNTIMES if r not in problems], problems
