"""Firmware on an emulated board: build a student's firmware, run a data split through it in
QEMU, and measure what a microcontroller would need and do.

`run_firmware()` writes the kit (`tfdistil.edge.mcu.firmware`), builds the ELF (`tfdistil.edge.mcu.build`),
feeds the split's sentences to the emulated Cortex-M over semihosting and returns:

- accuracy on the split, and agreement with the host TFLM interpreter (`tflite-micro`):
  identical labels, identical raw int8 outputs (the tensor the final DEQUANTIZE reads) and
  bit-identical float32 outputs, sentence by sentence; and the same comparison with the same
  kit, main and vendored TFLM sources compiled for this machine (the pip package is built from
  another TFLM commit, whose kernels can round a rare sentence one int8 step differently);
- flash (text + rodata + data) split into model, vocabulary, TFLM runtime and the rest, and
  RAM (data + bss) with the arena, from the ELF and its linker map, plus the stack high-water
  mark and heap measured on the board;
- instructions per sentence, exact: QEMU's `-icount` makes the board's timer count executed
  instructions (see edge/mcu/src/qemu_board.h). A time in ms follows only by assuming a clock and
  one instruction per cycle, and is labelled as that estimate.
"""
import hashlib
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from tfdistil.data.sample import describe, load_sample
from tfdistil.data.vocab import Vocab
from tfdistil.errors import UserError
from tfdistil.runfolder import TFLITE, vocab_beside
from tfdistil.edge.mcu.boards import BOARDS, check_board
from tfdistil.edge.mcu.build import build_firmware, build_host_reference, find_tools, tflm_source_dir
from tfdistil.edge.mcu.cmsis import check_kernels
from tfdistil.edge.mcu.counts import _stats, instruction_counts, op_instructions
from tfdistil.edge.mcu.memory import firmware_memory
from tfdistil.edge.host.evaluate import _feeds, check_vocab, read_manifest, read_model

ESTIMATE_CLOCK_HZ = 64_000_000  # nRF52840 (Arduino Nano 33 BLE)
# No line from the board for this long: it hangs (a failed TFLM DCHECK prints "HALTED" and spins,
# which is caught at once). The slowest sentence of any committed model takes < 1 s under QEMU.
QEMU_IDLE_SECONDS = int(os.environ.get("TFDISTIL_QEMU_IDLE_SECONDS", "120"))
# The board's arena, in % of the kit's (measured in host TFLM with reference kernels): tried in
# order until AllocateTensors() succeeds on the board (CMSIS-NN kernels ask for more scratch).
ARENA_PERCENTS = (100, 125, 150, 200, 300)
FIRST_MISMATCHES = 20


def check_inputs(model_path, board, kernels="cmsis-nn"):
    """Everything that can be wrong before any build or TensorFlow import: one UserError."""
    check_board(board)
    check_kernels(kernels)
    find_tools()
    tflm_source_dir()
    read_model(model_path)
    vocab = vocab_beside(model_path)
    if not os.path.isfile(vocab):
        raise UserError(f"{vocab}: vocabulary file not found (convert writes it beside the .tflite)")


def host_reference_per_token(parts, max_len, vocab, sentences):
    """host_reference() for the per-token kit: the split model run step by step in host TFLM."""
    from tfdistil.edge.convert.stream_split import PerTokenTFLM
    runner = PerTokenTFLM(parts, preserve_all_tensors=True)
    ids = vocab.encode_batch(sentences, max_len)
    bits, raw = [], []
    for i in range(len(sentences)):
        logits, q = runner(ids[i:i + 1], with_raw=True)
        bits.append(logits.view(np.uint32).copy())
        raw.append(q)
    bits = np.stack(bits)
    return {"bits": bits, "labels": bits.view(np.float32).argmax(-1),
            "raw": None if any(q is None for q in raw) else np.stack(raw)}


def host_reference(model_bytes, vocab, sentences):
    """Labels, float32 output bits and the int8 tensor before DEQUANTIZE for every sentence, from
    the host TFLM interpreter (reference kernels, as on the board). All tensors are preserved so
    the int8 logits can be read after invoke()."""
    from ai_edge_litert.interpreter import Interpreter
    from tflite_micro.python.tflite_micro import runtime
    litert = Interpreter(model_content=model_bytes)
    names = [d["name"] for d in litert.get_input_details()]
    out_index = litert.get_output_details()[0]["index"]
    producer = next((op for op in litert._get_ops_details() if out_index in op["outputs"]), None)
    raw_index = int(producer["inputs"][0]) if producer and producer["op_name"] == "DEQUANTIZE" else None
    it = runtime.Interpreter.from_bytes(model_bytes, arena_size=8 * 1024 * 1024,
                                        intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    max_len = int(it.get_input_details(0)["shape"][1])
    ids = vocab.encode_batch(sentences, max_len)
    bits, raw = [], []
    for i in range(len(sentences)):
        for k, x in enumerate(_feeds(names, ids[i:i + 1])):
            it.set_input(x, k)
        it.reset()  # the LSTM state, as the firmware's Reset()
        it.invoke()
        bits.append(np.asarray(it.get_output(0), np.float32).reshape(-1).view(np.uint32).copy())
        if raw_index is not None:
            raw.append(np.asarray(it.GetTensor(raw_index, 0)["tensor_data"]).reshape(-1).astype(int))
    bits = np.stack(bits)
    return {"bits": bits, "labels": bits.view(np.float32).argmax(-1), "raw": np.stack(raw) if raw else None}


def _reader(stream, sink):
    for line in stream:
        sink.put(line.rstrip("\n"))
    sink.put(None)


LINE_BREAKS = str.maketrans("\t\n\r\f\v", "     ")


def _write_sentences(sentences, workdir):
    # one line per text: ASCII whitespace inside a text becomes a space (both tokenizers split on
    # exactly these characters, so the tokens are the same)
    sentences = [s.translate(LINE_BREAKS) for s in sentences]
    for i, s in enumerate(sentences):
        if len(s.encode("utf-8")) >= 2000:
            raise UserError(f"text {i} is longer than the firmware's line buffer (2,000 bytes)")
    with open(os.path.join(workdir, "sentences.txt"), "w", encoding="utf-8") as f:
        f.write("".join(s + "\n" for s in sentences))


def run_qemu(elf, sentences, board, workdir, on_sentence=None):
    """Run the firmware over `sentences` in QEMU; the board's lines parsed (see main_qemu.cc)."""
    tools = find_tools()
    _write_sentences(sentences, workdir)
    cfg = BOARDS[board]
    cmd = [tools["qemu"], "-M", cfg["machine"], "-nographic", "-semihosting", "-icount", f"shift={cfg['icount_shift']}",
           "-kernel", os.path.abspath(elf), "-append", "sentences.txt"]
    return _run_and_parse(cmd, workdir, sentences, f"the emulated {board}", on_sentence)


def run_host_build(exe, sentences, workdir):
    """The same main and TFLM sources compiled for this machine, over the same sentences."""
    _write_sentences(sentences, workdir)
    return _run_and_parse([os.path.abspath(exe), "sentences.txt"], workdir, sentences, "the host build")


def _run_and_parse(cmd, workdir, sentences, where, on_sentence=None):
    proc = subprocess.Popen(cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace")
    lines, errors = queue.Queue(), queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    threading.Thread(target=_reader, args=(proc.stderr, errors), daemon=True).start()
    board_out = {"ready": {}, "calibration": [], "baseline": [], "sentences": [], "ops": [], "end": None,
                 "failure": None}
    try:
        while True:
            try:
                line = lines.get(timeout=QEMU_IDLE_SECONDS)
            except queue.Empty:
                raise UserError(f"{where} printed nothing for {QEMU_IDLE_SECONDS} s: killed") from None
            if line is None:
                break
            kind, _, rest = line.partition(" ")
            if kind in ("R", "E"):
                fields = dict(kv.split("=", 1) for kv in rest.split())
                board_out["ready" if kind == "R" else "end"] = {k: int(v) for k, v in fields.items()}
            elif kind == "C":
                board_out["calibration"].append(tuple(int(v) for v in rest.split()))
            elif kind == "B":
                board_out["baseline"].append(int(rest))
            elif kind == "S":
                board_out["sentences"].append(_parse_sentence(rest))
                if on_sentence:
                    on_sentence()
            elif kind == "O":  # a profiled build: op name, ticks (high and low 32 bits), calls
                name, high, low, calls = rest.split()
                board_out["ops"].append((name, (int(high) << 32) + int(low), int(calls)))
            elif kind == "F":
                board_out["failure"] = rest
            elif "HALTED" in line:  # a TFLM DCHECK failed: the board now spins forever
                board_out["failure"] = f"TFLM halted: {line.strip()}"
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    stderr = []
    while not errors.empty():
        item = errors.get()
        stderr += [item] if item else []
    if board_out["failure"] or proc.returncode != 0 or board_out["end"] is None:
        detail = board_out["failure"] or " | ".join(stderr[-3:]) or f"exit code {proc.returncode}"
        raise UserError(f"firmware failed on {where}: {detail}")
    if len(board_out["sentences"]) != len(sentences):
        raise UserError(f"{where} answered {len(board_out['sentences'])} of {len(sentences)} sentences")
    board_out["stderr"] = stderr
    return board_out


def _parse_sentence(rest):
    i, label, tokens, bits, raw, tokenize, reset, invoke = rest.split()
    return {"index": int(i), "label": int(label), "tokens": int(tokens), "bits": [int(b, 16) for b in bits.split(",")],
            "raw": None if raw == "-" else [int(q) for q in raw.split(",")],
            "ticks": (int(tokenize), int(reset), int(invoke))}


def run_on_board(kit_dir, out_dir, board, ops, sentences, kernels="cmsis-nn", log=None, on_sentence=None, build=None,
                 defines=()):
    """Build the kit's firmware (or take `build`) and run `sentences` on the board; while
    AllocateTensors() fails there, rebuild with the next larger arena (ARENA_PERCENTS of the kit's).
    Returns (build, board_out); build["arena_percents_failed"] lists the sizes that did not do."""
    log = log or (lambda m: None)
    failed = []
    for percent in ARENA_PERCENTS:
        if build is None or build["arena_percent"] != percent:
            build = build_firmware(kit_dir, out_dir, board, ops, log=log, kernels=kernels, arena_percent=percent,
                                   defines=defines)
        try:
            board_out = run_qemu(build["elf"], sentences, board, out_dir, on_sentence=on_sentence)
            build["arena_percents_failed"] = failed
            return build, board_out
        except UserError as e:
            if "arena too small" not in str(e) or percent == ARENA_PERCENTS[-1]:
                raise
            failed.append(percent)
            log(f"board: AllocateTensors() failed with {percent}% of the kit's arena; trying a larger one")


def run_firmware(model_path, data, split="test", limit=None, board="mps2-an386", build_dir=None, log=None,
                 progress=True, head_lengths=None, vocab_layout="strings", kernels="cmsis-nn", sample="first"):
    """Build, run and measure the firmware of a converted model over a split (see module doc).

    `kernels`: "reference" (TFLM's portable kernels) or "cmsis-nn" (Arm's optimized ones for the
    ops that have them, tfdistil.edge.mcu.cmsis). The arena is sized on the board: the kit's,
    then larger (ARENA_PERCENTS) until AllocateTensors() succeeds there.

    `head_lengths`: run an LSTM student token by token (see tfdistil.edge.convert.stream_split).
    `vocab_layout`: the C word table, "strings", "fingerprints" or "fingerprint-ranks"
    (edge.c_vocab.c_vocabulary_layout). `sample`: which `limit` rows, "first" or "stratified" (data.sample)."""
    from tfdistil.edge.mcu.firmware import write_firmware_kit
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    check_inputs(model_path, board, kernels)
    model_bytes = read_model(model_path)
    vocab_path = vocab_beside(model_path)
    vocab = Vocab.load(vocab_path)
    check_vocab(model_bytes, read_manifest(model_path, model_bytes), vocab, vocab_path)
    s = load_sample(data, split, limit, sample)
    with tempfile.TemporaryDirectory(prefix="tfdistil-fw-") as tmp:
        work = build_dir or tmp
        if build_dir:
            from tfdistil.files import mark
            os.makedirs(build_dir, exist_ok=True)
            mark(build_dir, "firmware-build")
        kit_dir, out_dir = os.path.join(work, "kit"), os.path.join(work, "build")
        t0 = time.time()
        log(f"kit: writing the firmware kit (measures the arena in host TFLM) into {kit_dir}")
        kit = write_firmware_kit(model_path, kit_dir, head_lengths=head_lengths, vocab_layout=vocab_layout)
        t_kit = time.time()
        build = build_firmware(kit_dir, out_dir, board, kit["ops"], log=log, kernels=kernels)
        t_build = time.time()
        log(f"host: {len(s)} {split} sentences through the host TFLM interpreter (tflite-micro package)")
        if head_lengths:
            from tfdistil.edge.convert.stream_split import split as split_model
            host = host_reference_per_token(split_model(model_bytes, head_lengths), kit["max_len"], vocab,
                                            s.sentences)
        else:
            host = host_reference(model_bytes, vocab, s.sentences)
        log("host: the same kit, main and TFLM sources built for this machine")
        host_build = build_host_reference(kit_dir, os.path.join(work, "host"), kit["ops"], log=log)
        host_build_out = run_host_build(host_build["exe"], s.sentences, os.path.join(work, "host"))
        t_host = time.time()
        log(f"board: {len(s)} sentences on the emulated {board} (QEMU, {kernels} kernels)")
        bar = None
        if progress:
            from tfdistil.progress import progress as progress_bar
            bar = progress_bar(total=len(s), desc=f"{board} {split}", unit="sentence")
        try:
            build, board_out = run_on_board(kit_dir, out_dir, board, kit["ops"], s.sentences, kernels, log=log,
                                            on_sentence=bar.update if bar else None, build=build)
        finally:
            if bar:
                bar.close()
        memory = firmware_memory(build["elf"], build["map"], board)
        t_qemu = time.time()
    build["host_tflm"] = host_build["tflm"]
    result = summarize(model_path, model_bytes, kit, memory, build, board, s, host, host_build_out, board_out,
                       {"kit": t_kit - t0, "build": t_build - t_kit, "host_reference": t_host - t_build,
                        "qemu": t_qemu - t_host, "total": t_qemu - t0}, limit)
    # the classes by name, and macro-F1 beside accuracy (a topic task's classes are rarely balanced)
    from tfdistil.metrics import classification_report
    report = classification_report(s.labels, np.array(result["per_sentence"]["label"]), list(vocab.labels))
    result.update(labels=list(vocab.labels), macro_f1=report["macro_f1"], vocab_layout=kit["vocab_layout"],
                  sample=describe(s, limit, sample))
    return result


def summarize(model_path, model_bytes, kit, memory, build, board, split, host, host_build, board_out, seconds,
              limit):
    """The result dict: headline figures at the top level, details below them."""
    manifest = read_manifest(model_path)
    fw = board_out["sentences"]
    labels = np.array([r["label"] for r in fw])
    bits = np.array([r["bits"] for r in fw], dtype=np.uint32)
    same_label = labels == host["labels"]
    same_bits = (bits == host["bits"]).all(axis=1)
    if host["raw"] is not None and all(r["raw"] is not None for r in fw):
        same_raw = (np.array([r["raw"] for r in fw]) == host["raw"]).all(axis=1)
    else:
        same_raw = None
    # The same sources built for this machine: the board must match it bit for bit.
    hb = host_build["sentences"]
    hb_same_label = labels == np.array([r["label"] for r in hb])
    hb_same_bits = (bits == np.array([r["bits"] for r in hb], dtype=np.uint32)).all(axis=1)
    hb_same_raw = None if same_raw is None else np.array([r["raw"] == q["raw"] for r, q in zip(fw, hb)])
    # float32 models: newlib's tanhf/expf and the M4's fused multiply-add round differently from
    # the host's glibc, so their outputs agree to a few ulps rather than bit for bit
    out = bits.view(np.float32)
    max_diff = float(np.abs(out - np.asarray(host["bits"], np.uint32).view(np.float32)).max())
    hb_max_diff = float(np.abs(out - np.array([r["bits"] for r in hb], dtype=np.uint32).view(np.float32)).max())
    counts, clock = instruction_counts(board_out)
    tokenize, reset, invoke = counts[:, 0], counts[:, 1], counts[:, 2]
    n = len(fw)
    ms = {k: round(v / ESTIMATE_CLOCK_HZ * 1e3, 2) for k, v in _stats(invoke).items()}
    end, ready = board_out["end"], board_out["ready"]
    stack = max(end["setup_stack_bytes"], end["inference_stack_bytes"])
    mismatches = [int(i) for i in np.flatnonzero(~same_label | ~same_bits)[:FIRST_MISMATCHES]]
    return {
        "model": model_path, "model_sha256": hashlib.sha256(model_bytes).hexdigest(),
        "student": manifest.get("student") or kit.get("student"), "quantization": kit.get("quantization"),
        "board": board, "cpu": BOARDS[board]["cpu"], "kernels": build["tflm"]["kernels"],
        "split": split.name, "n": n, "limit": limit,
        # headline figures
        "accuracy": round(float(np.mean(labels == split.labels)), 6),
        "host_tflm_accuracy": round(float(np.mean(host["labels"] == split.labels)), 6),
        "labels_identical": int(same_label.sum()),
        "int8_outputs_identical": None if same_raw is None else int(same_raw.sum()),
        "float_outputs_bit_identical": int(same_bits.sum()),
        "flash_bytes": memory["flash"]["total"], "ram_bytes": memory["ram"]["total"],
        "arena_bytes": memory["ram"]["arena"], "stack_high_water_bytes": stack,
        "invoke_instructions_p50": int(np.percentile(invoke, 50)),
        "invoke_ms_p50_estimate_64mhz": ms["p50"],
        "qemu_seconds_per_sentence": round(seconds["qemu"] / n, 4),
        # details
        "agreement_with_host_tflm": {
            "labels": round(float(same_label.mean()), 6),
            "int8_outputs": None if same_raw is None else round(float(same_raw.mean()), 6),
            "float_outputs_bitwise": round(float(same_bits.mean()), 6),
            "float_outputs_max_abs_difference": max_diff,
            "first_mismatches": mismatches,
            "int8_tensor": "input of the DEQUANTIZE that writes the model output (host: TFLM GetTensor with all "
                           "tensors preserved; board: the kit's DEQUANTIZE kernel with a copying invoke)"},
        "agreement_with_host_build": {
            "labels_identical": int(hb_same_label.sum()),
            "int8_outputs_identical": None if hb_same_raw is None else int(hb_same_raw.sum()),
            "float_outputs_bit_identical": int(hb_same_bits.sum()),
            "float_outputs_max_abs_difference": hb_max_diff,
            "what": "the same kit, main_qemu.cc and vendored TFLM sources compiled with the host gcc (x86-64); "
                    "the tflite-micro package above is built from another TFLM commit"},
        "flash": memory["flash"],
        "board_memory": {"flash_bytes": memory["board_flash_bytes"], "ram_bytes": memory["board_ram_bytes"],
                         "what": "the regions the board's linker script gives the firmware (tfdistil/edge/mcu/boards.py)"},
        "ram": {**memory["ram"], "arena_used_on_board": ready["arena_used"],
                "arena_percent_of_kit": build["arena_percent"], "arena_percents_failed": build["arena_percents_failed"],
                "stack_high_water_bytes": {"setup": end["setup_stack_bytes"],
                                           "inference": end["inference_stack_bytes"],
                                           "measured_from": "main() entry; painted-stack scan"},
                "heap_bytes": end["heap_bytes"]},
        **({"instructions_by_op": op_instructions(board_out, n)} if board_out["ops"] else {}),
        "instructions": {"invoke": _stats(invoke), "tokenize": _stats(tokenize), "reset": _stats(reset),
                         "per_sentence_total": _stats(counts.sum(axis=1)), **clock,
                         "method": f"qemu-system-arm -icount shift={BOARDS[board]['icount_shift']}: the board's "
                                   "timer runs on the virtual clock, which advances a fixed time per instruction"},
        "invoke_ms_estimate": {**ms, "assumes": f"1 instruction per cycle at {ESTIMATE_CLOCK_HZ // 10**6} MHz "
                                                "(nRF52840 clock); QEMU models no caches, flash wait states or "
                                                "pipeline stalls"},
        "build": {**build["tflm"], "kit": kit},
        "wall_seconds": {k: round(v, 1) for k, v in seconds.items()},
        "per_sentence": {"label": labels.tolist(), "gold": split.labels.tolist(), "tokens": [r["tokens"] for r in fw],
                         "int8": [r["raw"] for r in fw], "invoke_instructions": invoke.tolist()},
    }


def output_name(model_path, split, limit=None, per_token=False, vocab_layout="strings", board="mps2-an386",
                kernels="reference", sample="first"):
    """results/models/NAME/x.tflite or RUN/tflite/x.tflite ->
    NAME[-pertoken][-LAYOUT][-BOARD][-KERNELS]-SPLIT[-firstN|-sampleN].json (LAYOUT unless strings, BOARD
    unless mps2-an386, KERNELS unless reference: the names of the runs made before either existed;
    -sampleN for a stratified sample of N rows, -firstN for the first N)."""
    folder = os.path.dirname(os.path.abspath(model_path))
    if os.path.basename(folder) == TFLITE:
        folder = os.path.dirname(folder)
    return (f"{os.path.basename(folder)}{'-pertoken' if per_token else ''}"
            f"{'' if vocab_layout == 'strings' else '-' + vocab_layout}"
            f"{'' if board == 'mps2-an386' else '-' + board}{'' if kernels == 'reference' else '-' + kernels}-{split}" +
            (f"-{'sample' if sample == 'stratified' else 'first'}{limit}" if limit else "") + ".json")
