"""What every `tfdistil` command shares: the `--json` / one-line-error wrapper and defaults.

A module of its own so the command modules (cli/students.py, cli/report.py, ...) import it
without importing each other.
"""
import functools
import json
import os
import sys

import click

from tfdistil.errors import UserError
from tfdistil.quiet import filter_native_stderr, quiet_tensorflow as _quiet_tf



def _default_data():
    """TFDISTIL_DATA, else ../shared/data/sst2 from the working folder, else the one beside the
    checkout (so a command typed in any folder of a clone finds it), as a relative path."""
    if os.environ.get("TFDISTIL_DATA"):
        return os.environ["TFDISTIL_DATA"]
    from tfdistil.files import REPO
    here = os.path.join("..", "shared", "data", "sst2")
    beside = os.path.join(os.path.dirname(REPO), "shared", "data", "sst2")
    return os.path.relpath(beside) if not os.path.isdir(here) and os.path.isdir(beside) else here


DEFAULT_DATA = _default_data()


def command(fn):
    """Turn UserError into a one-line message + exit 2, and print the result (JSON when asked)."""
    @functools.wraps(fn)
    def wrapper(*args, as_json=False, **kwargs):
        _quiet_tf()
        filter_native_stderr()
        if os.environ.get("TFDISTIL_VERBOSE") != "1":
            # Finalisers that fail (h5py after a full disk) print "Exception ignored in ..." dumps:
            # never the user's business; the one-line error already said what happened.
            sys.unraisablehook = lambda unraisable: None
        try:
            result = fn(*args, **kwargs)
        except UserError as e:
            click.echo(f"error: {e}", err=True)
            if e.skip_finalizers and sys.stderr is sys.__stderr__:   # a real process, not a CliRunner
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(2)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted: nothing half-written was kept; rerun the command to resume", err=True)
            sys.exit(130)
        except click.ClickException:
            raise
        except Exception as e:  # a case no check foresaw: still one line (the traceback on request)
            if os.environ.get("TFDISTIL_VERBOSE") == "1":
                raise
            first = (str(e).splitlines() or [""])[0][:200]
            click.echo(f"error: unexpected {type(e).__name__}: {first} (TFDISTIL_VERBOSE=1 shows the traceback; "
                       "please report it)", err=True)
            sys.exit(1)
        if as_json:
            click.echo(json.dumps(result, default=float))
        elif result is not None:
            for k, v in result.items():
                if v is not None and not isinstance(v, (dict, list)):  # None: not applicable, not news (--json has all)
                    click.echo(f"{k}: {v}")
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object as the last stdout line.")(wrapper)


def data_options(help_data="GLUE folder (train.tsv/dev.tsv/test.tsv), or `tfds`."):
    """`--data DIR` or your own labelled files (`--train F [--dev F] [--test F]`, CSV/TSV/JSONL, any
    number of classes). The command receives one `data` value that `load_split` understands."""
    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, data, train_file, dev_file, test_file, text_column, label_column, **kw):
            if train_file:
                from tfdistil.data.splits import TaskFiles
                data = TaskFiles(train_file, dev_file, test_file, text_column, label_column)
            elif dev_file or test_file or text_column:
                raise click.UsageError("--dev, --test and --text-column go with --train FILE")
            return fn(*args, data=data, **kw)
        for opt in reversed([
                click.option("--data", default=DEFAULT_DATA, show_default=True, help=help_data),
                click.option("--train", "train_file", default=None,
                             help="Your labelled training file (.csv/.tsv/.jsonl) instead of --data; labels may be "
                                  "strings, any number of classes."),
                click.option("--dev", "dev_file", default=None,
                             help="Dev file (default: a stratified 10% of --train, seed 0)."),
                click.option("--test", "test_file", default=None, help="Test file (optional)."),
                click.option("--text-column", default=None, help="Text column (default `sentence`, else `text`)."),
                click.option("--label-column", default="label", show_default=True, help="Label column.")]):
            wrapper = opt(wrapper)
        return wrapper
    return decorate
