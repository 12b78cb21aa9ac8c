"""Progress bars on stderr (tqdm), so `--json` stdout stays machine-readable.

On a terminal the bar is updated in place. In a log file (`nohup ... > x.log`) `\\r` frames are
noise, so there the same bar writes one plain line a minute, and nothing for work shorter
than that.
"""
import sys

from tqdm.auto import tqdm

LOG_INTERVAL = 60.0  # seconds between lines when stderr is not a terminal


class _Lines:
    """A file for tqdm that turns its in-place frames into whole lines."""

    def write(self, s):
        s = s.replace("\r", "").strip()
        if s:
            sys.stderr.write(s + "\n")

    def flush(self):
        sys.stderr.flush()


def progress(iterable=None, total=None, desc=None, **kw):
    """A tqdm bar: in place on a terminal, a line a minute in a log file."""
    if sys.stderr.isatty():
        return tqdm(iterable, total=total, desc=desc, file=sys.stderr, dynamic_ncols=True,
                    mininterval=1.0, leave=False, **kw)
    return tqdm(iterable, total=total, desc=desc, file=_Lines(), ncols=100, mininterval=LOG_INTERVAL,
                maxinterval=LOG_INTERVAL, delay=LOG_INTERVAL, leave=False, **kw)
