"""Fine-tune the teacher: warm-up + linear decay, dynamic padding, dev checks, resumable.

A BERT-base-size fit on 2 cores outlasts a working session, so the run keeps a resume
point in `OUT.partial/resume/` (weights + Adam state + step, every `checkpoint_minutes`
and at each epoch end). Run the same command again after a kill and it goes on from
there; change a setting and it starts over (and says so). The best dev checkpoint is
kept separately and becomes `OUT` when the fit ends.
"""
import itertools
import json
import math
import os
import shutil
import time

from tfdistil.errors import UserError
from tfdistil.files import LOCK, MARKER, atomic_write_json, check_output_folder, mark, open_partial, publish
from tfdistil.progress import progress
from tfdistil.teacher.checkpoints import load_teacher, resolve_model
from tfdistil.teacher.model import length_batches, accuracy, predict_logits
from tfdistil.data.splits import load_split

RESUME = "resume"


def save_resume_point(ckpt, folder, state):
    """Write weights + optimizer state, then the state file that points at them (so a kill
    between the two leaves the previous point valid), then drop older points."""
    prefix = ckpt.write(os.path.join(folder, f"step-{state['step']}"))
    atomic_write_json(os.path.join(folder, "state.json"), {**state, "checkpoint": os.path.basename(prefix)})
    for name in os.listdir(folder):
        if name.startswith("step-") and not name.startswith(os.path.basename(prefix) + "."):
            os.remove(os.path.join(folder, name))


def _read_resume_point(folder, settings, log):
    try:
        with open(os.path.join(folder, "state.json"), encoding="utf-8") as f:
            state = json.load(f)
    except (OSError, ValueError):
        return None
    if state.get("settings") != settings:
        log("the unfinished fit in OUT.partial used other settings: starting over")
        return None
    return state


def _mixed_precision_policy(tf, tf_keras):
    if not tf.config.list_physical_devices("GPU"):
        raise UserError("--mixed-precision needs a GPU (TensorFlow sees none); on a CPU leave it off")
    tf_keras.mixed_precision.set_global_policy("mixed_float16")


def fit_teacher(model, data, out, epochs=1, batch_size=32, lr=5e-5, max_len=128, seed=0, eval_every=500,
                train_limit=None, log=print, overwrite=False, checkpoint_minutes=10.0, mixed_precision=False):
    """Fine-tune on train, keep the best dev checkpoint (dev checked every `eval_every` steps and
    at each epoch end). Returns the teacher's meta (dev accuracy, best step, wall time, history)."""
    out = out.rstrip("/")
    if epochs < 1 or batch_size < 1 or max_len < 1 or not (lr > 0 and math.isfinite(lr)) or eval_every < 0 \
            or not checkpoint_minutes > 0:
        raise UserError("--epochs, --batch-size, --max-len must be >= 1, --lr finite > 0, --eval-every >= 0, "
                        "--checkpoint-minutes > 0")
    check_output_folder(out, overwrite)
    train = load_split(data, "train", train_limit)
    dev = load_split(data, "dev")
    settings = {"model": model, "epochs": epochs, "batch_size": batch_size, "lr": lr, "max_len": max_len,
                "seed": seed, "eval_every": eval_every, "train_rows": len(train), "train_sha256": train.sha256,
                "mixed_precision": bool(mixed_precision)}
    tmp, lock = open_partial(out, "teacher", overwrite)
    resume_dir = os.path.join(tmp, RESUME)
    state = _read_resume_point(resume_dir, settings, log)
    if state is None:  # a fresh start: nothing of an earlier attempt may leak into this one
        for name in os.listdir(tmp):
            if name not in (LOCK, MARKER):
                p = os.path.join(tmp, name)
                shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
        mark(tmp, "teacher")
    os.makedirs(resume_dir, exist_ok=True)

    import tensorflow as tf
    import tf_keras

    tf.keras.utils.set_random_seed(seed + (state["step"] if state else 0))
    if mixed_precision:
        _mixed_precision_policy(tf, tf_keras)
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
    if mixed_precision:
        opt = tf_keras.mixed_precision.LossScaleOptimizer(opt)
    opt.build(teacher.trainable_variables)  # slots exist before a restore, so it fills them
    loss_fn = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    ckpt = tf.train.Checkpoint(model=teacher, optimizer=opt)

    spec = tf.TensorSpec([None, None], tf.int32)

    # autograph=False: plain tensor code; one signature with open batch and length axes, so
    # dynamic padding never retraces
    @tf.function(input_signature=[spec, spec, tf.TensorSpec([None], tf.int32)], autograph=False)
    def train_step(ids, mask, y):
        with tf.GradientTape() as tape:
            logits = tf.cast(teacher(input_ids=ids, attention_mask=mask, training=True).logits, tf.float32)
            loss = loss_fn(y, logits)
            scaled = opt.get_scaled_loss(loss) if mixed_precision else loss
        grads = tape.gradient(scaled, teacher.trainable_variables)
        if mixed_precision:
            grads = opt.get_unscaled_gradients(grads)
        # a head that skips the pooler (MPNet, RoBERTa) leaves it without a gradient: not an error
        opt.apply_gradients([(g, v) for g, v in zip(grads, teacher.trainable_variables) if g is not None])
        return loss

    step, best, history, seconds_before = 0, {"dev_accuracy": -1.0}, [], 0.0
    if state:
        ckpt.read(os.path.join(resume_dir, state["checkpoint"])).assert_existing_objects_matched()
        step, best, history, seconds_before = state["step"], state["best"], state["history"], state["seconds"]
        log(f"resuming the unfinished fit at step {step} of {total} (best dev so far {best['dev_accuracy']:.4f})")
    resumed_from = step
    t0 = time.time()
    last_save = t0
    elapsed = lambda: round(seconds_before + time.time() - t0, 1)

    def resume_point():
        nonlocal last_save
        save_resume_point(ckpt, resume_dir, {"settings": settings, "step": step, "best": best, "history": history,
                                             "seconds": elapsed()})
        last_save = time.time()

    def evaluate_and_keep():
        acc = accuracy(predict_logits(teacher, tokenizer, dev.sentences, desc="dev"), dev.labels)
        history.append({"step": step, "dev_accuracy": acc, "seconds": elapsed()})
        log(f"step {step}: dev accuracy {acc:.4f}")
        if acc > best["dev_accuracy"]:
            best.update(dev_accuracy=acc, step=step)
            teacher.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)

    for epoch in range(step // steps_per_epoch, epochs):
        done_in_epoch = step - epoch * steps_per_epoch
        batches = length_batches(tokenizer, train.sentences, train.labels, batch_size, max_len, shuffle_seed=seed + epoch)
        bar = progress(itertools.islice(batches, done_in_epoch, None), total=steps_per_epoch, initial=done_in_epoch,
                       desc=f"teacher epoch {epoch + 1}/{epochs}")
        for _, ids, mask, y in bar:
            opt.learning_rate.assign(schedule(step))
            loss = float(train_step(ids, mask, y))
            step += 1
            rate = (step - resumed_from) / max(1e-9, time.time() - t0)
            bar.set_postfix(loss=f"{loss:.3f}", eta_all=f"{(total - step) / rate / 60:.0f}min", refresh=False)
            if eval_every and step % eval_every == 0:
                evaluate_and_keep()
            if time.time() - last_save > 60 * checkpoint_minutes and step < total:
                resume_point()
        if not eval_every or step % eval_every:
            evaluate_and_keep()
        if step < total:
            resume_point()
    meta = {"base_model": model, "resolved": resolve_model(model), "model_type": teacher.config.model_type,
            "params": int(teacher.count_params()), "epochs": epochs, "lr": lr, "batch_size": batch_size,
            "max_len": max_len, "seed": seed, "train_rows": len(train), "train_sha256": train.sha256,
            "label_names": list(train.label_names), "best_step": best["step"], "dev_accuracy": best["dev_accuracy"],
            "train_seconds": elapsed(), "resumed_from_step": resumed_from or None,
            "mixed_precision": bool(mixed_precision), "history": history}
    shutil.rmtree(resume_dir, ignore_errors=True)  # several GB for a base model: not part of the teacher
    atomic_write_json(os.path.join(tmp, "teacher_meta.json"), meta)
    publish(tmp, out)
    lock.release()
    return meta
