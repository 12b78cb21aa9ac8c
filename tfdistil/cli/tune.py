"""`tfdistil tune`: Keras Tuner search for the best student that fits an int8 flash budget.

Kept out of cli.py so the tuner (and TensorFlow) is imported only when the
command runs; cli.py registers it with `main.add_command(tune)`.
"""
import json

import click

from tfdistil.cli.common import command, data_options
from tfdistil.config import STUDENTS
from tfdistil.errors import UserError


def _read_space(path):
    """The --space JSON file: {name: [choices]} or {name: {"min": .., "max": .., "step"|"sampling": ..}}."""
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            space = json.load(f)
    except FileNotFoundError:
        raise UserError(f"{path}: --space file not found") from None
    except ValueError as e:
        raise UserError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(space, dict):
        raise UserError(f"{path}: expected a JSON object of hyperparameter name -> choices")
    return space


@click.command("tune")
@click.option("--student", required=True, type=click.Choice(STUDENTS), help="Student family to search.")
@click.option("--distill/--no-distill", default=False, show_default=True,
              help="Train on teacher logits too; alpha becomes a hyperparameter.")
@click.option("--teacher-logits", default=None, help="Teacher logits cache (.npz); default: the shipped SST-2 cache.")
@click.option("--tuner", "tuner_kind", default="hyperband", type=click.Choice(["hyperband", "bayesian", "random"]),
              show_default=True, help="Keras Tuner oracle (bayesian needs pip install 'tfdistil[bayesian]').")
@click.option("--max-trials", default=20, show_default=True, help="Trials in all; rerun with more to extend a search.")
@click.option("--budget-kb", type=float, required=True,
              help="int8 flatbuffer budget in KB (1 KB = 1024 bytes); larger configurations are never trained.")
@click.option("--budget-includes-vocab", is_flag=True,
              help="The budget pays for the C vocabulary too (the flash a microcontroller needs), per vocabulary cap.")
@click.option("--c-vocab", "vocab_layout", default="strings", show_default=True,
              type=click.Choice(["strings", "fingerprints", "fingerprint-ranks"]),
              help="With --budget-includes-vocab: the firmware's word table the budget pays for (as in `firmware --c-vocab`).")
@click.option("--epochs-per-trial", default=5, show_default=True,
              help="Epochs of each trial (Hyperband: the most epochs a trial gets).")
@click.option("--limit", type=int, default=None, help="Use only the first N training rows (smoke runs, tests).")
@click.option("--seed", default=0, show_default=True, help="Seed of every trial and of the oracle.")
@click.option("--batch-size", default=32, show_default=True)
@click.option("--space", "space_path", default=None,
              help='JSON file narrowing the search space, e.g. {"embed_dim": [8, 16], "kernel_sizes": [[3], [3, 5]]}.')
@click.option("--top-k", default=3, show_default=True, help="Convert this many best trials to measure their int8 size.")
@click.option("--calibration-size", default=500, show_default=True, help="Training sentences used to calibrate int8.")
@click.option("--eval-limit", type=int, default=None, help="Evaluate the winner's int8 model on the first N dev rows only.")
@data_options("GLUE folder, or `tfds`, or --train FILE [--dev FILE].")
@click.option("--subwords", default="", metavar="VOCAB_TXT",
              help="Every trial's vocabulary: the wordpieces of this vocab.txt (or teacher folder) train words split into.")
@click.option("--out", required=True, help="Tune folder (leaderboard, best.json, best_run/); rerun to resume.")
@command
def tune(student, distill, teacher_logits, tuner_kind, max_trials, budget_kb, budget_includes_vocab, vocab_layout,
         epochs_per_trial, limit, seed, batch_size, space_path, top_k, calibration_size, eval_limit, subwords, data, out):
    """Search a student family under an int8 size budget; write a leaderboard and best.json."""
    from tfdistil.search.tune import tune as run_tune
    return run_tune(student, data, out, tuner=tuner_kind, max_trials=max_trials, budget_kb=budget_kb,
                    distill=distill, teacher_logits=teacher_logits, epochs_per_trial=epochs_per_trial, limit=limit,
                    seed=seed, batch_size=batch_size, space=_read_space(space_path), top_k=top_k,
                    calibration_size=calibration_size, eval_limit=eval_limit,
                    budget_includes_vocab=budget_includes_vocab, vocab_layout=vocab_layout, subwords=subwords, log=lambda m: click.echo(m, err=True))
