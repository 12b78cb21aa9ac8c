"""Progress bars on stderr (tqdm), so `--json` stdout stays machine-readable."""
import sys

from tqdm.auto import tqdm


def progress(iterable=None, total=None, desc=None, **kw):
    return tqdm(iterable, total=total, desc=desc, file=sys.stderr, dynamic_ncols=True,
                mininterval=1.0, leave=False, **kw)
