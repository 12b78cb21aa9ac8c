"""The one training recipe every student trainer shares: `fit`, `fit-stream` and tuner trials.

The paper's recipe (§4.3): Adam, StepLR (learning rate x gamma after every epoch),
a fixed number of epochs, and the epoch with the best dev accuracy is the model.
What a long run on a 2-core machine adds:

- a checkpoint after every epoch (student weights, optimizer state, history), each
  file written to a temp name, fsynced and renamed, and only then named in
  `checkpoints.json`; so a `kill -9` at any moment leaves a folder whose manifest
  names complete files, and a rerun resumes after the last complete epoch;
- the best epoch's weights kept as their own checkpoint file, so they survive too;
- epochs run one `model.fit` call each, with the data order a function of
  (seed, epoch): a resumed run sees exactly the batches an uninterrupted one would.
"""
import hashlib
import json
import os
import time

import numpy as np

from tfdistil.errors import UserError
from tfdistil.files import atomic_save, atomic_write_json
from tfdistil.progress import progress

MANIFEST = "checkpoints.json"


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Checkpoints:
    """Epoch checkpoints in a (partial) run folder, named by a manifest written last."""

    def __init__(self, folder, fingerprint):
        self.folder, self.fingerprint = folder, fingerprint
        self.path = os.path.join(folder, MANIFEST)

    def _file(self, name):
        return os.path.join(self.folder, name)

    def load(self, log=print):
        """The last complete checkpoint's state, or None to start from epoch 0.

        A manifest from other settings is ignored (the run starts over); a manifest
        whose files are missing or altered cannot be resumed: one line says so."""
        if not os.path.isfile(self.path):
            return None
        restart = f"rerun with --restart to start {self.folder[:-len('.partial')]} over"
        try:
            with open(self.path, encoding="utf-8") as f:
                state = json.load(f)
            files = state["files"]
        except (OSError, ValueError, KeyError, TypeError):
            raise UserError(f"{self.path}: unreadable checkpoint manifest; {restart}") from None
        if state.get("fingerprint") != self.fingerprint:
            log(f"{self.folder}: left by a run with other settings; starting over")
            return None
        for name, digest in files.items():
            p = self._file(name)
            if not os.path.isfile(p) or _sha256(p) != digest:
                raise UserError(f"{p}: checkpoint file missing or altered; {restart}")
        return state

    def save(self, epoch, student, optimizer, history, best):
        """Write epoch `epoch`'s files, then the manifest naming them, then drop older files."""
        files = {}
        last = f"epoch-{epoch}.weights.h5"
        atomic_save(self._file(last), student.save_weights)
        opt = f"epoch-{epoch}.optimizer.npz"
        atomic_save(self._file(opt), lambda p: np.savez(p, **{f"v{i}": v.numpy()
                                                             for i, v in enumerate(optimizer.variables)}))
        best_name = f"best-{best['epoch']}.weights.h5"
        if best["epoch"] == epoch:
            atomic_save(self._file(best_name), student.save_weights)
        for name in (last, opt, best_name):
            files[name] = _sha256(self._file(name))
        atomic_write_json(self.path, {"fingerprint": self.fingerprint, "epoch": epoch, "files": files,
                                      "last_weights": last, "optimizer": opt, "best_weights": best_name,
                                      "history": history, "best": best})
        for name in os.listdir(self.folder):
            if (name.startswith(("epoch-", "best-")) and name not in files) or ".tmp" in name:
                os.remove(self._file(name))

    def clear(self):
        """Remove the checkpoint files once the run folder is final."""
        for name in os.listdir(self.folder):
            if name.startswith(("epoch-", "best-")) or name == MANIFEST:
                os.remove(self._file(name))


class EpochBar:
    """One progress line per epoch, updated in place on stderr (only on a terminal:
    a log file gets the one summary line per epoch instead)."""

    def __new__(cls, epoch, epochs, steps):
        import keras

        class Bar(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.bar = progress(total=steps or self.params.get("steps"), desc=f"epoch {epoch + 1}/{epochs}", unit="batch")

            def on_train_batch_end(self, batch, logs=None):
                self.bar.update(1)
                if logs and "loss" in logs and batch % 20 == 0:
                    self.bar.set_postfix(loss=f"{float(logs['loss']):.4f}", refresh=False)

            def on_train_end(self, logs=None):
                self.bar.close()

        return Bar()


def reseed(student, seed, epoch):
    """Set every dropout seed state from (seed, epoch): Keras keeps it in variables that
    `save_weights` does not save, so without this a resumed epoch would draw other masks."""
    states = [v for v in student.variables if v.path.endswith("seed_generator_state")]
    for i, v in enumerate(states):
        v.assign(np.asarray([seed * 1009 + i, epoch], dtype=v.dtype))


def dev_accuracy(student, family, dev_ids, dev_labels):
    from tfdistil.training.batches import predict_logits
    return float(np.mean(np.argmax(predict_logits(student, family, dev_ids), -1) == dev_labels))


def train_epochs(model, student, cfg, epoch_data, dev_ids, dev_labels, folder, fingerprint, log=print,
                 row=lambda epoch: {}, callbacks=(), indent=""):
    """Train `model` (a Distiller around `student`) for `cfg.epochs` with the recipe above.

    `epoch_data(epoch)` gives (tf.data dataset, steps or None) for one epoch, in an order
    that depends only on (seed, epoch). Checkpoints go to `folder`; a rerun with the same
    `fingerprint` resumes there. Returns (history, best, train_seconds) with the best
    epoch's weights loaded into `student`.
    """
    import warnings

    import keras
    # With cfg.ema, Keras's fit() ends each epoch by writing the weight average into the model.
    adam = keras.optimizers.Adam(cfg.lr, use_ema=cfg.ema > 0, ema_momentum=cfg.ema or 0.99)
    model.compile(optimizer=adam, jit_compile=False)
    model.optimizer.build(model.trainable_variables)
    ckpt = Checkpoints(folder, fingerprint)
    state = ckpt.load(log)
    history, best, start = [], {"dev_accuracy": -1.0, "epoch": 0}, 0
    if state:
        student.load_weights(os.path.join(folder, state["last_weights"]))
        with np.load(os.path.join(folder, state["optimizer"])) as z:
            for i, v in enumerate(model.optimizer.variables):
                v.assign(z[f"v{i}"])
        history, best, start = state["history"], state["best"], state["epoch"]
        log(f"{indent}resuming after epoch {start} (best so far: epoch {best['epoch']})")
    t0 = time.time()
    for epoch in range(start, cfg.epochs):
        lr = cfg.lr * cfg.gamma ** epoch  # StepLR: x gamma per finished epoch
        model.optimizer.learning_rate.assign(lr)
        reseed(student, cfg.seed, epoch)
        dataset, steps = epoch_data(epoch)
        e0 = time.time()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Your input ran out of data")
            fitted = model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False,
                               callbacks=[EpochBar(epoch, cfg.epochs, steps), *callbacks])
        seconds = time.time() - e0
        acc = dev_accuracy(student, cfg.student, dev_ids, dev_labels)
        loss = float(fitted.history["loss"][-1])
        if not np.isfinite(loss):
            raise UserError(f"training diverged at epoch {epoch + 1} (loss {loss}); lower --lr")
        history.append({"epoch": epoch + 1, "loss": loss, "dev_accuracy": acc, "lr": lr, **row(epoch),
                        "seconds": round(seconds, 2)})
        if acc > best["dev_accuracy"]:
            best = {"dev_accuracy": acc, "epoch": epoch + 1}
        ckpt.save(epoch + 1, student, model.optimizer, history, best)
        log(f"{indent}epoch {epoch + 1}/{cfg.epochs}: loss {loss:.4f} dev {acc:.4f} ({seconds:.1f} s)")
    state = ckpt.load(log)
    student.load_weights(os.path.join(folder, state["best_weights"]))
    return history, best, time.time() - t0
