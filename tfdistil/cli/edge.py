"""`tfdistil convert|evaluate-tflite`: the flatbuffer and its runtimes."""
import click

from tfdistil.cli.common import command, data_options
from tfdistil.cli.slicing import echo_slices, slice_options
from tfdistil.config import EXPERIMENTAL_QUANTIZATIONS, QUANTIZATIONS


@click.command("convert")
@click.argument("run_dir")
@click.option("--tflite", "as_tflite", is_flag=True, default=True, help="Emit a TFLite flatbuffer (the only target).")
@click.option("--quantize", default="int8", type=click.Choice(QUANTIZATIONS + EXPERIMENTAL_QUANTIZATIONS), show_default=True)
@click.option("--max-len", default=64, show_default=True,
              help="Fixed input length L; longer sentences are cut (64 covers every SST-2 sentence).")
@click.option("--dynamic-length", is_flag=True,
              help="Leave the time axis open: LiteRT/tflite-runtime run each sentence at its own length "
                   "(up to --max-len), same outputs, less work. Not for TFLite Micro.")
@click.option("--out", default=None, help="Output .tflite (default RUN_DIR/tflite/STUDENT_Q_LL.tflite).")
@data_options("GLUE folder whose train split calibrates int8 (or --train FILE).")
@click.option("--calibration-size", default=500, show_default=True, help="Training sentences used to calibrate int8.")
@click.option("--c-array", "c_array_dir", default=None,
              help="Also write the MCU firmware kit (C arrays) to this folder: a new or empty one, or (with "
                   "--overwrite) a kit folder tfdistil made.")
@click.option("--overwrite", is_flag=True, help="Replace a --c-array kit folder that tfdistil made.")
@click.option("--no-lstm-state-fix", is_flag=True, hidden=True,
              help="Keep the converter's int8 LSTM state quantization (to reproduce the LiteRT bug).")
@command
def convert(run_dir, as_tflite, quantize, max_len, dynamic_length, out, data, calibration_size, c_array_dir,
            overwrite, no_lstm_state_fix):
    """Convert a student to a builtin-ops-only TFLite flatbuffer (+ vocab.json and a manifest)."""
    from tfdistil.errors import UserError
    from tfdistil.files import mark
    if c_array_dir and dynamic_length:
        raise UserError("--c-array builds a microcontroller kit, which needs a fixed length: drop --dynamic-length")
    if c_array_dir:  # before the .tflite is written, not after
        from tfdistil.edge.mcu.firmware import check_kit_folder
        check_kit_folder(c_array_dir, overwrite, "--c-array")
    from tfdistil.edge.convert.export import convert as convert_run
    result = convert_run(run_dir, quantize, max_len, out, data, calibration_size,
                         fix_lstm_states=not no_lstm_state_fix, dynamic_length=dynamic_length)
    result["run_dir"] = run_dir  # as given (the manifest keeps it relative to its own folder: "..")
    if c_array_dir:
        from tfdistil.edge.mcu.firmware import write_firmware_kit
        result["firmware"] = write_firmware_kit(result["path"], c_array_dir)
        mark(c_array_dir, "firmware-kit")
    return result


@click.command("evaluate-tflite")
@click.argument("model")
@data_options()
@click.option("--split", default="test", type=click.Choice(["train", "dev", "test"]), show_default=True)
@click.option("--runtime", default="litert", type=click.Choice(["litert", "tflm"]), show_default=True)
@click.option("--vocab", "vocab_path", default=None, help="vocab.json (default: beside the model).")
@click.option("--run", "run_dir", default=None, help="Run folder to compare predictions with (default: from the manifest).")
@click.option("--limit", type=int, default=None, help="Only the first N rows of the split.")
@click.option("--kernels", default="builtin", type=click.Choice(["builtin", "xnnpack"]), show_default=True,
              help="LiteRT kernels: builtin (bit-identical to tflite-runtime on a Pi) or the XNNPACK delegate.")
@command
@slice_options
def evaluate_tflite(model, data, split, runtime, vocab_path, run_dir, limit, kernels, slices, teacher_logits):
    """Accuracy, agreement with Keras, latency and (TFLM) arena of a flatbuffer on a split, and per slice."""
    from tfdistil.edge.host.evaluate import evaluate_tflite as run_eval
    return echo_slices(run_eval(model, data, split, runtime, vocab_path, run_dir, limit, kernels=kernels,
                                slices=slices, teacher_logits=teacher_logits))
