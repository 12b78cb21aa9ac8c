"""scripts/tuned_students.sh: a tuner's best.json retrained per seed, converted and measured on test."""
import json
import os
import subprocess
import sys

from conftest import ROOT


def _script(env):
    return subprocess.run(["bash", os.path.join(ROOT, "scripts", "tuned_students.sh")], capture_output=True,
                          text=True, env={**os.environ, "TFDISTIL": f"{sys.executable} -m tfdistil", **env})


def test_tuned_students_retrains_best_json_and_measures_int8(tmp_path, data_dir):
    best = tmp_path / "tune" / "tiny" / "best.json"
    best.parent.mkdir(parents=True)
    best.write_text(json.dumps({"config": {"student": "cnn", "embed_dim": 8, "filters": 8, "hidden": 8,
                                           "epochs": 1, "train_limit": 200, "max_len": 32}}))
    env = {"BEST": str(best), "MODE": "fit", "SEEDS": "0 1", "DATA": data_dir,
           "RUNS": str(tmp_path / "runs"), "LOGS": str(tmp_path / "logs")}
    proc = _script(env)
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout
    for seed in (0, 1):
        run = tmp_path / "runs" / f"tiny-fit-s{seed}"
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["seed"] == seed and metrics["train_rows"] == 200
        for rt in ("litert", "tflm"):
            ev = json.loads((run / "tflite" / f"eval_int8_{rt}_test.json").read_text())
            assert ev["runtime"] == rt and ev["split"] == "test" and ev["n"] == 1821
            assert ev["max_len"] == 64  # convert's device length, whatever the training max_len
        assert f"[done] tiny-fit-s{seed}: test {metrics['test_accuracy']}" in proc.stdout
    # Resumable: a second call finds every step done and trains nothing.
    again = _script(env)
    assert again.returncode == 0 and "[fit]" not in again.stdout and again.stdout.count("[done]") == 2


def test_tuned_students_bad_input_is_one_line(tmp_path):
    proc = _script({"BEST": str(tmp_path / "nope.json")})
    assert proc.returncode == 2 and "not found" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    best = tmp_path / "best.json"
    best.write_text("{}")
    proc = _script({"BEST": str(best), "MODE": "walk"})
    assert proc.returncode == 2 and "MODE must be fit or stream" in proc.stderr
