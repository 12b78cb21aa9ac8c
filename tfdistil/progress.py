"""Progress bars on stderr (tqdm), so `--json` stdout stays machine-readable."""
import sys

from tqdm.auto import tqdm


def progress(iterable=None, total=None, desc=None, **kw):
    """A bar updated in place on a terminal; nothing in a log file (its `\r` frames are noise there)."""
    kw.setdefault("disable", not sys.stderr.isatty())
    return tqdm(iterable, total=total, desc=desc, file=sys.stderr, dynamic_ncols=True,
                mininterval=1.0, leave=False, **kw)
