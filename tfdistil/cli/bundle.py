"""`tfdistil bundle`: a student as a static command-line classifier for Linux (Raspberry Pi 32/64-bit, x86).

Registered in tfdistil/cli/__init__.py. Every input (target, model, vocabulary, tools, `--out`)
is checked before TensorFlow is imported or a compiler runs: one `error:` line, exit 2, nothing written.
"""
import click

from tfdistil.cli.common import command
from tfdistil.edge.mcu.build import LINUX_TARGETS


@click.command("bundle")
@click.argument("model_or_run")
@click.option("--target", required=True, help=f"One of: {', '.join(LINUX_TARGETS)}.")
@click.option("--out", required=True, help="New folder for the executable `classify` and bundle.json.")
@command
def bundle(model_or_run, target, out):
    """Build a static Linux executable that classifies sentences with an int8 student (TFLite Micro
    from the vendored sources, the kit's C tokenizer): `classify "some text"`, stdin lines, or --tsv FILE."""
    from tfdistil.edge.mcu.bundle import build_bundle, check_inputs, check_target, resolve_model
    check_target(target)
    model = resolve_model(model_or_run)
    check_inputs(model, target, out)
    return build_bundle(model, target, out, log=lambda m: click.echo(m, err=True))
