"""One exception type for everything the user can fix.

The CLI turns a `UserError` into one line on stderr and exit code 2; anything
else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """Bad input, missing file, stale cache: a one-line message says what to do."""
