"""Bring your own task: an 8-topic CSV dataset nobody here wrote (Debian's fortunes), through the
CLI from training to a flatbuffer in LiteRT, TFLite Micro and the Pi runner, with class names."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, run_cli


@pytest.fixture(scope="module")
def fortunes(tmp_path_factory):
    out = tmp_path_factory.mktemp("fortunes")
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "fortunes", "make_fortunes_task.py"), "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    task = json.load(open(out / "task.json"))
    files = ["--train", str(out / "train.csv"), "--dev", str(out / "dev.csv"), "--test", str(out / "test.csv")]
    return {"dir": str(out), "files": files, "topics": task["topics"]}


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "tiny.json"
    path.write_text(json.dumps({"embed_dim": 16, "hidden": 16, "filters": 16, "epochs": 2, "seed": 1}))
    return str(path)


@pytest.mark.parametrize("student", ["cnn", "bilstm_attn"])
def test_topic_task_from_csv_to_every_runtime(student, fortunes, tiny_config, tmp_path, pi_python):
    names = sorted(fortunes["topics"])
    run = str(tmp_path / "run")
    fit = json.loads(run_cli("fit", "--student", student, "--config", tiny_config, *fortunes["files"], "--out", run,
                             "--json").stdout.splitlines()[-1])
    vocab = json.load(open(os.path.join(run, "vocab.json")))
    assert vocab["labels"] == names and len(names) >= 6
    assert json.load(open(os.path.join(run, "config.json")))["num_classes"] == len(names)
    assert 0 <= fit["test_macro_f1"] <= 1 and fit["test_accuracy"] > 1.5 / len(names)  # learnt something

    png = str(tmp_path / "confusion.png")
    ev = json.loads(run_cli("evaluate", run, *fortunes["files"], "--plot", png, "--json").stdout.splitlines()[-1])
    assert ev["accuracy"] == pytest.approx(fit["test_accuracy"]) and ev["labels"] == names
    confusion = np.array(ev["confusion"])
    assert confusion.shape == (len(names), len(names)) and confusion.sum() == ev["n"]
    assert np.trace(confusion) == round(ev["accuracy"] * ev["n"])
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"

    pred = run_cli("predict", run, "the compiler crashed again on my unix box").stdout.splitlines()[0].split("\t")
    assert pred[0] in names and 0 < float(pred[1]) <= 1

    conv = json.loads(run_cli("convert", run, "--quantize", "int8", *fortunes["files"][:4], "--calibration-size", "100",
                              "--json").stdout.splitlines()[-1])
    assert conv["outputs"][0]["shape"] == [1, len(names)] and "tflm" in conv["runtimes"]
    accs = {}
    for runtime in ("litert", "tflm"):
        r = json.loads(run_cli("evaluate-tflite", conv["path"], "--runtime", runtime, *fortunes["files"],
                               "--json").stdout.splitlines()[-1])
        assert r["labels"] == names and r["agreement_with_keras"] >= 0.9
        accs[runtime] = r["accuracy"]
    assert accs["litert"] == accs["tflm"]

    if student == "cnn":  # the C kit names the classes too
        from tfdistil.edge.mcu.firmware import write_firmware_kit
        kit = write_firmware_kit(conv["path"], str(tmp_path / "kit"))
        settings = open(tmp_path / "kit" / "model_settings.h").read()
        assert kit["labels"] == names and f"constexpr int kNumClasses = {len(names)};" in settings
        assert all(f'"{n}"' in settings for n in names)
        # and the firmware on the emulated Cortex-M4 answers every topic text as host TFLM does
        fw = json.loads(run_cli("firmware", conv["path"], *fortunes["files"], "--split", "test", "--limit", "12",
                                "--json").stdout.splitlines()[-1])
        assert fw["labels"] == names and fw["n"] == 12 and fw["board"] == "mps2-an386"
        assert fw["labels_identical"] == 12 and fw["int8_outputs_identical"] == 12
        assert 0 <= fw["macro_f1"] <= 1 and fw["flash_bytes"] > len(open(conv["path"], "rb").read())

    # the Raspberry Pi runner, in tflite-runtime 2.14: class names, and every class with --all
    test_tsv = tmp_path / "test.tsv"
    import csv
    with open(os.path.join(fortunes["dir"], "test.csv"), newline="", encoding="utf-8") as f:
        rows = [(r["text"].replace("\t", " "), r["label"]) for r in csv.DictReader(f)]
    test_tsv.write_text("text\tlabel\n" + "".join(f"{t}\t{l}\n" for t, l in rows), encoding="utf-8")
    proc = subprocess.run([pi_python, os.path.join(ROOT, "tflite", "classify.py"), conv["path"], "--vocab",
                           os.path.join(os.path.dirname(conv["path"]), "vocab.json"), "--tsv", str(test_tsv), "--all"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(rows) and all(l.split("\t")[0] in names for l in lines)
    assert all(len(l.split("\t")) == 2 + len(names) + 1 for l in lines)  # + the sentence, last
    assert [l.split("\t")[-1] for l in lines] == [t for t, _ in rows]
    pi_acc = float(proc.stderr.split()[1])
    assert pi_acc == pytest.approx(accs["litert"], abs=1e-4)


def test_binary_sst2_keeps_its_0_1_classes(tiny_run):
    """SST-2 runs name their classes "0" and "1": the output index is the GLUE label, as before."""
    vocab = json.load(open(os.path.join(tiny_run["cnn"], "vocab.json")))
    assert vocab["labels"] == ["0", "1"]


def test_labels_of_another_task_are_refused(fortunes, tiny_run):
    proc = run_cli("evaluate", tiny_run["cnn"], *fortunes["files"], check=False)
    assert proc.returncode == 2 and "was trained on classes 0, 1" in proc.stderr.strip().splitlines()[-1]


def test_teacher_and_distillation_over_eight_classes(fortunes, tiny_config, tiny_bert, tmp_path):
    """A real (tiny) TFBertForSequenceClassification fine-tuned on the topic task: an 8-way head whose
    class names live in its config, a logits cache 8 wide that names them, and a student distilled
    from it. A cache for other classes is refused."""
    tiny = tiny_bert  # the session's random 2-class tiny BERT: fine-tuning gives it the 8-way head
    teacher = tmp_path / "teacher"
    meta = json.loads(run_cli("teacher", "fit", "--model", str(tiny), *fortunes["files"], "--out", str(teacher),
                              "--epochs", "1", "--eval-every", "0", "--lr", "1e-3", "--json").stdout.splitlines()[-1])
    names = sorted(fortunes["topics"])
    assert meta["label_names"] == names
    config = json.load(open(teacher / "config.json"))
    assert [config["id2label"][str(i)] for i in range(len(names))] == names

    cache = tmp_path / "logits.npz"
    header = json.loads(run_cli("teacher", "logits", "--teacher", str(teacher), *fortunes["files"], "--out", str(cache),
                                "--json").stdout.splitlines()[-1])["header"]
    assert header["label_names"] == names
    with np.load(cache) as z:
        assert z["train_logits"].shape[1] == len(names) and np.isfinite(z["train_logits"]).all()

    run = tmp_path / "student"
    m = json.loads(run_cli("fit", "--student", "bilstm", "--config", tiny_config, "--distill", "--teacher-logits",
                           str(cache), *fortunes["files"], "--out", str(run), "--json").stdout.splitlines()[-1])
    assert m["distilled"] and 0 <= m["test_macro_f1"] <= 1

    sst2 = run_cli("fit", "--distill", "--teacher-logits", str(cache), "--limit", "300", "--epochs", "1",
                   "--out", str(tmp_path / "wrong"), check=False)
    assert sst2.returncode == 2 and len(sst2.stderr.strip().splitlines()) == 1


def test_three_class_csv_with_own_columns_from_the_cli_alone(fortunes, tiny_config, tmp_path):
    """A user's file: BOM, CRLF, an extra column, custom column names, string labels, a quoted field
    with a line break and a comma; no dev or test file (a stratified dev is carved, and said so).
    Trains, converts and classifies through the CLI and the Pi runner, no code change."""
    import csv
    keep = sorted(fortunes["topics"])[:3]
    with open(os.path.join(fortunes["dir"], "train.csv"), newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["label"] in keep]
    path = tmp_path / "tickets.csv"
    with open(path, "w", newline="", encoding="utf-8-sig") as f:  # utf-8-sig: a BOM, as Excel writes it
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(["id", "message", "queue"])
        w.writerow(["0", "first line of a quote,\nsecond line, after a break", keep[0]])
        for i, r in enumerate(rows, 1):
            w.writerow([str(i), r["text"], r["label"]])
    files = ["--train", str(path), "--text-column", "message", "--label-column", "queue"]
    run = str(tmp_path / "run")
    fit = run_cli("fit", "--student", "cnn", "--config", tiny_config, *files, "--out", run, "--json")
    assert "stratified" in fit.stderr  # the carved dev split is announced
    m = json.loads(fit.stdout.splitlines()[-1])
    assert json.load(open(os.path.join(run, "vocab.json")))["labels"] == keep and m["dev_accuracy"] > 0.4
    conv = json.loads(run_cli("convert", run, "--quantize", "int8", *files, "--calibration-size", "100",
                              "--json").stdout.splitlines()[-1])
    assert conv["outputs"][0]["shape"] == [1, 3]
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tflite", "classify.py"), conv["path"], "--vocab",
                           os.path.join(os.path.dirname(conv["path"]), "vocab.json"), "--all",
                           "the program crashed and the computer would not boot"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    fields = proc.stdout.strip().split("\t")
    assert fields[0] in keep and len(fields) == 2 + 3 + 1
    assert fields[-1] == "the program crashed and the computer would not boot"  # the text beside its label


def test_the_teachers_lead_has_a_paired_bootstrap_interval():
    """gap_interval's point value is the teacher's macro-F1 minus the mean of the seeds' (as
    classification_report computes them); its interval holds it; a student that is the teacher leads by 0
    on every draw; a weaker one's interval lies above 0."""
    import numpy as np
    from tfdistil.metrics import classification_report, gap_interval
    rng = np.random.default_rng(3)
    names = ["a", "b", "c", "d"]
    gold = rng.integers(0, 4, 400)
    noisy = lambda p: np.where(rng.random(400) < p, gold, rng.integers(0, 4, 400))  # noqa: E731
    teacher, seeds = noisy(0.9), [noisy(0.6) for _ in range(3)]
    g = gap_interval(gold, teacher, seeds, 4, "macro_f1", draws=300)
    f1 = lambda p: classification_report(gold, p, names)["macro_f1"]  # noqa: E731
    assert abs(g["value"] - 100 * (f1(teacher) - np.mean([f1(s) for s in seeds]))) < 1e-3
    assert 0 < g["ci95"][0] <= g["value"] <= g["ci95"][1]
    same = gap_interval(gold, teacher, [teacher, teacher], 4, "macro_f1", draws=50)
    assert same["value"] == 0 and same["ci95"] == [0, 0]
