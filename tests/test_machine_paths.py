"""No committed text file holds an absolute path of this machine (a checkout, a home folder, a
temporary folder): such a path means nothing on a reader's machine and tells the world ours.

Records keep paths relative to the checkout (`runs/...`, `.venv/...`), with `~` for the home
folder and `$TMPDIR` for a temporary one; `git ls-files` is what is checked, so an untracked run
folder or cache never counts.
"""
import os
import re
import subprocess
import tempfile

from conftest import ROOT

# /work/NAME, /root/NAME, /home/USER/NAME, /tmp/NAME: the start of a real path (a name follows), not
# a bare "/tmp/" that code joins with a name inside an emulated root. Preceded by neither a word
# character nor `.`, `~` or `$` (so `~/.cache/...` and `$TMPDIR/...` and `a/work/b` pass).
SELF = "tests/test_machine_paths.py"
GENERIC = r"(?<![\w.~$/-])/(?:work|root|home/[\w.-]+|tmp)/[\w.-]"


def machine_prefixes():
    """This machine's own folders, wherever they are: the checkout, its parent, home, the temp dir."""
    found = {ROOT, os.path.expanduser("~"), tempfile.gettempdir()}
    if os.path.dirname(ROOT).count(os.sep) >= 2:  # /home/ann/src for /home/ann/src/tfdistil, not /work or /opt
        found.add(os.path.dirname(ROOT))
    return sorted(p.rstrip(os.sep) for p in found if p.rstrip(os.sep))


def offending_lines(text, pattern):
    return [line.strip()[:160] for line in text.splitlines() if pattern.search(line)]


def test_no_committed_text_file_holds_an_absolute_path_of_this_machine():
    prefixes = "|".join(re.escape(p) + r"/[\w.-]" for p in machine_prefixes())
    pattern = re.compile(GENERIC + (f"|(?<![\\w.~$/-])(?:{prefixes})" if prefixes else ""))
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    found = {}
    for name in filter(None, (f.decode() for f in files)):
        if name == SELF:  # this file: the examples the check must catch
            continue
        path = os.path.join(ROOT, name)
        if not os.path.isfile(path) or os.path.islink(path):
            continue
        with open(path, "rb") as f:
            data = f.read()
        if b"\0" in data[:8192]:  # binary: flatbuffers, images, archives
            continue
        lines = offending_lines(data.decode("utf-8", "replace"), pattern)
        if lines:
            found[name] = lines[:3]
    assert not found, f"{len(found)} committed files hold absolute machine paths, e.g. " + \
        repr(dict(list(found.items())[:10]))


def test_the_check_sees_what_it_must_and_passes_what_it_may():
    pattern = re.compile(GENERIC)
    for bad in ("--teacher /work/main/.venv/lib/x", '"/root/.cache/tfdistil/tflm/lib.a"', "in /tmp/pytest-of-x/a",
                "/home/ann/runs/cnn"):
        assert offending_lines(bad, pattern), bad
    for good in ("--teacher .venv/lib/x", "~/.cache/tfdistil/tflm/lib.a", "$TMPDIR/pytest-of-x/a",
                 'inside = "/tmp/" + os.path.basename(work)', "https://example.org/work/main/x", "runs/work/a"):
        assert not offending_lines(good, pattern), good
