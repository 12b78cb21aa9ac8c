"""`tfdistil` command line: click parses, the library does the work.

One module per command group (teacher, transfer, students, edge, tune, report, ...); this
one only assembles them. Every command takes `--json` and then prints one JSON
object as its last stdout line. A `UserError` becomes one line on stderr and exit 2.
"""
import sys

import click

from tfdistil.cli.compose import compose
from tfdistil.cli.distil import distil
from tfdistil.cli.edge import convert, evaluate_tflite
from tfdistil.cli.firmware import firmware
from tfdistil.cli.report import report
from tfdistil.cli.transfer import augment, fit_stream, teacher_shards
from tfdistil.cli.students import evaluate, fit, predict
from tfdistil.cli.teacher import teacher
from tfdistil.cli.tune import tune


NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


class OneLineErrors(click.Group):
    """Usage errors (unknown option, bad choice, missing argument) as one `error:` line and exit 2,
    like every other error of the CLI, instead of click's usage block."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except NO_ARGS_IS_HELP as e:  # bare `tfdistil`: the help, as click shows it
            click.echo(e.format_message())
            sys.exit(0)
        except click.ClickException as e:
            ctx = getattr(e, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            message = " ".join(e.format_message().split())  # click's choice lists span lines
            click.echo(f"error: {message}{hint}", err=True)
            sys.exit(e.exit_code)
        except click.Abort:
            click.echo("interrupted", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=OneLineErrors)
@click.version_option(package_name="tfdistil")
def main():
    """Distil a BERT teacher into tiny Keras students and ship them as TFLite."""


teacher.add_command(teacher_shards)
for cmd in (distil, teacher, fit, evaluate, predict, convert, evaluate_tflite, firmware, tune, augment, fit_stream, report,
            compose):
    main.add_command(cmd)
main.add_command(__import__("tfdistil.cli.bundle", fromlist=["bundle"]).bundle)  # one line: merges stay clean
main.add_command(__import__("tfdistil.cli.benchmark", fromlist=["benchmark"]).benchmark)  # one line: merges stay clean
main.add_command(__import__("tfdistil.cli.ship", fromlist=["ship"]).ship)  # one line: merges stay clean
