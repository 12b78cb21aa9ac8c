"""Teacher labelling at scale: streamed, sharded, resumable, distributed transfer sets.

`teacher logits` keeps every logit of a split in one npz: fine for SST-2's 67k
rows, not for the millions of sentences augmentation makes. Here the transfer
set is written as TFRecord shards of `shard_size` rows plus `manifest.json`:

    OUT/shard-00000.tfrecord   tf.train.Example{sentence: bytes, label: int64 (-1 = none),
    OUT/shard-00001.tfrecord                    teacher_logits: float[num_labels]}
    OUT/manifest.json          settings, sources (sha256), one entry per finished shard
                               (rows, file sha256, input sha256, sentences/s)

- Streamed: input rows are read `shard_size` at a time, never all at once.
- Resumable: a shard is written to a temp name, renamed, then listed in the
  manifest (rewritten atomically). A rerun after a kill skips every listed
  shard whose file still has its recorded sha256; anything else is redone.
- Distributed: the forward pass runs under a `tf.distribute` strategy: each
  global batch is split across replicas (`strategy.run`) and gathered back.
  MirroredStrategy over the GPUs of one machine (or over logical CPU devices,
  as the tests do), MultiWorkerMirroredStrategy across machines (`TF_CONFIG`;
  every worker reads the same input and the manifest, only the chief writes).
- Past one machine without TF_CONFIG: `engine="ray"` (ray_shards.py, RAY.md) labels the same
  shards on a pool of Ray actors; the driver writes and commits them here.

`label.py` holds the input rows and `label_shards` (both engines); this module is the format
they share. Labelling needs the Keras 2 teacher, so `label_shards` runs in a process that has not imported
TensorFlow with Keras 3; `read_shards` is plain tf.data (the student's Keras 3 process).
"""
import hashlib
import itertools
import json
import os

from tfdistil.transfer.augment import MASK
from tfdistil.files import atomic_write_json
from tfdistil.errors import UserError
from tfdistil.progress import progress

FORMAT = "tfdistil-shards-1"
MANIFEST = "manifest.json"


def shard_name(index):
    return f"shard-{index:05d}.tfrecord"


def file_sha256(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def rows_sha256(rows):
    """Fingerprint of a shard's input (sentence, label) rows: detects a changed source on resume."""
    h = hashlib.sha256()
    for sentence, label in rows:
        h.update(f"{sentence}\t{label}\n".encode("utf-8"))
    return h.hexdigest()


# --------------------------------------------------------------------------- writing
def _example(sentence, label, logits):
    import tensorflow as tf
    f = tf.train.Feature
    return tf.train.Example(features=tf.train.Features(feature={
        "sentence": f(bytes_list=tf.train.BytesList(value=[sentence.encode("utf-8")])),
        "label": f(int64_list=tf.train.Int64List(value=[int(label)])),
        "teacher_logits": f(float_list=tf.train.FloatList(value=[float(x) for x in logits])),
    })).SerializeToString(deterministic=True)  # sorted map keys: same rows, same bytes, any process


def write_shard(path, sentences, labels, logits):
    """Write one shard under a temp name, then rename: a kill never leaves half a shard under `path`.

    Returns the file's sha256.
    """
    import tensorflow as tf
    tmp = f"{path}.tmp{os.getpid()}"
    with tf.io.TFRecordWriter(tmp) as w:
        for s, y, z in zip(sentences, labels, logits):
            w.write(_example(s, y, z))
    digest = file_sha256(tmp)
    os.replace(tmp, path)
    return digest


def load_manifest(out_dir):
    path = os.path.join(out_dir, MANIFEST)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            m = json.load(f)
        assert m.get("format") == FORMAT
        return m
    except (ValueError, AssertionError):
        raise UserError(f"{path}: not a tfdistil shards manifest") from None


def new_manifest(settings):
    return {"format": FORMAT, **settings, "shards": [], "rows": 0, "complete": False,
            "throughput": {"rows": 0, "seconds": 0.0, "sentences_per_second": None}}


def commit_shard(out_dir, manifest, entry):
    """Add (or replace) one finished shard's entry and rewrite the manifest atomically."""
    manifest["shards"] = sorted([s for s in manifest["shards"] if s["index"] != entry["index"]] + [entry],
                                key=lambda s: s["index"])
    manifest["rows"] = sum(s["rows"] for s in manifest["shards"])
    t = manifest["throughput"]
    t["rows"] += entry["rows"] - entry.get("logits_reused", 0)  # rows the teacher ran
    t["seconds"] = round(t["seconds"] + entry["seconds"], 3)
    t["sentences_per_second"] = round(t["rows"] / max(t["seconds"], 1e-9), 1)
    atomic_write_json(os.path.join(out_dir, MANIFEST), manifest)


def _comparable(settings, key):
    """What must match for a rerun to reuse shards: paths may move, contents may not."""
    v = settings.get(key)
    if key == "teacher":
        return None  # the teacher_sha256 decides
    if key == "sources":
        return [{k: s.get(k) for k in ("kind", "sha256", "rows")} for s in v or []]
    return json.loads(json.dumps(v))


def _finished(out_dir, entry, input_sha):
    path = os.path.join(out_dir, entry["file"])
    return (entry["input_sha256"] == input_sha and os.path.isfile(path)
            and os.path.getsize(path) == entry["bytes"] and file_sha256(path) == entry["sha256"])


def teacher_fingerprint(teacher_dir):
    """sha256 of the teacher's weight file (a hub name is its own fingerprint)."""
    from tfdistil.teacher.model import resolve_model
    path = resolve_model(teacher_dir)
    for name in ("tf_model.h5", "model.safetensors"):
        if os.path.isfile(os.path.join(path, name)):
            return file_sha256(os.path.join(path, name))
    return path


# --------------------------------------------------------------------------- labelling
def shard_settings(teacher_dir, sources, shard_size, max_len):
    """What a rerun must match to reuse this folder's shards (both engines write the same)."""
    return {"teacher": teacher_dir, "teacher_sha256": teacher_fingerprint(teacher_dir), "sources": sources,
            "shard_size": shard_size, "max_len": max_len, "mask_token": MASK}


def open_manifest(out_dir, settings):
    """The folder's manifest, or a new one; refuses a folder labelled by another teacher or data."""
    os.makedirs(out_dir, exist_ok=True)
    manifest = load_manifest(out_dir)
    if manifest is None:
        return new_manifest(settings)
    changed = [k for k in settings if _comparable(settings, k) != _comparable(manifest, k)]
    if changed:
        raise UserError(f"{out_dir}: shards made with other settings ({', '.join(changed)} differ); "
                        f"use another --out or delete the folder")
    return manifest


def chunks(rows, shard_size):
    """(index, offset, rows, input sha256) per shard, `shard_size` rows at a time (streamed)."""
    rows, offset = iter(rows), 0
    for index in itertools.count():
        chunk = list(itertools.islice(rows, shard_size))
        if not chunk:
            return
        yield index, offset, chunk, rows_sha256(chunk)
        offset += len(chunk)


def save_shard(out_dir, manifest, index, chunk, input_sha, logits, seconds, reused, **extra):
    """Write shard `index` atomically, then list it in the manifest (the resume point)."""
    path = os.path.join(out_dir, shard_name(index))
    digest = write_shard(path, [s for s, _ in chunk], [y for _, y in chunk], logits)
    commit_shard(out_dir, manifest, {
        "index": index, "file": shard_name(index), "rows": len(chunk), "bytes": os.path.getsize(path),
        "sha256": digest, "input_sha256": input_sha,
        "labelled_rows": sum(1 for _, y in chunk if y >= 0), "seconds": round(seconds, 3),
        "logits_reused": reused,
        "sentences_per_second": round((len(chunk) - reused) / max(seconds, 1e-9), 1), **extra})


def finish_manifest(out_dir, manifest):
    manifest["complete"] = True
    manifest["shard_count"] = len(manifest["shards"])
    atomic_write_json(os.path.join(out_dir, MANIFEST), manifest)


def summary(out_dir, manifest, labelled, labelled_shards, skipped, wall, label_seconds, **extra):
    return {"out": out_dir, "shards": len(manifest["shards"]), "rows": manifest["rows"],
            "labelled_rows": sum(s["labelled_rows"] for s in manifest["shards"]),
            "shards_labelled_now": labelled_shards, "shards_skipped": skipped,
            "rows_labelled_now": labelled, "wall_seconds": round(wall, 2),
            "sentences_per_second": round(labelled / max(label_seconds, 1e-9), 1) if labelled else None,
            "sentences_per_second_all_runs": manifest["throughput"]["sentences_per_second"],
            "complete": manifest["complete"], **extra}


def _label_chunk(T, model, tokenizer, forward, sentences, batch_size, max_len, desc=None):
    """float32 [N, C] teacher logits in row order; `<unk>` (augmentation's mask) is shown as [MASK]."""
    import numpy as np
    shown = [" ".join(tokenizer.mask_token if w == MASK else w for w in s.split(" ")) if MASK in s else s
             for s in sentences]
    out = np.zeros((len(sentences), model.config.num_labels), np.float32)
    batches = T.length_batches(tokenizer, shown, None, batch_size, max_len)
    for idx, ids, mask, _ in progress(batches, total=-(-len(shown) // batch_size), desc=desc):
        out[idx] = forward(ids, mask)
    return out


# --------------------------------------------------------------------------- reading
def shard_files(shards_dir, allow_partial=False):
    """(files, manifest) of a finished transfer set; refuses an unfinished one unless allowed.
    Several folders labelled by the same teacher (a list, or names joined by "+") are read as one
    set: their files in order, one manifest with the rows and shards of all."""
    dirs = shards_dir if isinstance(shards_dir, (list, tuple)) else shards_dir.split("+")
    if len(dirs) > 1:
        parts = [shard_files(d, allow_partial) for d in dirs]
        first, key = parts[0][1], lambda m: (m.get("teacher_sha256"), m.get("num_labels"))
        other = next((d for d, (_, m) in zip(dirs, parts) if key(m) != key(first)), None)
        if other:
            raise UserError(f"{other}: labelled by another teacher than {dirs[0]}; a transfer set has one teacher")
        merged = {**first, "sources": [src for _, m in parts for src in m["sources"]],
                  "shards": [s for _, m in parts for s in m["shards"]], "rows": sum(m["rows"] for _, m in parts),
                  "complete": all(m["complete"] for _, m in parts), "folders": list(dirs)}
        return [f for files, _ in parts for f in files], merged
    manifest = load_manifest(shards_dir)
    if manifest is None:
        raise UserError(f"{shards_dir}: no {MANIFEST}; make the shards with `tfdistil teacher shards`")
    if not manifest["complete"] and not allow_partial:
        raise UserError(f"{shards_dir}: unfinished transfer set ({len(manifest['shards'])} shards, "
                        f"{manifest['rows']} rows so far); rerun `tfdistil teacher shards` to finish it")
    files = [os.path.join(shards_dir, s["file"]) for s in manifest["shards"]]
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise UserError(f"{missing[0]}: shard listed in the manifest is missing")
    if not files:
        raise UserError(f"{shards_dir}: the manifest lists no shards")
    return files, manifest


def read_shards(shards_dir, shuffle_buffer=10_000, seed=0, cycle_length=4, allow_partial=False):
    """(tf.data.Dataset of {"sentence", "label", "teacher_logits"} rows, manifest).

    Memory is bounded by the shuffle buffer and the interleave's read buffers,
    never by the number of rows: shard order is reshuffled every epoch, rows of
    `cycle_length` shards are interleaved, then shuffled within the buffer.
    `shuffle_buffer=0` reads the rows in order.
    """
    import tensorflow as tf
    files, manifest = shard_files(shards_dir, allow_partial)
    spec = {"sentence": tf.io.FixedLenFeature([], tf.string),
            "label": tf.io.FixedLenFeature([], tf.int64),
            "teacher_logits": tf.io.FixedLenFeature([manifest.get("num_labels", 2)], tf.float32)}
    if shuffle_buffer:
        ds = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(cycle_length, len(files)), block_length=16,
                           num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    else:  # no shuffling: rows in transfer-set order
        ds = tf.data.TFRecordDataset(files)
    ds = ds.map(lambda r: tf.io.parse_single_example(r, spec), num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
    return ds, manifest
