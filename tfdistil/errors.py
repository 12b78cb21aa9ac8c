"""One exception type for everything the user can fix.

The CLI turns a `UserError` into one line on stderr and exit code 2; anything
else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """Bad input, missing file, stale cache: a one-line message says what to do.

    `skip_finalizers`: the process holds library objects (an h5py file that failed to write
    on a full disk) whose finalisers crash at interpreter exit, so the CLI exits at once."""

    def __init__(self, message, skip_finalizers=False):
        super().__init__(message)
        self.skip_finalizers = skip_finalizers
