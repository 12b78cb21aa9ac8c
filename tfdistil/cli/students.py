"""`tfdistil fit|evaluate|predict`: train a student and use it."""
import os

import click

from tfdistil.cli.common import command, data_options
from tfdistil.cli.slicing import echo_slices, slice_options


def _students():
    from tfdistil.config import STUDENTS
    return STUDENTS


@click.command("fit")
@click.option("--student", default=None, help="cnn | bilstm | bilstm_attn (default cnn).")
@click.option("--distill/--no-distill", default=None, help="Train on teacher logits too (alpha*CE + (1-alpha)*MSE).")
@click.option("--alpha", type=float, default=None, help="Weight of the label cross-entropy (default 0.5).")
@click.option("--loss", "distill_loss", type=click.Choice(["mse", "kl"]), default=None, help="Soft-target loss (default mse).")
@click.option("--temperature", type=float, default=None, help="Temperature for --loss kl.")
@click.option("--disagree-weight", type=float, default=None,
              help="Weight each row's soft term by 1 + this x teacher-student disagreement (default 0: off).")
@click.option("--teacher-logits", default=None, help="Teacher logits cache (.npz); default: the shipped SST-2 cache.")
@click.option("--epochs", type=int, default=None, help="Default 20.")
@click.option("--batch-size", type=int, default=None, help="Default 32.")
@click.option("--lr", type=float, default=None, help="Adam learning rate (default 1e-3), decayed x0.9 per epoch.")
@click.option("--seed", type=int, default=None, help="Default 0.")
@click.option("--max-len", type=int, default=None, help="Tokens kept per sentence (default 128).")
@click.option("--min-freq", type=int, default=None, help="Minimum train count for a vocabulary word (default 1).")
@click.option("--max-vocab", type=int, default=None, help="Vocabulary cap, 0 = none.")
@click.option("--hash-buckets", type=int, default=None,
              help="No word table: ids from each word's FNV-1a hash into N buckets (nothing to ship to a device).")
@click.option("--subwords", default=None, metavar="VOCAB_TXT",
              help="Split words into the wordpieces of this vocab.txt (or a teacher folder's): unseen words are not <unk>.")
@click.option("--word-dropout", type=float, default=None,
              help="Fraction of training tokens replaced by <unk> so the <unk> embedding is trained (default 0).")
@click.option("--pre-conv", type=int, default=None, metavar="K",
              help="bilstm / bilstm_attn: a K-word convolution over the embeddings before the LSTMs (default 0: none).")
@click.option("--embed-init", default=None, metavar="TEACHER_DIR",
              help="Start the embedding rows from this teacher's input embeddings (PCA to the student's width).")
@click.option("--paper-exact", is_flag=True,
              help="The paper's sizes where the defaults differ: 1 CNN filter per kernel size, 9,825-word vocabulary.")
@click.option("--limit", "train_limit", type=int, default=None, help="Use only the first N training rows.")
@click.option("--config", "config_path", default=None, help="Start from a JSON config (e.g. a tuner's best.json).")
@data_options()
@click.option("--out", default=None, help="Run folder (default runs/STUDENT[-distill]-sSEED).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it holds a finished tfdistil run (never anything else).")
@click.option("--restart", is_flag=True, help="Discard OUT.partial's checkpoints and start from epoch 1.")
@command
def fit(config_path, data, out, overwrite, restart, paper_exact, **opts):
    """Train a student, keep the best dev epoch, write a run folder."""
    from tfdistil.config import PAPER_EXACT, Config
    from tfdistil.training.fit import fit as fit_student
    base = Config.load(config_path).to_dict() if config_path else {}
    if paper_exact:
        base.update(PAPER_EXACT)
    base.update({k: v for k, v in opts.items() if v is not None})
    base.pop("vocab_size", None)
    cfg = Config.from_dict(base)
    out = out or os.path.join("runs", f"{cfg.student}{'-distill' if cfg.distill else ''}-s{cfg.seed}")
    return fit_student(cfg, data, out, log=lambda m: click.echo(m, err=True), overwrite=overwrite, restart=restart)


@click.command("evaluate")
@click.argument("run_dir")
@data_options()
@click.option("--split", default="test", type=click.Choice(["train", "dev", "test"]), show_default=True)
@click.option("--plot", default=None, help="Also write the confusion matrix as a PNG here.")
@command
@slice_options
def evaluate(run_dir, data, split, plot, slices, teacher_logits):
    """Accuracy, macro-F1, per-class precision/recall and the confusion matrix of a student on one split."""
    from tfdistil.metrics import markdown
    from tfdistil.training.fit import evaluate as evaluate_run
    result = evaluate_run(run_dir, data, split, plot, slices, teacher_logits)
    click.echo(markdown(result), err=True)
    return echo_slices(result)


@click.command("predict")
@click.argument("run_dir")
@click.argument("texts", nargs=-1)
@command
def predict(run_dir, texts):
    """Classify raw sentences (arguments, or one per line on stdin): `label<TAB>probability_positive[<TAB>name]<TAB>text`."""
    from tfdistil.training.fit import predict as predict_run
    if not texts:
        texts = [line.rstrip("\n") for line in click.get_text_stream("stdin") if line.strip()]
    rows = predict_run(run_dir, list(texts))
    for r in rows:  # binary: label and P(positive) as always; more classes: the class name and its probability
        if "probability_positive" in r:
            name = f"\t{r['class_name']}" if r.get("class_name") else ""  # SST-2: negative/positive
            click.echo(f"{r['label']}\t{r['probability_positive']:.4f}{name}\t{r['text']}")
        else:
            click.echo(f"{r['label_name']}\t{r['probability']:.4f}\t{r['text']}")
        if r["truncated_to"]:
            click.echo(f"note: {r['text'][:40]!r}... was cut to its first {r['truncated_to']} tokens", err=True)
    return {"predictions": rows}
