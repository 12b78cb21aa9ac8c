"""Does a `tfdistil bundle` executable answer as host TFLM does? Build it per target, run a TSV
through it (qemu user mode for Arm targets), compare sentence by sentence.

Reference: the host TFLM interpreter (`tflite-micro` pip package, reference kernels, the runtime
whose accuracy tfdistil records as `eval_int8_tflm_*.json`), through `mcu.host_reference`.
Compared: labels and the float32 logits bit for bit. Measured: the stripped static binary's size
and the peak RSS GNU time reports for the process it watched (for an Arm target that process
is qemu: the figure includes the emulator and is an upper bound for the program on a Pi).
"""
import os
import tempfile

import numpy as np

from tfdistil.data.splits import read_tsv
from tfdistil.data.vocab import Vocab
from tfdistil.edge.mcu.bundle import build_bundle, run_bundle
from tfdistil.edge.host.evaluate import read_model
from tfdistil.runfolder import vocab_beside


def host_tflm(model_path, sentences):
    from tfdistil.edge.mcu.run import host_reference
    vocab = Vocab.load(vocab_beside(model_path))
    return host_reference(read_model(model_path), vocab, sentences)


def check_bundle(model_path, tsv, targets, out_dir=None, cpus=None, limit=None, log=None):
    """{target: comparison} for each target, plus the host TFLM reference's accuracy."""
    split = read_tsv(tsv, "test")
    sentences, gold = list(split.sentences)[:limit], np.asarray(split.labels)[:limit]
    host = host_tflm(model_path, sentences)
    result = {"model": model_path, "tsv": os.path.basename(tsv), "n": len(sentences),
              "host_tflm_accuracy": round(float(np.mean(host["labels"] == gold)), 6), "targets": {}}
    with tempfile.TemporaryDirectory(prefix="tfdistil-bundle-check-") as tmp:
        for target in targets:
            out = os.path.join(out_dir or tmp, target)
            built = build_bundle(model_path, target, out, log=log)
            for cpu in (cpus or {}).get(target, [None]):
                ran = run_bundle(os.path.join(out, built["binary"]), target, sentences, cpu=cpu, measure_rss=True)
                same_bits = (ran["bits"] == host["bits"]).all(-1)
                differ = [{"index": int(i), "sentence": sentences[i], "bundle": ran["lines"][i],
                           "host_label": int(host["labels"][i])} for i in np.flatnonzero(~same_bits)[:20]]
                result["targets"][target + (f"/{cpu}" if cpu else "")] = {
                    "accuracy": round(float(np.mean(ran["labels"] == gold)), 6),
                    "labels_identical": int((ran["labels"] == host["labels"]).sum()),
                    "float_outputs_bit_identical": int(same_bits.sum()), "first_differences": differ,
                    "binary_bytes": built["binary_bytes"], "peak_rss_kb": ran["peak_rss_kb"],
                    "peak_rss_of": "the program" if target == "linux-x86_64" else "qemu user mode running the program",
                    "seconds": ran["seconds"], "command": " ".join(os.path.basename(c) for c in ran["command"]) + " --bits",
                    "compiler": built["compiler"], "build_seconds": built["build_seconds"]}
    return result
