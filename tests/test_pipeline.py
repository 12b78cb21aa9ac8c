"""End to end on real SST-2 slices: tiny real BERT teacher -> logits -> distilled student -> evaluate."""
import json
import os

import numpy as np
import pytest

from conftest import run_cli


@pytest.fixture(scope="module")
def tiny_teacher(tiny_bert):
    return tiny_bert


def test_teacher_to_distilled_student(tiny_teacher, tmp_path, data_dir):
    teacher = tmp_path / "teacher"
    fit = run_cli("teacher", "fit", "--model", tiny_teacher, "--data", data_dir, "--out", teacher,
                  "--limit", "256", "--epochs", "1", "--eval-every", "0", "--lr", "1e-3", "--json")
    meta = json.loads(fit.stdout.strip().splitlines()[-1])
    assert 0.0 <= meta["dev_accuracy"] <= 1.0 and os.path.isfile(teacher / "tf_model.h5")
    assert not os.path.exists(str(teacher) + ".partial")

    cache = tmp_path / "logits.npz"
    out = run_cli("teacher", "logits", "--teacher", teacher, "--data", data_dir, "--out", cache, "--limit", "256",
                  "--json")
    header = json.loads(out.stdout.strip().splitlines()[-1])
    assert header["train_rows"] == 256 and header["dev_rows"] == 872 and header["test_rows"] == 1821
    with np.load(cache) as z:
        assert z["train_logits"].shape == (256, 2) and np.isfinite(z["train_logits"]).all()

    ev = run_cli("teacher", "evaluate", "--teacher", teacher, "--data", data_dir, "--split", "dev", "--json")
    assert json.loads(ev.stdout.strip().splitlines()[-1])["accuracy"] == pytest.approx(header["dev_accuracy"])

    # The student reads the cache; the teacher is not in its process.
    run = tmp_path / "student"
    fit = run_cli("fit", "--student", "bilstm_attn", "--distill", "--teacher-logits", cache, "--limit", "256",
                  "--epochs", "2", "--data", data_dir, "--out", run, "--json")
    metrics = json.loads(fit.stdout.strip().splitlines()[-1])
    assert metrics["distilled"] and metrics["train_rows"] == 256 and metrics["teacher_logits"] == str(cache)
    for f in ("config.json", "vocab.json", "model.weights.h5", "history.json", "metrics.json", "history.png"):
        assert os.path.isfile(run / f), f
    assert len(json.loads((run / "history.json").read_text())) == 2

    ev = run_cli("evaluate", run, "--data", data_dir, "--split", "test", "--json")
    result = json.loads(ev.stdout.strip().splitlines()[-1])
    assert result["n"] == 1821 and result["accuracy"] == pytest.approx(metrics["test_accuracy"])

    pred = run_cli("predict", run, "a gorgeous , witty , seductive movie .", "", "zzqx wvvk", "--json")
    rows = json.loads(pred.stdout.strip().splitlines()[-1])["predictions"]
    assert len(rows) == 3 and all(0.0 <= r["probability_positive"] <= 1.0 for r in rows)

    # A cache made on other rows is refused with a way out.
    stale = run_cli("fit", "--distill", "--teacher-logits", cache, "--limit", "300", "--epochs", "1",
                    "--data", data_dir, "--out", tmp_path / "stale", check=False)
    assert stale.returncode == 2 and "stale teacher logits" in stale.stderr and "Traceback" not in stale.stderr
