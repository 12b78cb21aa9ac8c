"""What every log summary of experiments/ shares: a command's last JSON line, and the command line
that turns rows read from logs into a Markdown table.

The commands of the pipeline print, with `--json`, one JSON object as their last stdout line; a
log of such a command (progress lines, carriage returns and all) ends with it. A summary reads
those lines only: nothing is typed in by hand, and rerunning a run rewrites its row.
"""
import argparse
import json
import sys

from tfdistil.files import atomic_write_text


def last_json(path):
    """The last line of the log at `path` that is a JSON object, or None (no such line, no file,
    or a line cut off mid-write)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line for line in f.read().replace("\r", "\n").splitlines() if line.startswith("{")]
        return json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None


def read_record(path):
    """A JSON file (a command's `--out` record, pretty-printed or not), or else the last JSON line of
    a log; None when neither is there."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.loads(f.read())
    except OSError:
        return None
    except ValueError:
        return last_json(path)


def write_summary(doc, default_out, make_rows, make_markdown, nothing, argv=None):
    """The command line of a log summary: rows from the logs -> Markdown at --out (temp name, then
    renamed) and on stdout; `nothing` is the error when no log has a finished run."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--out", default=default_out)
    args = p.parse_args(argv)
    table = make_rows()
    if not table:
        sys.exit(f"error: {nothing}")
    text = make_markdown(table)
    atomic_write_text(args.out, text)
    print(text, end="")
