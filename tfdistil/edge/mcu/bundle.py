"""`tfdistil bundle`: a student as one static Linux executable (Raspberry Pi 32/64-bit, or x86).

Why: 32-bit Raspberry Pi OS bookworm (Python 3.11) has no TFLite runtime on PyPI, and a Pi without
Python packages still runs a static binary. The executable is the firmware kit
(`tfdistil.edge.mcu.firmware`: model as a C array, vocabulary, C tokenizer, exact op resolver), the
command-line main `edge/mcu/src/main_linux.cc` and TFLite Micro compiled from the vendored sources by
the firmware's own machinery (`mcu_build.tflm_library`, cached per compiler and flags), with
Debian's cross compilers. `run_bundle` runs it under qemu user mode (or natively for x86_64).
"""
import os
import shlex
import shutil
import subprocess
import tempfile
import time

import numpy as np

from tfdistil.errors import UserError
from tfdistil.runfolder import CONFIG, vocab_beside
from tfdistil.edge.mcu import build as mcu_build
from tfdistil.edge.mcu.build import LINUX_TARGETS, MCU_SRC

BINARY = "classify"
APT = {"linux-armv7": "gcc-arm-linux-gnueabihf g++-arm-linux-gnueabihf",
       "linux-aarch64": "gcc-aarch64-linux-gnu g++-aarch64-linux-gnu", "linux-x86_64": "gcc g++ binutils"}
QEMU = {"linux-armv7": "qemu-arm-static", "linux-aarch64": "qemu-aarch64-static", "linux-x86_64": None}
# The emulated CPU when none is asked for: Pi 2 (Cortex-A7, 32-bit) and Pi 4 (Cortex-A72).
DEFAULT_CPU = {"linux-armv7": "cortex-a7", "linux-aarch64": "cortex-a72", "linux-x86_64": None}


def check_target(target):
    if target not in LINUX_TARGETS:
        raise UserError(f"unknown target {target!r}; choose one of: {', '.join(LINUX_TARGETS)}")


def resolve_model(path):
    """A .tflite; a folder holding exactly one int8 .tflite (a committed model: results/models/NAME);
    or a run folder (its int8 model, as `tfdistil firmware` finds it)."""
    import glob
    from tfdistil.runfolder import resolve_model as run_model
    if os.path.isdir(path) and not os.path.isfile(os.path.join(path, CONFIG)):
        found = sorted(glob.glob(os.path.join(path, "*int8*.tflite")))
        if len(found) == 1:
            return found[0]
        raise UserError(f"{path}: holds {len(found)} int8 .tflite files and no config.json; pass the .tflite")
    return run_model(path)


def find_tools(target):
    """gcc, g++ and ar of the target's cross toolchain; a UserError naming the apt packages."""
    check_target(target)
    prefix = LINUX_TARGETS[target]
    tools = {k: shutil.which(prefix + k) for k in ("gcc", "g++", "ar")}
    missing = [prefix + k for k, v in tools.items() if not v]
    if missing:
        raise UserError(f"{', '.join(missing)} not found on PATH; install with: apt-get install {APT[target]}")
    return tools


def check_inputs(model_path, target, out):
    """Everything that can be wrong before TensorFlow or a compiler runs: one UserError, nothing written."""
    from tfdistil.edge.host.evaluate import read_model
    from tfdistil.files import check_output_folder
    check_target(target)
    check_output_folder(out)
    find_tools(target)
    mcu_build.tflm_source_dir()
    read_model(model_path)
    vocab = vocab_beside(model_path)
    if not os.path.isfile(vocab):
        raise UserError(f"{vocab}: vocabulary file not found (convert writes it beside the .tflite)")


def compile_and_link(kit_dir, build_dir, exe, target, ops, log=None):
    """The kit + main_linux.cc + libtflm.a of the model's ops, statically linked and stripped."""
    tools, src = find_tools(target), mcu_build.tflm_source_dir()
    lib, info = mcu_build.tflm_library(ops, target, tools, src, log=log)
    objects = []
    for path, cxx in ((os.path.join(kit_dir, "model_data.cpp"), True), (os.path.join(kit_dir, "vocab_data.c"), False),
                      (os.path.join(kit_dir, "tokenizer.c"), False), (os.path.join(MCU_SRC, "main_linux.cc"), True)):
        obj = os.path.join(build_dir, os.path.splitext(os.path.basename(path))[0] + ".o")
        mcu_build.compile_source(tools, cxx, [*mcu_build.compile_flags(src, target, cxx=cxx), f"-I{kit_dir}"], path,
                                 obj, f"compiling {os.path.basename(path)} for {target}")
        objects.append(obj)
    mcu_build._run([tools["g++"], "-static", "-s", "-Wl,--gc-sections", "-o", exe, *objects, lib, "-lm"],
                   f"linking {BINARY} for {target}")
    return info


def build_bundle(model_path, target, out, log=None):
    """Write OUT/classify (static, stripped) and OUT/bundle.json; OUT is made whole or not at all."""
    from tfdistil.edge.mcu.firmware import write_firmware_kit
    from tfdistil.files import atomic_write_json, open_partial, publish
    check_inputs(model_path, target, out)
    t0 = time.time()
    partial, lock = open_partial(out, "bundle")
    with tempfile.TemporaryDirectory(prefix="tfdistil-bundle-") as build:
        kit = write_firmware_kit(model_path, os.path.join(build, "kit"))
        exe = os.path.join(partial, BINARY)
        tflm = compile_and_link(os.path.join(build, "kit"), build, exe, target, kit["ops"], log=log)
    result = {"target": target, "binary": BINARY, "binary_bytes": os.path.getsize(exe),
              "model": os.path.basename(model_path), "model_bytes": kit["model_bytes"], "student": kit["student"],
              "labels": kit["labels"], "ops": kit["ops"], "arena_bytes_measured": kit["arena_bytes"],
              "compiler": tflm["compiler"], "tflm_sources": tflm["sources"], "static": True,
              "run": (f"{QEMU[target]} -cpu {DEFAULT_CPU[target]} " if QEMU[target] else "") + f"./{BINARY} --tsv test.tsv",
              "build_seconds": round(time.time() - t0, 1)}
    atomic_write_json(os.path.join(partial, "bundle.json"), result)
    lock.release()
    publish(partial, out)
    return {**result, "out": out}


def runner_command(exe, target, cpu=None):
    """argv that runs the bundle here: through qemu user mode for an Arm target."""
    if QEMU[target] is None:
        return [exe]
    qemu = shutil.which(QEMU[target])
    if not qemu:
        raise UserError(f"{QEMU[target]} not found; install with: apt-get install qemu-user-static")
    return [qemu, "-cpu", cpu or DEFAULT_CPU[target], exe]


def run_bundle(exe, target, sentences, cpu=None, measure_rss=False):
    """Labels, float32 logit bits and printed lines for `sentences` (one per line on stdin).
    With `measure_rss`: the peak RSS of the process GNU time watched (qemu itself for Arm targets)."""
    cmd = plain = runner_command(exe, target, cpu)
    with tempfile.TemporaryDirectory() as tmp:
        timing = os.path.join(tmp, "time.txt")
        if measure_rss:
            cmd = ["/usr/bin/time", "-v", "-o", timing, *cmd]
        text = "".join(" ".join(s.split()) + "\n" for s in sentences)
        t0 = time.time()
        proc = subprocess.run([*cmd, "--bits"], input=text, capture_output=True, text=True)
        seconds = time.time() - t0
        if proc.returncode != 0:
            raise UserError(f"{' '.join(map(shlex.quote, cmd))} failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
        rss = None
        if measure_rss:
            with open(timing) as f:
                rss = next(int(l.split(":")[1]) for l in f if "Maximum resident set size" in l)
    lines = proc.stdout.splitlines()
    if len(lines) != len(sentences):
        raise UserError(f"{exe}: {len(lines)} answers for {len(sentences)} sentences")
    bits = np.array([[int(h, 16) for h in l.split("\t")[2].split(",")] for l in lines], np.uint32)
    return {"labels": bits.view(np.float32).argmax(-1), "bits": bits, "lines": [l.rsplit("\t", 1)[0] for l in lines],
            "seconds": round(seconds, 2), "peak_rss_kb": rss, "command": plain}
