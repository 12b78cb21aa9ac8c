"""The files of a run folder, named in one place.

`fit`, `fit-stream` and a tuner trial write a run folder; `evaluate`, `convert`,
`firmware`, `report` and `distil` read it. They all spell its files with these
names, so a renamed file is a one-line change:

    RUN/config.json          the Config it was trained with (CONFIG)
    RUN/vocab.json           the vocabulary (VOCAB; convert writes a copy beside each .tflite)
    RUN/model.weights.h5     the best dev epoch's weights (WEIGHTS)
    RUN/history.json, .png   dev accuracy per epoch (HISTORY, HISTORY_PLOT)
    RUN/metrics.json         what the run reports; written last (METRICS)
    RUN/tflite/              `convert`'s STUDENT_QUANT_LLEN.tflite + .json manifests (TFLITE),
                             and eval_QUANT_RUNTIME_SPLIT.json: a kept `evaluate-tflite --json` result
"""
import glob
import json
import os

from tfdistil.errors import UserError

CONFIG = "config.json"
VOCAB = "vocab.json"
WEIGHTS = "model.weights.h5"
HISTORY = "history.json"
HISTORY_PLOT = "history.png"
METRICS = "metrics.json"
TFLITE = "tflite"
RUN_FILES = (CONFIG, VOCAB, WEIGHTS)  # what loading a run's student needs


def vocab_beside(model_path):
    """The vocab.json that `convert` wrote beside a flatbuffer."""
    return os.path.join(os.path.dirname(os.path.abspath(model_path)), VOCAB)


def tflite_path(run_dir, student, quantize, length):
    """RUN/tflite/STUDENT_QUANT_LENGTH.tflite, `length` as in the name: "L64", "L1-64"."""
    return os.path.join(run_dir, TFLITE, f"{student}_{quantize}_{length}.tflite")


def manifest_of(model_path):
    """FILE.json, the manifest `convert` writes beside FILE.tflite."""
    return model_path[: -len(".tflite")] + ".json"


def converted(model_path):
    """True when `convert` finished this flatbuffer: it writes the .tflite, then vocab.json, then the
    manifest, so only the manifest says all three are there (a kill between them leaves a model
    without its vocabulary; CI's random kills found a resume that trusted the .tflite alone)."""
    return os.path.isfile(model_path) and os.path.isfile(manifest_of(model_path))


def eval_name(runtime, quantize="int8", split="test"):
    """eval_QUANT_RUNTIME_SPLIT.json: an `evaluate-tflite --json` result kept beside the model."""
    return f"eval_{quantize}_{runtime}_{split}.json"


def eval_json(run_dir, runtime, quantize="int8", split="test"):
    """RUN/tflite/eval_QUANT_RUNTIME_SPLIT.json, the one the report reads."""
    return os.path.join(run_dir, TFLITE, eval_name(runtime, quantize, split))


def resolve_model(run_or_model):
    """A .tflite (with vocab.json beside it), or a run folder's int8 model at max_len 64
    (or its one int8 model of another length)."""
    if run_or_model.endswith(".tflite"):
        return run_or_model
    if not os.path.isdir(run_or_model):
        raise UserError(f"{run_or_model}: neither a .tflite file nor a run folder")
    try:
        with open(os.path.join(run_or_model, CONFIG), encoding="utf-8") as f:
            student = json.load(f)["student"]
    except (OSError, ValueError, KeyError):
        raise UserError(f"{run_or_model}: not a run folder (no readable {CONFIG})") from None
    model = tflite_path(run_or_model, student, "int8", "L64")
    if os.path.isfile(model):
        return model
    # another fixed length (a task converted with --max-len 128): the one int8 model there is
    found = sorted(glob.glob(tflite_path(run_or_model, student, "int8", "L[0-9]*")))
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise UserError(f"{run_or_model}/{TFLITE} holds {len(found)} int8 models "
                        f"({', '.join(map(os.path.basename, found))}): pass the .tflite to run")
    raise UserError(f"{model} not found: convert the run first "
                    f"(tfdistil convert {run_or_model} --quantize int8 --data DIR)")
