"""Per-sentence CPU latency of the teacher and of every student, measured in one run (`tfdistil benchmark`).

The paper compares models by parameter count only ("Inference x160"); this measures what a
sentence costs on this CPU: batch 1, the first N real test sentences, after a warm-up, forward
pass only (tokenisation excluded for every model), p50/p95. Timed:

- the teacher (transformers TFBertForSequenceClassification, Keras 2) in a tf.function,
  each sentence at its own length;
- each student in Keras 3 in a tf.function, each sentence at its own length;
- each student's float32 and int8 .tflite in LiteRT, at the flatbuffer's fixed length
  (or, made with `convert --dynamic-length`, at each sentence's own length).

All in one process so the speed-ups compare numbers taken under the same load; if the Keras 2
teacher cannot be loaded beside Keras 3, it is timed in a subprocess (`python -m
tfdistil.report.benchmark`) and merged. Writes OUT/benchmark.json and OUT/benchmark.md. A missing
model is skipped with a note, never a crash. Paths are recorded relative to the working folder
(or with `~` for the home folder), never as this machine's absolute paths.
"""
import glob
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from types import SimpleNamespace

import numpy as np

from tfdistil.runfolder import METRICS, TFLITE, VOCAB


def legacy_keras_env():
    """transformers' TF BERT is a Keras 2 model: set before TensorFlow is first imported."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")


def shown(path):
    """A path as a record may keep it: relative to the working folder when inside it, else with the
    home folder as `~`; never an absolute path of this machine when it can be helped."""
    path = str(path)
    if not os.path.isabs(path):
        return path
    cwd, home = os.getcwd(), os.path.expanduser("~")
    if path == cwd or path.startswith(cwd + os.sep):
        return os.path.relpath(path, cwd)
    if home not in ("", "/") and path.startswith(home + os.sep):
        return "~" + path[len(home):]
    return path


# --------------------------------------------------------------------------- timing
def latency(fn, inputs, warmup):
    """Milliseconds per call of fn over inputs (after `warmup` untimed calls): p50, p95, mean."""
    for x in inputs[:warmup]:
        fn(x)
    times = np.zeros(len(inputs))
    for i, x in enumerate(inputs):
        t0 = time.perf_counter()
        fn(x)
        times[i] = time.perf_counter() - t0
    ms = times * 1e3
    return {"latency_ms_p50": round(float(np.percentile(ms, 50)), 4),
            "latency_ms_p95": round(float(np.percentile(ms, 95)), 4),
            "latency_ms_mean": round(float(ms.mean()), 4), "n": len(inputs)}


def set_tf_threads(threads):
    """Must run before TensorFlow executes its first op."""
    if threads > 0:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def time_teacher(teacher_dir, sentences, warmup):
    """The teacher's forward pass per sentence (BERT tokenizer output at its own length)."""
    import tensorflow as tf

    from tfdistil.teacher.model import load_teacher
    model, tokenizer = load_teacher(teacher_dir)
    spec = tf.TensorSpec([1, None], tf.int32)

    @tf.function(input_signature=[spec, spec])
    def forward(ids, mask):
        return model(input_ids=ids, attention_mask=mask, training=False).logits

    inputs = []
    for s in sentences:
        ids = np.asarray([tokenizer(s, truncation=True, max_length=128)["input_ids"]], np.int32)
        inputs.append((ids, np.ones_like(ids)))
    result = latency(lambda x: forward(*x).numpy(), inputs, warmup)
    return {"status": "ok", "dir": shown(teacher_dir), "name": shown(model.config._name_or_path or teacher_dir),
            "params": int(model.count_params()), "runtime": f"TensorFlow {tf.__version__} (tf_keras)",
            "input": "own length (BERT WordPiece)", **result}


def teacher_entry(args, sentences):
    """Time the teacher here; if Keras 2 cannot live beside Keras 3 in this process, in a subprocess."""
    if not os.path.isfile(os.path.join(args.teacher, "config.json")):
        return {"status": f"skipped: {shown(args.teacher)} is not a teacher folder (no config.json)",
                "dir": shown(args.teacher)}
    try:
        return time_teacher(args.teacher, sentences, args.warmup)
    except Exception as e:  # noqa: BLE001 - any failure here means: try a clean process
        first = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        print(f"teacher in-process failed ({first}); timing it in a subprocess", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "teacher.json")
        cmd = [sys.executable, "-m", "tfdistil.report.benchmark", args.teacher, str(args.n), str(args.warmup),
               str(args.threads), args.data, out]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not os.path.isfile(out):
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]
            return {"status": f"skipped: teacher failed in a subprocess too ({tail})", "dir": shown(args.teacher)}
        with open(out) as f:
            return {**json.load(f), "process": "subprocess (Keras 2 and Keras 3 could not share a process)"}


def keras_entry(run_dir, sentences, warmup):
    """A student's Keras 3 forward pass per sentence at its own length (as `tfdistil predict` runs it)."""
    import tensorflow as tf

    from tfdistil.students.builders import model_inputs
    from tfdistil.training.fit import load_run
    cfg, vocab, model = load_run(run_dir)
    k = 1 if cfg.student == "cnn" else 2
    forward = tf.function(lambda *x: model(list(x), training=False),
                          input_signature=[tf.TensorSpec([1, None], tf.int32)] * k)
    inputs = []
    for s in sentences:
        ids = vocab.encode(s, pad=False) or [0]  # an empty sentence still needs one (padding) step
        inputs.append(model_inputs(cfg.student, np.asarray([ids], np.int32)))
    import keras
    return {"format": "keras", "runtime": f"Keras {keras.__version__} on TensorFlow {tf.__version__}",
            "input": "own length", "bytes": None, **latency(lambda x: forward(*x).numpy(), inputs, warmup)}


def litert_entry(path, run_dir, sentences, warmup, threads, kernels="builtin"):
    """A student's flatbuffer in LiteRT (the Raspberry Pi runtime): at its fixed input length, or
    (`convert --dynamic-length`) at each sentence's own length, the tensors re-planned when it changes."""
    from tfdistil.data.vocab import Vocab
    from tfdistil.edge.host.evaluate import LiteRTRunner, read_manifest, read_model
    vocab_path = os.path.join(os.path.dirname(path), VOCAB)
    vocab = Vocab.load(vocab_path if os.path.isfile(vocab_path) else os.path.join(run_dir, VOCAB))
    model_bytes = read_model(path)
    manifest = read_manifest(path, model_bytes)
    runner = LiteRTRunner(model_bytes, num_threads=threads if threads > 0 else os.cpu_count(), kernels=kernels,
                          max_len=manifest.get("max_len"))
    inputs = [vocab.encode_batch([s], runner.max_len) for s in sentences]
    shape = f"own length (≤ {runner.max_len})" if runner.dynamic else f"fixed L={runner.max_len}"
    return {"runtime": f"LiteRT {_version('ai-edge-litert')}", "input": shape,
            "kernels": runner.kernels, "bytes": len(model_bytes), "model": shown(path), **latency(runner, inputs, warmup)}


def student_entries(run_dir, sentences, args):
    """Keras, float32 and int8 timings of one run; each missing piece becomes a skipped entry."""
    from tfdistil.report.collect import _tflite_files, read_json
    name = os.path.basename(os.path.normpath(run_dir))
    metrics = read_json(os.path.join(run_dir, METRICS)) or {}
    base = {"run": name, "run_dir": shown(run_dir), "student": metrics.get("student"),
            "distilled": metrics.get("distilled"), "seed": metrics.get("seed"), "params": metrics.get("params")}
    if not metrics:
        return [{**base, "format": "keras", "status": f"skipped: {run_dir} has no metrics.json (not a finished run)"}]
    entries = []
    try:
        entries.append({**base, **keras_entry(run_dir, sentences, args.warmup), "status": "ok"})
    except Exception as e:  # noqa: BLE001 - one broken run must not end the benchmark
        entries.append({**base, "format": "keras", "status": f"skipped: {type(e).__name__}: {e}"[:300]})
    files = [(q, _tflite_files(run_dir, base["student"], q)[0]) for q in ("float32", "int8")]
    files += [(f"{q} dynamic-length", p) for q in ("float32", "int8")
              for p in sorted(glob.glob(os.path.join(run_dir, TFLITE, f"{base['student']}_{q}_L1-*.tflite")))[:1]]
    for q, path in files:
        if path is None:
            entries.append({**base, "format": q, "status": f"skipped: no {q} .tflite in {run_dir}/tflite"})
            continue
        try:
            entries.append({**base, "format": q, **litert_entry(path, run_dir, sentences, args.warmup, args.threads,
                                                                args.kernels), "status": "ok"})
        except Exception as e:  # noqa: BLE001
            entries.append({**base, "format": q, "status": f"skipped: {type(e).__name__}: {e}"[:300]})
    return entries


# --------------------------------------------------------------------------- machine description
def _version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_info():
    """What the numbers were measured on, including the load: other jobs inflate latency."""
    model, processors = platform.processor() or platform.machine(), 0
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key == "processor":
                    processors += 1
                elif key in ("model name", "hardware", "cpu model") and value.strip():
                    model = value.strip()
    except OSError:
        pass
    return {"model": model, "processors": processors or os.cpu_count(),
            "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "machine": platform.machine(), "load_average_start": [round(x, 2) for x in os.getloadavg()]}


def thread_settings(threads):
    import tensorflow as tf
    intra = tf.config.threading.get_intra_op_parallelism_threads()
    inter = tf.config.threading.get_inter_op_parallelism_threads()
    litert = threads if threads > 0 else os.cpu_count()
    summary = (f"{threads} thread(s) for every runtime" if threads > 0 else
               f"each runtime's default threads (TF: 0 = all cores; LiteRT {litert})")
    return {"requested": threads, "tf_intra_op": intra, "tf_inter_op": inter, "litert_num_threads": litert,
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "summary": summary}


# --------------------------------------------------------------------------- output
def add_speedups(result):
    t = result["teacher"].get("latency_ms_p50") if result["teacher"].get("status") == "ok" else None
    for m in result["models"]:
        m["speedup_vs_teacher_p50"] = (round(t / m["latency_ms_p50"], 2)
                                       if t and m.get("status") == "ok" and m.get("latency_ms_p50") else None)


def _cell(x, fmt="{:.3f}"):
    return "–" if x is None else fmt.format(x)


def markdown(result, int16x8=None):
    t = result["teacher"]
    cpu, th = result["cpu"], result["threads"]
    rows = ["| Model | Run | Runtime | Input | File bytes | p50 ms | p95 ms | Speed-up vs teacher (p50) |",
            "|---|---|---|---|---|---|---|---|"]
    if t.get("status") == "ok":
        rows.append(f"| teacher ({t['params']:,} params) | `{t['dir']}` | {t['runtime']} | {t['input']} | – "
                    f"| {_cell(t['latency_ms_p50'])} | {_cell(t['latency_ms_p95'])} | ×1 |")
    for m in result["models"]:
        if m.get("status") != "ok":
            continue
        rows.append(f"| {m['student']} {m['format']} | {m['run']} | {m['runtime']} | {m['input']} "
                    f"| {_cell(m.get('bytes'), '{:,}')} | {_cell(m['latency_ms_p50'])} | {_cell(m['latency_ms_p95'])} "
                    f"| {_cell(m['speedup_vs_teacher_p50'], '×{:,.1f}')} |")
    skipped = [f"- {m.get('run', 'teacher')} {m.get('format', '')}: {m['status']}"
               for m in [dict(t, run="teacher")] + result["models"] if m.get("status") != "ok"]
    lines = ["# CPU latency per sentence: teacher vs students", "",
             f"Batch 1, the first {result['n']} SST-2 test sentences, {result['warmup']} warm-up calls, forward pass "
             "only (tokenisation excluded), all models timed in the same run. Keras and the teacher run each "
             "sentence at its own length; a .tflite runs at its fixed input length, a dynamic-length one "
             f"(`convert --dynamic-length`) at each sentence's own length. LiteRT kernels: {result.get('kernels', 'xnnpack')}. "
             "Speed-up = teacher p50 / model p50.", "",
             f"- command: `{result['command']}`",
             f"- date: {result['date']}",
             f"- CPU: {cpu['model']}, {cpu['processors']} processors ({cpu['usable_cpus']} usable), {cpu['machine']}; "
             f"load average at start {cpu['load_average_start']}, at end {cpu.get('load_average_end')}",
             f"- threads: {th['summary']} (TF intra-op {th['tf_intra_op']}, inter-op {th['tf_inter_op']}; "
             f"LiteRT num_threads {th['litert_num_threads']}; OMP_NUM_THREADS {th['OMP_NUM_THREADS']})",
             f"- versions: {', '.join(f'{k} {v}' for k, v in result['versions'].items() if v)}",
             f"- teacher process: {t.get('process', 'same process')}", "", *rows, ""]
    if skipped:
        lines += ["Skipped:", "", *skipped, ""]
    lines += int16x8_lines(int16x8)
    return "\n".join(lines)


def int16x8_lines(path):
    """The int16x8 rows (16-bit activations) of a JSON like experiments/ablations/int16x8.json
    (experiments/ablations/int16x8_check.py), per student and runtime; none without one."""
    if not path or not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as f:
        rec = json.load(f)
    rows = ["## int16x8", "", f"`{rec['command']}` (`{shown(path)}`, TensorFlow {rec['tensorflow']}): "
            "no int16x8 flatbuffer to time.", "", "| Model | Runtime | int16x8 |", "|---|---|---|"]
    for st in rec["students"]:
        for runtime, what in st["runtimes"].items():
            rows.append(f"| {st['student']} int16x8 | {runtime} | {what} |")
    return rows + [""]


def default_runs():
    return [os.path.dirname(p) for p in sorted(glob.glob(os.path.join("runs", "*", METRICS)))
            if not os.path.dirname(p).endswith(".partial")]


def run_benchmark(runs=None, teacher="teachers/minilm-sst2", n=200, warmup=20, threads=1, kernels="builtin",
                  data="../shared/data/sst2", out="results", int16x8=None, command="tfdistil benchmark",
                  log=lambda m: print(m, file=sys.stderr)):
    """Time the teacher and every run (default: runs/*), write OUT/benchmark.json and .md; return the result."""
    legacy_keras_env()
    from tfdistil.data.splits import load_split
    from tfdistil.files import atomic_write_json, atomic_write_text
    args = SimpleNamespace(teacher=teacher, n=n, warmup=warmup, threads=threads, kernels=kernels, data=data)
    set_tf_threads(threads)
    sentences = load_split(data, "test", n).sentences
    t0 = time.time()
    result = {"format": "tfdistil-benchmark-1", "command": command,
              "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "n": len(sentences), "warmup": warmup, "kernels": kernels,
              "data": shown(data), "cpu": cpu_info()}
    log(f"teacher: {teacher}")
    result["teacher"] = teacher_entry(args, sentences)
    result["models"] = []
    for run_dir in (list(runs) if runs else default_runs()):
        log(f"student: {run_dir}")
        try:
            result["models"] += student_entries(run_dir, sentences, args)
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            result["models"].append({"run": os.path.basename(run_dir), "status": f"skipped: {e}"[:300]})
    import tensorflow as tf
    result["threads"] = thread_settings(threads)
    result["versions"] = {"tensorflow": tf.__version__, "keras": _version("keras"), "tf_keras": _version("tf-keras"),
                          "transformers": _version("transformers"), "ai-edge-litert": _version("ai-edge-litert"),
                          "python": platform.python_version()}
    result["cpu"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    result["seconds"] = round(time.time() - t0, 1)
    add_speedups(result)
    os.makedirs(out, exist_ok=True)
    atomic_write_json(os.path.join(out, "benchmark.json"), result)
    atomic_write_text(os.path.join(out, "benchmark.md"), markdown(result, int16x8))
    return result


def render(json_path, out, int16x8=None):
    """Re-render OUT/benchmark.md from a benchmark.json (no timing)."""
    from tfdistil.files import atomic_write_text
    os.makedirs(out, exist_ok=True)
    with open(json_path, encoding="utf-8") as f:
        atomic_write_text(os.path.join(out, "benchmark.md"), markdown(json.load(f), int16x8))


def _teacher_only(argv):
    """The subprocess fallback: TEACHER N WARMUP THREADS DATA OUT_JSON -> the teacher alone, in a fresh process."""
    legacy_keras_env()
    from tfdistil.data.splits import load_split
    from tfdistil.files import atomic_write_json
    teacher, n, warmup, threads, data, out = argv
    set_tf_threads(int(threads))
    sentences = load_split(data, "test", int(n)).sentences
    atomic_write_json(out, time_teacher(teacher, sentences, int(warmup)))


if __name__ == "__main__":
    _teacher_only(sys.argv[1:])
