"""`tfdistil report`: the paper's tables from the run folders (registered on `tfdistil.cli.main`).

Kept apart from cli.py so that rendering the report never imports TensorFlow:
it reads JSON files and draws with matplotlib only.
"""
import shlex

import click

from tfdistil.cli.common import command


@click.command("report")
@click.argument("runs_dir", required=False)
@click.option("--out", default=None, help="Folder for REPORT.md, plots and results.json (the committed one is results/); "
                                        "required with RUNS_DIR.")
@click.option("--index", "index_path", default=None,
              help="Instead: print the results index (e.g. results/index.json: every committed model, its figures, "
                   "checks and commands) as a table, after checking it against results/models/.")
@click.option("--benchmark", "benchmark", default=None,
              help="Latency JSON from `tfdistil benchmark` (e.g. experiments/paper_tables/benchmark.json).")
@click.option("--commit-models", is_flag=True,
              help="Copy the best seed's int8 .tflite + vocab.json of each student/mode into OUT/models/.")
@click.option("--teacher-info", default=None,
              help="Teacher provenance: a JSON like tfdistil/assets/sst2_minilm_logits.json, or a logits .npz "
                   "(default: the shipped one).")
@click.option("--teacher", "teacher_dir", default="teachers/minilm-sst2", show_default=True,
              help="Teacher folder, for its parameter count when the benchmark has none.")
@click.option("--tuned", "tuned_dirs", multiple=True,
              help="A run folder of a tuned student (e.g. retrained from a tuner's best.json); repeatable. "
                   "Listed apart from Table 2, in results.json with \"tuned\": true.")
@command
def report(runs_dir, out, benchmark, commit_models, teacher_info, teacher_dir, tuned_dirs, index_path):
    """Write OUT/REPORT.md (Tables 2 and 3 beside the paper), plots and results.json from RUNS_DIR,
    or (--index) print the results index of the committed models."""
    if index_path:
        return _show_index(index_path, runs_dir)
    if runs_dir is None:
        raise click.UsageError("Missing argument 'RUNS_DIR' (or --index results/index.json).")
    if out is None:
        raise click.UsageError("Missing option '--out'.")
    from tfdistil.report.paper import SHIPPED_TEACHER_INFO
    from tfdistil.report.render import write_report
    args = ["tfdistil", "report", runs_dir, "--out", out]
    if benchmark:
        args += ["--benchmark", benchmark]
    if commit_models:
        args.append("--commit-models")
    if teacher_info:
        args += ["--teacher-info", teacher_info]
    for d in tuned_dirs:
        args += ["--tuned", d]
    return write_report(runs_dir, out, benchmark, commit_models, teacher_info or SHIPPED_TEACHER_INFO,
                        teacher_dir, command=" ".join(shlex.quote(a) for a in args), tuned_dirs=tuned_dirs)


def _show_index(path, runs_dir):
    import os

    from tfdistil.errors import UserError
    from tfdistil.report.index import BUILT_BY, read_checked, table
    if runs_dir:
        raise UserError("--index prints the committed index: give no RUNS_DIR")
    if not os.path.isfile(path):
        raise UserError(f"{path}: index not found (the committed one is results/index.json)")
    try:
        index, problems = read_checked(path)
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"{path}: not a results index ({type(e).__name__})")
    if problems:
        raise UserError(f"{path}: {len(problems)} problem(s), first: {problems[0]} (rebuild with {BUILT_BY})")
    click.echo(table(index), nl=False)
