#!/usr/bin/env python3
"""Flash/RAM budget of converted students on two microcontroller boards -> budget.md + budget.json.

For every model it writes the firmware kit with `tfdistil.firmware.write_firmware_kit` (the
same code as `tfdistil convert --c-array`), which measures the smallest TFLite Micro arena
on this host, and computes from vocab.json what the C vocabulary costs in flash:

    vocab C bytes = sum(len(word in UTF-8) + 1)   the NUL-terminated strings
                  + 4 * words                     kVocabWords[] pointers (32-bit MCU)
                  + 4 * words                     kVocabIds[] (int32)

(<pad> and <unk> are not in the C table; kVocabCount, string alignment and the code of the
tokenizer are left out.) Flash estimate = model bytes + vocab C bytes; RAM = the arena with
its margin (kTensorArenaSize). A board "fits" when flash estimate <= board flash - app
reserve and arena <= board RAM - app reserve; the reserves (default 100 KiB flash, 64 KiB RAM
for the application, TFLM runtime and OS) are assumptions, printed in the output.

    .venv/bin/python scripts/firmware_budget.py                  # every runs/*/tflite/*_int8_L64.tflite
    .venv/bin/python scripts/firmware_budget.py --float32        # ... and *_float32_L64.tflite
    .venv/bin/python scripts/firmware_budget.py runs/bilstm-distill-s0 some/model.tflite --out /tmp/budget.md

Arguments are run folders (their tflite/ models are used) or .tflite files (vocab.json and
the manifest must lie beside them, as `tfdistil convert` writes them).
"""
import argparse
import datetime
import glob
import json
import os
import shlex
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

KIB = 1024
# name, flash bytes, RAM bytes (what the chip has; the app reserves are subtracted at check time)
BOARDS = (
    ("Arduino Nano 33 BLE (nRF52840)", 1024 * KIB, 256 * KIB),
    ("ESP32-S3", 8 * 1024 * KIB, 512 * KIB),
)


def vocab_c_bytes(vocab_path):
    """(words, bytes) of kVocabWords[] + kVocabIds[] as the kit writes them, on a 32-bit MCU."""
    with open(vocab_path, encoding="utf-8") as f:
        itos = json.load(f)["itos"]
    words = itos[2:]  # the kit skips <pad> (0) and <unk> (1)
    strings = sum(len(w.encode("utf-8")) + 1 for w in words)
    return len(words), strings + 4 * len(words) + 4 * len(words)


def find_models(args):
    """Model paths from the arguments (run folders or .tflite files), in a stable order."""
    patterns = [f"*_int8_L{args.max_len}.tflite"] + ([f"*_float32_L{args.max_len}.tflite"] if args.float32 else [])
    targets = args.targets or sorted(glob.glob(os.path.join(ROOT, "runs", "*", "")))
    models = []
    for t in targets:
        if t.endswith(".tflite"):
            if not os.path.isfile(t):
                sys.exit(f"error: {t}: model file not found")
            models.append(t)
            continue
        if not os.path.isdir(t):
            sys.exit(f"error: {t}: neither a run folder nor a .tflite file")
        for p in patterns:
            models.extend(sorted(glob.glob(os.path.join(t, "tflite", p))))
    if not models:
        where = ", ".join(args.targets) if args.targets else os.path.join(ROOT, "runs", "*")
        sys.exit(f"error: no {' or '.join(patterns)} under {where}/tflite: run `tfdistil convert` first")
    return models


def run_name(model_path):
    """The run folder's name for a model under RUN_DIR/tflite/, else the model's folder."""
    folder = os.path.dirname(os.path.abspath(model_path))
    if os.path.basename(folder) == "tflite":
        folder = os.path.dirname(folder)
    return os.path.basename(folder)


def budget_row(model_path, kit_dir, flash_reserve, ram_reserve):
    from tfdistil.edge.firmware import write_firmware_kit
    kit = write_firmware_kit(model_path, kit_dir)
    words, vocab_bytes = vocab_c_bytes(os.path.join(os.path.dirname(os.path.abspath(model_path)), "vocab.json"))
    flash = kit["model_bytes"] + vocab_bytes
    shown = os.path.relpath(os.path.abspath(model_path), ROOT)
    if shown.startswith(".."):
        shown = os.path.abspath(model_path)
    row = {"run": run_name(model_path), "model": shown,
           "student": kit["student"], "quantization": kit["quantization"], "max_len": kit["max_len"],
           "model_bytes": kit["model_bytes"], "vocab_words": words, "vocab_c_bytes": vocab_bytes,
           "arena_bytes_min": kit["arena_bytes_min"], "arena_bytes": kit["arena_bytes"],
           "flash_bytes": flash, "ops": kit["ops"], "fits": {}}
    for board, board_flash, board_ram in BOARDS:
        row["fits"][board] = flash <= board_flash - flash_reserve and kit["arena_bytes"] <= board_ram - ram_reserve
    return row


def _n(x):
    return f"{x:,}"


def _kib(x):
    return f"{x / KIB:,.1f}"


def render_markdown(rows, errors, meta):
    fr, rr = meta["app_flash_reserve_bytes"], meta["app_ram_reserve_bytes"]
    lines = [
        "# Firmware budget per student and quantization",
        "",
        f"Generated by `scripts/firmware_budget.py` on {meta['date']} (UTC) with:",
        "",
        f"    {meta['command']}",
        "",
        f"tflite-micro (arena measurement): {meta['tflite_micro_version']}; tfdistil {meta['tfdistil_version']}.",
        "",
        "- **model B**: the .tflite flatbuffer = `g_model_len` (goes to flash).",
        "- **vocab words / vocab C B**: the C vocabulary in flash: sum(UTF-8 length + 1) of the words"
        " + 4 B pointer + 4 B id per word (32-bit MCU; <pad>/<unk> are not in the table).",
        "- **min arena B**: smallest TFLite Micro arena that allocated and ran the model on this host"
        " (64-bit, reference kernels); **arena B** = `kTensorArenaSize` in model_settings.h (+10% margin,"
        " rounded up to 16 B). The arena goes to RAM.",
        "- **flash B** = model B + vocab C B (the TFLM runtime, the tokenizer code and the application are not included).",
        f"- **fits**: flash B <= board flash - {fr // KIB} KiB and arena B <= board RAM - {rr // KIB} KiB."
        f" The {fr // KIB} KiB / {rr // KIB} KiB reserved for the application, TFLM runtime, bootloader/OS are"
        " an assumption, not a measurement: check the real numbers your build prints.",
        "  Boards: Arduino Nano 33 BLE (Sense) = nRF52840, 1 MiB flash, 256 KiB RAM;"
        " ESP32-S3 = 8 MiB flash (module variant), 512 KiB internal SRAM (PSRAM not counted). On ESP32-S3"
        " the app partition must also be large enough: the default single-app partition is 1 MiB.",
        "",
        "| run | student | quantization | model B | vocab words | vocab C B | min arena B | arena B "
        "| flash B (KiB) | fits Nano 33 BLE | fits ESP32-S3 |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in rows:
        fits = [("yes" if r["fits"][b] else "no") for b, _, _ in BOARDS]
        lines.append(f"| {r['run']} | {r['student']} | {r['quantization']} | {_n(r['model_bytes'])} "
                     f"| {_n(r['vocab_words'])} | {_n(r['vocab_c_bytes'])} | {_n(r['arena_bytes_min'])} "
                     f"| {_n(r['arena_bytes'])} | {_n(r['flash_bytes'])} ({_kib(r['flash_bytes'])}) "
                     f"| {fits[0]} | {fits[1]} |")
    if errors:
        lines += ["", "Models that could not be measured:", ""]
        lines += [f"- `{e['model']}`: {e['error']}" for e in errors]
    return "\n".join(lines) + "\n"


def _version(dist):
    from importlib import metadata
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("targets", nargs="*", help="run folders or .tflite files (default: every runs/*/)")
    ap.add_argument("--float32", action="store_true", help="also the *_float32_L{max-len}.tflite models")
    ap.add_argument("--max-len", type=int, default=64, help="L in the model file names (default 64)")
    ap.add_argument("--out", default=os.path.join(ROOT, "firmware_notes", "budget.md"),
                    help="Markdown table to write; the JSON goes beside it as .json (default firmware_notes/budget.md)")
    ap.add_argument("--kit-dir", default=None,
                    help="keep the kits here (KIT_DIR/RUN/MODEL/); default: a temporary folder, removed")
    ap.add_argument("--app-flash-kb", type=int, default=100, help="flash reserved for the app + runtime, KiB (default 100)")
    ap.add_argument("--app-ram-kb", type=int, default=64, help="RAM reserved for the app + runtime, KiB (default 64)")
    args = ap.parse_args(argv)
    if not args.out.endswith(".md"):
        sys.exit("error: --out must end in .md (the JSON is written beside it)")

    models = find_models(args)
    kit_root = args.kit_dir or tempfile.mkdtemp(prefix="tfdistil-kits-")
    from tfdistil.errors import UserError
    rows, errors = [], []
    try:
        for i, model in enumerate(models, start=1):
            stem = os.path.basename(model)[: -len(".tflite")]
            kit_dir = os.path.join(kit_root, run_name(model), stem)
            print(f"[{i}/{len(models)}] {model}", file=sys.stderr, flush=True)
            try:
                rows.append(budget_row(model, kit_dir, args.app_flash_kb * KIB, args.app_ram_kb * KIB))
            except (UserError, OSError, ValueError, KeyError) as e:
                errors.append({"model": model, "error": str(e)})
                print(f"  error: {e}", file=sys.stderr)
    finally:
        if not args.kit_dir:
            shutil.rmtree(kit_root, ignore_errors=True)

    rows.sort(key=lambda r: (r["student"] or "", r["quantization"] or "", r["run"]))
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "command": " ".join(shlex.quote(a) for a in ["python", os.path.relpath(os.path.abspath(__file__), ROOT)]
                            + (sys.argv[1:] if argv is None else list(argv))),
        "tflite_micro_version": _version("tflite-micro"), "tfdistil_version": _version("tfdistil"),
        "app_flash_reserve_bytes": args.app_flash_kb * KIB, "app_ram_reserve_bytes": args.app_ram_kb * KIB,
        "boards": [{"name": b, "flash_bytes": f, "ram_bytes": r} for b, f, r in BOARDS],
        "vocab_c_bytes_formula": "sum(len(utf8(word)) + 1) + 4 * words (pointers) + 4 * words (ids)",
    }
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    from tfdistil.files import atomic_write_json, atomic_write_text
    atomic_write_text(args.out, render_markdown(rows, errors, meta))
    atomic_write_json(args.out[: -len(".md")] + ".json", {**meta, "rows": rows, "errors": errors})
    print(f"wrote {args.out} and {args.out[: -len('.md')]}.json ({len(rows)} models, {len(errors)} errors)",
          file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
