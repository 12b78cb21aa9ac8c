"""`tfdistil ship`: commit one chosen run's int8 student as OUT/models/NAME/ with where it came from.

Registered in tfdistil/cli/__init__.py; the work is tfdistil/report/ship.py, the same shipping path
`report --commit-models` takes (and, like it, it replaces only a folder tfdistil made).
"""
import click

from tfdistil.cli.common import command


@click.command("ship")
@click.argument("run")
@click.argument("name")
@click.option("--tflm-log", required=True, help="Log of `evaluate-tflite --runtime tflm --split test --json` of RUN's int8 model.")
@click.option("--litert-log", required=True, help="The same in LiteRT.")
@click.option("--chosen-by", required=True, help="Why this run (e.g. the rule that chose the seed).")
@click.option("--command", "commands", multiple=True, help="A command that made it; repeatable, kept in order.")
@click.option("--log", "logs", multiple=True, help="Another log to cite; repeatable.")
@click.option("--teacher", default=None, help="The teacher, as a reader should know it.")
@click.option("--out", default="results", show_default=True, help="Results folder; the model goes to OUT/models/NAME.")
@command
def ship(run, name, tflm_log, litert_log, chosen_by, commands, logs, teacher, out):
    """Copy RUN's int8 flatbuffer, manifest, vocab.json, metrics and test evaluations into OUT/models/NAME
    and write its source.json (run, seed, config, commands, logs, how it was chosen)."""
    from tfdistil.report.ship import ship_run
    source = ship_run(run, name, tflm_log, litert_log, chosen_by, commands, logs, teacher, out)
    return {k: source[k] for k in ("run", "dev_accuracy", "test_accuracy", "tflite_int8_test_accuracy",
                                   "tflite_int8_tflm_test_accuracy", "model_bytes")}
