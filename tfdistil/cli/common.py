"""What every `tfdistil` command shares: the `--json` / one-line-error wrapper and defaults.

A module of its own so the command modules (cli/students.py, cli/report.py, ...) import it
without importing each other.
"""
import functools
import io
import json
import os
import re
import sys
import threading

import click

from tfdistil.errors import UserError

DEFAULT_DATA = os.environ.get("TFDISTIL_DATA", "../shared/data/sst2")


def _quiet_tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    if os.environ.get("TFDISTIL_VERBOSE") != "1":  # "TF classes are deprecated", "newly initialized": not news here
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        import warnings
        # the converter calibrates with tf.lite.Interpreter, which warns that it is deprecated on
        # every conversion: a message for TensorFlow's developers, not for ours
        warnings.filterwarnings("ignore", message=r"\s*Warning: tf.lite.Interpreter is deprecated")


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
                if not isinstance(v, (dict, list)):
                    click.echo(f"{k}: {v}")
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object as the last stdout line.")(wrapper)


# TensorFlow/absl/CUDA write C++ log lines straight to fd 2 (absl's pre-init INFO lines ignore
# TF_CPP_MIN_LOG_LEVEL). They are not for users: drop them unless --verbose / TFDISTIL_VERBOSE=1.
NATIVE_NOISE = re.compile(rb"^(?:[IWE]\d{4} [\d:.]+\s+\d+ \S+:\d+\]|WARNING: All log messages before absl::InitializeLog|"
                          rb"To enable the following instructions|.*oneDNN custom operations|.*cuda drivers|"
                          rb"INFO: Created TensorFlow Lite XNNPACK delegate|fully_quantize: \d, inference_type: |.*failed call to cuInit|.*Unable to register cu|.*computation placer already registered)")


def filter_native_stderr():
    """Route C-level writes to fd 2 through a filter thread; Python's sys.stderr keeps the real fd.

    Only in a real process (not under click's CliRunner, which swaps sys.stderr) and once."""
    if os.environ.get("TFDISTIL_VERBOSE") == "1" or sys.stderr is not sys.__stderr__ or \
            getattr(filter_native_stderr, "done", False):
        return
    filter_native_stderr.done = True
    sys.stderr.flush()
    real = os.dup(2)
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(io.FileIO(real, "w", closefd=False), write_through=True,
                                                   encoding=sys.stderr.encoding, errors="backslashreplace")
    r, w = os.pipe()
    os.dup2(w, 2)
    os.close(w)

    def pump():
        pending = b""
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if not NATIVE_NOISE.match(line):
                    os.write(real, line + b"\n")

    threading.Thread(target=pump, daemon=True).start()


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
