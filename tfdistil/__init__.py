"""tfdistil: distil a BERT teacher into tiny Keras students and ship them as TFLite for a
Raspberry Pi and a microcontroller.

The package follows the pipeline, one subpackage per step:

    data/      read labelled text, build the vocabulary, the one tokenizer
    teacher/   fine-tune TFBertForSequenceClassification, cache its logits
    transfer/  augmented transfer sets, labelled by the teacher into streamed shards
    students/  the CNN, BiLSTM and BiLSTM-Attn students, built by plain functions
    training/  the distillation loss model and the one training recipe
    edge/      TFLite conversion, LiteRT/TFLM evaluation, the firmware kit
    search/    Keras Tuner under a flash budget
    distil/    the one command: selection split, stages cached by input, checks, bundle, report
    report/    the paper's tables beside ours, plots, results.json
    cli/       `tfdistil ...`: click parses, the functions below do the work

Python API (each function is what the CLI command of the same name runs):

    from tfdistil.distil import distil      # the whole pipeline, one call (`tfdistil distil`)
    distil(train="train.csv", test="test.csv", target="cortex-m4", flash="256KB", out="runs/x")

    import tfdistil
    cfg = tfdistil.Config(student="bilstm_attn", distill=True)
    metrics = tfdistil.fit(cfg, "../shared/data/sst2", "runs/attn")
    tfdistil.evaluate("runs/attn", "../shared/data/sst2", split="test")
    tfdistil.predict("runs/attn", ["a gorgeous , witty movie"])
    model = tfdistil.convert("runs/attn", quantize="int8", data="../shared/data/sst2")
    tfdistil.evaluate_tflite(model["path"], "../shared/data/sst2", runtime="tflm")

Importing tfdistil is cheap: TensorFlow loads only when a function needs it. Its start-up
lines (oneDNN, CUDA, absl) are dropped as the CLI drops them; TFDISTIL_VERBOSE=1 keeps them.
"""
from tfdistil.config import Config

__all__ = ["Config", "fit", "fit_stream", "evaluate", "predict", "convert", "evaluate_tflite", "tune",
           "write_firmware_kit", "fit_teacher", "teacher_logits", "write_report"]


def _quiet():
    """Before TensorFlow loads: the CLI's environment, warning filters and fd-2 filter (tfdistil.quiet)."""
    from tfdistil.quiet import filter_native_stderr, quiet_tensorflow
    quiet_tensorflow()
    filter_native_stderr()


def fit(cfg, data, out, **kw):
    """Train `cfg.student` (baseline or distilled); write the run folder `out`; return its metrics."""
    _quiet()
    from tfdistil.training.fit import fit as _fit
    return _fit(cfg, data, out, **kw)


def fit_stream(cfg, shards_dir, data, out, **kw):
    """Distil from a sharded, teacher-labelled transfer set streamed from disk."""
    _quiet()
    from tfdistil.training.stream import fit_stream as _fit_stream
    return _fit_stream(cfg, shards_dir, data, out, **kw)


def evaluate(run_dir, data, split="test", **kw):
    """Accuracy of a run folder's student on one split, overall and per slice (`slices=`, `teacher_logits=`)."""
    _quiet()
    from tfdistil.training.fit import evaluate as _evaluate
    return _evaluate(run_dir, data, split, **kw)


def predict(run_dir, texts):
    """Labels and probabilities for raw sentences."""
    _quiet()
    from tfdistil.training.fit import predict as _predict
    return _predict(run_dir, texts)


def convert(run_dir, quantize="int8", max_len=64, out=None, data=None, **kw):
    """A builtin-ops-only TFLite flatbuffer of a run's student (+ vocab.json and a manifest)."""
    _quiet()
    from tfdistil.edge.convert.export import convert as _convert
    return _convert(run_dir, quantize, max_len, out, data, **kw)


def evaluate_tflite(model_path, data, split="test", runtime="litert", **kw):
    """A flatbuffer's accuracy, agreement with Keras and latency in LiteRT or TFLite Micro."""
    _quiet()
    from tfdistil.edge.host.evaluate import evaluate_tflite as _evaluate_tflite
    return _evaluate_tflite(model_path, data, split, runtime, **kw)


def write_firmware_kit(model_path, out_dir):
    """The MCU kit of a flatbuffer: C array, exact op resolver, measured arena, C tokenizer."""
    _quiet()
    from tfdistil.edge.mcu.firmware import write_firmware_kit as _kit
    return _kit(model_path, out_dir)


def tune(student, data, out, **kw):
    """Keras Tuner search for the most accurate student under an int8 flash budget."""
    _quiet()
    from tfdistil.search.tune import tune as _tune
    return _tune(student, data, out, **kw)


def fit_teacher(model, data, out, **kw):
    """Fine-tune a teacher (resumable). Call it in a process whose TensorFlow has not been imported
    yet, or with TF_USE_LEGACY_KERAS=1 set: transformers' TF models are Keras 2 models."""
    _quiet()
    from tfdistil.teacher.fit import fit_teacher as _fit_teacher
    return _fit_teacher(model, data, out, **kw)


def teacher_logits(teachers, data, out_file, **kw):
    """Cache one teacher's logits (or several teachers' mean) for train/dev/test (same caveat as fit_teacher)."""
    _quiet()
    from tfdistil.teacher.model import write_logits
    return write_logits(teachers, data, out_file, **kw)


def write_report(runs_dir, out, **kw):
    """REPORT.md, plots and results.json from a folder of run folders."""
    _quiet()
    from tfdistil.report.render import write_report as _write_report
    return _write_report(runs_dir, out, **kw)
