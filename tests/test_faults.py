"""Output folders: never delete what tfdistil did not make, one process per folder, and a
SIGKILL at any moment (checkpoint writes included) leaves a run that the same command resumes."""
import json
import os
import subprocess
import sys
import time

from click.testing import CliRunner

from conftest import ROOT
from studies import study_module
from tfdistil.cli import main

fault_test = study_module("ablations", "fault_test")


def snapshot(folder):
    return {os.path.relpath(os.path.join(d, f), folder): os.stat(os.path.join(d, f)).st_size
            for d, _, files in os.walk(folder) for f in files}


def one_line_error(result, needle):
    assert result.exit_code == 2, (result.exit_code, result.output)
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and needle in err, err


def test_out_holding_user_files_is_refused_and_untouched(tmp_path, data_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "u").mkdir()
    (tmp_path / "u" / "thesis.txt").write_text("x")
    (tmp_path / "afile").write_text("y")
    (tmp_path / "v.partial").mkdir()
    (tmp_path / "v.partial" / "notes.txt").write_text("z")
    before = snapshot(tmp_path)
    run = lambda out: CliRunner().invoke(main, ["fit", "--limit", "300", "--epochs", "1", "--data", data_dir,
                                                "--out", out])
    one_line_error(run("u"), "was not made by tfdistil")
    one_line_error(run("."), "refusing to write into the working folder")
    one_line_error(run(str(tmp_path.parent)), "refusing to write into the working folder")
    one_line_error(run("afile"), "is a file")
    one_line_error(run("v"), "v.partial: exists and was not made by tfdistil")
    assert snapshot(tmp_path) == before


def test_second_process_on_the_same_out_is_told_the_pid(tmp_path, data_dir):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({**fault_test.CONFIG, "epochs": 3}))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "tfdistil", "fit", "--config", str(config), "--data", data_dir, "--out", str(out)]
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    lock = out.parent / "run.partial" / ".lock"
    t0 = time.time()
    while not (lock.exists() and lock.read_text().strip()) and time.time() - t0 < 60:
        time.sleep(0.05)
    second = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert first.wait(timeout=300) == 0
    assert second.returncode == 2, second.stderr
    assert second.stderr.strip() == f"error: {out} is in use by pid {first.pid}", second.stderr
    assert (out / "metrics.json").is_file() and not os.path.exists(str(out) + ".partial")


def test_sigkill_at_random_moments_and_inside_checkpoint_writes_always_resumes(tmp_path):
    """A few kills here; `python experiments/ablations/fault_test.py --kills 30` is the full run (experiments/ablations/fault_test.json)."""
    result = fault_test.fault_test(6, seed=1, workdir=str(tmp_path), log=lambda m: None)
    assert result["killed"] >= 4, result
    assert result["ok"] == result["kills"], json.dumps(result["cases"], indent=1)


def test_disk_full_mid_run_is_one_line_then_resumes(tmp_path, data_dir):
    """A write that fails for lack of room (here a file-size limit: EFBIG, the same path as
    ENOSPC, and needs no mount in CI) is one line and exit 2, not an h5py dump and a segfault;
    no temp file is left, and the rerun with room finishes the run."""
    import resource
    out = str(tmp_path / "run")
    args = [sys.executable, "-m", "tfdistil", "fit", "--student", "cnn", "--limit", "300", "--epochs", "1",
            "--data", data_dir, "--out", out]
    limited = subprocess.run(args, capture_output=True, text=True, cwd=ROOT,
                             preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, 150_000)))
    assert limited.returncode == 2, limited.stderr[-2000:]
    lines = limited.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "file too large" in lines[0], lines
    assert not [f for f in os.listdir(out + ".partial") if ".tmp" in f]
    rerun = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert os.path.isfile(os.path.join(out, "model.weights.h5")) and not os.path.exists(out + ".partial")


def test_too_little_free_space_is_refused_before_training(tmp_path, monkeypatch):
    from tfdistil.errors import UserError
    from tfdistil import files
    monkeypatch.setattr(files.shutil, "disk_usage", lambda p: type("u", (), {"free": 1_000_000})())
    import pytest
    with pytest.raises(UserError, match=r"1.0 MB free, training this student needs about 4.5 MB"):
        files.check_free_space(str(tmp_path), 4_500_000, "training this student")
