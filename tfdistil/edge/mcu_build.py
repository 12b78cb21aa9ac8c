"""Build a student's firmware for an emulated Cortex-M board, and say what its flash and RAM hold.

The firmware is the kit `tfdistil.edge.firmware.write_firmware_kit` writes, the measuring main in
`mcu_src/` and a TFLite Micro library compiled with Debian's arm-none-eabi-gcc from the
vendored tree (`<repo>/../shared/vendor/tflite-micro`, or `TFDISTIL_TFLM_SRC`). Compiling all
of TFLM takes 16 min of CPU here, so only the core and the kernels of the model's ops are
compiled, each object once: objects are cached under the hash of the compiler, the flags and
the vendored tree, each op set's `libtflm.a` under the hash of its source list
(`~/.cache/tfdistil/tflm/`, or `$TFDISTIL_CACHE/tflm/`). Every cache entry is written under a
temporary name and renamed into place, so a killed build never leaves a broken one.
"""
import concurrent.futures
import functools
import hashlib
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time

from tfdistil.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MCU_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mcu_src")
APT_PACKAGES = "gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm"
TOOLS = {"gcc": "arm-none-eabi-gcc", "g++": "arm-none-eabi-g++", "ar": "arm-none-eabi-ar", "qemu": "qemu-system-arm"}

BOARDS = {
    "mps2-an386": {
        "about": "Arm MPS2+ AN386 (Cortex-M4) in qemu-system-arm",
        "machine": "mps2-an386",
        "cpu": "cortex-m4",
        # Soft float, as verified with Debian's newlib multilibs (an M4F board could use the FPU).
        "cpu_flags": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft"],
        "stack_top": 0x20400000,  # top of the SRAM at 0x20000000; newlib's crt0 then moves the stack
        "timer_base": 0x40000000,  # CMSDK APB timer 0, 25 MHz on QEMU's virtual clock
        # 64 ns of virtual time per instruction: the 25 MHz timer ticks 1.6 times per instruction.
        "icount_shift": 6,
    },
}

# The same TFLM sources, kit and main built for this machine: the reference the board's answers
# are compared with bit for bit (the pip tflite-micro interpreter is built from another commit).
HOST = "host"
HOST_TOOLS = {"gcc": "gcc", "g++": "g++", "ar": "ar"}
HOST_ARENA_BYTES = 8 * 1024 * 1024  # 64-bit bookkeeping needs more than the board's arena
# Linux targets of `tfdistil bundle` (tfdistil/edge/bundle.py): Debian's cross compilers (tool
# prefix) with their default flags; linux-x86_64 is this machine's gcc, so it shares HOST's objects.
LINUX_TARGETS = {"linux-armv7": "arm-linux-gnueabihf-", "linux-aarch64": "aarch64-linux-gnu-", "linux-x86_64": ""}
TARGET_FLAGS = {**{name: b["cpu_flags"] for name, b in BOARDS.items()}, HOST: [], **{t: [] for t in LINUX_TARGETS}}

DEFINES = ["-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_DISABLE_X86_NEON", "-DTF_LITE_MCU_DEBUG_LOG"]
INCLUDES = ["", "third_party/gemmlowp", "third_party/flatbuffers/include", "third_party/kissfft", "third_party/ruy"]
CODE_FLAGS = ["-ffunction-sections", "-fdata-sections", "-fno-unwind-tables"]  # lets --gc-sections drop code
CXX_FLAGS = ["-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics", "-fno-use-cxa-atexit"]
# TFLM's own Makefile for gcc: the core for size, the kernels for speed.
CORE_OPT, KERNEL_OPT, APP_OPT = "-Os", "-O2", "-O2"

KERNELS = "tensorflow/lite/micro/kernels"
# Kernel files of each op the kit's RESOLVER_METHODS knows; `<stem>_common.cc` comes along
# when it exists. kernel_util and micro_tensor_utils serve every kernel.
KERNEL_STEMS = {
    "ADD": ["add"], "CAST": ["cast"], "CONCATENATION": ["concatenation"], "CONV_2D": ["conv"],
    "DEQUANTIZE": ["dequantize"], "DIV": ["div"], "EXPAND_DIMS": ["expand_dims"],
    "FULLY_CONNECTED": ["fully_connected"], "GATHER": ["gather"], "MAX_POOL_2D": ["pooling"], "MUL": ["mul"],
    "NOT_EQUAL": ["comparisons"], "QUANTIZE": ["quantize"], "REDUCE_MAX": ["reduce"], "RELU": ["activations"],
    "RESHAPE": ["reshape"], "SOFTMAX": ["softmax"], "SQUEEZE": ["squeeze"], "STRIDED_SLICE": ["strided_slice"],
    "SUB": ["sub"], "SUM": ["reduce"], "TANH": ["tanh"], "LOGISTIC": ["logistic"], "MEAN": ["reduce"],
    "PACK": ["pack"], "UNPACK": ["unpack"], "TRANSPOSE": ["transpose"], "SELECT_V2": ["select"],
    "UNIDIRECTIONAL_SEQUENCE_LSTM": ["unidirectional_sequence_lstm", "lstm_eval"],
}
SHARED_KERNEL_STEMS = ["kernel_util", "micro_tensor_utils"]
# Core sources that only TFLM's tests or its recording interpreter use.
NOT_IN_FIRMWARE = ("test_helpers", "test_helper_custom_ops", "fake_micro_context", "mock_micro_graph", "recording_")


def _say(log, message):
    if log:
        log(message)


def check_board(board):
    if board not in BOARDS:
        raise UserError(f"unknown board {board!r}; choose one of: {', '.join(BOARDS)}")
    return BOARDS[board]


def find_tools():
    """Paths of the cross compiler, archiver and emulator; a UserError naming what to install."""
    tools = {key: shutil.which(name) for key, name in TOOLS.items()}
    missing = [TOOLS[key] for key, path in tools.items() if not path]
    if missing:
        raise UserError(f"{', '.join(missing)} not found on PATH; install with: apt-get install {APT_PACKAGES}")
    specs = subprocess.run([tools["gcc"], "-print-file-name=rdimon.specs"], capture_output=True, text=True).stdout.strip()
    if not os.path.isabs(specs):
        raise UserError(f"newlib (rdimon.specs) not found for arm-none-eabi-gcc; install with: apt-get install {APT_PACKAGES}")
    return tools


def tflm_source_dir():
    path = os.environ.get("TFDISTIL_TFLM_SRC") or os.path.join(REPO, "..", "shared", "vendor", "tflite-micro")
    if not os.path.isfile(os.path.join(path, "tensorflow", "lite", "micro", "micro_interpreter.cc")):
        raise UserError(f"{path}: TFLite Micro sources not found (set TFDISTIL_TFLM_SRC to a tree made by "
                        "tflite-micro's create_tflm_tree.py)")
    return os.path.abspath(path)


def cache_dir():
    return os.path.join(os.environ.get("TFDISTIL_CACHE") or os.path.expanduser("~/.cache/tfdistil"), "tflm")


def tflm_sources(src, ops):
    """The TFLM sources a model needs: the core (everything outside kernels/ but the test and
    recording helpers) and the kernel files of its ops."""
    unknown = sorted(op for op in ops if op not in KERNEL_STEMS)
    if unknown:
        raise UserError(f"no TFLM kernel sources known for ops {unknown}")
    core = []
    for root, _, files in os.walk(os.path.join(src, "tensorflow")):
        rel = os.path.relpath(root, src)
        if rel == KERNELS or rel.startswith(KERNELS + os.sep):
            continue
        core += [os.path.join(rel, f) for f in files
                 if f.endswith(".cc") and not f.endswith("_test.cc") and not f.startswith(NOT_IN_FIRMWARE)]
    stems = set(SHARED_KERNEL_STEMS) | {s for op in ops for s in KERNEL_STEMS[op]}
    kernels = [f"{KERNELS}/{s}{suffix}.cc" for s in stems for suffix in ("", "_common")
               if os.path.isfile(os.path.join(src, KERNELS, f"{s}{suffix}.cc"))]
    return sorted(core) + sorted(kernels)


def compile_flags(src, board, rel=None, cxx=True, opt=None):
    """Flags for one TFLM source (`rel`) or, with rel=None, for code built against TFLM."""
    opt = opt or (APP_OPT if rel is None else KERNEL_OPT if rel.startswith(KERNELS) else CORE_OPT)
    return [*TARGET_FLAGS[board], opt, *CODE_FLAGS, *(CXX_FLAGS if cxx else ["-std=c99"]), *DEFINES,
            *(f"-I{os.path.join(src, i)}" if i else f"-I{src}" for i in INCLUDES)]


@functools.lru_cache(maxsize=None)
def _compiler_id(gxx):
    out = subprocess.run([gxx, "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else gxx


@functools.lru_cache(maxsize=None)
def _tree_digest(src):
    """sha256 of every file of the vendored tree: a changed header rebuilds everything."""
    h = hashlib.sha256()
    for root, dirs, files in os.walk(src):
        dirs.sort()
        for f in sorted(files):
            path = os.path.join(root, f)
            h.update(os.path.relpath(path, src).encode() + b"\0")
            with open(path, "rb") as fh:
                h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


def _object_name(rel):
    """Unique archive member name (TFLM has two kernel_util.cc and two portable_tensor_utils.cc)."""
    stem = rel[:-3]
    for prefix in ("tensorflow/lite/", "tensorflow/"):
        if stem.startswith(prefix):
            stem = stem[len(prefix):]
            break
    return stem.replace("/", "__") + ".o"


def _run(cmd, what, cwd=None):
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if proc.returncode != 0:
        first = next((l for l in proc.stderr.splitlines() if "error" in l), proc.stderr.strip()[-300:])
        raise UserError(f"{what} failed: {first.strip()}")
    return proc


def tflm_library(ops, board, tools, src, jobs=None, log=None):
    """Path of a cached libtflm.a with the core and the kernels of `ops`, building what is missing
    with `jobs` compiler processes (default 2, or $TFDISTIL_JOBS). Returns (path, info)."""
    jobs = jobs or int(os.environ.get("TFDISTIL_JOBS", "2"))
    sources = tflm_sources(src, ops)
    flags = [*compile_flags(src, board, opt=CORE_OPT), *compile_flags(src, board, opt=KERNEL_OPT)]
    flags_key = hashlib.sha256("\n".join([_compiler_id(tools["g++"]), _tree_digest(src), *flags])
                               .replace(src, "<tflm>").encode()).hexdigest()[:16]
    lib_key = hashlib.sha256((flags_key + "\n" + "\n".join(sources)).encode()).hexdigest()[:16]
    lib_dir, obj_dir = os.path.join(cache_dir(), lib_key), os.path.join(cache_dir(), "obj", flags_key)
    lib = os.path.join(lib_dir, "libtflm.a")
    info = {"library": lib, "sources": len(sources), "compiler": _compiler_id(tools["g++"]),
            "flags": [*TARGET_FLAGS[board], f"{CORE_OPT} (core)", f"{KERNEL_OPT} (kernels)", *CODE_FLAGS,
                      *CXX_FLAGS, *DEFINES]}
    if os.path.isfile(lib):
        _say(log, f"tflm: cached library for {len(ops)} ops ({len(sources)} sources): {lib}")
        return lib, {**info, "cached": True, "seconds": 0.0}
    t0 = time.time()
    os.makedirs(obj_dir, exist_ok=True)
    objects = [os.path.join(obj_dir, _object_name(rel)) for rel in sources]
    todo = [(rel, obj) for rel, obj in zip(sources, objects) if not os.path.isfile(obj)]
    _say(log, f"tflm: {len(sources)} sources for {len(ops)} ops, {len(sources) - len(todo)} already compiled, "
              f"compiling {len(todo)} with {jobs} jobs into {obj_dir}")

    def compile_one(item):
        rel, obj = item
        tmp = f"{obj}.tmp{os.getpid()}-{abs(hash(rel))}"
        start = time.time()
        _run([tools["g++"], *compile_flags(src, board, rel), "-c", os.path.join(src, rel), "-o", tmp], f"compiling {rel}")
        os.replace(tmp, obj)
        return rel, time.time() - start

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for i, (rel, seconds) in enumerate(pool.map(compile_one, todo), 1):
            _say(log, f"tflm: [{i}/{len(todo)}] {rel} ({seconds:.1f} s)")
    os.makedirs(cache_dir(), exist_ok=True)
    tmp_dir = tempfile.mkdtemp(prefix=f".{lib_key}-", dir=cache_dir())
    try:
        _run([tools["ar"], "rcs", os.path.join(tmp_dir, "libtflm.a"), *objects], "archiving libtflm.a")
        with open(os.path.join(tmp_dir, "sources.txt"), "w") as f:
            f.write(f"# {info['compiler']}\n# {' '.join(info['flags'])}\n" + "\n".join(sources) + "\n")
        try:
            os.rename(tmp_dir, lib_dir)
        except OSError:  # another process finished the same library first
            if not os.path.isfile(lib):
                raise
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    seconds = time.time() - t0
    _say(log, f"tflm: libtflm.a built in {seconds:.0f} s: {lib}")
    return lib, {**info, "cached": False, "seconds": round(seconds, 1), "compiled": len(todo)}


def build_firmware(kit_dir, out_dir, board, ops, log=None):
    """Compile the kit and main_qemu.cc, link them with libtflm.a into out_dir/firmware.elf (+ .map)."""
    tools, src = find_tools(), tflm_source_dir()
    lib, info = tflm_library(ops, board, tools, src, log=log)
    t0 = time.time()
    os.makedirs(out_dir, exist_ok=True)
    app = [(os.path.join(kit_dir, "model_data.cpp"), True), (os.path.join(kit_dir, "vocab_data.c"), False),
           (os.path.join(kit_dir, "tokenizer.c"), False), (os.path.join(MCU_SRC, "main_qemu.cc"), True),
           (os.path.join(MCU_SRC, "vectors.c"), False)]
    objects = []
    for path, cxx in app:
        obj = os.path.join(out_dir, os.path.splitext(os.path.basename(path))[0] + ".o")
        _run([tools["g++" if cxx else "gcc"], *compile_flags(src, board, cxx=cxx), f"-I{kit_dir}", f"-I{MCU_SRC}",
              f"-DTFDISTIL_STACK_TOP={BOARDS[board]['stack_top']:#x}u",
              f"-DTFDISTIL_TIMER_BASE={BOARDS[board]['timer_base']:#x}u", "-c", path, "-o", obj], f"compiling {path}")
        objects.append(obj)
    elf, map_path = os.path.join(out_dir, "firmware.elf"), os.path.join(out_dir, "firmware.map")
    _run([tools["g++"], *BOARDS[board]["cpu_flags"], "--specs=rdimon.specs", "-Wl,--section-start=.vectors=0x0",
          "-Wl,--undefined=tfdistil_vectors", "-Wl,--gc-sections", f"-Wl,-Map={map_path}", "-o", elf, *objects, lib,
          "-lm"], "linking firmware.elf")
    _say(log, f"firmware: compiled and linked in {time.time() - t0:.0f} s: {elf}")
    return {"elf": elf, "map": map_path, "tflm": info}


def build_host_reference(kit_dir, out_dir, ops, log=None):
    """The kit, main_qemu.cc and the same TFLM sources compiled with this machine's gcc into
    out_dir/host_firmware: what the board must answer, bit for bit."""
    tools = {key: shutil.which(name) for key, name in HOST_TOOLS.items()}
    missing = [HOST_TOOLS[k] for k, v in tools.items() if not v]
    if missing:
        raise UserError(f"{', '.join(missing)} not found on PATH; install with: apt-get install gcc g++ binutils")
    src = tflm_source_dir()
    lib, info = tflm_library(ops, HOST, tools, src, log=log)
    os.makedirs(out_dir, exist_ok=True)
    objects = []
    for path, cxx in ((os.path.join(kit_dir, "model_data.cpp"), True), (os.path.join(kit_dir, "vocab_data.c"), False),
                      (os.path.join(kit_dir, "tokenizer.c"), False), (os.path.join(MCU_SRC, "main_qemu.cc"), True)):
        obj = os.path.join(out_dir, "host_" + os.path.splitext(os.path.basename(path))[0] + ".o")
        _run([tools["g++" if cxx else "gcc"], *compile_flags(src, HOST, cxx=cxx), f"-I{kit_dir}", f"-I{MCU_SRC}",
              f"-DTFDISTIL_ARENA_SIZE={HOST_ARENA_BYTES}", "-c", path, "-o", obj], f"compiling {path} for the host")
        objects.append(obj)
    exe = os.path.join(out_dir, "host_firmware")
    _run([tools["g++"], "-o", exe, *objects, lib, "-lm"], "linking host_firmware")
    return {"exe": exe, "tflm": info}


# --------------------------------------------------------------------------- what flash and RAM hold
def elf_layout(path):
    """({section: (address, size, flags, nobits)} of the loaded sections, {symbol: size}) of an ELF32 file."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:5] != b"\x7fELF\x01":
        raise UserError(f"{path}: not an ELF32 file")
    shoff, = struct.unpack_from("<I", data, 0x20)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)
    headers = [struct.unpack_from("<10I", data, shoff + i * shentsize) for i in range(shnum)]

    def name_at(table, offset):
        start = headers[table][4] + offset
        return data[start:data.index(b"\0", start)].decode()
    sections, symbols = {}, {}
    for h in headers:
        name, kind, flags, address, size = name_at(shstrndx, h[0]), h[1], h[2], h[3], h[5]
        if flags & 0x2 and size:  # SHF_ALLOC
            sections[name] = (address, size, flags, kind == 8)  # SHT_NOBITS: no bytes in the image
        if kind == 2:  # SHT_SYMTAB
            for off in range(h[4], h[4] + size, 16):
                st_name, _, st_size = struct.unpack_from("<III", data, off)
                if st_size:
                    symbols[name_at(h[6], st_name)] = st_size
    return sections, symbols


_INPUT = re.compile(r"^ (\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
_NAME_ONLY = re.compile(r"^ (\S+)$")
_CONTINUED = re.compile(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")


def _origin(path):
    base = os.path.basename(path)
    if "libtflm.a(" in path:
        return "tflm"
    if base in ("model_data.o", "vocab_data.o"):
        return base.split("_")[0]  # "model" / "vocab"
    if base in ("main_qemu.o", "tokenizer.o", "vectors.o"):
        return "application"
    return "c_runtime"  # newlib, libstdc++, libgcc, crt*.o, linker stubs


def map_entries(map_path):
    """[(output section, address, size, origin)] of every input section in a GNU ld map."""
    entries, current, pending, started = [], None, None, False
    with open(map_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not started:
                started = line.startswith("Linker script and memory map")
            elif line and not line[0].isspace():
                current, pending = line.split()[0], None
            elif (m := _INPUT.match(line)) and m.group(1) != "*fill*":
                entries.append((current, int(m.group(2), 16), int(m.group(3), 16), _origin(m.group(4))))
                pending = None
            elif pending and (m := _CONTINUED.match(line)):
                entries.append((current, int(m.group(1), 16), int(m.group(2), 16), _origin(m.group(3))))
                pending = None
            else:
                m = _NAME_ONLY.match(line)
                pending = m.group(1) if m and m.group(1) != "*fill*" else None
    return entries


def section_owners(sections, entries):
    """{section: {origin: bytes}} summing exactly to each section's size. The map lists merged
    string sections with overlapping ranges, so every byte goes to the first input section that
    covers it; bytes no input section covers are alignment padding."""
    owners = {name: {} for name in sections}
    reach = {}
    for name, address, size, origin in sorted(e for e in entries if e[0] in sections):
        lo, hi = sections[name][0], sections[name][0] + sections[name][1]
        start, end = max(address, reach.get(name, lo)), min(address + size, hi)
        if end > start:
            owners[name][origin] = owners[name].get(origin, 0) + end - start
            reach[name] = end
    for name, parts in owners.items():
        parts["padding"] = sections[name][1] - sum(parts.values())
    return owners


def firmware_memory(elf, map_path):
    """Flash (text + rodata + data) split into model, vocabulary, TFLM runtime and the rest, and
    RAM (data + bss) with the arena; bytes from the ELF, attribution from the linker map."""
    sections, symbols = elf_layout(elf)
    owners = section_owners(sections, map_entries(map_path))
    flash = [n for n, (_, _, _, nobits) in sections.items() if not nobits]
    ram = [n for n, (_, _, flags, _) in sections.items() if flags & 0x1 and not n.endswith("_array")]  # SHF_WRITE

    def total(names, origin=None):
        return sum(sections[n][1] if origin is None else owners[n].get(origin, 0) for n in names)
    # the model: g_model, plus the heads of a per-token kit (static g_head_L<n>, mangled _ZL..)
    model = symbols.get("g_model", 0) + sum(size for name, size in symbols.items() if "g_head_L" in name)
    arena = next((size for name, size in symbols.items() if "tensor_arena" in name), 0)
    flash_parts = {"model": model, "vocabulary": total(flash, "vocab"), "tflm_runtime": total(flash, "tflm")}
    ram_parts = {"arena": arena, "tflm_runtime": total(ram, "tflm")}
    return {
        "flash": {"total": total(flash), **flash_parts, "other": total(flash) - sum(flash_parts.values()),
                  "other_detail": {"model_data_rest": total(flash, "model") - model,
                                   **{k: total(flash, k) for k in ("application", "c_runtime", "padding")}}},
        "ram": {"total": total(ram), **ram_parts, "other": total(ram) - sum(ram_parts.values()),
                "other_detail": {"application": total(ram, "application") - arena,
                                 **{k: total(ram, k) for k in ("c_runtime", "padding")}}},
        "sections": {n: sections[n][1] for n in sections},
    }
