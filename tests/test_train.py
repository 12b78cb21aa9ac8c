"""Real Keras training on small real slices: run folders, reproducibility, interrupt + resume."""
import json
import os

import numpy as np
import pytest

from tfdistil.config import Config
from tfdistil.training.fit import evaluate, fit, load_run, predict


def small(student="cnn", **kw):
    return Config(student=student, embed_dim=16, hidden=16, filters=16, train_limit=400,
                  **{"epochs": 2, "seed": 3, **kw})


def test_same_seed_same_model(tmp_path, data_dir):
    a = fit(small(), data_dir, str(tmp_path / "a"), log=lambda m: None)
    b = fit(small(), data_dir, str(tmp_path / "b"), log=lambda m: None)
    assert a["dev_accuracy"] == b["dev_accuracy"] and a["test_accuracy"] == b["test_accuracy"]
    wa = load_run(str(tmp_path / "a"))[2].get_weights()
    wb = load_run(str(tmp_path / "b"))[2].get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(wa, wb))


def test_interrupted_fit_leaves_no_run_and_resumes(tmp_path, data_dir):
    out = str(tmp_path / "run")

    def stop_after_first_epoch(msg):
        if msg.startswith("epoch 1/3"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(small("bilstm", epochs=3), data_dir, out, log=stop_after_first_epoch)
    assert not os.path.exists(out) and os.path.isfile(out + ".partial/checkpoints.json")

    messages = []
    metrics = fit(small("bilstm", epochs=3), data_dir, out, log=messages.append)
    assert any(m.startswith("resuming") for m in messages)
    assert [h["epoch"] for h in json.load(open(os.path.join(out, "history.json")))] == [1, 2, 3]
    assert not os.path.exists(out + ".partial")
    assert evaluate(out, data_dir, "dev")["accuracy"] == pytest.approx(metrics["dev_accuracy"])
    rows = predict(out, ["", "zzzz qqqq", "a fine film"])
    assert [r["text"] for r in rows] == ["", "zzzz qqqq", "a fine film"]
