import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("TFDISTIL_DATA", os.path.join(ROOT, "..", "shared", "data", "sst2"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["TFDISTIL_DATA"] = DATA
# The worker's TensorFlow is set up as `tfdistil distil` sets up its own (before the first import):
# tf.keras is tf_keras, which transformers' TF teachers are, while the students name Keras 3. So
# the teacher's commands can run here too, beside the students', as they do inside distil.
os.environ["TF_USE_LEGACY_KERAS"] = "1"


# Commands run inside the test worker, which has TensorFlow loaded already: a fresh process would
# spend ~5 s of CPU importing it for each call. The same click command, parser, error wrapper and
# exit codes run either way; the kill tests, `distil --engine ray` (it starts a Ray cluster), `benchmark`
# (it sets TensorFlow's thread counts, which only a fresh process can) and
# every "exits before TensorFlow is imported" check keep their own processes.
IN_PROCESS = {"fit", "evaluate", "predict", "convert", "evaluate-tflite", "firmware", "fit-stream", "bundle",
              "teacher", "compose", "distil"}


def _in_process(args):
    ray = "--engine" in args[:-1] and args[args.index("--engine") + 1] == "ray"
    return bool(args) and args[0] in IN_PROCESS and not ray


def run_cli(*args, check=True, env=None):
    """The real `tfdistil` CLI: in this process for the commands in IN_PROCESS (not `distil --engine ray`), in a
    process of its own otherwise, or always with TFDISTIL_TEST_SUBPROCESS=1."""
    args = [str(a) for a in args]
    if _in_process(args) and env is None and os.environ.get("TFDISTIL_TEST_SUBPROCESS") != "1":
        proc = _run_in_process(args)
    else:
        proc = subprocess.run([sys.executable, "-m", "tfdistil", *args], capture_output=True, text=True,
                              env={**os.environ, **(env or {})}, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"tfdistil {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def _run_in_process(args):
    from click.testing import CliRunner
    from tfdistil.cli import main
    here = os.getcwd()
    os.chdir(ROOT)  # as the subprocess would run
    try:
        result = CliRunner().invoke(main, args, prog_name="tfdistil", catch_exceptions=True)
    finally:
        os.chdir(here)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a crash the CLI did not turn into a message: show its traceback
    return subprocess.CompletedProcess(["tfdistil", *args], result.exit_code, result.stdout, result.stderr)


@pytest.fixture(scope="session")
def data_dir():
    assert os.path.isfile(os.path.join(DATA, "train.tsv")), f"SST-2 not found at {DATA}"
    return DATA


def made_once(tmp_path_factory, name, make):
    """`make(folder)` -> a JSON-able value, run once per test session, not once per xdist worker:
    the first worker to get here makes it under the session's temporary root while the other waits
    on a lock; each worker then gets its own copy of the folder (tests write beside these files),
    the value's paths pointing into that copy. With -n 0 it is simply made in place."""
    import fcntl
    import json
    import shutil
    own = tmp_path_factory.mktemp(name)
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return make(own)
    root = tmp_path_factory.getbasetemp().parent  # this session's, the parent of every worker's
    shared, done = root / f"shared-{name}", root / f"shared-{name}.json"
    with open(root / f"shared-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or if this worker dies
        if not done.exists():
            shutil.rmtree(shared, ignore_errors=True)  # a worker that failed half-way
            shared.mkdir()
            value = make(shared)
            done.write_text(json.dumps(value), encoding="utf-8")
    shutil.copytree(shared, own, dirs_exist_ok=True)
    return json.loads(done.read_text(encoding="utf-8").replace(str(shared), str(own)))


def _tiny_models(folder, data_dir):
    """The three students at tiny sizes (600 rows, 1 epoch, real Keras training) in folder/runs/STUDENT,
    and their int8 flatbuffers (+ vocab.json, manifest) in folder/int8/STUDENT."""
    from tfdistil.config import Config
    from tfdistil.edge.convert.export import convert
    from tfdistil.training.fit import fit
    runs, int8 = {}, {}
    for student in ("cnn", "bilstm", "bilstm_attn"):
        cfg = Config(student=student, embed_dim=16, hidden=16, filters=16, epochs=1, train_limit=600, seed=1)
        runs[student] = str(folder / "runs" / student)
        fit(cfg, data_dir, runs[student], log=lambda m: None)
        int8[student] = convert(runs[student], "int8", max_len=64, data=data_dir, calibration_size=100,
                                out=str(folder / "int8" / student / f"{student}_int8.tflite"))
    return {"runs": runs, "int8": int8}


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, data_dir):
    return made_once(tmp_path_factory, "tiny", lambda folder: _tiny_models(folder, data_dir))


@pytest.fixture(scope="session")
def tiny_run(tiny_models):
    """Run folders for all three students: tiny sizes, 600 rows, 1 epoch (real Keras training)."""
    return tiny_models["runs"]


@pytest.fixture(scope="session")
def converted_int8(tiny_models):
    """int8 flatbuffers (+ vocab.json) of the three tiny students, converted once per session."""
    return tiny_models["int8"]


@pytest.fixture(scope="session")
def pi_python():
    """python of a venv with only tflite-runtime 2.14.0 and numpy<2 (made from PyPI if missing)."""
    sys.path.insert(0, os.path.join(ROOT, "experiments", "pi"))
    import check_tflite_runtime as C
    python, versions = C.ensure_venv(None)  # the one venv distil uses too (under the cache)
    assert versions["tflite_runtime"] == "2.14.0" and versions["numpy"].startswith("1."), versions
    # Only that runtime: classify.py must not find ai-edge-litert or TensorFlow there.
    probe = subprocess.run([python, "-c", "import ai_edge_litert"], capture_output=True)
    assert probe.returncode != 0
    return python


@pytest.fixture(scope="session")
def slice_tsv(data_dir, tmp_path_factory):
    """The first 120 SST-2 test rows as a GLUE TSV."""
    path = tmp_path_factory.mktemp("pi") / "test.tsv"
    with open(os.path.join(data_dir, "test.tsv"), encoding="utf-8") as f:
        path.write_text("".join(next(f) for _ in range(121)), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory):
    """A tiny, random TFBertForSequenceClassification checkpoint with its own vocab.txt (made once)."""
    def make(out):
        from make_tiny_bert import main  # in this worker: its tf.keras is tf_keras too (see the top of this file)
        main(str(out))
        return str(out)
    return made_once(tmp_path_factory, "tiny_bert", make)


@pytest.fixture(scope="session")
def wordpiece_txt(data_dir, tmp_path_factory):
    """A WordPiece vocab.txt written by the test (no hub): specials, the train words seen 3+ times
    in the first 3,000 rows, every ASCII letter/digit/punctuation whole and as '##' piece, a few
    suffixes. Words outside it split into pieces; a non-ASCII character is not covered (<unk>)."""
    import collections
    import string
    from tfdistil.data.splits import load_split
    from tfdistil.data.tokenizer import split_words
    counts = collections.Counter(w for s in load_split(data_dir, "train", 3000).sentences for w in split_words(s))
    chars = [c for c in string.ascii_lowercase + string.digits + string.punctuation]
    pieces = (["[PAD]", "[UNK]", "[CLS]", "<s>", "[unused3]"] + sorted(w for w, c in counts.items() if c >= 3) +
              chars + ["##" + c for c in chars] + ["##s", "##ed", "##ing", "##ly", "##er", "##ness"])
    path = tmp_path_factory.mktemp("wordpiece") / "vocab.txt"
    path.write_text("\n".join(dict.fromkeys(pieces)) + "\n", encoding="utf-8")
    return str(path)


# The longest files start first (the longest-processing-time rule): two workers then finish
# together on short files instead of one waiting while the other runs a long one alone. The order
# is results/logs/test-costs.md's (worker seconds per file, `python tests/cost_table.py LOG`); files
# not named here follow in collection order. Only the order changes, never what runs.
LONGEST_FIRST = ("test_distil.py", "test_pi_aarch64.py", "test_augment_shards.py", "test_faults.py",
                 "test_tflite.py", "test_scripts.py", "test_ray_shards.py", "test_firmware_qemu.py",
                 "test_multiclass.py", "test_train.py", "test_teacher.py", "test_report.py", "test_runtime_matrix.py",
                 "test_firmware_boards.py", "test_stream_split.py", "test_pipeline.py", "test_pi_runtime.py",
                 "test_build_cache.py", "test_bundle.py", "test_tune.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(os.path.basename(str(item.path)), len(rank)))  # stable: file order kept


# What each test file costs (setup + call + teardown of its tests, summed over both xdist workers'
# reports): printed after the run so a slow file shows up by name, not only its slowest test.
_FILE_SECONDS = {}


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::", 1)[0]
    _FILE_SECONDS[path] = _FILE_SECONDS.get(path, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    if not _FILE_SECONDS:
        return
    total = sum(_FILE_SECONDS.values())
    terminalreporter.section("seconds per test file (worker time; wall is about half with -n 2)")
    for path, seconds in sorted(_FILE_SECONDS.items(), key=lambda kv: -kv[1])[:20]:
        terminalreporter.write_line(f"{seconds:8.1f}  {100 * seconds / total:5.1f} %  {path}")
    terminalreporter.write_line(f"{total:8.1f}  100.0 %  all {len(_FILE_SECONDS)} files")
