"""One lever at a time on the fortunes task, scored on distil's selection split (never test).

Starts from a finished `tfdistil distil` folder (its splits, teacher, transfer shards and the
chosen recipe) and trains variants of the chosen recipe, seed 0, each converted to int8 and
scored on the selection split in TFLite Micro (the Cortex-M4 target's runtime), as distil's own
candidates are. Levers:

  base-e10      the chosen recipe as distil trained it (10 epochs; its score is in the report)
  epochs20      the same for 20 epochs (distil's winners peaked at the last epoch)
  kl-t2         Hinton's temperature-scaled KL (T = 2) in place of MSE on logits
  aug-more      a second augmented set (factor 15, seed 1, none of the first set's texts),
                labelled by the same teacher: ~2.5x the transfer rows
  wide          hidden 48 and 6,000 wordpieces (still under 256 KB with the C vocabulary)
  hidden48      hidden 48, the same 4,000 wordpieces (fits 256 KB; `wide` does not)
  dropout       dropout 0.3 (the tuner chose 0.0; the runs peak at epoch 6 and then overfit)
  aug-more-dropout  the two levers against overfitting together: more rows and dropout
  disagree-1, disagree-3  the soft term weighted towards the rows where teacher and student
                disagree (Config.disagree_weight 1 and 3; issue 34's loss lever)
  preconv-3     a 3-word convolution before the LSTMs (Config.pre_conv; issue 34's word-order lever)
  wordnet       + text with no task in it, labelled by the same teacher: --wordnet FILE
                (experiments/fortunes/wordnet_text.py: WordNet's glosses and examples)
  wordnet-disagree  the same with disagree-1
  composed      + train texts joined by "but"/"although" both ways and negated ones (`tfdistil compose`,
                distil's --compose 1 lever), labelled by the same teacher
  context-emb   the embedding rows start from the teacher's *output* for each word alone (the
                fine-tuned encoder's last hidden states, mean-pooled, PCA to embed_dim) instead of
                its input table: what the teacher makes of a word, not what it starts from
  hint-1        + a hint loss: the student's sentence vector (its `dense` layer), through a linear map
                used only in training, regressed onto the teacher's own sentence vector (the fine-tuned
                encoder's last [CLS] state, 384 numbers a text instead of 8 logits; z-scored per
                dimension), weight 1 beside the distillation loss
  lm-pretrain   the student's embedding and LSTMs first trained as next/previous-wordpiece language
                models on the transfer set's texts (lm_pretrain.py), then distilled as usual

A distil folder still running (no report.json yet) can lend its splits, teacher and transfer set
with --chosen-from pointing at the report.json of a finished run of the same command (same
selection split sha256): the recipe is then that report's choice.

    python experiments/fortunes/levers.py --distil runs/fortunes-distil --out runs/fortunes-levers \
        [--levers base-e10,epochs20,...] > experiments/fortunes/levers.log

Writes OUT/levers.json (one row a lever, appended as each finishes; a rerun skips finished ones).
"""
import argparse
import json
import os
import sys


def lever_configs(base):
    """{lever: (config dict, extra shard sets)} built from the chosen recipe's config."""
    return {
        "base-e10": ({**base, "epochs": 10}, False),
        "epochs20": ({**base, "epochs": 20}, False),
        "kl-t2": ({**base, "epochs": 10, "distill_loss": "kl", "temperature": 2.0}, False),
        "aug-more": ({**base, "epochs": 10}, True),
        "wide": ({**base, "epochs": 10, "hidden": 48, "max_vocab": 6000}, False),
        "hidden48": ({**base, "epochs": 10, "hidden": 48}, False),
        "dropout": ({**base, "epochs": 10, "dropout": 0.3}, False),
        "aug-more-dropout": ({**base, "epochs": 10, "dropout": 0.3}, True),
        "disagree-1": ({**base, "epochs": 10, "disagree_weight": 1.0}, False),
        "disagree-3": ({**base, "epochs": 10, "disagree_weight": 3.0}, False),
        "preconv-3": ({**base, "epochs": 10, "pre_conv": 3}, False),
        "wordnet": ({**base, "epochs": 10}, "wordnet"),
        "wordnet-disagree": ({**base, "epochs": 10, "disagree_weight": 1.0}, "wordnet"),
        "context-emb": ({**base, "epochs": 10}, "context"),
        "composed": ({**base, "epochs": 10}, "composed"),
        "hint-1": ({**base, "epochs": 10}, "hint"),
        "lm-pretrain": ({**base, "epochs": 10}, "lm"),
    }


HINT_WEIGHT = 1.0


def hint_targets(teacher_dir, shards, out, log, batch=64):
    """{text: row} and the z-scored [rows, width] matrix of the teacher's last-layer [CLS] state for
    every text of the transfer set, cached in OUT/hint_targets.npz."""
    import numpy as np
    path = os.path.join(out, "hint_targets.npz")
    from tfdistil.transfer.shards import read_shards
    ds, _ = read_shards(shards, shuffle_buffer=0)
    texts = list(dict.fromkeys(r["sentence"].decode("utf-8") for r in ds.as_numpy_iterator()))
    if os.path.isfile(path):
        with np.load(path) as z:
            if list(z["texts"]) == texts:
                return texts, z["vectors"]
    from tfdistil.teacher.checkpoints import load_teacher
    teacher, tok = load_teacher(teacher_dir)
    vectors = []
    for i in range(0, len(texts), batch):
        enc = tok(texts[i:i + batch], padding=True, truncation=True, max_length=128, return_tensors="np")
        out_ = teacher(**enc, output_hidden_states=True, training=False)
        vectors.append(out_.hidden_states[-1][:, 0, :].numpy())
        if i % (batch * 50) == 0:
            log(f"hint targets: {i + len(vectors[-1]):,} / {len(texts):,} texts")
    v = np.concatenate(vectors).astype(np.float32)
    v = (v - v.mean(0)) / (v.std(0) + 1e-6)
    np.savez(path + ".tmp.npz", texts=np.array(texts), vectors=v)
    os.replace(path + ".tmp.npz", path)
    return texts, v


def use_hint(teacher_dir, shards, out, log, weight=HINT_WEIGHT):
    """Patches for this lever only: every transfer row carries its teacher sentence vector after its
    logits (the stream passes teacher_logits through untouched), and the distiller adds the hint term
    on a linear map of the student's `dense` output. Returns the undo."""
    import tfdistil.training.stream as stream
    import tfdistil.transfer.stream as tstream
    texts, vectors = hint_targets(teacher_dir, shards, out, log)
    original_read, original_distiller = tstream.read_shards, stream._stream_distiller

    def read_with_hint(*args, **kw):
        import tensorflow as tf
        ds, manifest = original_read(*args, **kw)
        table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant(texts), tf.range(len(texts), dtype=tf.int64)), default_value=-1)
        matrix = tf.constant(vectors)

        def add(r):
            return {**r, "teacher_logits": tf.concat([r["teacher_logits"], tf.gather(matrix, table.lookup(r["sentence"]))],
                                                     axis=0)}
        return ds.map(add, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True), manifest

    def hint_distiller():
        import keras
        from keras import ops
        base = original_distiller()

        class HintDistiller(base):
            """The stream distiller plus weight x MSE(linear map of the student's dense output, teacher vector)."""

            def __init__(self, student, **kw):
                super().__init__(student, **kw)
                self.both = keras.Model(student.inputs, [student.output, student.get_layer("dense").output])
                self.hint_map = keras.layers.Dense(vectors.shape[1], name="hint_map")
                self.hint_map.build((None, student.get_layer("dense").units))  # before the optimizer is built

            def call(self, inputs, training=False):
                logits, feats = self.both(inputs, training=training)
                self._feats = feats  # read by compute_loss in the same train step
                return logits

            def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
                t = y["teacher_logits"]
                k = ops.shape(y_pred)[-1]
                soft = stream.masked_distillation_loss(y["label"], t[:, :k], y_pred, self.alpha, self.kind,
                                                       self.temperature, self.disagree)
                return soft + weight * ops.mean(ops.square(self.hint_map(self._feats) - t[:, k:]))
        return HintDistiller

    tstream.read_shards, stream._stream_distiller = read_with_hint, hint_distiller
    log(f"hint: {len(texts):,} teacher sentence vectors of {vectors.shape[1]} numbers, weight {weight:g}")

    def undo():
        tstream.read_shards, stream._stream_distiller = original_read, original_distiller
    return undo


def contextual_vectors(teacher_dir, words, dim, pieces_are_tokens, batch=256):
    """(len(words), dim): each word alone ([CLS] word [SEP]) through the fine-tuned teacher, last
    hidden states mean-pooled over its tokens, centred, PCA to `dim`, scaled to Keras' default
    embedding spread (as students/teacher_embeddings.py does for the input table)."""
    import numpy as np
    from tfdistil.students.teacher_embeddings import DEFAULT_EMBEDDING_STD
    from tfdistil.teacher.checkpoints import load_teacher
    teacher, tok = load_teacher(teacher_dir)
    table = tok.get_vocab()
    ids = [[tok.cls_token_id] + ([table[w]] if pieces_are_tokens and w in table
                                 else tok(w, add_special_tokens=False)["input_ids"][:14]) + [tok.sep_token_id]
           for w in words]
    width = max(map(len, ids))
    arr = np.full((len(ids), width), tok.pad_token_id, np.int32)
    mask = np.zeros((len(ids), width), np.int32)
    for i, row in enumerate(ids):
        arr[i, :len(row)], mask[i, :len(row)] = row, 1
    encoder = getattr(teacher, teacher.base_model_prefix)
    pooled = []
    for i in range(0, len(ids), batch):
        h = encoder(input_ids=arr[i:i + batch], attention_mask=mask[i:i + batch], training=False).last_hidden_state
        m = mask[i:i + batch, :, None].astype(np.float32)
        pooled.append((h.numpy() * m).sum(1) / m.sum(1))
    pooled = np.concatenate(pooled)
    centred = pooled - pooled.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(dim, vt.shape[0])
    out = np.zeros((len(words), dim), np.float32)
    out[:, :k] = centred @ vt[:k].T
    return out * (DEFAULT_EMBEDDING_STD / (out[:, :k].std() + 1e-12))


def use_contextual_init(log):
    """fit_stream starts the student's embeddings with contextual_vectors (a patch for this lever only)."""
    import tfdistil.training.stream as stream

    def init(student, vocab, teacher_dir, log=log):
        layer = student.get_layer("embedding")
        rows = layer.get_weights()[0].copy()
        rows[2:] = contextual_vectors(teacher_dir, vocab.itos[2:], rows.shape[1], bool(vocab.subwords))
        rows[0] = 0.0
        layer.set_weights([rows])
        log(f"embeddings: {len(vocab.itos) - 2} words start from {teacher_dir}'s output for each word alone")
    original = stream.init_student_embeddings
    stream.init_student_embeddings = init
    return lambda: setattr(stream, "init_student_embeddings", original)


def more_shards(distil_dir, out, log):
    """A second augmented set from the work train split, labelled by distil's teacher."""
    from tfdistil.distil.workdata import work_data
    from tfdistil.transfer import label as S
    from tfdistil.transfer.augment import write_augmented
    work = work_data(os.path.join(distil_dir, "data"))
    first = os.path.join(distil_dir, "transfer", "augmented_f5.tsv")
    aug = os.path.join(out, "augmented_f15_s1.tsv")
    if not os.path.isfile(aug + ".json"):
        write_augmented(work, 15, aug, seed=1, tagger="none", log=log, exclude_from=[first])
    rows, sources = S.transfer_rows(work, [aug], include_train=False)
    shards = os.path.join(out, "shards-f15s1")
    S.label_shards(os.path.join(distil_dir, "teacher"), rows, shards, sources, shard_size=20_000, max_len=128, log=log)
    return shards


def text_shards(distil_dir, out, path, log):
    """A plain text file (one text a line, none of them dev or selection) labelled by distil's teacher."""
    from tfdistil.distil.steps import read_texts
    from tfdistil.distil.workdata import selection_data, work_data
    from tfdistil.data.splits import load_split
    from tfdistil.files import atomic_write_text
    from tfdistil.transfer import label as S
    from tfdistil.transfer.augment import normalise
    tsv = os.path.join(out, os.path.splitext(os.path.basename(path))[0] + ".tsv")
    if not os.path.isfile(tsv):
        sel = selection_data(os.path.join(distil_dir, "data"))
        held = {normalise(s) for split in ("dev", "test") for s in load_split(sel, split).sentences}
        texts = [t for t in dict.fromkeys(" ".join(t.split()) for t in read_texts(path)) if t and normalise(t) not in held]
        atomic_write_text(tsv, "sentence\n" + "".join(t + "\n" for t in texts))
    rows, sources = S.transfer_rows(work_data(os.path.join(distil_dir, "data")), [tsv], include_train=False)
    shards = os.path.join(out, "shards-" + os.path.splitext(os.path.basename(path))[0])
    S.label_shards(os.path.join(distil_dir, "teacher"), rows, shards, sources, shard_size=20_000, max_len=128, log=log)
    return shards


def composed_shards(distil_dir, out, log):
    """distil's composed lever: texts composed from the work train split, labelled by distil's teacher."""
    from tfdistil.distil.workdata import selection_data, work_data
    from tfdistil.transfer import label as S
    from tfdistil.transfer.compose import write_composed
    path = os.path.join(out, "composed_x1.tsv")
    if not os.path.isfile(path + ".json"):
        write_composed(selection_data(os.path.join(distil_dir, "data")), path, factor=1, seed=0, log=log)
    rows, sources = S.transfer_rows(work_data(os.path.join(distil_dir, "data")), [path], include_train=False)
    shards = os.path.join(out, "shards-composed")
    S.label_shards(os.path.join(distil_dir, "teacher"), rows, shards, sources, shard_size=20_000, max_len=128, log=log)
    return shards


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--distil", required=True, help="a finished tfdistil distil folder")
    ap.add_argument("--out", required=True)
    ap.add_argument("--levers", default="epochs20,kl-t2,wide,aug-more")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chosen-from", default=None, help="report.json of a finished run of the same command")
    ap.add_argument("--also", default=None, help="another labelled file no choice has used (the task's dev.csv, which "
                    "distil did not get): each lever is scored on it too, so a lever is told from the noise of 249 texts")
    ap.add_argument("--wordnet", default=None, help="text file for the wordnet levers (wordnet_text.py --out)")
    a = ap.parse_args()
    report = a.chosen_from or os.path.join(a.distil, "report.json")
    if not os.path.isfile(report):
        print(f"error: {report}: not found (--distil must be a finished distil folder, or give --chosen-from)",
              file=sys.stderr)
        sys.exit(2)
    with open(report, encoding="utf-8") as f:
        chosen = json.load(f)["chosen"]
    if a.chosen_from:
        with open(os.path.join(a.distil, "data", "splits.json"), encoding="utf-8") as f:
            sha = json.load(f)["selection"]["sha256"]
        with open(os.path.join(os.path.dirname(report), "report.md"), encoding="utf-8") as f:
            theirs = f.read()  # the report states its selection split's sha256 (first 16 digits)
        if f"sha256 `{sha[:16]}" not in theirs:
            print(f"error: --chosen-from {report}: another selection split than {a.distil}'s", file=sys.stderr)
            sys.exit(2)
    levers = lever_configs(chosen["config"])
    unknown = [x for x in a.levers.split(",") if x not in levers]
    if unknown:
        print(f"error: unknown lever(s) {', '.join(unknown)}; known: {', '.join(levers)}", file=sys.stderr)
        sys.exit(2)
    if any(levers[x][1] == "wordnet" for x in a.levers.split(",")) and not (a.wordnet and os.path.isfile(a.wordnet)):
        print("error: the wordnet levers need --wordnet FILE (experiments/fortunes/wordnet_text.py --out FILE)",
              file=sys.stderr)
        sys.exit(2)
    os.makedirs(a.out, exist_ok=True)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731

    from tfdistil.config import Config
    from tfdistil.distil.workdata import selection_data, work_data
    from tfdistil.edge.host.evaluate import evaluate_tflite
    from tfdistil.edge.convert.export import convert
    from tfdistil.training.stream import fit_stream
    from tfdistil.runfolder import converted
    work = work_data(os.path.join(a.distil, "data"))
    selection = selection_data(os.path.join(a.distil, "data"))
    base_shards = os.path.join(a.distil, "transfer", "shards")
    out_json = os.path.join(a.out, "levers.json")
    done = json.load(open(out_json, encoding="utf-8")) if os.path.isfile(out_json) else []
    also = None
    if a.also:
        from tfdistil.data.splits import TaskFiles
        also = TaskFiles(os.path.join(a.distil, "data", "train.jsonl"), os.path.join(a.distil, "data", "dev.jsonl"),
                         a.also, "text", "label")

    def second_vote(model, run):
        """The lever's int8 model on --also, in TFLM as on selection: the row's also_* fields."""
        ev = evaluate_tflite(model, also, "test", runtime="tflm", run_dir=run)
        return {"also_accuracy": round(ev["accuracy"], 4), "also_macro_f1": round(ev["macro_f1"], 4), "also_n": ev["n"]}
    for name in a.levers.split(","):
        old = next((r for r in done if r["lever"] == name and r.get("seed", 0) == a.seed), None)
        if old is not None:
            if also is not None and "also_macro_f1" not in old:  # a lever trained before --also: score its model
                run = os.path.join(a.out, f"{name}-s{a.seed}")
                model = next(os.path.join(run, "tflite", f) for f in sorted(os.listdir(os.path.join(run, "tflite")))
                             if f.endswith(".tflite") and "_int8_" in f)
                old.update(second_vote(model, run))
                with open(out_json, "w", encoding="utf-8") as f:
                    json.dump(done, f, indent=1)
                print(json.dumps(old), flush=True)
            continue
        config, extra = levers[name]
        shards = base_shards
        restore = use_contextual_init(log) if extra == "context" else None
        if extra == "hint":
            restore = use_hint(os.path.join(a.distil, "teacher"), base_shards, a.out, log)
        if extra == "lm":
            from lm_pretrain import use_lm_pretraining
            restore = use_lm_pretraining(base_shards, a.out, a.seed, log)
        if extra == "wordnet":
            shards += "+" + text_shards(a.distil, a.out, a.wordnet, log)
        elif extra == "composed":
            shards += "+" + composed_shards(a.distil, a.out, log)
        elif extra is True:
            shards += "+" + more_shards(a.distil, a.out, log)
        cfg = Config.from_dict({**config, "seed": a.seed, "teacher_logits": "", "vocab_size": 0})
        run = os.path.join(a.out, f"{name}-s{a.seed}")
        metrics = fit_stream(cfg, shards, work, run, log=log) if not os.path.isfile(os.path.join(run, "metrics.json")) \
            else json.load(open(os.path.join(run, "metrics.json"), encoding="utf-8"))
        if restore:
            restore()
        model = os.path.join(run, "tflite", f"{cfg.student}_int8_L{cfg.max_len}.tflite")
        if not converted(model):  # the manifest, written last, says convert finished
            model = convert(run, "int8", cfg.max_len, None, work, 300)["path"]
        ev = evaluate_tflite(model, selection, "test", runtime="tflm", run_dir=run)
        from tfdistil.data.vocab import Vocab
        from tfdistil.distil.steps import VOCAB_LAYOUT
        from tfdistil.edge.mcu.c_vocab import c_vocabulary_layout
        from tfdistil.runfolder import VOCAB
        _c_vocab_bytes = lambda r: c_vocabulary_layout(Vocab.load(os.path.join(r, VOCAB)), VOCAB_LAYOUT)["flash_bytes"]  # noqa: E731
        row = {"lever": name, "seed": a.seed, "rows": metrics.get("train_rows"), "epochs": cfg.epochs,
               "best_epoch": metrics["best_epoch"], "dev_accuracy": round(metrics["dev_accuracy"], 4),
               "selection_accuracy": round(ev["accuracy"], 4), "selection_macro_f1": round(ev["macro_f1"], 4),
               "model_bytes": os.path.getsize(model), "c_vocab_bytes": _c_vocab_bytes(run),
               "train_seconds": metrics["train_seconds"]}
        if also is not None:
            row.update(second_vote(model, run))
        done.append(row)
        with open(out_json, "w", encoding="utf-8") as f:
            json.dump(done, f, indent=1)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
