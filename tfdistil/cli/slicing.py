"""`--slices FILE` and `--teacher-logits FILE` for `evaluate` and `evaluate-tflite`.

A decorator of its own so the two commands share it with a one-line change each; it goes
below `@command`, so a bad file becomes its one `error:` line and exit 2.
Both files are checked here, before the command imports TensorFlow: a typo in a
regular expression is one `error:` line, not a traceback after a minute of start-up.
"""
import functools

import click


def slice_options(fn):
    """Adds the two options; the command receives `slices` (compiled) and `teacher_logits` (a path or None)."""
    @functools.wraps(fn)
    def wrapper(*args, slices_path, teacher_logits, **kw):
        from tfdistil.slices import load_slices
        slices = load_slices(slices_path)
        if teacher_logits:
            import os
            from tfdistil.errors import UserError
            from tfdistil.teacher.logits_cache import read_header
            if not os.path.isfile(teacher_logits):
                raise UserError(f"--teacher-logits {teacher_logits}: file not found")
            read_header(teacher_logits)
        return fn(*args, slices=slices, teacher_logits=teacher_logits, **kw)
    wrapper = click.option(
        "--teacher-logits", default=None, metavar="FILE",
        help="Teacher logits cache of this split: the teacher's accuracy per slice beside the student's "
             "(default: the shipped SST-2 MPNet cache, else MiniLM, if its sha256 of the split matches the "
             "data; else no teacher).")(wrapper)
    return click.option(
        "--slices", "slices_path", default=None, metavar="FILE",
        help="JSON or TOML {name: regex} matched case-insensitively on word boundaries over the raw text "
             "(default: English negation and contrast words; 'plain' = rows in no slice).")(wrapper)


def echo_slices(result):
    """The slice table on stderr (stdout keeps the result lines / --json)."""
    from tfdistil.slices import markdown
    if result and result.get("slices"):
        click.echo(markdown(result["slices"]), err=True)
    return result
