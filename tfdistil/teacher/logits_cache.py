"""The teacher-logits cache: an npz of float16 logits per split plus a JSON header.

Kept apart from `teacher/model.py` so a student process can read soft targets
without importing transformers or switching Keras versions.
"""
import hashlib
import json
import os
import zipfile

import numpy as np

from tfdistil.errors import UserError

CACHE_FORMAT = "tfdistil-logits-1"
PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join(PACKAGE, "assets", "sst2_minilm_logits.npz")
# How a run names the shipped targets (metrics.json, the CLI): where they are in any install.
SHIPPED_NAME = "tfdistil/assets/sst2_minilm_logits.npz"


def write_cache(path, header, logits_by_split):
    """Write a cache atomically (temp name, then rename): {split: float logits [N, C]} stored as
    float16 beside the JSON header. A failed write is one UserError and leaves nothing behind."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}.npz"
    try:
        np.savez_compressed(tmp, header=np.array(json.dumps(header)),
                            **{f"{split}_logits": np.asarray(z).astype(np.float16) for split, z in logits_by_split.items()})
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise UserError(f"--out {path}: cannot write the cache ({e.strerror})") from None


def read_header(path):
    try:
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(str(z["header"]))
        assert header.get("format") == CACHE_FORMAT
        return header
    except (OSError, ValueError, KeyError, AssertionError, EOFError, zipfile.BadZipFile):
        raise UserError(f"{path}: not a tfdistil teacher-logits cache (or a truncated one)") from None


def read_logits(path, split, expected_sha256, expected_rows=None):
    """Teacher logits for one split, refusing a cache made from other data or of the wrong shape."""
    if not os.path.isfile(path):
        raise UserError(f"{path}: teacher logits cache not found; make it with `tfdistil teacher logits`")
    try:
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(str(z["header"]))
            assert header.get("format") == CACHE_FORMAT
            info = header["splits"].get(split)
            logits = z[f"{split}_logits"].astype(np.float32) if info else None
    except (OSError, ValueError, KeyError, AssertionError, EOFError, zipfile.BadZipFile):
        raise UserError(f"{path}: not a tfdistil teacher-logits cache (or a truncated one)") from None
    if info is None:
        raise UserError(f"{path}: cache has no '{split}' logits; regenerate with `tfdistil teacher logits`")
    if info["sha256"] != expected_sha256:
        raise UserError(f"{path}: stale teacher logits: made for other {split} data (sha256 {info['sha256'][:12]}..., "
                        f"data is {expected_sha256[:12]}...); {_remake(path)}")
    if expected_rows is not None and (logits.ndim != 2 or logits.shape[0] != expected_rows or logits.shape[1] < 2):
        raise UserError(f"{path}: '{split}' logits have shape {list(logits.shape)}, expected [{expected_rows}, classes]: "
                        "a damaged cache; regenerate it with `tfdistil teacher logits`")
    return logits, header


def _remake(path):
    """What to do about stale logits. A cache inside the installed package (the shipped SST-2
    targets) is never to be overwritten: its fix is other data's own teacher, or the data it fits."""
    if os.path.realpath(path).startswith(os.path.realpath(PACKAGE) + os.sep):
        return ("these are the shipped targets of the whole SST-2 train split: drop --limit to use them, or, "
                "for other data, fine-tune a teacher on it (`tfdistil teacher fit --data DATA --out TEACHER`), "
                "cache its logits outside the package (`tfdistil teacher logits --teacher TEACHER --data DATA "
                "--out logits.npz`) and pass --teacher-logits logits.npz")
    return f"regenerate with `tfdistil teacher logits --teacher DIR --data DATA --out {path}`"


def reusable_train_logits(cache_path, teacher_dir, sources):
    """float32 [n_train, C] logits of the train rows from a `teacher logits` cache of the same teacher.

    Re-running a base-size teacher over 67k train rows it has already scored
    costs ~35 min on 2 cores; the cache has them. Refused unless the cache was
    made by `teacher_dir` for exactly these train rows.
    """
    train = [s for s in sources if s["kind"] == "train"]
    if not train:
        raise UserError("--train-logits needs the train rows (drop --no-train)")
    header = read_header(cache_path)
    if os.path.realpath(str(header.get("teacher", ""))) != os.path.realpath(teacher_dir):
        raise UserError(f"{cache_path}: made by teacher {header.get('teacher')!r}, not {teacher_dir!r}")
    logits, _ = read_logits(cache_path, "train", train[0]["sha256"], train[0]["rows"])
    with open(cache_path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    sources.append({"kind": "train_logits", "path": cache_path, "sha256": digest})
    return logits
