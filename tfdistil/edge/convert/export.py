"""Keras student -> TFLite flatbuffer with only builtin ops, ready for LiteRT and TFLite Micro.

Keras 3 LSTMs do not convert to fused kernels (batch None: TensorListReserve
error; batch 1: WHILE loops; `export(format="litert")`: Flex ops). So the
trained Keras 3 weights are copied into the same architecture built with
tf_keras at batch 1 and a fixed length L, whose LSTMs lower to
`UNIDIRECTIONAL_SEQUENCE_LSTM`. The flatbuffer takes int32 token ids [1, L]
(and `reverse_index` [1, L] for the LSTMs) and returns float32 logits [1, 2].
"""
import hashlib
import os
import sys
import time

import numpy as np

from tfdistil.data.splits import load_split
from tfdistil.files import atomic_write_bytes, atomic_write_json, check_writable
from tfdistil.config import EXPERIMENTAL_QUANTIZATIONS as EXPERIMENTAL, QUANTIZATIONS
from tfdistil.errors import UserError
from tfdistil.runfolder import tflite_path, vocab_beside

FORBIDDEN_OPS = ("FLEX", "WHILE", "CUSTOM", "CALL_ONCE", "VAR_HANDLE")


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def made_by_convert(path):
    """A .tflite or vocab.json that a `convert` manifest in its folder names with this content's sha256."""
    import glob
    import json
    folder, sha = os.path.dirname(os.path.abspath(path)), _sha256(path)
    for manifest in glob.glob(os.path.join(folder, "*.json")):
        try:
            with open(manifest, encoding="utf-8") as f:
                m = json.load(f)
        except (OSError, ValueError):
            continue
        # vocab_file_sha256: the file's bytes; manifests written before it held them in vocab_sha256
        if isinstance(m, dict) and m.get("format") == "tfdistil-tflite-1" and sha in (
                m.get("sha256") if path.endswith(".tflite") else None, m.get("vocab_file_sha256"), m.get("vocab_sha256")):
            return True
    return False


def check_not_users(out, vocab=None, run_dir=None):
    """convert writes OUT and vocab.json beside it: refuse, before any work, to replace either
    when it exists and no convert manifest there says tfdistil wrote that very file. Also kept:
    a vocab.json holding exactly the bytes convert would write (nothing to lose, e.g. a run's own,
    or one a killed convert wrote before its manifest), and a .tflite in RUN_DIR/tflite/."""
    vocab_path = os.path.join(os.path.dirname(os.path.abspath(out)), "vocab.json")
    if vocab is not None and os.path.isfile(vocab_path):
        import json
        with open(vocab_path, "rb") as f:
            if f.read() == json.dumps(vocab.to_json(), ensure_ascii=False).encode("utf-8"):
                vocab_path = None
    in_run = run_dir is not None and os.path.dirname(os.path.abspath(out)) == os.path.join(
        os.path.abspath(run_dir), "tflite")
    for path in (None if in_run else out, vocab_path):
        if path and os.path.isfile(path) and not made_by_convert(path):
            raise UserError(f"--out {out}: {path} exists and was not written by tfdistil convert; "
                            "refusing to replace it (choose another --out)")


def export_keras2(cfg, student, max_len):
    """The tf_keras twin of a Keras 3 student (batch 1, length max_len), weights copied by layer name."""
    import tf_keras

    from tfdistil.students.builders import build_student
    twin = build_student(cfg, tf_keras, batch_size=1, seq_len=max_len)
    for layer in student.layers:
        if layer.weights:
            twin.get_layer(layer.name).set_weights(layer.get_weights())
    return twin


def representative_ids(vocab, sentences, max_len, n, seed=0):
    """Calibration inputs: `n` real training sentences, drawn with a fixed seed."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(sentences), size=min(n, len(sentences)), replace=False)
    return vocab.encode_batch([sentences[i] for i in pick], max_len)


def variables_of(model):
    """What the converter needs besides the function: its variables, in a bare tf.Module. The
    converter saves this object as a SavedModel first; a Keras model there has every layer's call
    traced again for Keras serialization (an LSTM some twenty times, ~80 % of an LSTM's conversion),
    while a module holding only the variables gives the same flatbuffer, byte for byte, about 5x
    sooner (experiments/ablations/convert_speed.py)."""
    import tensorflow as tf
    holder = tf.Module()
    holder.variables_ = list(model.variables)
    return holder


def to_tflite(twin, student_name, quantize, calibration_ids=None):
    """Flatbuffer bytes for a tf_keras twin model."""
    import tensorflow as tf

    from tfdistil.students.builders import model_inputs
    if quantize not in QUANTIZATIONS + EXPERIMENTAL:
        raise UserError(f"unknown quantization {quantize!r}; choose one of {', '.join(QUANTIZATIONS + EXPERIMENTAL)}")
    specs = [tf.TensorSpec(i.shape, tf.int32, name=i.name.split(":")[0]) for i in twin.inputs]
    fn = tf.function(lambda *x: twin(list(x), training=False), input_signature=specs)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], variables_of(twin))
    if quantize in ("dynamic", "float16", "int8", "int16x8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "dynamic":
        # Per-channel hybrid FULLY_CONNECTED is op version 12, which tflite-runtime 2.14 (the
        # Pi wheel, max version 11) refuses; per-tensor weight scales give version 5 to 9.
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize in ("int8", "int16x8"):
        if calibration_ids is None:
            raise ValueError("int8 needs calibration_ids")

        names = [i.name.split(":")[0] for i in twin.inputs]

        def representative_dataset():
            # Keyed by input name: the flatbuffer orders inputs alphabetically, not as built.
            for row in calibration_ids:
                yield dict(zip(names, model_inputs(student_name, row[None, :])))

        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8] if quantize == "int8" else \
            [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    else:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize != "int16x8":
        return converter.convert()
    try:  # 16-bit activations: the converter's calibration does not handle every graph
        return converter.convert()
    except Exception as e:  # ConverterError, RuntimeError, ValueError: whatever the converter raised
        first = next((line.strip() for line in str(e).splitlines() if "error:" in line.lower()),
                     (str(e).strip().splitlines() or [type(e).__name__])[0])
        raise UserError(f"int16x8: TensorFlow {tf.__version__}'s converter cannot quantize this {student_name} "
                        f"({first[:240]})") from None


def op_list(model_bytes):
    """{op name: count} of a flatbuffer, read with the LiteRT interpreter."""
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_content=model_bytes)
    ops = {}
    for d in it._get_ops_details():
        ops[d["op_name"]] = ops.get(d["op_name"], 0) + 1
    return dict(sorted(ops.items()))


def io_details(model_bytes):
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_content=model_bytes)

    def clean(d):
        scale, zero = d["quantization"]
        return {"name": d["name"], "shape": [int(s) for s in d["shape"]], "dtype": np.dtype(d["dtype"]).name,
                "scale": float(scale), "zero_point": int(zero)}
    return [clean(d) for d in it.get_input_details()], [clean(d) for d in it.get_output_details()]


# ops whose weight operand must be int8 in an integer-only model (index of that operand)
WEIGHTED_OPS = {"FULLY_CONNECTED": 1, "CONV_2D": 1, "UNIDIRECTIONAL_SEQUENCE_LSTM": 2, "GATHER": 0}


def assert_integer_only(model_bytes):
    """An "int8" model whose weights stayed float32 must not be written under that name."""
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_content=model_bytes)
    dtypes = {t["index"]: t["dtype"] for t in it.get_tensor_details()}
    floats = sorted({op["op_name"] for op in it._get_ops_details()
                     if op["op_name"] in WEIGHTED_OPS and len(op["inputs"]) > WEIGHTED_OPS[op["op_name"]]
                     and dtypes.get(op["inputs"][WEIGHTED_OPS[op["op_name"]]]) == np.float32})
    if floats:
        raise UserError(f"int8 conversion left float32 weights in {', '.join(floats)}: not an integer-only "
                        "model (were there calibration sentences?)")


def convert(run_dir, quantize="int8", max_len=64, out=None, data=None, calibration_size=500, seed=0,
            fix_lstm_states=True, warn=None, dynamic_length=False):
    """Convert a run folder's student; write FILE.tflite, vocab.json beside it, FILE.json manifest.
    `warn(message)` hears what the user should know about the result (default: stderr).

    `dynamic_length`: the time axis is left open, so LiteRT / tflite-runtime run each sentence at
    its own length (at most `max_len`) instead of paying for `max_len` steps; the same
    calibration gives the same int8 outputs as the fixed-length file. TFLite Micro plans its
    tensors once, so a microcontroller needs the fixed-length file."""
    warn = warn or (lambda m: print(m, file=sys.stderr))
    if max_len < 1:
        raise UserError("--max-len must be positive")
    if quantize == "int8" and calibration_size < 1:
        # with no calibration sentence the converter silently keeps float32 weights
        raise UserError(f"--calibration-size must be at least 1 for int8, got {calibration_size}")
    if out is not None:
        if not out.endswith(".tflite"):
            raise UserError(f"{out}: output file must end in .tflite")
        check_writable(out, "--out")
    from tfdistil.training.fit import load_run
    cfg, vocab, student = load_run(run_dir)
    length = f"L1-{max_len}" if dynamic_length else f"L{max_len}"
    out = out or tflite_path(run_dir, cfg.student, quantize, length)
    check_writable(out, "--out")
    check_not_users(out, vocab, run_dir)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    except OSError as e:
        raise UserError(f"--out {out}: cannot create its folder ({e.strerror})") from None
    t0 = time.time()
    twin = export_keras2(cfg, student, None if dynamic_length else max_len)
    calibration = None
    train = None
    if data:
        train = load_split(data, "train", cfg.train_limit or None)
    if quantize in ("int8", "int16x8"):
        if train is None:
            raise UserError(f"{quantize} conversion needs --data (calibration sentences from the train split)")
        calibration = representative_ids(vocab, train.sentences, max_len, calibration_size, seed)
    model_bytes = to_tflite(twin, cfg.student, quantize, calibration)
    lstm_states = None
    if quantize == "int8" and cfg.student != "cnn" and fix_lstm_states:
        from tfdistil.edge.convert.lstm_state import LSTM_LAYERS, fix_lstm_state_quantization, lstm_cell_state_max
        kernels = {name: student.get_layer(name).get_weights()[0] for name in LSTM_LAYERS}
        model_bytes, lstm_states = fix_lstm_state_quantization(
            model_bytes, lstm_cell_state_max(student, calibration), kernels)
        clipped = [name for name, s in lstm_states.items() if s["clipped"]]
        if clipped:
            warn(f"warning: the LSTM cell state of {', '.join(clipped)} reaches "
                 f"{max(lstm_states[n]['cell_max'] for n in clipped):.1f} on the calibration sentences; the int8 "
                 "kernels hold at most ±64, so it is clipped there (a shorter --max-len keeps it smaller)")
    attention = None
    if quantize == "int8":
        assert_integer_only(model_bytes)
        from tfdistil.edge.convert.graph_rewrite import attention_padding, padding_warning
        attention = attention_padding(model_bytes)
        if padding_warning(attention):
            warn(padding_warning(attention))
    ops = op_list(model_bytes)
    bad = [op for op in ops if any(f in op for f in FORBIDDEN_OPS)]
    if bad:
        raise UserError(f"conversion produced non-builtin ops {bad}: not runnable on TFLite Micro")
    inputs, outputs = io_details(model_bytes)
    try:
        atomic_write_bytes(out, model_bytes)
    except OSError as e:
        raise UserError(f"--out {out}: cannot write the model ({e.strerror})") from None
    from tfdistil.edge.host.runtimes import known_runtimes
    runtimes, not_running = known_runtimes(out, model_bytes, [i["name"] for i in inputs], dynamic_length)
    for runtime, why in not_running.items():
        if runtime != "cortex-m4" and not (dynamic_length and runtime == "tflm"):  # said with tflm / asked for
            warn(f"warning: this {quantize} {cfg.student} does not run in {runtime} ({why}); it runs in "
                 f"{', '.join(runtimes) or 'none of the checked runtimes'}")
    vocab_path = vocab_beside(out)
    vocab.save(vocab_path)
    truncated = None
    if train is not None:
        lengths = (vocab.encode_batch(train.sentences, cfg.max_len) != 0).sum(1)
        truncated = float(np.mean(lengths > max_len))
    manifest = {
        "format": "tfdistil-tflite-1", "student": cfg.student, "quantization": quantize, "max_len": max_len,
        "dynamic_length": bool(dynamic_length),
        "bytes": len(model_bytes), "sha256": hashlib.sha256(model_bytes).hexdigest(), "ops": ops,
        "inputs": inputs, "outputs": outputs, "params": int(student.count_params()),
        "vocab": os.path.basename(vocab_path), "vocab_size": len(vocab),
        # the word list's fingerprint, as the run's metrics.json records it; the file's bytes beside it
        "vocab_sha256": vocab.sha256(), "vocab_file_sha256": _sha256(vocab_path),
        "train_rows_truncated_fraction": truncated,
        "calibration_sentences": len(calibration) if calibration is not None else 0,
        "lstm_states": lstm_states,
        "attention_padding": attention,
        "runtimes": runtimes, "runtimes_not": not_running,
        # relative to this manifest's folder: the pair still points at its run after the checkout moves
        "run_dir": os.path.relpath(os.path.abspath(run_dir), os.path.dirname(os.path.abspath(out))),
        "convert_seconds": round(time.time() - t0, 2),
    }
    atomic_write_json(out[: -len(".tflite")] + ".json", manifest)
    return {"path": out, **manifest}
