"""CMSIS-NN kernels for the firmware (`tfdistil firmware --kernels cmsis-nn`), as TFLM's
`OPTIMIZED_KERNEL_DIR=cmsis_nn` builds them: for every op with a file in the vendored
`tflite-micro-cmsis-nn/`, that file replaces the reference kernel of the same name (the
`*_common.cc` and `lstm_eval*.cc` files stay reference); it is compiled with `-DCMSIS_NN`
against `cmsis-nn/`, and the CMSIS-NN C sources it calls are compiled beside it.

Two faults of the published wrappers (tflite-micro 90b983c2b) are fixed by a small patch applied
to a copy in the build cache; the vendored tree is never modified, and each substitution asserts
that the text it replaces is there, so a different upstream fails loudly instead of silently:
1. `unidirectional_sequence_lstm.cc` hands CMSIS-NN a context whose hidden state is NULL and
   whose cell state is a scratch buffer, so the LSTM state restarts at zero on every Invoke():
   wrong for a model stepped one token per Invoke(). The patch points the context at the op's
   variable tensors (inputs 18, output state, and 19, cell state), which the reference kernel
   reads and writes, and returns the status of the CMSIS-NN call instead of dropping it.
2. `fully_connected.cc` checks `buffer_conv_1x1_idx >= 4` before using a scratch buffer; any
   index >= 0 is valid, and a 3-D per-tensor FULLY_CONNECTED gets a smaller one, so in a build
   without NDEBUG the check halts the board. The patch checks >= 0.
A third patch (speed, not a fault) gives the int8 x int8 -> int16 LSTM an Eval that fetches the four
tensors it uses instead of all 24 (CreateLSTMKernelContent): the same call with the same arguments,
less work per Invoke() of a per-token step. A fourth calls tfdistil_lstm_prepare_s8 (the replaced step,
src/tfdistil_lstm_step_s8.c) at the end of the int8 LSTM's Prepare, so work it does once per op (the
Cortex-M4's widened weights) happens in AllocateTensors(), not in the first Invoke().
"""
import hashlib
import os
import re

from tfdistil.errors import UserError

KERNEL_SETS = ("cmsis-nn", "reference")
DEFINES = ["-DCMSIS_NN"]
C_FLAGS = ["-std=c17", "-DCMSIS_NN_USE_REQUANTIZE_INLINE_ASSEMBLY"]  # the same rounding, fewer instructions
C_OPT = "-O3"  # CMSIS-NN's own C sources: the hot loops of the LSTM and FULLY_CONNECTED
TABLES = "Source/NNSupportFunctions/arm_nntables.c"  # the LSTM's sigmoid/tanh tables: no call reaches them
# CMSIS-NN sources the firmware compiles from tfdistil's own file instead (same function, same
# integers, less work: see the file's header).
_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "src")
REPLACED = {"Source/NNSupportFunctions/arm_nn_lstm_step_s8.c": os.path.join(_SRC, "tfdistil_lstm_step_s8.c")}
REPLACED_INCLUDES = [os.path.join(_SRC, "tfdistil_lstm_step_mve.h")]  # included by the replacements

_STATE = """  cmsis_buffers.cell_state = reinterpret_cast<int16_t*>(buffers.buffer2);
"""


def _state_fixed(hidden_type):
    return f"""  // tfdistil patch: resume from the op's variable tensors, as the reference kernel does
  cmsis_buffers.cell_state = tflite::micro::GetTensorData<int16_t>(
      kernel_content.internal_tensors[kLstmCellStateTensor]);
  cmsis_buffers.hidden_state = tflite::micro::GetTensorData<{hidden_type}>(
      kernel_content.internal_tensors[kLstmOutputStateTensor]);
"""


_EVAL_INT8 = """  // tfdistil patch: the int8 LSTM (8x8->16) reads 4 of the op's 24 tensors; fetch only those
  if (tflite::micro::GetEvalInput(context, node, kLstmInputTensor)->type == kTfLiteInt8 &&
      tflite::micro::GetEvalInput(context, node, kLstmInputToInputWeightsTensor)->type == kTfLiteInt8) {
    cmsis_nn_lstm_context cmsis_buffers = {};
    cmsis_buffers.temp1 = context->GetScratchBuffer(context, op_data_lstm.buffer_indices[0]);
    cmsis_buffers.temp2 = context->GetScratchBuffer(context, op_data_lstm.buffer_indices[1]);
    cmsis_buffers.cell_state = tflite::micro::GetTensorData<int16_t>(
        tflite::micro::GetMutableEvalInput(context, node, kLstmCellStateTensor));
    cmsis_buffers.hidden_state = tflite::micro::GetTensorData<int8_t>(
        tflite::micro::GetMutableEvalInput(context, node, kLstmOutputStateTensor));
    const int8_t* input = tflite::micro::GetTensorData<int8_t>(
        tflite::micro::GetEvalInput(context, node, kLstmInputTensor));
    int8_t* output = tflite::micro::GetTensorData<int8_t>(tflite::micro::GetEvalOutput(context, node, 0));
    return arm_lstm_unidirectional_s8(input, output, &op_data.params_cmsis_nn, &cmsis_buffers) ==
                   ARM_CMSIS_NN_SUCCESS ? kTfLiteOk : kTfLiteError;
  }
"""

PATCHES = {
    "unidirectional_sequence_lstm.cc": [
        # 8x8->16 and 16x8->16: both wrappers build the context the same way
        (_STATE, _state_fixed("int8_t"), 1),   # first: the int8 (8x8->16) wrapper
        (_STATE, _state_fixed("int16_t"), 1),  # then the int16 (16x8->16) one
        ("          CMSIS_NN_EvalInteger8x8_16Lstm(op_data, kernel_content, buffers);\n",
         "          TF_LITE_ENSURE_OK(context,  // tfdistil patch: the status was dropped\n"
         "                            CMSIS_NN_EvalInteger8x8_16Lstm(op_data, kernel_content, buffers));\n", 1),
        ("  auto kernel_content = CreateLSTMKernelContent(context, node);\n\n  const auto activation_type =\n",
         _EVAL_INT8 + "  auto kernel_content = CreateLSTMKernelContent(context, node);\n\n  const auto activation_type =\n", 1),
        ("    CMSIS_NN_PortOpData<int32_t>(context, op_data_lstm, kernel_content,\n"
         "                                 &op_data->params_cmsis_nn);\n",
         "    CMSIS_NN_PortOpData<int32_t>(context, op_data_lstm, kernel_content,\n"
         "                                 &op_data->params_cmsis_nn);\n"
         "    tfdistil_lstm_prepare_s8(&op_data->params_cmsis_nn);  // tfdistil patch: once per op\n", 1),
        ('#include "Include/arm_nnfunctions.h"\n',
         '#include "Include/arm_nnfunctions.h"\n'
         '// tfdistil patch: once-per-op work of the replaced LSTM step (src/tfdistil_lstm_step_s8.c)\n'
         'extern "C" void tfdistil_lstm_prepare_s8(const cmsis_nn_lstm_params* params);\n', 1),
        ("          CMSIS_NN_EvalInteger16x8_16Lstm(op_data, kernel_content, buffers);\n",
         "          TF_LITE_ENSURE_OK(context,  // tfdistil patch: the status was dropped\n"
         "                            CMSIS_NN_EvalInteger16x8_16Lstm(op_data, kernel_content, buffers));\n", 1),
    ],
    "fully_connected.cc": [
        ("      TFLITE_DCHECK_GE(data.buffer_conv_1x1_idx, 4);\n",
         "      TFLITE_DCHECK_GE(data.buffer_conv_1x1_idx, 0);  // tfdistil patch: was >= 4\n", 1),
    ],
}


def vendor_dirs():
    """(tflite-micro-cmsis-nn, cmsis-nn): `<repo>/../shared/vendor/...`, or $TFDISTIL_CMSIS_NN_SRC
    holding both folders."""
    from tfdistil.files import REPO
    root = os.environ.get("TFDISTIL_CMSIS_NN_SRC") or os.path.join(REPO, "..", "shared", "vendor")
    wrappers, cmsis = os.path.join(root, "tflite-micro-cmsis-nn"), os.path.join(root, "cmsis-nn")
    if not os.path.isfile(os.path.join(wrappers, "fully_connected.cc")) or not os.path.isfile(
            os.path.join(cmsis, "Include", "arm_nnfunctions.h")):
        raise UserError(f"{root}: CMSIS-NN sources not found (tflite-micro-cmsis-nn/ and cmsis-nn/; "
                        "set TFDISTIL_CMSIS_NN_SRC, or use --kernels reference)")
    return os.path.abspath(wrappers), os.path.abspath(cmsis)


def check_kernels(kernels):
    if kernels not in KERNEL_SETS:
        raise UserError(f"unknown kernel set {kernels!r}; choose one of: {', '.join(KERNEL_SETS)}")
    if kernels == "cmsis-nn":
        vendor_dirs()
    return kernels


def patched(name, text):
    """The wrapper's text with its PATCHES applied; UserError if a replaced text is not there
    exactly as often as expected (another upstream version)."""
    for old, new, count in PATCHES.get(name, []):
        found = text.count(old)
        if found < count:
            raise UserError(f"CMSIS-NN patch for {name} does not apply: expected text found {found} times")
        text = text.replace(old, new, count)
    return text


def patched_wrappers(stems, cache):
    """{stem: path} of the CMSIS-NN wrapper files for `stems`, patched, in a cache folder keyed by
    the originals and the patches."""
    wrappers, _ = vendor_dirs()
    names = sorted(f"{s}.cc" for s in stems if os.path.isfile(os.path.join(wrappers, f"{s}.cc")))
    texts = {n: open(os.path.join(wrappers, n), encoding="utf-8").read() for n in names}
    key = hashlib.sha256(repr((texts, PATCHES)).encode()).hexdigest()[:16]
    folder = os.path.join(cache, "cmsis_nn_kernels", key)
    os.makedirs(folder, exist_ok=True)
    out = {}
    for n in names:
        path = os.path.join(folder, n)
        if not os.path.isfile(path):
            tmp = f"{path}.tmp{os.getpid()}"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(patched(n, texts[n]))
            os.replace(tmp, path)
        out[n[:-3]] = path
    return out


_CALL = re.compile(r"\b(arm_\w+)\s*\(")
_DEFINITION = re.compile(r"^[A-Za-z_][\w \*]*?\b(arm_\w+)\s*\(", re.M)  # at column 0: definitions


def _strip_comments(text):
    return re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.S)


def cmsis_sources(wrapper_paths):
    """CMSIS-NN .c files (relative to cmsis-nn/) the wrappers reach by following calls, plus the
    tables. Definitions sit at column 0 in CMSIS-NN's sources; calls are indented."""
    _, cmsis = vendor_dirs()
    defined, calls = {}, {}
    for root, _, files in os.walk(os.path.join(cmsis, "Source")):
        for f in files:
            if f.endswith(".c"):
                rel = os.path.relpath(os.path.join(root, f), cmsis)
                text = _strip_comments(open(source_path(rel), encoding="utf-8").read())
                calls[rel] = set(_CALL.findall(text))
                for name in _DEFINITION.findall(text):
                    defined.setdefault(name, rel)
    todo = set()
    for path in wrapper_paths:
        todo |= set(_CALL.findall(_strip_comments(open(path, encoding="utf-8").read())))
    needed, seen = {TABLES}, set()
    while todo:
        name = todo.pop()
        seen.add(name)
        rel = defined.get(name)
        if rel and rel not in needed:
            needed.add(rel)
            todo |= calls[rel] - seen
    return sorted(needed)


def source_path(rel):
    """The file compiled for the CMSIS-NN source `rel`: tfdistil's replacement, or the vendored one."""
    return REPLACED.get(rel) or os.path.join(vendor_dirs()[1], rel)


def cmsis_digest():
    """sha256 of both CMSIS-NN folders and the replacements (a changed file rebuilds the objects)."""
    from tfdistil.files import tree_sha256 as _tree_digest
    wrappers, cmsis = vendor_dirs()
    replaced = "".join(hashlib.sha256(open(p, "rb").read()).hexdigest()
                       for p in [*REPLACED.values(), *REPLACED_INCLUDES])
    return hashlib.sha256((_tree_digest(wrappers) + _tree_digest(cmsis) + replaced).encode()).hexdigest()


def include_flags():
    _, cmsis = vendor_dirs()
    return [f"-I{cmsis}", f"-I{os.path.join(cmsis, 'Include')}"]
