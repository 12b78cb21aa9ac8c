"""`tfdistil augment`, `tfdistil teacher shards`, `tfdistil fit-stream`: the augmented transfer set.

augment -> teacher shards -> fit-stream is `teacher logits` -> `fit` for a
transfer set too large for memory: Tang-style synthetic sentences, labelled by
the teacher into resumable TFRecord shards, streamed into a student.

The commands of `tfdistil/transfer/` (and `fit-stream`, which trains on its shards).
Nothing heavy is imported until a command runs; cli/__init__.py registers `augment`
and `fit_stream` with `main.add_command` and `teacher_shards` with `teacher.add_command`.
"""
import os

import click

from tfdistil.cli.common import command, data_options
from tfdistil.config import STUDENTS


@click.command("augment")
@data_options("GLUE folder (only train is augmented), or --train FILE.")
@click.option("--factor", default=5, show_default=True,
              help="Synthetic attempts per train sentence (Tang et al.: 20).")
@click.option("--out", required=True, help="One-column TSV to write (`sentence` header); OUT.json gets the settings.")
@click.option("--seed", default=0, show_default=True)
@click.option("--p-mask", default=0.1, show_default=True, help="Probability a word becomes <unk>.")
@click.option("--p-swap", default=0.1, show_default=True, help="Probability a word is replaced (same POS / frequency).")
@click.option("--p-ngram", default=0.25, show_default=True, help="Probability the example is cut to an n-gram.")
@click.option("--ngram-max", default=5, show_default=True, help="n-grams have 1..N words.")
@click.option("--tagger", default="auto", type=click.Choice(["auto", "nltk", "none"]), show_default=True,
              help="POS tagger for replacement; auto = nltk if installed, else frequency-matched words.")
@click.option("--limit", type=int, default=None, help="Augment only the first N training rows.")
@click.option("--exclude-from", multiple=True,
              help="Earlier augmented file whose sentences must not reappear (a held-out set); repeatable.")
@click.option("--max-rows", type=int, default=None, help="Stop after N sentences.")
@command
def augment(data, factor, out, seed, p_mask, p_swap, p_ngram, ngram_max, tagger, limit, exclude_from, max_rows):
    """Tang et al. augmentation of the train sentences: masking, replacement, n-gram sampling."""
    from tfdistil.transfer.augment import write_augmented
    return write_augmented(data, factor, out, seed=seed, limit=limit, tagger=tagger, p_mask=p_mask, p_swap=p_swap,
                           p_ngram=p_ngram, ngram=(1, ngram_max), exclude_from=exclude_from, max_rows=max_rows,
                           log=lambda m: click.echo(m, err=True))


@click.command("shards")
@click.option("--teacher", "teacher_dir", required=True, help="Fine-tuned teacher folder (from `teacher fit`).")
@data_options("GLUE folder: its labelled train rows (or --train FILE).")
@click.option("--augmented", multiple=True, help="Augmented sentences (from `tfdistil augment`); repeatable.")
@click.option("--with-train/--no-train", "include_train", default=True, show_default=True,
              help="Include the labelled train rows (first, before the augmented ones).")
@click.option("--limit", type=int, default=None, help="Only the first N training rows.")
@click.option("--train-logits", default=None,
              help="`teacher logits` cache of this teacher: its train logits are reused, not recomputed.")
@click.option("--out", required=True, help="Folder for shard-NNNNN.tfrecord + manifest.json; rerun to resume.")
@click.option("--shard-size", default=100_000, show_default=True, help="Rows per shard (the unit of resumption).")
@click.option("--batch-size", default=64, show_default=True, help="Global batch, split across replicas.")
@click.option("--max-len", default=128, show_default=True, help="Teacher word pieces per sentence.")
@click.option("--strategy", "strategy_kind", default="auto", show_default=True,
              type=click.Choice(["auto", "default", "mirrored", "multiworker"]),
              help="tf.distribute strategy; auto = MultiWorkerMirrored with TF_CONFIG, Mirrored with >1 device.")
@click.option("--cpu-devices", default=1, show_default=True,
              help="Split the CPU into N logical devices (to mirror over CPUs; the tests use 2).")
@click.option("--engine", default="local", show_default=True, type=click.Choice(["local", "ray"]),
              help="local: this process (tf.distribute); ray: a pool of Ray actors (`pip install -e '.[ray]'`).")
@click.option("--address", default=None,
              help="--engine ray: the cluster (HOST:PORT of `ray start --head`, ray://HOST:10001, or auto); "
                   "default: start Ray on this machine.")
@click.option("--workers", default=None, type=int, help="--engine ray: teacher actors (default 2).")
@click.option("--cpus-per-worker", default=1, show_default=True, help="--engine ray: CPUs (TF threads) per actor.")
@command
def teacher_shards(teacher_dir, data, augmented, include_train, limit, train_logits, out, shard_size, batch_size,
                   max_len, strategy_kind, cpu_devices, engine, address, workers, cpus_per_worker):
    """Label a large transfer set with the teacher: streamed, sharded TFRecords, resumable, distributed."""
    import importlib
    from tfdistil.errors import UserError
    if engine == "ray":  # bad flags and an unreachable cluster are reported before TensorFlow loads
        from tfdistil.transfer.ray_shards import check_ray_args
        workers = check_ray_args(address, 2 if workers is None else workers, cpus_per_worker, teacher_dir)
    elif address or workers is not None:
        raise UserError("--address and --workers go with --engine ray")
    importlib.import_module("tfdistil.teacher.model")  # sets TF_USE_LEGACY_KERAS before TensorFlow loads
    from tfdistil.transfer import label as S
    from tfdistil.transfer.strategy import configure_cpu_devices
    if engine == "local":
        configure_cpu_devices(cpu_devices)
    rows, sources = S.transfer_rows(data, augmented, limit, include_train)
    from tfdistil.teacher.logits_cache import reusable_train_logits
    known = reusable_train_logits(train_logits, teacher_dir, sources) if train_logits else None
    return S.label_shards(teacher_dir, rows, out, sources, shard_size=shard_size, batch_size=batch_size,
                          max_len=max_len, strategy=strategy_kind, log=lambda m: click.echo(m, err=True),
                          known_logits=known, engine=engine, address=address, workers=workers,
                          cpus_per_worker=cpus_per_worker)


@click.command("fit-stream")
@click.option("--shards", "shards_dir", required=True, multiple=True,
              help="Transfer set folder (from `tfdistil teacher shards`); repeat it to stream several sets of one teacher.")
@click.option("--student", default=None, type=click.Choice(STUDENTS), help="Default cnn.")
@click.option("--alpha", type=float, default=None, help="Weight of the label CE on labelled rows (default 0.5).")
@click.option("--loss", "distill_loss", type=click.Choice(["mse", "kl"]), default=None, help="Soft-target loss.")
@click.option("--temperature", type=float, default=None, help="Temperature for --loss kl.")
@click.option("--disagree-weight", type=float, default=None,
              help="Weight each row's soft term by 1 + this x teacher-student disagreement (default 0: off).")
@click.option("--epochs", type=int, default=None, help="Default 20.")
@click.option("--batch-size", type=int, default=None, help="Default 32.")
@click.option("--lr", type=float, default=None, help="Adam learning rate (default 1e-3), x0.9 per epoch.")
@click.option("--seed", type=int, default=None, help="Default 0.")
@click.option("--max-len", type=int, default=None, help="Tokens kept per sentence (default 128).")
@click.option("--min-freq", type=int, default=None, help="Minimum train count for a vocabulary word (default 1).")
@click.option("--max-vocab", type=int, default=None, help="Vocabulary cap, 0 = none.")
@click.option("--hash-buckets", type=int, default=None, help="No word table: ids from each word's hash (see fit).")
@click.option("--subwords", default=None, metavar="VOCAB_TXT",
              help="Split words into the wordpieces of this vocab.txt (or a teacher folder's): unseen words are not <unk>.")
@click.option("--embed-init", default=None, metavar="TEACHER_DIR",
              help="Start the embedding rows from this teacher's input embeddings (PCA to the student's width).")
@click.option("--limit", "train_limit", type=int, default=None,
              help="Build the vocabulary from the first N train rows.")
@click.option("--config", "config_path", default=None, help="Start from a JSON config (e.g. a tuner's best.json).")
@click.option("--steps-per-epoch", type=int, default=None, help="Cap an epoch at N batches (the stream repeats).")
@click.option("--shuffle-buffer", default=10_000, show_default=True, help="Rows held for shuffling (bounds memory).")
@data_options("GLUE folder: vocabulary, dev, test (or --train FILE --dev FILE --test FILE).")
@click.option("--out", default=None, help="Run folder (default runs/STUDENT-stream-sSEED).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it holds a finished tfdistil run (never anything else).")
@click.option("--restart", is_flag=True, help="Discard OUT.partial's checkpoints and start from epoch 1.")
@command
def fit_stream(shards_dir, config_path, steps_per_epoch, shuffle_buffer, data, out, overwrite, restart, **opts):
    """Distil a student from a sharded transfer set, streamed; same run folder as `fit`."""
    from tfdistil.config import Config
    from tfdistil.training.stream import fit_stream as run
    base = Config.load(config_path).to_dict() if config_path else {}
    base.update({k: v for k, v in opts.items() if v is not None})
    base.pop("vocab_size", None)
    cfg = Config.from_dict(base)
    out = out or os.path.join("runs", f"{cfg.student}-stream-s{cfg.seed}")
    return run(cfg, "+".join(shards_dir), data, out, log=lambda m: click.echo(m, err=True), steps_per_epoch=steps_per_epoch,
               overwrite=overwrite, restart=restart,
               shuffle_buffer=shuffle_buffer)
