#!/usr/bin/env python3
"""Commit one run's int8 student as results/models/NAME/, with where it came from.

    python scripts/ship_model.py RUN NAME --tflm-log LOG --litert-log LOG --chosen-by "..." \
        [--command "..."]... [--log PATH]... [--teacher "..."]

Copies the int8 flatbuffer, its manifest and vocab.json (RUN/tflite/), the run's metrics.json, the
last JSON line of the two `evaluate-tflite --json` logs as eval_int8_{tflm,litert}_test.json, and
writes source.json (run, seed, config, commands, logs, how it was chosen, the accuracies read from
those files). scripts/check_tflite_runtime.py and tests/test_pi_runtime.py then re-measure it in
tflite-runtime 2.14 against the LiteRT record. Written beside NAME and renamed into place.
"""
import argparse
import glob
import json
import os
import shutil
import sys

from mcu_summary import last_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ship(run, name, tflm_log, litert_log, chosen_by, commands=(), logs=(), teacher=None):
    models = glob.glob(os.path.join(run, "tflite", "*_int8_L64.tflite"))
    if len(models) != 1:
        sys.exit(f"error: {run}/tflite: expected one *_int8_L64.tflite, found {len(models)}")
    model = models[0]
    tflm, litert = last_json(tflm_log), last_json(litert_log)
    for rec, log in ((tflm, tflm_log), (litert, litert_log)):
        if not rec or os.path.join(ROOT, rec["model"]) != model or rec["split"] != "test":
            sys.exit(f"error: {log} is not a test-split evaluation of {model}")
    with open(os.path.join(run, "metrics.json")) as f:
        metrics = json.load(f)
    with open(os.path.join(run, "config.json")) as f:
        config = json.load(f)
    dest = os.path.join(ROOT, "results", "models", name)
    tmp = dest + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    stem = os.path.basename(model)[:-len(".tflite")]
    for src in (model, os.path.join(run, "tflite", stem + ".json"), os.path.join(run, "tflite", "vocab.json"),
                os.path.join(run, "metrics.json")):
        shutil.copy(src, tmp)
    manifest_path = os.path.join(tmp, stem + ".json")
    with open(manifest_path) as f:
        manifest = json.load(f)
    manifest["run_dir"] = os.path.basename(run)  # the name of the run; its "../" would point into results/models
    with open(manifest_path, "w") as f:
        f.write(json.dumps(manifest, indent=2) + "\n")
    for kind, rec in (("tflm", tflm), ("litert", litert)):
        with open(os.path.join(tmp, f"eval_int8_{kind}_test.json"), "w") as f:
            f.write(json.dumps(rec) + "\n")
    source = {"run": os.path.relpath(run, ROOT), "seed": config["seed"], "config": config,
              "commands": list(commands), "logs": [os.path.relpath(p, ROOT) for p in (*logs, tflm_log, litert_log)],
              "chosen_by": chosen_by, "dev_accuracy": metrics["dev_accuracy"],
              "test_accuracy": metrics["test_accuracy"], "tflite_int8_test_accuracy": litert["accuracy"],
              "tflite_int8_test_runtime": "litert", "tflite_int8_tflm_test_accuracy": tflm["accuracy"],
              "model_bytes": os.path.getsize(model), "teacher": teacher}
    with open(os.path.join(tmp, "source.json"), "w") as f:
        json.dump(source, f, indent=2)
        f.write("\n")
    if os.path.isdir(dest):
        shutil.rmtree(dest)
    os.replace(tmp, dest)
    return source


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run")
    p.add_argument("name")
    p.add_argument("--tflm-log", required=True)
    p.add_argument("--litert-log", required=True)
    p.add_argument("--chosen-by", required=True)
    p.add_argument("--command", action="append", default=[])
    p.add_argument("--log", action="append", default=[])
    p.add_argument("--teacher", default=None)
    a = p.parse_args(argv)
    source = ship(os.path.abspath(a.run), a.name, os.path.abspath(a.tflm_log), os.path.abspath(a.litert_log),
                  a.chosen_by, a.command, [os.path.abspath(x) for x in a.log], a.teacher)
    print(json.dumps({k: source[k] for k in ("run", "dev_accuracy", "test_accuracy", "tflite_int8_test_accuracy",
                                             "tflite_int8_tflm_test_accuracy", "model_bytes")}))


if __name__ == "__main__":
    main()
