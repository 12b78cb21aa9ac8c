#!/usr/bin/env python3
"""Flash, RAM and instructions of the committed int8 students, measured on an emulated Cortex-M4
-> firmware_notes/budget.md + budget.json.

Every number comes from building the student's firmware (the kit of `tfdistil convert --c-array`,
TFLite Micro from ../shared/vendor/tflite-micro, arm-none-eabi-gcc) and running it under QEMU
(`mps2-an386`) with `tfdistil.edge.mcu.run.run_firmware`, the code behind `tfdistil firmware`:

- flash = text + rodata + data of the ELF, split by the linker map into the model, the C
  vocabulary, the TFLM runtime and the rest (application, tokenizer, newlib, libstdc++);
- RAM = data + bss (the arena and the rest), plus the stack high-water mark painted and read
  on the board;
- instructions per sentence from QEMU's `-icount` clock; the ms figure assumes one instruction
  per cycle at 64 MHz (nRF52840) and is labelled as an estimate.

A model with a full-split result in results/firmware/NAME-SPLIT.json (written by
experiments/firmware/firmware_runs.sh) for the same model bytes reuses it; the others run on the first
`--limit` sentences of the split.

    .venv/bin/python experiments/firmware/firmware_budget.py                      # every results/models/*/*_int8_L64.tflite
    .venv/bin/python experiments/firmware/firmware_budget.py results/models/cnn-distill --limit 50 --out $TMPDIR/budget.md
"""
import argparse
import datetime
import glob
import hashlib
import json
import os
import shlex
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

KIB = 1024
ESTIMATE_MHZ = 64
# Cortex-M boards: name, flash bytes, RAM bytes. A student "fits" when the measured flash total
# <= flash and RAM total + stack high-water <= RAM (the Cortex-M4 build is what such a board runs).
BOARDS = (
    ("Arduino Nano 33 BLE (nRF52840, Cortex-M4F)", 1024 * KIB, 256 * KIB),
    # Xtensa, not Cortex-M: its TFLM runtime and libc differ in size from this build's (~165 KiB
    # here); the model, vocabulary and arena bytes are the same. Flash = the single-app "large"
    # partition (CONFIG_PARTITION_TABLE_SINGLE_APP_LARGE, see README section 2), RAM = internal SRAM.
    ("ESP32-S3 (1.5 MiB app partition)", 1536 * KIB, 512 * KIB),
)


def find_models(targets):
    """int8 models from run/model folders or .tflite paths (default: every committed model)."""
    targets = targets or sorted(glob.glob(os.path.join(ROOT, "results", "models", "*", "")))
    models = []
    for t in targets:
        if t.endswith(".tflite"):
            if not os.path.isfile(t):
                sys.exit(f"error: {t}: model file not found")
            models.append(t)
        elif os.path.isdir(t):
            found = sorted(glob.glob(os.path.join(t, "*_int8_L64.tflite")) +
                           glob.glob(os.path.join(t, "tflite", "*_int8_L64.tflite")))
            if not found:
                sys.exit(f"error: {t}: no *_int8_L64.tflite in it (or in its tflite/): run `tfdistil convert` first")
            models.extend(found)
        else:
            sys.exit(f"error: {t}: neither a folder nor a .tflite file")
    return models


def measured(model, data, split, limit, board):
    """The run_firmware result: the committed full-split JSON if it is for these bytes, else a new run."""
    from tfdistil.edge.mcu.run import output_name, run_firmware
    with open(model, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    full = os.path.join(ROOT, "results", "firmware", output_name(model, split))
    if os.path.isfile(full):
        with open(full, encoding="utf-8") as f:
            r = json.load(f)
        if r.get("model_sha256") == sha and r.get("board") == board:
            return r, os.path.relpath(full, ROOT)
    # this table is the reference kernels' (the per-board table below has both kernel sets)
    return run_firmware(model, data, split, limit, board, progress=False, log=lambda m: None,
                        kernels="reference"), None


def board_rows():
    """One row per (board, kernel set) run of experiments/firmware/firmware_boards.sh (results/firmware/boards/):
    whole-image flash and RAM as the board's linker script
    placed them, instructions per sentence, agreement with host TFLM."""
    from tfdistil.edge.mcu.boards import BOARDS as EMULATED
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "results", "firmware", "boards", "*.json"))):
        with open(path, encoding="utf-8") as f:
            r = json.load(f)
        ins, flash, ram = r["instructions"]["invoke"], r["flash"], r["ram"]
        out.append({
            "source": os.path.relpath(path, ROOT), "model": r["model"], "board": r["board"], "cpu": r["cpu"],
            "about": EMULATED[r["board"]]["about"], "kernels": r["kernels"], "n": r["n"], "split": r["split"],
            "flash_total": flash["total"], "flash_model_plus_vocabulary": flash["model"] + flash["vocabulary"],
            "flash_tflm": flash["tflm_runtime"], "board_flash": r["board_memory"]["flash_bytes"],
            "ram_total": ram["total"], "arena": ram["arena"], "arena_used_on_board": ram["arena_used_on_board"],
            "arena_percent_of_kit": ram["arena_percent_of_kit"], "stack_reserved": ram["stack_reserved"],
            "heap_reserved": ram["heap_reserved"], "stack": r["stack_high_water_bytes"], "heap": ram["heap_bytes"],
            "board_ram": r["board_memory"]["ram_bytes"],
            "instructions_mean": ins["mean"], "instructions_p50": ins["p50"], "instructions_p95": ins["p95"],
            "accuracy": r["accuracy"], "labels_identical": r["labels_identical"],
            "int8_outputs_identical": r["int8_outputs_identical"], "command": r.get("command")})
    order = list(EMULATED)
    return sorted(out, key=lambda b: (b["model"], order.index(b["board"]), b["kernels"]))


# Parts a student might ship on: (part, core, flash bytes, RAM bytes, emulated build whose measured
# image stands for it, assumptions). Sizes from the vendors' product pages as of 2026; check the
# datasheet of the exact part number before relying on them.
PARTS = (
    ("nRF52840 (Arduino Nano 33 BLE)", "Cortex-M4F", 1024 * KIB, 256 * KIB, "mps2-an386", ""),
    ("nRF52832", "Cortex-M4F", 512 * KIB, 64 * KIB, "mps2-an386", ""),
    ("STM32F405RG (Netduino Plus 2)", "Cortex-M4F", 1024 * KIB, 128 * KIB, "netduinoplus2",
     "the 64 KB CCM RAM not counted (the arena could live there)"),
    ("STM32L432KC", "Cortex-M4F", 256 * KIB, 64 * KIB, "mps2-an386", ""),
    ("RP2040 (Raspberry Pi Pico)", "Cortex-M0+", 2048 * KIB, 264 * KIB, "mps2-an385",
     "2 MB is the Pico's external QSPI flash; a Cortex-M0+ (ARMv6-M) image was not built: the "
     "Cortex-M3 image stands for it, and Thumb-1 code is somewhat larger"),
    ("Alif Ensemble E3 (M55 HP/HE)", "Cortex-M55", 5632 * KIB, 13824 * KIB, "mps3-an547",
     "5.5 MB MRAM, 13.5 MB SRAM in total as Alif's product brief gives them (not verified here); a real layout splits them into "
     "per-core TCMs and shared SRAM"),
)


def parts_lines(rows):
    """Does the measured image (flash) and RAM (data + bss + reserved heap and stack) fit each part?"""
    model_rows = [b for b in rows if b["n"] > 0]
    if not model_rows:
        return []
    lines = ["", "## Fits on (parts)", "",
             "The per-board images above against real parts. **flash** = the whole image. **RAM as linked** = what "
             "the linker placed in RAM: data + bss with the arena (sized on the board, see above) + the 8 KiB heap "
             "and 16 KiB stack reserved. **RAM needed** = the same with the arena TFLM used on the board, the stack "
             "high-water mark and the heap newlib took instead of the reserves (a tight build's need). Nothing "
             "else is counted: a real application's drivers, radio stack or RTOS add to both.", "",
             "| part | core | flash | RAM | measured on | kernels | image flash B | RAM as linked B | RAM needed B "
             "| fits as linked | fits tight | assumptions |",
             "| --- | --- | ---: | ---: | --- | --- | ---: | ---: | ---: | --- | --- | --- |"]
    for part, core, flash, ram, board, note in PARTS:
        for b in (r for r in model_rows if r["board"] == board):
            tight = (b["ram_total"] - b["arena"] - b["stack_reserved"] - b["heap_reserved"] + b["arena_used_on_board"]
                     + b["stack"] + b["heap"])
            cells = []
            for need in (b["ram_total"], tight):
                bad = [w for w, over in (("flash", b["flash_total"] > flash), ("RAM", need > ram)) if over]
                cells.append("yes" if not bad else f"no ({', '.join(bad)})")
            lines.append(f"| {part} | {core} | {_k(flash)} KiB | {_k(ram)} KiB | {board} | {b['kernels']} "
                         f"| {_n(b['flash_total'])} | {_n(b['ram_total'])} | {_n(tight)} | {cells[0]} | {cells[1]} | {note} |")
    return lines


def board_lines(rows):
    if not rows:
        return []
    lines = ["", "## Per board: the same firmware on six emulated boards, CMSIS-NN and reference kernels", "",
             "From `bash experiments/firmware/firmware_boards.sh` (`tfdistil firmware MODEL --board B --kernels K --per-token "
             "16,32,64 --c-vocab fingerprint-ranks`; logs in `results/logs/firmware-boards/`, JSON in "
             "`results/firmware/`). Each board links with its own script (`tfdistil/edge/mcu/boards.py`): "
             "**flash** = every byte of the image (vectors, text, rodata, tables, .data's initial values), "
             "**RAM** = .data + .bss (with the arena) + the reserved 8 KiB heap and 16 KiB stack, as the linker "
             "placed them in the board's RAM region; the link fails if either does not fit. The arena is sized "
             "on the board: the kit's (measured in host TFLM with reference kernels) or, where "
             "`AllocateTensors()` failed with it, the next larger of 125/150/200/300 %.", "",
             "| model | board | CPU | kernels | flash B (whole image) | of which model + vocab | TFLM | RAM B | arena "
             "(% of kit) | arena used | stack B | instr./sentence mean | p50 | p95 | sentences | accuracy | "
             "labels = host TFLM | int8 = host TFLM |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
             "| ---: | ---: | ---: |"]
    for b in rows:
        name = os.path.basename(os.path.dirname(b["model"]))
        lines.append(
            f"| {name} | {b['board']} | {b['cpu']} | {b['kernels']} | {_n(b['flash_total'])} "
            f"| {_n(b['flash_model_plus_vocabulary'])} | {_n(b['flash_tflm'])} | {_n(b['ram_total'])} "
            f"| {_n(b['arena'])} ({b['arena_percent_of_kit']} %) | {_n(b['arena_used_on_board'])} | {_n(b['stack'])} "
            f"| {_n(int(b['instructions_mean']))} | {_n(int(b['instructions_p50']))} | {_n(int(b['instructions_p95']))} "
            f"| {b['n']} {b['split']} | {100 * b['accuracy']:.2f} | {b['labels_identical']}/{b['n']} "
            f"| {b['int8_outputs_identical']}/{b['n']} |")
    return lines


def per_token_rows():
    """Rows of the committed per-token runs (`firmware --per-token`, experiments/firmware/firmware_runs.sh)."""
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "results", "firmware", "*-pertoken-*.json"))):
        with open(path, encoding="utf-8") as f:
            r = json.load(f)
        if r.get("kernels", "reference") != "reference" or r["board"] != "mps2-an386":
            continue  # this table is the M4's with reference kernels; the per-board table has the rest
        heads = "/".join(str(n) for n in r["build"]["kit"]["per_token"]["head_lengths"])
        model = os.path.join(ROOT, r["model"]) if not os.path.isabs(r["model"]) else r["model"]
        words = {"fingerprints": ", fingerprint word table",
                 "fingerprint-ranks": ", fingerprint-rank word table"}.get(r.get("vocab_layout"), "")
        out.append(row(model, r, os.path.relpath(path, ROOT), suffix=f" (per token, heads {heads}{words})"))
    return out


def int16x8_lines():
    """The int16x8 rows: what experiments/ablations/int16x8_check.py recorded, one line per student and runtime."""
    path = os.path.join(ROOT, "experiments", "ablations", "int16x8.json")
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as f:
        rec = json.load(f)
    lines = ["", "## int16x8 (16-bit activations, 8-bit weights)", "",
             f"From `{rec['command']}` (`experiments/ablations/int16x8.json`, TensorFlow {rec['tensorflow']}):", "",
             "| student | runtime | int16x8 |", "| --- | --- | --- |"]
    for st in rec["students"]:
        for runtime, what in st["runtimes"].items():
            lines.append(f"| {st['student']} | {runtime} | {what} |")
    return lines


def row(model, r, source, suffix=""):
    name = os.path.basename(os.path.dirname(os.path.abspath(model)))
    if name == "tflite":
        name = os.path.basename(os.path.dirname(os.path.dirname(os.path.abspath(model))))
    name += suffix
    flash, ram = r["flash"], r["ram"]
    stack = r["stack_high_water_bytes"]
    return {
        "name": name, "model": os.path.relpath(os.path.abspath(model), ROOT),
        # A model without its manifest: the student is in the file name convert gives it.
        "student": r["student"] or next((st for st in ("bilstm_attn", "bilstm", "cnn")
                                         if os.path.basename(model).startswith(st + "_")), "?"),
        "model_sha256": r["model_sha256"], "source": source or "this run",
        "flash_total": flash["total"], "flash_model": flash["model"], "flash_vocabulary": flash["vocabulary"],
        "flash_model_plus_vocabulary": flash["model"] + flash["vocabulary"],
        "flash_tflm": flash["tflm_runtime"], "flash_other": flash["other"],
        "ram_total": ram["total"], "arena": ram["arena"], "arena_used_on_board": ram["arena_used_on_board"],
        "ram_other": ram["total"] - ram["arena"], "stack": stack, "heap": ram["heap_bytes"],
        "instructions_mean": r["instructions"]["invoke"]["mean"], "instructions_p50": r["instructions"]["invoke"]["p50"],
        "instructions_p95": r["instructions"]["invoke"]["p95"],
        "ms_p50_estimate": round(r["instructions"]["invoke"]["p50"] / (ESTIMATE_MHZ * 1e3), 1),
        "n": r["n"], "split": r["split"], "accuracy": r["accuracy"],
        "labels_identical": r["labels_identical"], "int8_outputs_identical": r["int8_outputs_identical"],
    }


def fits(r):
    return {b: r["flash_total"] <= f and r["ram_total"] + r["stack"] <= m for b, f, m in BOARDS}


def _n(x):
    return f"{x:,}"


def _k(x):
    return f"{x / KIB:,.1f}"


def render_markdown(rows, meta):
    lines = [
        "# Firmware budget: measured on an emulated Cortex-M4",
        "",
        f"Generated by `experiments/firmware/firmware_budget.py` on {meta['date']} (UTC) with:",
        "",
        f"    {meta['command']}",
        "",
        f"Board: QEMU `{meta['board']}` (Cortex-M4, soft float); {meta['compiler']}; TFLite Micro from "
        "`../shared/vendor/tflite-micro` (core -Os, kernels -O2, reference kernels), linked with "
        "`--gc-sections` and newlib over semihosting. Each firmware is the kit of "
        "`tfdistil convert --c-array` plus the measuring main of `tfdistil/edge/mcu/src/`.",
        "",
        "- **flash** = text + rodata + data of the ELF (`arm-none-eabi-size` sums), split with the linker map: "
        "**model** (`g_model`, the .tflite bytes), **vocab** (the C word table and its strings), **TFLM** "
        "(every object of libtflm.a the linker kept), **other** (main, tokenizer, vector table, newlib, "
        "libstdc++, libgcc; a real board's startup code and drivers replace newlib's semihosting part).",
        "- **RAM** = data + bss: the **arena** (`kTensorArenaSize`) and the rest; **stack** is the high-water "
        "mark measured on the board (painted stack, deepest word written during setup or any sentence). "
        "newlib's heap (stdio buffers only; TFLM never allocates) is in the JSON.",
        f"- **instr./sentence** = instructions executed by `Invoke()` per sentence (QEMU `-icount`), p50 over the "
        f"sentences run; **ms @ {ESTIMATE_MHZ} MHz** is an estimate assuming one instruction per cycle (QEMU models "
        "no caches, flash wait states or pipeline stalls; a real M4 needs more cycles than instructions).",
        "- **agree** = sentences whose label (and int8 logits) are identical to the `tflite-micro` Python interpreter; "
        "every row's labels, int8 logits and float outputs are also compared with the same TFLM sources built "
        "for x86 (`agreement_with_host_build` in the full-split JSON files, identical on every sentence).",
        "- **fits**: flash <= board flash and RAM + stack <= board RAM, nothing reserved: every byte of the "
        "firmware is counted (for the ESP32-S3, an Xtensa chip, only approximately: its runtime and libc are "
        "not this build's). Boards: " + "; ".join(f"{b} = {_k(f)} KiB flash, {_k(m)} KiB RAM" for b, f, m in BOARDS)
        + ".",
        "",
        "- **per token** rows run the same model split into a step model and heads "
        "(`tfdistil firmware --per-token`, firmware_notes section 3b): the work follows the sentence's tokens; "
        "their **model** is the step model plus every head.",
        "",
        "| model | student | flash KiB | model | vocab | model + vocab (B) | TFLM | other | RAM KiB | arena | stack B "
        "| instr./sentence (p50) | (mean) | ms @ 64 MHz (est.) | sentences | accuracy | agree | "
        + " | ".join(f"fits {b.split(' (')[0]}" for b, _, _ in BOARDS) + " |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
        + " | ".join("---" for _ in BOARDS) + " |",
    ]
    for r in rows:
        fit_cells = " | ".join("yes" if r["fits"][b] else "no" for b, _, _ in BOARDS)
        agree = f"{r['labels_identical']}/{r['n']}" + ("" if r["int8_outputs_identical"] == r["n"] else
                                                       f" (int8 {r['int8_outputs_identical']})")
        lines.append(
            f"| {r['name']} | {r['student']} | {_k(r['flash_total'])} | {_k(r['flash_model'])} "
            f"| {_k(r['flash_vocabulary'])} | {_n(r['flash_model_plus_vocabulary'])} | {_k(r['flash_tflm'])} "
            f"| {_k(r['flash_other'])} | {_k(r['ram_total'])} "
            f"| {_k(r['arena'])} | {_n(r['stack'])} | {_n(int(r['instructions_p50']))} "
            f"| {_n(int(r['instructions_mean']))} | {r['ms_p50_estimate']:,} "
            f"| {r['n']} {r['split']} | {100 * r['accuracy']:.2f} | {agree} | {fit_cells} |")
    lines += ["", "Rows marked in the JSON with `source: results/firmware/...` reuse the full-split run of "
              "`bash experiments/firmware/firmware_runs.sh` (logs in `results/logs/firmware-*.log`) for the same model bytes.",
              *board_lines(meta.get("board_rows", [])), *parts_lines(meta.get("board_rows", [])),
              *int16x8_lines()]
    return "\n".join(lines) + "\n"


def splice_board_sections(path):
    """budget.md also holds hand-written sections (the fast paths, edge correctness) between the generated
    ones: replace only the per-board table and the parts table, from the board JSONs."""
    from tfdistil.files import atomic_write_text
    with open(path, encoding="utf-8") as f:
        text = f.read()
    rows = board_rows()
    for start, lines in (("## Per board:", board_lines(rows)), ("## Fits on (parts)", parts_lines(rows))):
        if start not in text:
            sys.exit(f"error: {path} has no '{start}' section (render the whole file first)")
        a = text.index(start)
        b = text.find("\n## ", a + len(start))
        b = len(text) if b < 0 else b + 1
        text = text[:a] + "\n".join(lines).strip("\n") + "\n\n" + text[b:]
    atomic_write_text(path, text)
    print(f"re-rendered the board sections of {path} from {len(rows)} board runs", file=sys.stderr)
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("targets", nargs="*", help="model folders, run folders or .tflite files (default: results/models/*)")
    ap.add_argument("--data", default=os.environ.get("TFDISTIL_DATA", os.path.join(ROOT, "..", "shared", "data", "sst2")))
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=50, help="sentences per model without a full-split result (default 50)")
    ap.add_argument("--board", default="mps2-an386")
    ap.add_argument("--out", default=os.path.join(ROOT, "firmware_notes", "budget.md"),
                    help="Markdown to write; the JSON goes beside it (default firmware_notes/budget.md)")
    ap.add_argument("--render-json", default=None,
                    help="re-render --out from a budget.json this script wrote, without measuring again")
    ap.add_argument("--boards-only", action="store_true",
                    help="re-render only the 'Per board' and 'Fits on' sections of --out from results/firmware/boards/ "
                         "(after firmware_boards.sh), keeping every other section of the file as it is")
    args = ap.parse_args(argv)
    if args.boards_only:
        return splice_board_sections(args.out)
    if args.render_json:
        with open(args.render_json, encoding="utf-8") as f:
            saved = json.load(f)
        rows, meta = saved.pop("rows"), saved
        for r in rows:
            r["fits"] = fits(r)
        meta["boards"] = [{"name": b, "flash_bytes": f, "ram_bytes": m} for b, f, m in BOARDS]
        meta["board_rows"] = board_rows()
        from tfdistil.files import atomic_write_json, atomic_write_text
        atomic_write_text(args.out, render_markdown(rows, meta))
        atomic_write_json(args.out[:-3] + ".json", {**meta, "rows": rows})
        return 0
    if not args.out.endswith(".md"):
        sys.exit("error: --out must end in .md (the JSON is written beside it)")
    if args.limit < 1:
        sys.exit("error: --limit must be positive")
    models = find_models(args.targets)
    from tfdistil.edge.mcu.run import check_inputs
    from tfdistil.edge.mcu.build import _compiler_id, find_tools
    from tfdistil.errors import UserError
    try:
        for m in models:
            check_inputs(m, args.board, "reference")
        compiler = _compiler_id(find_tools()["g++"])
        rows = []
        for i, model in enumerate(models, 1):
            print(f"[{i}/{len(models)}] {model}", file=sys.stderr, flush=True)
            r, source = measured(model, args.data, args.split, args.limit, args.board)
            rows.append(row(model, r, source))
            print(f"  flash {_k(rows[-1]['flash_total'])} KiB, RAM {_k(rows[-1]['ram_total'])} KiB, "
                  f"{_n(int(rows[-1]['instructions_p50']))} instructions/sentence ({rows[-1]['source']})", file=sys.stderr)
    except UserError as e:
        sys.exit(f"error: {e}")
    if not args.targets:
        rows += per_token_rows()
    for r in rows:
        r["fits"] = fits(r)
    rows.sort(key=lambda r: (r["flash_total"], r["name"]))
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
            "command": " ".join(shlex.quote(a) for a in ["python", "experiments/firmware/firmware_budget.py"]
                                + (sys.argv[1:] if argv is None else list(argv))),
            "board": args.board, "compiler": compiler, "estimate_clock_mhz": ESTIMATE_MHZ,
            "boards": [{"name": b, "flash_bytes": f, "ram_bytes": m} for b, f, m in BOARDS],
            "board_rows": board_rows()}
    from tfdistil.files import atomic_write_json, atomic_write_text
    atomic_write_text(args.out, render_markdown(rows, meta))
    atomic_write_json(args.out[:-3] + ".json", {**meta, "rows": rows})
    print(f"wrote {args.out} and {args.out[:-3]}.json ({len(rows)} models)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
