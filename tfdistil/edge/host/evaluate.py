"""Run a student flatbuffer in LiteRT or TFLite Micro over a split: accuracy, agreement, latency, arena.

`runners` is what a device runs: LiteRT (`ai-edge-litert`, the Raspberry Pi
runtime) or the real TFLM kernels through the `tflite-micro` Python package.
Inputs are matched by name (`token_ids`, `reverse_index`), never by position:
the converter orders them alphabetically.
"""
import contextlib
import json
import os
import tempfile
import time

import numpy as np

from tfdistil.data.splits import load_split
from tfdistil.data.vocab import Vocab
from tfdistil.errors import UserError
from tfdistil.runfolder import RUN_FILES, vocab_beside
from tfdistil.students.builders import reverse_index

TFLITE_MAGIC = b"TFL3"


def read_model(path):
    if not os.path.isfile(path):
        raise UserError(f"{path}: model file not found")
    with open(path, "rb") as f:
        model_bytes = f.read()
    if len(model_bytes) < 8 or model_bytes[4:8] != TFLITE_MAGIC:
        raise UserError(f"{path}: not a TFLite flatbuffer (no TFL3 identifier)")
    from ai_edge_litert.interpreter import Interpreter
    try:  # LiteRT's flatbuffer verifier: a truncated file fails here, not deep in a runtime
        Interpreter(model_content=model_bytes)
    except (ValueError, RuntimeError) as e:
        raise UserError(f"{path}: damaged or truncated model ({(str(e).splitlines() or ['?'])[0]})") from None
    return model_bytes


def read_manifest(path, model_bytes=None):
    """The manifest `convert` wrote beside the model ({} if none), checked against the model's bytes."""
    import hashlib
    m = path[: -len(".tflite")] + ".json" if path.endswith(".tflite") else None
    if not (m and os.path.isfile(m)):
        return {}
    try:
        with open(m, encoding="utf-8") as f:
            manifest = json.load(f)
        assert isinstance(manifest, dict)
    except (OSError, ValueError, AssertionError):
        raise UserError(f"{m}: unreadable manifest (not a JSON object); restore it or delete it") from None
    if model_bytes is not None and manifest.get("sha256") and \
            manifest["sha256"] != hashlib.sha256(model_bytes).hexdigest():
        raise UserError(f"{path}: does not match its manifest {os.path.basename(m)} (sha256 differs): the model "
                        "was changed after `convert`; convert again or delete the manifest")
    return manifest


def embedding_rows(model_bytes):
    """Rows of the embedding table (the first GATHER's params), or None."""
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_content=model_bytes)
    shapes = {t["index"]: t["shape"] for t in it.get_tensor_details()}
    for op in it._get_ops_details():
        if op["op_name"] == "GATHER" and len(shapes.get(op["inputs"][0], ())) == 2:
            return int(shapes[op["inputs"][0]][0])
    return None


def check_vocab(model_bytes, manifest, vocab, vocab_path):
    """Another model's vocab.json maps words to the wrong rows (accuracy near chance, exit 0): refuse it."""
    rows = manifest.get("vocab_size") or embedding_rows(model_bytes)
    if rows and rows != len(vocab):
        raise UserError(f"{vocab_path}: vocabulary has {len(vocab)} words but the model was built for "
                        f"{rows}: wrong vocab.json for this model")
    # vocab_file_sha256: the bytes of the vocab.json convert wrote (manifests before it: vocab_sha256 held them)
    new = "vocab_file_sha256" in manifest
    file_sha = manifest["vocab_file_sha256"] if new else manifest.get("vocab_sha256")
    if new and manifest.get("vocab_sha256") not in (None, vocab.sha256()):
        raise UserError(f"{vocab_path}: not the vocabulary this model was trained with (word list differs)")
    if file_sha and os.path.isfile(vocab_path):
        import hashlib
        with open(vocab_path, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() != file_sha:
                raise UserError(f"{vocab_path}: not the vocab.json written with this model (sha256 differs)")


def _feeds(names, token_ids):
    """Arrays for each model input name, from right-padded token ids [1, L]."""
    out = []
    for name in names:
        if "reverse_index" in name:
            out.append(reverse_index(token_ids))
        elif "token_ids" in name:
            out.append(token_ids)
        else:
            raise UserError(f"model input {name!r} is neither token_ids nor reverse_index: not a tfdistil student")
    return out


LITERT_KERNELS = ("builtin", "xnnpack")


class LiteRTRunner:
    """LiteRT with TFLite's builtin integer kernels (default) or its default XNNPACK delegate.

    `builtin` is the kernel set every CPU runtime shares bit for bit: tflite-runtime 2.14 (the
    Raspberry Pi OS runtime) computes exactly these int8 outputs, so a figure measured here is
    one a Pi reproduces. XNNPACK requantizes in float32 and moves a few int8 values by one step in
    the attention student, which flips 1-4 of 1,821 SST-2 test labels; it is
    faster only for the CNN (p50 0.027 vs 0.079 ms, experiments/runtimes/int8_kernels.json), so it is
    opt-in (`kernels="xnnpack"`).
    """

    def __init__(self, model_bytes, num_threads=1, kernels="builtin", max_len=None):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
        if kernels not in LITERT_KERNELS:
            raise UserError(f"unknown LiteRT kernels {kernels!r}; choose {' or '.join(LITERT_KERNELS)}")
        resolver = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES if kernels == "builtin" else OpResolverType.AUTO
        self.kernels = kernels
        try:
            self.it = Interpreter(model_content=model_bytes, num_threads=num_threads,
                                  experimental_op_resolver_type=resolver)
            self.it.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise UserError(f"LiteRT cannot load the model: {str(e).splitlines()[0]}") from None
        self.inputs = self.it.get_input_details()
        self.output = self.it.get_output_details()[0]
        from tfdistil.edge.host.runtimes import is_dynamic_length
        # A dynamic-length flatbuffer runs each sentence at its own length (padding never changes
        # an output, so only the work changes); `max_len` is then the cap a sentence is cut to.
        self.dynamic = is_dynamic_length(self.inputs)
        self.max_len = int(max_len or 128) if self.dynamic else int(self.inputs[0]["shape"][1])
        self.names = [d["name"] for d in self.inputs]
        self.length = None

    def __call__(self, token_ids):
        if self.dynamic:
            n = max(1, int((token_ids != 0).sum()))
            token_ids = token_ids[:, :n]
            if n != self.length:  # re-plan the tensors only when the length changes
                for d in self.inputs:
                    self.it.resize_tensor_input(d["index"], [1, n])
                self.it.allocate_tensors()
                self.length = n
        for d, x in zip(self.inputs, _feeds(self.names, token_ids)):
            self.it.set_tensor(d["index"], x)
        # The fused LSTM keeps its state in variable tensors that survive invoke():
        # without a reset each sentence would start from the previous one's state.
        self.it.reset_all_variables()
        self.it.invoke()
        return self.it.get_tensor(self.output["index"])[0].astype(np.float32)


@contextlib.contextmanager
def capture_stderr_fd():
    """Capture C-level writes to fd 2 (TFLM prints its allocation report there)."""
    import sys
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        box = {}
        try:
            yield box
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            box["text"] = tmp.read().decode("utf-8", "replace")


class TFLMRunner:
    def __init__(self, model_bytes, arena_size=256 * 1024):
        import tflite_micro
        from ai_edge_litert.interpreter import Interpreter
        from tfdistil.edge.host.runtimes import NO_RESIZING, is_dynamic_length
        if is_dynamic_length(Interpreter(model_content=model_bytes).get_input_details()):
            raise UserError(f"this model does not run in TFLite Micro ({NO_RESIZING})")
        self.model_bytes = model_bytes
        try:
            with capture_stderr_fd() as log:
                self.it = tflite_micro.runtime.Interpreter.from_bytes(model_bytes, arena_size=arena_size)
        except RuntimeError as e:
            detail = " ".join(l for l in log.get("text", "").splitlines() if l.strip())[:200]
            raise UserError(f"TFLite Micro cannot load the model (arena {arena_size} B): {e} {detail}".strip()) from None
        self.names = _input_names_litert(model_bytes)
        self.max_len = int(self.it.get_input_details(0)["shape"][1])

    def __call__(self, token_ids):
        for i, x in enumerate(_feeds(self.names, token_ids)):
            self.it.set_input(x, i)
        self.it.reset()  # LSTM state variables: start every sentence from zeros (see LiteRTRunner)
        self.it.invoke()
        return np.asarray(self.it.get_output(0))[0].astype(np.float32)

    def arena_used(self):
        return tflm_arena_used(self.it)


def tflm_arena_used(it):
    """Bytes of arena a TFLM interpreter actually allocated (after an invoke), from its allocation
    report; (bytes or None, the report)."""
    with capture_stderr_fd() as log:
        it.print_allocations()
    for line in log["text"].splitlines():
        if "Total buffer usage" in line or "total" in line.lower() and "arena" in line.lower():
            digits = [int(t) for t in line.replace(",", " ").split() if t.isdigit()]
            if digits:
                return digits[0], log["text"]
    return None, log["text"]


def _input_names_litert(model_bytes):
    from ai_edge_litert.interpreter import Interpreter
    return [d["name"] for d in Interpreter(model_content=model_bytes).get_input_details()]


def smallest_arena(model_path, input_names, used_bytes, step=64):
    """Smallest TFLM arena (to `step` bytes) that allocates and invokes, searched around the
    bytes TFLM reported using. The tries run in forked children of one probe process
    (edge/host/tflm_probe.py): TFLM can crash, not raise, when the arena is too small."""
    from tfdistil.edge.host.runtimes import run_tflm_search
    lo, hi = max(step, int(used_bytes * 0.8)), int(used_bytes * 1.5) + 4096
    found = run_tflm_search(model_path, lo, hi, step, input_names)
    if found is None:
        raise UserError(f"model does not run in TFLite Micro with a {hi}-byte arena")
    return found


def evaluate_tflite(model_path, data, split="test", runtime="litert", vocab_path=None, run_dir=None,
                    limit=None, warmup=10, arena_size=None, kernels="builtin", keep_logits=False,
                    slices=None, teacher_logits=None):
    """Accuracy, agreement with the Keras model, latency p50/p95 and (TFLM) arena bytes over a split.

    `kernels` (LiteRT only): "builtin", the integer kernels tflite-runtime shares bit for bit,
    or "xnnpack", LiteRT's default delegate (see LiteRTRunner). `keep_logits` adds the runtime's
    float logits per row (numpy [N, C], not JSON) for analyses that need more than the accuracy.
    `slices`, `teacher_logits`: per-slice scores beside the teacher's (see tfdistil.slices)."""
    from tfdistil.progress import progress
    if limit is not None and limit < 0:
        raise UserError(f"--limit must be positive (or 0 for all rows), got {limit}")
    from tfdistil.slices import evaluate_slices, resolve
    slices = resolve(slices)  # a bad slices file fails before the model runs
    model_bytes = read_model(model_path)
    manifest = read_manifest(model_path, model_bytes)
    vocab_path = vocab_path or vocab_beside(model_path)
    vocab = Vocab.load(vocab_path)
    check_vocab(model_bytes, manifest, vocab, vocab_path)
    s = load_split(data, split, limit)
    if runtime == "litert":
        runner = LiteRTRunner(model_bytes, kernels=kernels, max_len=manifest.get("max_len") or vocab.max_len)
    elif runtime == "tflm":
        runner = TFLMRunner(model_bytes, arena_size or 2 * 1024 * 1024)
    else:
        raise UserError(f"unknown runtime {runtime!r}; choose litert or tflm")
    if tuple(s.label_names) != tuple(vocab.labels):
        raise UserError(f"{vocab_path}: the model knows classes {', '.join(vocab.labels)}; this data has "
                        f"{', '.join(s.label_names)}")
    L = runner.max_len
    ids = vocab.encode_batch(s.sentences, L)
    for i in range(min(warmup, len(ids))):
        runner(ids[i:i + 1])
    logits, times = np.zeros((len(ids), len(vocab.labels)), np.float32), np.zeros(len(ids))
    for i in progress(range(len(ids)), total=len(ids), desc=f"{runtime} {split}"):
        t0 = time.perf_counter()
        logits[i] = runner(ids[i:i + 1])
        times[i] = time.perf_counter() - t0
    pred = logits.argmax(-1)
    from tfdistil.metrics import classification_report
    report = classification_report(s.labels, pred, vocab.labels)
    result = {"model": model_path, "runtime": runtime, "split": split, "n": len(s),
              "macro_f1": report["macro_f1"], "per_class": report["per_class"], "confusion": report["confusion"],
              "labels": report["labels"],
              **({"kernels": kernels} if runtime == "litert" else {}),
              "accuracy": float(np.mean(pred == s.labels)), "model_bytes": len(model_bytes), "max_len": L,
              **({"dynamic_length": True} if getattr(runner, "dynamic", False) else {}),
              "student": manifest.get("student"), "quantization": manifest.get("quantization"),
              "latency_ms_p50": round(float(np.percentile(times, 50)) * 1e3, 4),
              "latency_ms_p95": round(float(np.percentile(times, 95)) * 1e3, 4)}
    if not run_dir and manifest.get("run_dir"):  # stored relative to the manifest's folder
        run_dir = os.path.join(os.path.dirname(os.path.abspath(model_path)), manifest["run_dir"])
        # only a hint: a flatbuffer copied away from its run (a committed model) has no Keras model beside it
        if not all(os.path.isfile(os.path.join(run_dir, f)) for f in RUN_FILES):
            run_dir = None
    if run_dir and os.path.isdir(run_dir):
        from tfdistil.training.batches import predict_logits
        from tfdistil.training.fit import load_run
        cfg, run_vocab, student = load_run(run_dir)
        keras_pred = predict_logits(student, cfg.student, run_vocab.encode_batch(s.sentences, L)).argmax(-1)
        result["keras_accuracy_at_max_len"] = float(np.mean(keras_pred == s.labels))
        result["agreement_with_keras"] = float(np.mean(keras_pred == pred))
    result["slices"] = evaluate_slices(s, pred, vocab.labels, slices, teacher_logits)
    if keep_logits:
        result["logits"] = logits
    if runtime == "tflm":
        used, _ = runner.arena_used()
        result["arena_bytes_used"] = used
        result["arena_bytes_min"] = smallest_arena(model_path, runner.names, used)
    return result
