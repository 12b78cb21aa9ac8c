"""A 64-bit Raspberry Pi OS userland on this x86 machine: an arm64 Debian 12 root run under qemu user mode.

Why: a Pi 4/5 with 64-bit Raspberry Pi OS installs the aarch64 wheels of tflite-runtime and
ai-edge-litert, whose int8 kernels are not the x86 ones; only running those wheels shows the
Pi's labels. The root is what `debootstrap` makes of bookworm (glibc 2.36, Python 3.11), with
two venvs installed offline from wheels downloaded on the host (`/opt/venv-tflrt`:
tflite-runtime 2.14 + numpy<2; `/opt/venv-litert`: ai-edge-litert 2.3.0). It takes ~15 min once,
so it is cached under `$TFDISTIL_CACHE/pi-root` (or `~/.cache/tfdistil/pi-root`): built in a
temporary folder beside it under an exclusive lock and renamed into place, so two pytest workers
never build it twice and a killed build never leaves a half root. Needs root (chroot) and
`qemu-user-static binfmt-support debootstrap`.
"""
import fcntl
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from tfdistil.errors import UserError

APT_PACKAGES = "qemu-user-static binfmt-support debootstrap"
VENVS = {"tflite-runtime": ("/opt/venv-tflrt", ["tflite-runtime==2.14.0", "numpy<2"], True),
         "ai-edge-litert": ("/opt/venv-litert", ["ai-edge-litert==2.3.0"], False)}
# The Pi's CPUs as qemu names them: Pi 4 has no dot-product instructions, Pi 5 has them.
PI_CPUS = {"pi4": "cortex-a72", "pi5": "cortex-a76"}
# pip needs every manylinux tag a bookworm root accepts: tflite-runtime's wheel is manylinux_2_34,
# ai-edge-litert 2.x is manylinux_2_27 (without it pip silently takes 1.4.0).
_PLATFORMS = ["manylinux_2_36_aarch64", "manylinux_2_34_aarch64", "manylinux_2_28_aarch64",
              "manylinux_2_27_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64"]
READY = ".tfdistil-ready"


def root_dir():
    return os.path.join(os.environ.get("TFDISTIL_CACHE") or os.path.expanduser("~/.cache/tfdistil"), "pi-root")


def _run(cmd, what, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-3:]
        raise UserError(f"{what} failed (exit {proc.returncode}): {' | '.join(tail)}")
    return proc


def check_host():
    """A UserError naming what is missing to build or run the root."""
    if os.geteuid() != 0:
        raise UserError("the aarch64 root needs chroot: run as root")
    missing = [t for t in ("debootstrap", "qemu-aarch64-static", "update-binfmts") if not shutil.which(t)]
    if missing:
        raise UserError(f"{', '.join(missing)} not found; install with: apt-get install {APT_PACKAGES}")
    if not os.path.ismount("/proc/sys/fs/binfmt_misc"):
        _run(["mount", "-t", "binfmt_misc", "binfmt_misc", "/proc/sys/fs/binfmt_misc"], "mounting binfmt_misc")
    subprocess.run(["update-binfmts", "--enable", "qemu-aarch64"], capture_output=True)
    if not os.path.isfile("/proc/sys/fs/binfmt_misc/qemu-aarch64"):
        raise UserError("binfmt entry qemu-aarch64 missing; install with: apt-get install " + APT_PACKAGES)


def debian_mirror():
    """The Debian mirror this machine's apt sources name (the one it may reach)."""
    files = ["/etc/apt/sources.list", *glob.glob("/etc/apt/sources.list.d/*")]
    for path in files:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = "\n".join(line for line in f if not line.lstrip().startswith("#"))
        except OSError:
            continue
        m = re.search(r"https?://\S+/debian(?=\s|/|$)", text)
        if m:
            return m.group(0)
    return "http://deb.debian.org/debian"


def _download_wheels(dest, pins, no_deps):
    plats = [a for p in _PLATFORMS for a in ("--platform", p)]
    _run([sys.executable, "-m", "pip", "download", "-q", *(["--no-deps"] if no_deps else []), "--only-binary=:all:",
          "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311", *plats, *pins, "-d", dest],
         f"downloading aarch64 wheels {pins}")


def _build(tmp, log):
    mirror = debian_mirror()
    t0 = time.time()
    log(f"pi-root: debootstrap arm64 bookworm from {mirror} (first stage)")
    _run(["debootstrap", "--arch=arm64", "--foreign", "--variant=minbase",
          "--include=python3,python3-venv,python3-pip,ca-certificates", "bookworm", tmp, mirror], "debootstrap")
    log(f"pi-root: second stage under qemu-aarch64 ({time.time() - t0:.0f} s so far)")
    _run(["chroot", tmp, "/debootstrap/debootstrap", "--second-stage"], "debootstrap --second-stage")
    proc = os.path.join(tmp, "proc")
    _run(["mount", "-t", "proc", "proc", proc], "mounting proc in the root")
    try:
        for name, (venv, pins, no_deps) in VENVS.items():
            wheels = f"/opt/wheels-{os.path.basename(venv)}"
            log(f"pi-root: {name}: download wheels, install into {venv} ({time.time() - t0:.0f} s so far)")
            _download_wheels(tmp + wheels, pins, no_deps)
            _run(["chroot", tmp, "sh", "-c", f"python3 -m venv {venv} && {venv}/bin/pip install -q --no-index "
                  f"--find-links {wheels} " + " ".join(f"'{p}'" for p in pins)], f"installing {name} in the root")
    finally:
        subprocess.run(["umount", proc], capture_output=True)
    with open(os.path.join(tmp, READY), "w") as f:
        f.write(f"built in {time.time() - t0:.0f} s from {mirror}\n")


def ensure_root(log=None):
    """Path of the cached arm64 root, built first if missing. Returns (path, seconds spent building, 0 if cached)."""
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    check_host()
    root = root_dir()
    os.makedirs(os.path.dirname(root), exist_ok=True)
    with open(root + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isfile(os.path.join(root, READY)):
            return root, 0.0
        t0 = time.time()
        for stale in glob.glob(root + ".tmp-*"):  # a killed build's leftovers (we hold the lock)
            subprocess.run(["umount", os.path.join(stale, "proc")], capture_output=True)
            shutil.rmtree(stale, ignore_errors=True)
        tmp = tempfile.mkdtemp(prefix=os.path.basename(root) + ".tmp-", dir=os.path.dirname(root))
        try:
            _build(tmp, log)
            shutil.rmtree(root, ignore_errors=True)
            os.rename(tmp, root)
        finally:
            if os.path.isdir(tmp):
                subprocess.run(["umount", os.path.join(tmp, "proc")], capture_output=True)
                shutil.rmtree(tmp, ignore_errors=True)
        seconds = time.time() - t0
        log(f"pi-root: ready in {seconds:.0f} s: {root}")
        return root, seconds


def run_in_root(root, argv, cpu, files, stdin=None, timeout=3600, on_line=None):
    """Run `argv` inside the root under QEMU_CPU=cpu, with `files` ({name: host path of a file or a
    folder}) copied into a fresh work folder, named in argv as `{work}/name`. Returns the CompletedProcess.
    With `on_line`, each stdout line is handed to it as it comes (a long run's results are kept as they arrive)."""
    work = tempfile.mkdtemp(prefix="tfdistil-", dir=os.path.join(root, "tmp"))
    try:
        for name, path in files.items():  # a folder is copied whole
            (shutil.copytree if os.path.isdir(path) else shutil.copy)(path, os.path.join(work, name))
        inside = "/tmp/" + os.path.basename(work)
        env = {"PATH": "/usr/bin:/bin", "HOME": "/root", "QEMU_CPU": cpu, "LANG": "C.UTF-8"}
        cmd = [shutil.which("chroot") or "/usr/sbin/chroot", root, *[a.replace("{work}", inside) for a in argv]]
        if on_line is None:
            return subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env, timeout=timeout)
        with tempfile.TemporaryFile("w+") as err:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
            out = []
            for line in proc.stdout:
                out.append(line)
                on_line(line)
            proc.wait()
            err.seek(0)
            return subprocess.CompletedProcess(cmd, proc.returncode, "".join(out), err.read())
    finally:
        shutil.rmtree(work, ignore_errors=True)
