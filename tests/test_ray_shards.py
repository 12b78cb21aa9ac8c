"""`teacher shards --engine ray`: the local engine's shards from Ray actors, through faults.

One Ray cluster per file, started here (`ray.init(num_cpus=2)` on 127.0.0.1); the CLI runs in
child processes and joins it with `--address`, as it would join a real cluster.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT
from test_augment_shards import BOOT, KILLED_AFTER_FIRST_SHARD, tfdistil

# The local engine with Ray made unimportable: it must not need it.
NO_RAY = "import sys; sys.modules['ray'] = None\n" + BOOT
# Reports on exit whether TensorFlow was imported (bad input must be refused before that).
TF_SEEN = ("import atexit, sys\natexit.register(lambda: sys.stderr.write("
           "'\\ntensorflow imported: %s\\n' % ('tensorflow' in sys.modules)))\n" + BOOT)


@pytest.fixture(scope="module")
def cluster():
    import ray
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def inputs(tiny_bert, data_dir, tmp_path_factory):
    """100 labelled train rows + 111 augmented sentences: 4 shards of 64 (the last 19 rows)."""
    from tfdistil.transfer.augment import write_augmented
    aug = tmp_path_factory.mktemp("ray") / "aug.tsv"
    write_augmented(data_dir, 1, str(aug), seed=3, limit=150, tagger="none", log=lambda m: None)
    return ["teacher", "shards", "--teacher", tiny_bert, "--data", data_dir, "--limit", 100, "--augmented", aug,
            "--shard-size", 64, "--batch-size", 16, "--json"]


def rows(out):
    from tfdistil.transfer.shards import read_shards
    got = list(read_shards(str(out), shuffle_buffer=0)[0].as_numpy_iterator())
    return ([r["sentence"].decode() for r in got], [int(r["label"]) for r in got],
            np.array([r["teacher_logits"] for r in got]))


def same_shards(a, b):
    """Same rows in transfer-set order (input row i of shard k in both), logits to float32 rounding."""
    ma, mb = (json.loads((d / "manifest.json").read_text()) for d in (a, b))
    key = lambda m: [(s["index"], s["file"], s["rows"], s["input_sha256"], s["labelled_rows"]) for s in m["shards"]]
    assert key(ma) == key(mb) and ma["complete"] and mb["complete"]
    assert {k: ma[k] for k in ("format", "teacher_sha256", "sources", "shard_size", "max_len", "num_labels")} == \
        {k: mb[k] for k in ("format", "teacher_sha256", "sources", "shard_size", "max_len", "num_labels")}
    assert sorted(os.listdir(a)) == sorted(os.listdir(b))  # no shard missing, duplicated or left as debris
    (sa, ya, za), (sb, yb, zb) = rows(a), rows(b)
    assert sa == sb and ya == yb and len(sa) == ma["rows"]
    # The tiny random teacher's logits differ by ~1e-4 across rows: 1e-6 is float32 rounding (the
    # actors run TensorFlow with 1 thread, the local engine with 2), not another computation.
    assert np.abs(za - zb).max() < 1e-6 and np.ptp(za, axis=0).max() > 1e-5


def ancestors(pid):
    while pid > 1:
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            return
        yield pid


def kill_a_labelling_worker(proc, timeout=120):
    """SIGKILL the first actor process of this test's cluster caught inside `label` (its title)."""
    me = os.getpid()
    end = time.time() + timeout
    while time.time() < end and proc.poll() is None:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    title = f.read()
            except OSError:
                continue
            if title.startswith(b"ray::TeacherWorker.label") and me in ancestors(int(pid)):
                os.kill(int(pid), signal.SIGKILL)
                return int(pid)
        time.sleep(0.005)
    raise AssertionError("no worker caught labelling")


def test_ray_engine_through_driver_and_worker_kills_equals_local(cluster, inputs, tmp_path, data_dir):
    """Driver SIGKILLed after its first shard; the rerun resumes, and one of its 2 actors is
    SIGKILLed inside `label` (mid-shard): Ray restarts it and reruns that shard. The folder ends
    equal to the local engine's, and a student streamed from either is the same."""
    local = tmp_path / "local"
    # The local engine (which needs no Ray) runs alongside the first Ray run: the tests are slow
    # enough on 2 shared cores.
    local_proc = subprocess.Popen([sys.executable, "-c", NO_RAY, *map(str, inputs), "--out", str(local)], cwd=ROOT,
                                  text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = tmp_path / "ray"
    args = [*map(str, inputs), "--out", str(out), "--engine", "ray", "--address", cluster, "--workers"]

    killed = tfdistil(*args, "1", check=False, boot=KILLED_AFTER_FIRST_SHARD)  # 1 worker; the rerun has 2
    assert killed.returncode == -9, killed.stderr[-2000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert not manifest["complete"] and len(manifest["shards"]) == 1
    first = out / manifest["shards"][0]["file"]
    mtime = first.stat().st_mtime_ns

    proc = subprocess.Popen([sys.executable, "-c", BOOT, *args, "2"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    kill_a_labelling_worker(proc)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["engine"] == "ray" and summary["complete"] and summary["shards"] == 4
    assert summary["shards_skipped"] == 1 and summary["shards_labelled_now"] == 3  # resumed, nothing redone twice
    assert summary["ray"]["worker_restarts"] == 1  # the kill happened and was survived
    assert first.stat().st_mtime_ns == mtime  # the finished shard was not redone
    _, err = local_proc.communicate(timeout=300)
    assert local_proc.returncode == 0, err[-3000:]
    same_shards(local, out)

    # fit-stream cannot tell them apart: the same student from either folder.
    from tfdistil.config import Config
    from tfdistil.training.stream import fit_stream
    cfg = Config(student="cnn", embed_dim=8, filters=8, hidden=8, epochs=1, seed=2, train_limit=300)
    metrics = [fit_stream(cfg, str(d), data_dir, str(tmp_path / f"run-{d.name}"), log=lambda m: None)
               for d in (local, out)]
    assert metrics[0]["train_rows"] == metrics[1]["train_rows"] == summary["rows"]
    assert metrics[0]["dev_accuracy"] == metrics[1]["dev_accuracy"]
    import h5py
    weights = []
    for d in ("run-local", "run-ray"):
        with h5py.File(tmp_path / d / "model.weights.h5") as f:
            weights.append({k: np.array(f[k]) for k in _datasets(f)})
    assert weights[0].keys() == weights[1].keys() and weights[0]
    assert max(np.abs(weights[0][k] - weights[1][k]).max() for k in weights[0]) < 1e-5


def _datasets(group, prefix=""):
    import h5py
    for k, v in group.items():
        if isinstance(v, h5py.Dataset):
            yield prefix + k
        else:
            yield from _datasets(v, prefix + k + "/")


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ray_bad_input_is_one_line_before_tensorflow(inputs, tmp_path, tiny_bert):
    """Unreachable cluster, no workers, a teacher the workers could not read, a folder of another
    teacher: `error:` + exit 2 within seconds, TensorFlow never imported, no Ray started."""
    import shutil
    base = [*inputs, "--out", tmp_path / "out", "--engine", "ray"]
    other = tmp_path / "other-teacher"
    shutil.copytree(tiny_bert, other)
    with open(other / "tf_model.h5", "r+b") as f:  # another teacher: other weights
        f.seek(-1, 2)
        f.write(b"\x00" if f.read(1) != b"\x00" else b"\x01")
    no_weights = tmp_path / "no-weights"
    shutil.copytree(tiny_bert, no_weights)
    (no_weights / "tf_model.h5").unlink()
    # a folder with one finished shard of the tiny teacher (as a killed run leaves it)
    (tmp_path / "out").mkdir()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    cases = {
        "no Ray cluster answers": ["--address", f"127.0.0.1:{closed_port()}"],
        # a port that accepts connections but is no Ray GCS (ray.init would retry for ~25 s)
        "is not a Ray cluster's GCS": ["--address", f"127.0.0.1:{silent.getsockname()[1]}"],
        "need at least one worker": ["--workers", 0],
        "no tf_model.h5 or model.safetensors": ["--teacher", no_weights],
        "teacher folder not found": ["--teacher", tmp_path / "missing"],
    }
    for message, extra in cases.items():
        args = list(base)
        if extra[0] == "--teacher":
            args[args.index("--teacher") + 1] = extra[1]
            extra = []
        t0 = time.time()
        proc = tfdistil(*args, *extra, check=False, boot=TF_SEEN)
        assert proc.returncode == 2 and message in proc.stderr, (message, proc.stderr[-1500:])
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in proc.stderr
        assert "tensorflow imported: False" in proc.stderr and time.time() - t0 < 30
    # Shards of one teacher are never mixed with another's (the manifest's settings check).
    from tfdistil.transfer.label import transfer_rows
    from tfdistil.transfer.shards import MANIFEST, new_manifest, shard_settings
    from tfdistil.files import atomic_write_json
    _, sources = transfer_rows(inputs[inputs.index("--data") + 1], [str(inputs[inputs.index("--augmented") + 1])], 100)
    atomic_write_json(str(tmp_path / "out" / MANIFEST), new_manifest(shard_settings(tiny_bert, sources, 64, 128)))
    args = list(base)
    args[args.index("--teacher") + 1] = other
    proc = tfdistil(*args, check=False, boot=TF_SEEN)
    assert proc.returncode == 2 and "other settings (teacher_sha256 differ)" in proc.stderr, proc.stderr[-1500:]
    assert "tensorflow imported: False" in proc.stderr
