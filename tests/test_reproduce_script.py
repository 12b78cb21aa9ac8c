"""experiments/paper_tables/reproduce.sh says when a step failed: a non-zero exit, the failed run named, the others run."""
import os
import subprocess

from conftest import ROOT


def test_a_failed_run_makes_reproduce_exit_non_zero(tmp_path):
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    (teacher / "teacher_meta.json").write_text("{}")  # teacher steps count as done
    (tmp_path / "logits.npz").write_bytes(b"")
    fake = tmp_path / "tfdistil"  # fails `fit` for seed 1 only, succeeds at everything else
    fake.write_text('#!/usr/bin/env bash\n'
                    'if [ "$1" = fit ] && [[ " $* " == *" --seed 1 "* ]]; then exit 2; fi\n'
                    'for a in "$@"; do [ "$prev" = --out ] && mkdir -p "$a/tflite" && echo "{}" > "$a/metrics.json"; '
                    'prev=$a; done\n'
                    'echo "{}"\n')
    fake.chmod(0o755)
    env = {**os.environ, "TFDISTIL": str(fake), "TEACHER_DIR": str(teacher), "LOGITS": str(tmp_path / "logits.npz"),
           "RUNS": str(tmp_path / "runs"), "LOGS": str(tmp_path / "logs"), "SEEDS": "0 1", "STUDENTS": "cnn",
           "MODES": "baseline", "JOBS": "1"}
    proc = subprocess.run(["bash", os.path.join(ROOT, "experiments", "paper_tables", "reproduce.sh")], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "[failed] cnn-baseline-s1" in proc.stdout
    assert "[done] cnn-baseline-s0" in proc.stdout  # the other run still finished
    assert "some runs failed" in proc.stderr
