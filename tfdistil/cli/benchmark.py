"""`tfdistil benchmark`: per-sentence CPU latency of the teacher and the students, in one run.

Registered in tfdistil/cli/__init__.py; the work is tfdistil/report/benchmark.py.
"""
import os
import shlex

import click

from tfdistil.cli.common import DEFAULT_DATA, command
from tfdistil.errors import UserError


@click.command("benchmark")
@click.argument("runs", nargs=-1)
@click.option("--teacher", default="teachers/minilm-sst2", show_default=True, help="Fine-tuned teacher folder.")
@click.option("--n", "n", type=click.IntRange(min=1), default=200, show_default=True, help="Test sentences timed per model.")
@click.option("--warmup", type=click.IntRange(min=0), default=20, show_default=True,
              help="Untimed calls first (tracing, caches).")
@click.option("--threads", type=click.IntRange(min=0), default=1, show_default=True,
              help="Threads for every runtime (TF intra/inter-op, LiteRT); 0 = each runtime's default.")
@click.option("--kernels", type=click.Choice(["builtin", "xnnpack"]), default="builtin", show_default=True,
              help="LiteRT kernels: builtin (what tflite/classify.py and a Pi's tflite-runtime use) or XNNPACK.")
@click.option("--data", default=DEFAULT_DATA, show_default=True, help="GLUE SST-2 folder (the test split is used).")
@click.option("--out", default="results", show_default=True, help="Folder for benchmark.json and benchmark.md.")
@click.option("--int16x8", default=None, help="A JSON of int16x8 checks (experiments/ablations/int16x8.json) "
                                              "whose rows benchmark.md lists.")
@click.option("--render-json", metavar="JSON", default=None,
              help="Re-render OUT/benchmark.md from a benchmark.json (no timing).")
@command
def benchmark(runs, teacher, n, warmup, threads, kernels, data, out, int16x8, render_json):
    """Time the teacher and each run folder in RUNS (default: every runs/* with a metrics.json):
    Keras, float32 and int8 LiteRT, batch 1, p50/p95 ms per sentence -> OUT/benchmark.json and .md."""
    from tfdistil.report import benchmark as B
    if out and os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f"--out {out} is a file, not a folder")
    if render_json:
        if not os.path.isfile(render_json):
            raise UserError(f"--render-json {render_json}: file not found")
        B.render(render_json, out, int16x8)
        return {"out": os.path.join(out, "benchmark.md")}
    if not os.path.isfile(os.path.join(data, "test.tsv")):
        raise UserError(f"--data {data}: no test.tsv there (a GLUE SST-2 folder)")
    args = ["tfdistil", "benchmark", *runs, "--teacher", teacher, "--n", str(n), "--warmup", str(warmup),
            "--threads", str(threads), "--kernels", kernels, "--data", data, "--out", out]
    if int16x8:
        args += ["--int16x8", int16x8]
    result = B.run_benchmark(runs, teacher, n, warmup, threads, kernels, data, out, int16x8,
                             command=" ".join(shlex.quote(B.shown(a)) for a in args),
                             log=lambda m: click.echo(m, err=True))
    ok = sum(m.get("status") == "ok" for m in result["models"])
    return {"out": os.path.join(out, "benchmark.json"), "teacher": result["teacher"]["status"],
            "student_timings": f"{ok}/{len(result['models'])}"}
