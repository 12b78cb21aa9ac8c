"""The teacher's outputs: batches by length, logits for any text, the logits cache students read.

Loading a teacher lives in `checkpoints.py`, fine-tuning it in `fit.py`.

transformers' TF models are Keras 2 models, so this module must run with
`TF_USE_LEGACY_KERAS=1` set before TensorFlow is first imported; the CLI runs
teacher commands in their own process for that reason. Students (Keras 3) never
import this module: they read the logits cache written by `write_logits`.
"""
import math
import os
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np

from tfdistil.data.splits import has_split, load_split
from tfdistil.errors import UserError
from tfdistil.progress import progress
from tfdistil.teacher.checkpoints import load_teacher, resolve_model, teacher_labels  # noqa: F401 (the API)
from tfdistil.teacher.logits_cache import CACHE_FORMAT, write_cache


def length_batches(tokenizer, sentences, labels, batch_size, max_len, shuffle_seed=None):
    """Length-bucketed batches (dynamic padding): most SST-2 rows are short phrases."""
    enc = tokenizer(list(sentences), truncation=True, max_length=max_len)["input_ids"]
    order = np.argsort([len(x) for x in enc], kind="stable")
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if shuffle_seed is not None:
        np.random.default_rng(shuffle_seed).shuffle(chunks)
    for idx in chunks:
        width = max(len(enc[i]) for i in idx)
        ids = np.zeros((len(idx), width), np.int32)
        mask = np.zeros((len(idx), width), np.int32)
        for r, i in enumerate(idx):
            ids[r, : len(enc[i])] = enc[i]
            mask[r, : len(enc[i])] = 1
        yield idx, ids, mask, (labels[idx] if labels is not None else None)


def predict_logits(teacher, tokenizer, sentences, batch_size=64, max_len=128, desc="teacher logits"):
    """float32 [rows, classes] logits in the original row order."""
    import tensorflow as tf

    forward = getattr(teacher, "_tfdistil_forward", None)
    if forward is None:  # one traced function per teacher, open batch and length axes: no retracing
        spec = tf.TensorSpec([None, None], tf.int32)

        @tf.function(input_signature=[spec, spec], autograph=False)
        def forward(ids, mask):
            return tf.cast(teacher(input_ids=ids, attention_mask=mask, training=False).logits, tf.float32)
        teacher._tfdistil_forward = forward

    out = np.zeros((len(sentences), teacher.config.num_labels), np.float32)
    n_batches = math.ceil(len(sentences) / batch_size)
    for idx, ids, mask, _ in progress(length_batches(tokenizer, sentences, None, batch_size, max_len),
                                      total=n_batches, desc=desc):
        out[idx] = forward(ids, mask).numpy()
    return out


def accuracy(logits, labels):
    return float(np.mean(np.argmax(logits, -1) == labels))


def write_logits(models, data, out_file, splits=("train", "dev", "test"), batch_size=64, max_len=128,
                 train_limit=None, shown=None):
    """Run the teacher (or several: their logits averaged) over train/dev/test and write an npz
    cache with a JSON header.

    The header names the teacher(s) and records each split's sha256, so a student can refuse
    logits computed on different data; an ensemble's header also has each member's accuracy.
    `shown`: progress names for splits that stand for something else ({"test": "selection"}).
    """
    from tfdistil.files import check_writable
    models = [models] if isinstance(models, str) else list(models)
    if not models:
        raise UserError("--teacher: name at least one teacher")
    if not out_file.endswith(".npz"):
        raise UserError(f"--out {out_file}: the cache file must end in .npz")
    check_writable(out_file, "--out")  # before minutes of teacher passes, not after
    for model in models:
        resolve_model(model)  # every path checked before the first teacher pass
    wanted = [sp for sp in splits if sp != "test" or has_split(data, "test")]
    data_splits = {sp: load_split(data, sp, train_limit if sp == "train" else None) for sp in wanted}
    sums, header = {}, {"format": CACHE_FORMAT, "teacher": " + ".join(models), "splits": {}}
    if len(models) > 1:
        header["teachers"] = [{"teacher": m, "accuracy": {}} for m in models]
    for k, model in enumerate(models):
        teacher, tokenizer = load_teacher(model)
        names = teacher_labels(teacher)
        header.setdefault("label_names", names)
        if names != header["label_names"]:
            raise UserError(f"teachers {models[0]} and {model} predict different classes: cannot average them")
        for split, s in data_splits.items():
            if list(s.label_names) != names:
                raise UserError(f"the teacher {model} was trained on classes {', '.join(names)}; "
                                f"this data has {', '.join(s.label_names)}")
            t0 = time.time()
            name = (shown or {}).get(split, split)
            logits = predict_logits(teacher, tokenizer, s.sentences, batch_size, max_len, desc=f"{name} logits")
            sums[split] = sums.get(split, 0) + logits
            info = header["splits"].setdefault(split, {"rows": len(s), "sha256": s.sha256, "seconds": 0.0})
            info["seconds"] = round(info["seconds"] + time.time() - t0, 1)
            if len(models) > 1:
                header["teachers"][k]["accuracy"][split] = accuracy(logits, s.labels)
        del teacher
    means = {}
    for split, total in sums.items():
        means[split] = total / len(models)
        header["splits"][split]["accuracy"] = accuracy(means[split], data_splits[split].labels)
    write_cache(out_file, header, means)
    return header
