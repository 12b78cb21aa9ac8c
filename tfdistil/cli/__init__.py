"""`tfdistil` command line: click parses, the library does the work.

One module per command group (teacher, students, edge, search, tune, report); this
one only assembles them. Every command takes `--json` and then prints one JSON
object as its last stdout line. A `UserError` becomes one line on stderr and exit 2.
"""
import click

from tfdistil.cli.edge import convert, evaluate_tflite
from tfdistil.cli.firmware import firmware
from tfdistil.cli.report import report
from tfdistil.cli.search import augment, fit_stream, teacher_shards
from tfdistil.cli.students import evaluate, fit, predict
from tfdistil.cli.teacher import teacher
from tfdistil.cli.tune import tune


@click.group()
@click.version_option(package_name="tfdistil")
def main():
    """Distil a BERT teacher into tiny Keras students and ship them as TFLite."""


teacher.add_command(teacher_shards)
for cmd in (teacher, fit, evaluate, predict, convert, evaluate_tflite, firmware, tune, augment, fit_stream, report):
    main.add_command(cmd)
