"""What every `tfdistil` command shares: the `--json` / one-line-error wrapper and defaults.

A module of its own so command modules (cli.py, cli_report.py, ...) import it
without importing each other.
"""
import functools
import json
import os
import sys

import click

from tfdistil.errors import UserError

DEFAULT_DATA = os.environ.get("TFDISTIL_DATA", "../shared/data/sst2")


def _quiet_tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")


def command(fn):
    """Turn UserError into a one-line message + exit 2, and print the result (JSON when asked)."""
    @functools.wraps(fn)
    def wrapper(*args, as_json=False, **kwargs):
        _quiet_tf()
        try:
            result = fn(*args, **kwargs)
        except UserError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted: nothing half-written was kept; rerun the command to resume", err=True)
            sys.exit(130)
        if as_json:
            click.echo(json.dumps(result, default=float))
        elif result is not None:
            for k, v in result.items():
                if not isinstance(v, (dict, list)):
                    click.echo(f"{k}: {v}")
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object as the last stdout line.")(wrapper)
