"""The teacher labels a transfer set: its input rows, and the engine that runs the teacher.

`transfer_rows` streams the labelled train rows and the augmented sentences;
`label_shards` writes them, with the teacher's logits, into the resumable shards
of `shards.py`: in this process under a tf.distribute strategy (`strategy.py`),
or on a pool of Ray actors (`ray_shards.py`, RAY.md). Both engines write the same
folder; keeping the choice here (not in shards.py) keeps the format below both.
"""
import itertools
import os
import time

from tfdistil.data.splits import data_cli_args, load_split
from tfdistil.errors import UserError
from tfdistil.transfer.augment import read_sentences
from tfdistil.transfer.shards import (_finished, _label_chunk, chunks, file_sha256, finish_manifest, open_manifest,
                                      save_shard, shard_settings, summary)
from tfdistil.transfer.strategy import describe, distributed_forward, is_chief, make_strategy


def transfer_rows(data, augmented=(), limit=None, include_train=True):
    """(rows iterator of (sentence, label), sources) for a transfer set.

    Train rows keep their labels; augmented sentences (one-column TSVs from
    `tfdistil augment`) get label -1 and are streamed from disk.
    """
    sources, parts = [], []
    if include_train:
        train = load_split(data, "train", limit)
        named = data if isinstance(data, str) else " ".join(data_cli_args(data))  # JSON-able either way
        sources.append({"kind": "train", "data": named, "rows": len(train),
                        "sha256": train.sha256})
        parts.append(zip(train.sentences, (int(y) for y in train.labels)))
    for path in augmented:
        if not os.path.isfile(path):
            raise UserError(f"{path}: augmented sentences file not found; make it with `tfdistil augment`")
        sources.append({"kind": "augmented", "path": path, "sha256": file_sha256(path)})
        parts.append(((s, -1) for s in read_sentences(path)))
    if not sources:
        raise UserError("nothing to label: pass --augmented FILE or keep the train split")
    return itertools.chain.from_iterable(parts), sources


def label_shards(teacher_dir, rows, out_dir, sources, shard_size=100_000, batch_size=64, max_len=128,
                 strategy="auto", log=print, known_logits=None, engine="local", address=None, workers=None,
                 cpus_per_worker=1):
    """Label `rows` ((sentence, label) iterable) with the teacher into resumable shards under `out_dir`.

    `sources` describes the input (with sha256s), part of the settings a rerun must match.
    `strategy`: a tf.distribute.Strategy or a `make_strategy` kind. `known_logits`: this teacher's
    logits of the first rows (`logits_cache.reusable_train_logits`), not recomputed. Returns a summary.
    `engine="ray"`: the same shards from a pool of Ray actors (`ray_shards.label_shards_ray`; `address`,
    `workers`, `cpus_per_worker` go there, `strategy` is not used).
    """
    if engine == "ray":
        from tfdistil.transfer.ray_shards import label_shards_ray
        return label_shards_ray(teacher_dir, rows, out_dir, sources, shard_size=shard_size, batch_size=batch_size,
                                max_len=max_len, log=log, known_logits=known_logits, address=address,
                                workers=2 if workers is None else workers, cpus_per_worker=cpus_per_worker)
    if engine != "local":
        raise UserError(f"unknown engine {engine!r}; choose local or ray")
    import numpy as np
    from tfdistil.teacher import model as T  # sets TF_USE_LEGACY_KERAS before TensorFlow is imported

    if shard_size < 1 or batch_size < 1:
        raise UserError("--shard-size and --batch-size must be positive")
    if isinstance(strategy, str):
        strategy = make_strategy(strategy)
    chief = is_chief(strategy)
    manifest = open_manifest(out_dir, shard_settings(teacher_dir, sources, shard_size, max_len))
    done = {s["index"]: s for s in manifest["shards"]}
    model = forward = tokenizer = None
    labelled = labelled_shards = skipped = 0
    label_seconds = 0.0
    t_run = time.time()
    n_known = 0 if known_logits is None else len(known_logits)
    for index, offset, chunk, input_sha in chunks(rows, shard_size):
        entry = done.get(index)
        if entry and _finished(out_dir, entry, input_sha):
            skipped += 1
            continue
        reused = max(0, min(len(chunk), n_known - offset))
        if model is None and reused < len(chunk):  # load the teacher only when some shard needs it
            with strategy.scope():
                model, tokenizer = T.load_teacher(teacher_dir)
            forward = distributed_forward(strategy, model)
            manifest["num_labels"] = int(model.config.num_labels)
        t0 = time.time()
        logits = np.zeros((len(chunk), manifest.get("num_labels") or known_logits.shape[1]), np.float32)
        if reused:
            logits[:reused] = known_logits[offset:offset + reused]
        if reused < len(chunk):
            logits[reused:] = _label_chunk(T, model, tokenizer, forward, [s for s, _ in chunk[reused:]], batch_size,
                                           max_len, desc=f"shard {index}")
        else:
            manifest["num_labels"] = int(known_logits.shape[1])
        seconds = time.time() - t0
        label_seconds += seconds
        if chief:
            save_shard(out_dir, manifest, index, chunk, input_sha, logits, seconds, reused,
                       strategy=describe(strategy))
        labelled += len(chunk) - reused
        labelled_shards += 1
        log(f"shard {index}: {len(chunk)} rows ({reused} logits from the cache), "
            f"{(len(chunk) - reused) / max(seconds, 1e-9):.0f} sentences/s")
    if chief:
        finish_manifest(out_dir, manifest)
    # sentences/s: tokenising + forward passes only (not loading the teacher, hashing or writing).
    return summary(out_dir, manifest, labelled, labelled_shards, skipped, time.time() - t_run, label_seconds,
                   engine="local", strategy=describe(strategy), chief=chief)
