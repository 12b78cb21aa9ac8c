"""Files that are either whole or absent, and output folders tfdistil may (and may not) touch.

- Atomic writes: temp name in the same folder, fsync, rename. A kill or a full disk
  leaves the old file or nothing, never half a file, and no temp file behind.
- Ownership: every folder tfdistil creates (run, teacher, shard, kit, tune) carries a
  marker file, `.tfdistil`. tfdistil deletes or replaces only folders that carry it;
  anything else at `--out` is the user's and is refused before any work starts.
- Locks: one process per output folder (`fcntl.flock` on `OUT.partial/.lock`); a second
  one is told the pid of the first instead of deleting its work.
"""
import errno
import fcntl
import functools
import hashlib
import json
import os
import shutil

from tfdistil.errors import UserError

MARKER = ".tfdistil"
# The folder holding tfdistil/ (the checkout): vendored sources default to REPO/../shared/vendor.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCK = ".lock"


def _fsync_dir(folder):
    try:
        fd = os.open(folder or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path, data):
    """Readers never see half a file: see atomic_save."""
    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
    atomic_save(path, write)


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj):
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def atomic_save(path, save):
    """`save(tmp_path)` (e.g. Keras `save_weights`, `np.savez`), then fsync and rename into `path`."""
    base, ext = os.path.splitext(path)
    if base.endswith(".weights"):  # Keras insists on the `.weights.h5` suffix
        base, ext = base[: -len(".weights")], ".weights" + ext
    tmp = f"{base}.tmp{os.getpid()}{ext}"
    try:
        save(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.remove(tmp)
        except OSError:
            pass
        if _out_of_space(e):
            why = os.strerror(e.errno).lower() if getattr(e, "errno", None) else "no space left on device"
            raise UserError(f"{path}: {why} ({_free(path)} free); nothing half-written "
                            "was kept: free some space (or choose another folder) and rerun",
                            skip_finalizers=True) from None
        raise
    _fsync_dir(os.path.dirname(path))


OUT_OF_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _out_of_space(e):
    # h5py reports a full disk as OSError(28) or as a RuntimeError that only names errno 28
    return (isinstance(e, OSError) and e.errno in OUT_OF_SPACE) or \
        (isinstance(e, (OSError, RuntimeError)) and "No space left on device" in str(e))


def _free(path):
    try:
        return f"{shutil.disk_usage(os.path.dirname(path) or '.').free / 1e6:.1f} MB"
    except OSError:
        return "unknown"


def check_free_space(folder, need_bytes, what):
    """Refuse before the work, not after it: a full disk found at the first checkpoint costs an epoch."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if free < need_bytes:
        raise UserError(f"{folder}: {free / 1e6:.1f} MB free, {what} needs about {need_bytes / 1e6:.1f} MB; "
                        "free some space or choose another --out")


# --------------------------------------------------------------------------- ownership
def mark(folder, kind):
    """Say that tfdistil made `folder` (a run, teacher, shards, kit or tune folder)."""
    atomic_write_json(os.path.join(folder, MARKER), {"made_by": "tfdistil", "kind": kind})


def is_ours(folder):
    return os.path.isfile(os.path.join(folder, MARKER))


def _forbidden(path):
    """`.`, `~`, `/` and any parent of the working folder are never an output folder."""
    real = os.path.realpath(path)
    cwd = os.path.realpath(os.getcwd())
    home = os.path.realpath(os.path.expanduser("~"))
    return real in ("/", home) or cwd == real or cwd.startswith(real.rstrip("/") + "/")


def check_output_folder(out, overwrite=False, flag="--out"):
    """Refuse, before any work, an `--out` tfdistil must not write: one line saying why.

    Allowed: a missing folder, an empty folder, or (with `overwrite`) a folder tfdistil made.
    Also checks that the parent can be written, so a bad path fails now, not after training.
    """
    if _forbidden(out):
        raise UserError(f"{flag} {out}: refusing to write into the working folder, a parent of it, ~ or /")
    if os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f"{flag} {out}: is a file, not a folder")
    if os.path.isdir(out) and os.listdir(out):
        if not is_ours(out):
            raise UserError(f"{flag} {out}: folder exists and was not made by tfdistil; choose another {flag}")
        if not overwrite:
            raise UserError(f"{flag} {out}: already holds a finished tfdistil output; pass --overwrite to replace it")
    partial = out.rstrip("/") + ".partial"
    if os.path.exists(partial) and (not os.path.isdir(partial) or (os.listdir(partial) and not is_ours(partial))):
        raise UserError(f"{partial}: exists and was not made by tfdistil; move it away")
    check_writable(out, flag)


def check_writable(path, flag, folder=False):
    """`path` (a file, or with `folder` a folder) can be created or replaced: its nearest existing
    ancestor is a writable folder. Check, do not create: a command that fails later on another
    input must leave nothing behind."""
    if folder and os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"{flag} {path}: is a file, not a folder")
    if not folder and os.path.isdir(path):
        raise UserError(f"{flag} {path}: is a folder, not a file")
    existing = path if folder and os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(existing):
        if os.path.exists(existing):
            raise UserError(f"{flag} {path}: {existing} is a file, not a folder")
        existing = os.path.dirname(existing)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {path}: {existing} is not writable")


def remove_ours(folder):
    """Delete a folder only if tfdistil made it (an empty folder counts as nobody's)."""
    if not os.path.exists(folder):
        return
    if os.path.isdir(folder) and (not os.listdir(folder) or is_ours(folder)):
        shutil.rmtree(folder)
        return
    raise UserError(f"{folder}: not made by tfdistil; refusing to delete it")


def publish(partial, out):
    """Rename a finished `OUT.partial` to `OUT`, replacing only a tfdistil-made (or empty) OUT."""
    lock = os.path.join(partial, LOCK)
    if os.path.exists(lock):
        os.remove(lock)  # the lock is held through the fd until the process exits
    remove_ours(out)
    os.replace(partial, out)
    _fsync_dir(os.path.dirname(os.path.abspath(out)))


class FolderLock:
    """Exclusive lock on `folder/.lock` for as long as this process lives (or `release()`)."""

    held = {}  # realpath -> fd: this process may reopen a folder it already holds (e.g. after Ctrl-C)

    def __init__(self, folder, what):
        self.path = os.path.join(folder, LOCK)
        key = os.path.realpath(self.path)
        if key in FolderLock.held and os.path.exists(self.path):
            self.fd = FolderLock.held[key]
            return
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(self.fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(self.fd)
            raise UserError(f"{what} is in use by pid {pid}") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)
        FolderLock.held[key] = self.fd

    def release(self):
        if self.fd is not None:
            FolderLock.held = {k: fd for k, fd in FolderLock.held.items() if fd != self.fd}
            os.close(self.fd)
            self.fd = None


def open_partial(out, kind, overwrite=False, restart=False):
    """Check `out`, then create or reopen `OUT.partial` (marked, locked). Returns (partial, lock)."""
    check_output_folder(out, overwrite)
    partial = out.rstrip("/") + ".partial"
    try:
        os.makedirs(partial, exist_ok=True)
        lock = FolderLock(partial, out)
        if restart:
            for name in os.listdir(partial):
                if name != LOCK:
                    p = os.path.join(partial, name)
                    shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
        mark(partial, kind)
    except OSError as e:
        raise UserError(f"--out {out}: cannot write {partial} ({e.strerror})") from None
    return partial, lock


@functools.lru_cache(maxsize=None)
def tree_sha256(src):
    """sha256 of every file of a folder tree, paths and bytes (a vendored tree: a changed header rebuilds everything)."""
    h = hashlib.sha256()
    for root, dirs, files in os.walk(src):
        dirs.sort()
        for f in sorted(files):
            path = os.path.join(root, f)
            h.update(os.path.relpath(path, src).encode() + b"\0")
            with open(path, "rb") as fh:
                h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()
