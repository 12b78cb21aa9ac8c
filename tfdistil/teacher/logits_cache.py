"""The teacher-logits cache: an npz of float16 logits per split plus a JSON header.

Kept apart from `teacher.py` so a student process can read soft targets
without importing transformers or switching Keras versions.
"""
import json
import os
import zipfile

import numpy as np

from tfdistil.errors import UserError

CACHE_FORMAT = "tfdistil-logits-1"
SHIPPED = os.path.join(os.path.dirname(os.path.dirname(__file__)), "assets", "sst2_minilm_logits.npz")


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
                        f"data is {expected_sha256[:12]}...); regenerate with "
                        f"`tfdistil teacher logits --teacher DIR --data DATA --out {path}`")
    if expected_rows is not None and (logits.ndim != 2 or logits.shape[0] != expected_rows or logits.shape[1] < 2):
        raise UserError(f"{path}: '{split}' logits have shape {list(logits.shape)}, expected [{expected_rows}, classes]: "
                        "a damaged cache; regenerate it with `tfdistil teacher logits`")
    return logits, header
