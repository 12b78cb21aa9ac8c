import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("TFDISTIL_DATA", os.path.join(ROOT, "..", "shared", "data", "sst2"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["TFDISTIL_DATA"] = DATA


def run_cli(*args, check=True, env=None):
    """The real `tfdistil` CLI in its own process (needed for the Keras 2 teacher)."""
    proc = subprocess.run([sys.executable, "-m", "tfdistil", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"tfdistil {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="session")
def data_dir():
    assert os.path.isfile(os.path.join(DATA, "train.tsv")), f"SST-2 not found at {DATA}"
    return DATA


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, data_dir):
    """Run folders for all three students: tiny sizes, 600 rows, 1 epoch (real Keras training)."""
    from tfdistil.config import Config
    from tfdistil.training.fit import fit
    base = tmp_path_factory.mktemp("runs")
    runs = {}
    for student in ("cnn", "bilstm", "bilstm_attn"):
        cfg = Config(student=student, embed_dim=16, hidden=16, filters=16, epochs=1, train_limit=600, seed=1)
        fit(cfg, data_dir, str(base / student), log=lambda m: None)
        runs[student] = str(base / student)
    return runs


@pytest.fixture(scope="session")
def converted_int8(tiny_run, data_dir, tmp_path_factory):
    """int8 flatbuffers (+ vocab.json) of the three tiny students, converted once per session."""
    from tfdistil.edge.export import convert
    out = tmp_path_factory.mktemp("int8")
    return {s: convert(run, "int8", max_len=64, out=str(out / s / f"{s}_int8.tflite"), data=data_dir,
                       calibration_size=100) for s, run in tiny_run.items()}
