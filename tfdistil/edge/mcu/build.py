"""Build a student's firmware for an emulated Cortex-M board, and say what its flash and RAM hold.

The firmware is the kit `tfdistil.edge.mcu.firmware.write_firmware_kit` writes, the measuring main in
`edge/mcu/src/` and a TFLite Micro library compiled with Debian's arm-none-eabi-gcc from the
vendored tree (`<repo>/../shared/vendor/tflite-micro`, or `TFDISTIL_TFLM_SRC`). Compiling all
of TFLM takes 16 min of CPU here, so only the core and the kernels of the model's ops are
compiled, each object once: objects are cached under the hash of the compiler, the flags and
the vendored tree, each op set's `libtflm.a` under the hash of its source list
(`~/.cache/tfdistil/tflm/`, or `$TFDISTIL_CACHE/tflm/`). Every cache entry is written under a
temporary name and renamed into place, so a killed build never leaves a broken one. The app's
own C++ (main_qemu.cc, fast_ops.cc, main_linux.cc: ~3 s each against TFLM's headers) is cached by
what the compiler sees (`compile_app`), so a new model re-compiles only its data.
"""
import concurrent.futures
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
import time

from tfdistil.errors import UserError
from tfdistil.files import REPO, tree_sha256 as _tree_digest  # mcu_cmsis needs them too: below both
from tfdistil.edge.mcu import cmsis as mcu_cmsis
from tfdistil.edge.mcu.boards import BOARDS, board_defines, link_flags, overflow_message

MCU_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "src")
APT_PACKAGES = "gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm"
TOOLS = {"gcc": "arm-none-eabi-gcc", "g++": "arm-none-eabi-g++", "ar": "arm-none-eabi-ar", "qemu": "qemu-system-arm"}

# The same TFLM sources, kit and main built for this machine: the reference the board's answers
# are compared with bit for bit (the pip tflite-micro interpreter is built from another commit).
HOST = "host"
HOST_TOOLS = {"gcc": "gcc", "g++": "g++", "ar": "ar"}
HOST_ARENA_BYTES = 8 * 1024 * 1024  # 64-bit bookkeeping needs more than the board's arena
# Linux targets of `tfdistil bundle` (tfdistil/edge/mcu/bundle.py): Debian's cross compilers (tool
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


APP_OBJECTS_KEPT = 300  # the newest app objects kept in the cache (~30 KB each); older ones are deleted


def compile_app(compiler, flags, source, obj, what):
    """Compile `source` into `obj` (flags without -c/-o), or copy the object an earlier build made
    from the same text. The key is the compiler's version line, the flags other than -I and the
    source preprocessed without line markers (`-E -P`: every header's text and every macro, in
    ~0.1 s): an edited header, kit setting or define is another key, never a stale object, while
    the same code built from another folder is a hit. Returns True when the object came from the
    cache (cache_dir()/app-obj, the newest APP_OBJECTS_KEPT kept)."""
    pre = subprocess.run([compiler, *flags, "-E", "-P", source], capture_output=True)
    if pre.returncode != 0:  # let the compiler say what is wrong
        _run([compiler, *flags, "-c", source, "-o", obj], what)
        return False
    digest = hashlib.sha256()
    for part in (os.path.basename(compiler), _compiler_id(compiler), *(f for f in flags if not f.startswith("-I"))):
        digest.update(part.encode() + b"\0")
    digest.update(pre.stdout)
    store = os.path.join(cache_dir(), "app-obj")
    cached = os.path.join(store, digest.hexdigest()[:32] + ".o")
    if os.path.isfile(cached):
        shutil.copyfile(cached, obj)
        os.utime(cached)  # recently used: kept by the pruning below
        return True
    _run([compiler, *flags, "-c", source, "-o", obj], what)
    os.makedirs(store, exist_ok=True)
    tmp = f"{cached}.tmp{os.getpid()}"
    shutil.copyfile(obj, tmp)
    os.replace(tmp, cached)
    entries = sorted((e for e in os.scandir(store) if e.name.endswith(".o")), key=lambda e: e.stat().st_mtime)
    for old in entries[:max(0, len(entries) - APP_OBJECTS_KEPT)]:
        try:
            os.remove(old.path)
        except FileNotFoundError:  # another process pruned it first
            pass
    return False


def compile_source(tools, cxx, flags, path, obj, what):
    """One source of a firmware or runner: tfdistil's own C++ (MCU_SRC: the slow ones) through the
    app-object cache, anything else (the kit's data and tokenizer: ~0.1 s) compiled as it is.
    Returns True when the object came from the cache."""
    if cxx and path.startswith(MCU_SRC):
        return compile_app(tools["g++"], flags, path, obj, what)
    _run([tools["g++" if cxx else "gcc"], *flags, "-c", path, "-o", obj], what)
    return False


def _units(ops, board, tools, src, kernels):
    """[(label, source path, object path, compile command)] of the library, and its cache key.
    Reference objects live under obj/<hash of compiler, tree, flags>; the CMSIS-NN ones under a
    key that adds both CMSIS-NN folders and the patches, so each kernel set caches separately."""
    sources = tflm_sources(src, ops)
    flags = [*compile_flags(src, board, opt=CORE_OPT), *compile_flags(src, board, opt=KERNEL_OPT)]
    flags_key = hashlib.sha256("\n".join([_compiler_id(tools["g++"]), _tree_digest(src), *flags])
                               .replace(src, "<tflm>").encode()).hexdigest()[:16]
    obj_dir = os.path.join(cache_dir(), "obj", flags_key)
    wrappers = {}
    if kernels == "cmsis-nn":
        stems = {rel[len(KERNELS) + 1:-3] for rel in sources if rel.startswith(KERNELS + "/")}
        wrappers = mcu_cmsis.patched_wrappers(stems, cache_dir())
    units = [(rel, os.path.join(src, rel), os.path.join(obj_dir, _object_name(rel)),
              [tools["g++"], *compile_flags(src, board, rel)]) for rel in sources
             if not (rel.startswith(KERNELS + "/") and rel[len(KERNELS) + 1:-3] in wrappers)]
    key = flags_key
    if wrappers:
        key = hashlib.sha256(f"{flags_key}\n{mcu_cmsis.cmsis_digest()}\n{mcu_cmsis.PATCHES!r}\n{mcu_cmsis.C_OPT} {mcu_cmsis.C_FLAGS}"
                             .encode()).hexdigest()[:16]
        cmsis_dir = os.path.join(cache_dir(), "obj", f"cmsis-{key}")
        extra = [*mcu_cmsis.DEFINES, *mcu_cmsis.include_flags()]
        units += [(f"cmsis_nn/{stem}.cc", path, os.path.join(cmsis_dir, f"cmsis_nn__{stem}.o"),
                   [tools["g++"], *compile_flags(src, board, f"{KERNELS}/{stem}.cc"), *extra])
                  for stem, path in sorted(wrappers.items())]
        c_flags = [tools["gcc"], *TARGET_FLAGS[board], mcu_cmsis.C_OPT, *CODE_FLAGS, *mcu_cmsis.C_FLAGS, *extra]
        units += [(f"cmsis-nn/{rel}", mcu_cmsis.source_path(rel),
                   os.path.join(cmsis_dir, rel.replace("/", "__")[:-2] + ".o"), c_flags)
                  for rel in mcu_cmsis.cmsis_sources(wrappers.values())]
    lib_key = hashlib.sha256((key + "\n" + "\n".join(u[0] for u in units)).encode()).hexdigest()[:16]
    return units, lib_key


def tflm_library(ops, board, tools, src, jobs=None, log=None, kernels="reference"):
    """Path of a cached libtflm.a with the core and the kernels of `ops` (`kernels`: "reference",
    or "cmsis-nn" as in tfdistil.edge.mcu.cmsis), building what is missing with `jobs` compiler
    processes (default 2, or $TFDISTIL_JOBS). Returns (path, info)."""
    jobs = jobs or int(os.environ.get("TFDISTIL_JOBS", "2"))
    units, lib_key = _units(ops, board, tools, src, kernels)
    lib_dir = os.path.join(cache_dir(), lib_key)
    lib = os.path.join(lib_dir, "libtflm.a")
    info = {"library": lib, "sources": len(units), "kernels": kernels, "compiler": _compiler_id(tools["g++"]),
            "flags": [*TARGET_FLAGS[board], f"{CORE_OPT} (core)", f"{KERNEL_OPT} (kernels)", *CODE_FLAGS,
                      *CXX_FLAGS, *DEFINES] + (["-DCMSIS_NN (CMSIS-NN kernels)"] if kernels == "cmsis-nn" else [])}
    if kernels == "cmsis-nn":
        info["cmsis_nn_sources"] = sum(u[0].startswith("cmsis-nn/") for u in units)
        info["cmsis_nn_kernels"] = [u[0].split("/")[1][:-3] for u in units if u[0].startswith("cmsis_nn/")]
    if os.path.isfile(lib):
        _say(log, f"tflm: cached {kernels} library for {len(ops)} ops ({len(units)} sources): {lib}")
        return lib, {**info, "cached": True, "seconds": 0.0}
    t0 = time.time()
    todo = [u for u in units if not os.path.isfile(u[2])]
    _say(log, f"tflm: {len(units)} sources for {len(ops)} ops ({kernels} kernels), {len(units) - len(todo)} already "
              f"compiled, compiling {len(todo)} with {jobs} jobs")

    def compile_one(unit):
        label, path, obj, cmd = unit
        os.makedirs(os.path.dirname(obj), exist_ok=True)
        tmp = f"{obj}.tmp{os.getpid()}-{abs(hash(label))}"
        start = time.time()
        _run([*cmd, "-c", path, "-o", tmp], f"compiling {label}")
        os.replace(tmp, obj)
        return label, time.time() - start

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for i, (label, seconds) in enumerate(pool.map(compile_one, todo), 1):
            _say(log, f"tflm: [{i}/{len(todo)}] {label} ({seconds:.1f} s)")
    os.makedirs(cache_dir(), exist_ok=True)
    tmp_dir = tempfile.mkdtemp(prefix=f".{lib_key}-", dir=cache_dir())
    try:
        _run([tools["ar"], "rcs", os.path.join(tmp_dir, "libtflm.a"), *(u[2] for u in units)], "archiving libtflm.a")
        with open(os.path.join(tmp_dir, "sources.txt"), "w") as f:
            f.write(f"# {info['compiler']}\n# {' '.join(info['flags'])}\n" + "\n".join(u[0] for u in units) + "\n")
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


def build_firmware(kit_dir, out_dir, board, ops, log=None, kernels="reference", arena_percent=100, defines=()):
    """Compile the kit and main_qemu.cc, link them with libtflm.a into out_dir/firmware.elf (+ .map)
    with the board's linker script; a firmware the board cannot hold is one UserError."""
    tools, src = find_tools(), tflm_source_dir()
    lib, info = tflm_library(ops, board, tools, src, log=log, kernels=kernels)
    t0 = time.time()
    os.makedirs(out_dir, exist_ok=True)
    app = [(os.path.join(kit_dir, "model_data.cpp"), True), (os.path.join(kit_dir, "vocab_data.c"), False),
           (os.path.join(kit_dir, "tokenizer.c"), False), (os.path.join(MCU_SRC, "main_qemu.cc"), True),
           (os.path.join(MCU_SRC, "vectors.c"), False)]
    if kernels == "cmsis-nn":  # CMSIS-NN plus tfdistil's exact fast invokes (edge/mcu/src/fast_ops.cc)
        app.append((os.path.join(MCU_SRC, "fast_ops.cc"), True))
        defines = (*defines, "-DTFDISTIL_FAST_OPS")
    objects, reused = [], 0
    for path, cxx in app:
        obj = os.path.join(out_dir, os.path.splitext(os.path.basename(path))[0] + ".o")
        cmsis = mcu_cmsis.include_flags() if os.path.basename(path) == "fast_ops.cc" else []  # its requantization
        flags = [*compile_flags(src, board, cxx=cxx), f"-I{kit_dir}", f"-I{MCU_SRC}", *cmsis, *board_defines(board),
                 f"-DTFDISTIL_ARENA_PERCENT={int(arena_percent)}", *defines]
        reused += compile_source(tools, cxx, flags, path, obj, f"compiling {path}")
        objects.append(obj)
    elf, map_path = os.path.join(out_dir, "firmware.elf"), os.path.join(out_dir, "firmware.map")
    proc = subprocess.run([tools["g++"], *link_flags(board, out_dir), f"-Wl,-Map={map_path}", "-o", elf, *objects,
                           lib, "-lm"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise UserError(overflow_message(board, proc.stderr) or "linking firmware.elf failed: " + next(
            (l for l in proc.stderr.splitlines() if "error" in l or "undefined" in l), proc.stderr.strip()[-300:]).strip())
    _say(log, f"firmware: compiled and linked in {time.time() - t0:.0f} s"
              f"{f' ({reused} object(s) from the cache)' if reused else ''}: {elf}")
    if kernels == "cmsis-nn":
        info = {**info, "fast_ops": ["TANH (int8 table)", "SUM (int8, one block of axes)", "MUL (int8 row/scalar broadcast)",
                                "GATHER (int8 rows)"]}
    return {"elf": elf, "map": map_path, "tflm": info, "arena_percent": int(arena_percent)}


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
        flags = [*compile_flags(src, HOST, cxx=cxx), f"-I{kit_dir}", f"-I{MCU_SRC}", f"-DTFDISTIL_ARENA_SIZE={HOST_ARENA_BYTES}"]
        compile_source(tools, cxx, flags, path, obj, f"compiling {path} for the host")
        objects.append(obj)
    exe = os.path.join(out_dir, "host_firmware")
    _run([tools["g++"], "-o", exe, *objects, lib, "-lm"], "linking host_firmware")
    return {"exe": exe, "tflm": info}
