"""TensorFlow's start-up noise, dropped: for the CLI and for the Python API alike.

TensorFlow, absl and the CUDA stubs write C++ log lines straight to fd 2 ("oneDNN custom
operations are on", "failed call to cuInit", absl's pre-init INFO lines, which ignore
TF_CPP_MIN_LOG_LEVEL). They say nothing a user of tfdistil can act on. Both
functions run before TensorFlow loads; TFDISTIL_VERBOSE=1 keeps everything.
"""
import io
import os
import re
import sys
import threading


def quiet_tensorflow():
    """Environment and warning filters, set before TensorFlow or transformers load (never overriding the user's)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    if os.environ.get("TFDISTIL_VERBOSE") != "1":  # "TF classes are deprecated", "newly initialized": not news here
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        import warnings
        # the converter calibrates with tf.lite.Interpreter, which warns that it is deprecated on
        # every conversion: a message for TensorFlow's developers, not for ours
        warnings.filterwarnings("ignore", message=r"\s*Warning: tf.lite.Interpreter is deprecated")


# TensorFlow/absl/CUDA write C++ log lines straight to fd 2 (absl's pre-init INFO lines ignore
# TF_CPP_MIN_LOG_LEVEL). They are not for users: drop them unless --verbose / TFDISTIL_VERBOSE=1.
NATIVE_NOISE = re.compile(rb"^(?:[IWE]\d{4} [\d:.]+\s+\d+ \S+:\d+\]|WARNING: All log messages before absl::InitializeLog|"
                          rb"To enable the following instructions|.*oneDNN custom operations|.*cuda drivers|"
                          rb"INFO: Created TensorFlow Lite XNNPACK delegate|fully_quantize: \d, inference_type: |.*failed call to cuInit|.*Unable to register cu|.*computation placer already registered)")


def filter_native_stderr():
    """Route C-level writes to fd 2 through a filter thread; Python's sys.stderr keeps the real fd.

    Only in a real process (not under click's CliRunner, which swaps sys.stderr) and once."""
    if os.environ.get("TFDISTIL_VERBOSE") == "1" or sys.stderr is not sys.__stderr__ or \
            getattr(filter_native_stderr, "done", False):
        return
    filter_native_stderr.done = True
    sys.stderr.flush()
    real = os.dup(2)
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(io.FileIO(real, "w", closefd=False), write_through=True,
                                                   encoding=sys.stderr.encoding, errors="backslashreplace")
    r, w = os.pipe()
    os.dup2(w, 2)
    os.close(w)

    def pump():
        pending = b""
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if not NATIVE_NOISE.match(line):
                    os.write(real, line + b"\n")

    threading.Thread(target=pump, daemon=True).start()
