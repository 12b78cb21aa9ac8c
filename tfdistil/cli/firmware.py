"""`tfdistil firmware`: build a student's firmware, run a split on an emulated board, measure it.

Registered in tfdistil/cli/__init__.py. Every input is
checked before TensorFlow or the toolchain's work starts: a bad model path, a missing tool or
an unknown board is one `error:` line and exit code 2.
"""
import os
import shlex

import click

from tfdistil.cli.common import command, data_options
from tfdistil.files import atomic_write_json
from tfdistil.errors import UserError
from tfdistil.runfolder import resolve_model

DEFAULT_BOARD = "mps2-an386"
DEFAULT_KERNELS = "cmsis-nn"  # as TFLM's OPTIMIZED_KERNEL_DIR=cmsis_nn on a Cortex-M


def parse_head_lengths(text):
    """"16,32,64" -> [16, 32, 64]; one UserError for anything else."""
    try:
        lengths = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        lengths = []
    if not lengths or lengths[0] < 1:
        raise UserError(f"--per-token {text!r}: give head lengths as positive integers, e.g. 16,32,64")
    return lengths


@click.command("firmware")
@click.argument("run_or_model")
@click.option("--board", default=DEFAULT_BOARD, show_default=True,
              help="Emulated board (qemu-system-arm machine): mps2-an385 (Cortex-M3), mps2-an386 (M4), "
                   "mps2-an500 (M7), mps2-an505 (M33), mps3-an547 (M55 + Helium), netduinoplus2 (STM32F405).")
@click.option("--kernels", default=DEFAULT_KERNELS, show_default=True,
              help="TFLM kernels: cmsis-nn (Arm's optimized kernels where an op has one, the rest reference) "
                   "or reference.")
@data_options("GLUE folder (labels for accuracy), or --train FILE --test FILE for your own task.")
@click.option("--split", default="test", type=click.Choice(["train", "dev", "test"]), show_default=True)
@click.option("--limit", type=int, default=None,
              help="Only N sentences of the split: a stratified sample (each class in its share of the split, "
                   "evenly spaced through the file; the same N gives the same sentences).")
@click.option("--out", default=None, help="Folder for the result JSON (NAME-SPLIT[-sampleN].json, N = --limit).")
@click.option("--build-dir", default=None, help="Keep the kit, firmware.elf and firmware.map here (default: temporary). "
                                                "A new or empty folder, or one an earlier --build-dir made (with --overwrite).")
@click.option("--overwrite", is_flag=True, help="Replace the files of a --build-dir that tfdistil made.")
@click.option("--per-token", "head_lengths", default=None, metavar="L1,L2,...",
              help="LSTM students: run token by token (a step model + heads of these lengths, e.g. 16,32,64), "
                   "so the work follows the sentence, not the padded length.")
@click.option("--c-vocab", "vocab_layout", default="strings", show_default=True,
              type=click.Choice(["strings", "fingerprints", "fingerprint-ranks"]),
              help="How the firmware stores the word table: the words themselves; only a 32-bit hash "
                   "of each and its id (6 bytes a word; no two vocabulary words share a hash); or the hash "
                   "alone, with the model's embedding rows reordered so a word's id is its hash's rank (4 bytes).")
@command
def firmware(run_or_model, board, kernels, data, split, limit, out, build_dir, overwrite, head_lengths, vocab_layout):
    """Build the TFLM firmware of an int8 model, run a split on an emulated Cortex-M (QEMU), and
    report accuracy, agreement with host TFLM, flash/RAM split, stack and instructions per sentence."""
    from tfdistil.data.splits import data_cli_args, load_split
    from tfdistil.edge.mcu.run import check_inputs, output_name
    if limit is not None and limit < 1:
        raise UserError("--limit must be positive")
    lengths = parse_head_lengths(head_lengths) if head_lengths else None
    if build_dir:  # never write kit files into a folder tfdistil did not make
        from tfdistil.edge.mcu.firmware import check_kit_folder
        check_kit_folder(build_dir, overwrite, "--build-dir")
    model = resolve_model(run_or_model)
    check_inputs(model, board, kernels)
    load_split(data, split)  # a bad --data fails here, before any build
    from tfdistil.edge.mcu.run import run_firmware
    result = run_firmware(model, data, split, limit, board, build_dir,
                          log=lambda m: click.echo(m, err=True), head_lengths=lengths, vocab_layout=vocab_layout,
                          kernels=kernels, sample="stratified")
    args = ["tfdistil", "firmware", run_or_model, "--board", board, "--kernels", kernels, *data_cli_args(data),
            "--split", split]
    args += ["--limit", str(limit)] if limit else []
    args += ["--per-token", head_lengths] if head_lengths else []
    args += ["--c-vocab", vocab_layout] if vocab_layout != "strings" else []
    args += ["--out", out] if out else []
    result["command"] = " ".join(shlex.quote(a) for a in args)
    if out:
        os.makedirs(out, exist_ok=True)
        path = os.path.join(out, output_name(model, split, limit, per_token=bool(lengths), vocab_layout=vocab_layout,
                                             board=board, kernels=kernels, sample="stratified"))
        atomic_write_json(path, result)
        result["json"] = path
        click.echo(f"wrote {path}", err=True)
    return result
