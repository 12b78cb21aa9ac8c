"""Does a model allocate and run in TFLite Micro with an arena of N bytes? And what is the smallest N?

Run as `python -m tfdistil.edge.host.tflm_probe MODEL.tflite N INPUT_NAMES [explain]`; exit 0 = yes.
A process of its own because TFLM can crash (not raise) when the arena is too small. With
`explain`, TFLM's own report of what failed stays on stderr.

`python -m tfdistil.edge.host.tflm_probe search MODEL.tflite LO HI STEP INPUT_NAMES` prints the
smallest arena in (LO, HI] (to STEP bytes) that allocates and invokes, or exits 3 when HI does not.
This process loads TFLM once and forks a child per try: a crash still takes down only that try,
and a search costs one interpreter start instead of one per probe (~0.25 s each, nine a search).
Imports only tflite_micro and numpy (through runtimes.feed_probe).
"""
import os
import sys

from tfdistil.edge.host.runtimes import feed_probe


def _run(model, size, names):
    import tflite_micro
    it = tflite_micro.runtime.Interpreter.from_bytes(model, arena_size=size)
    feed_probe(it, names)
    it.invoke()


def _quiet():
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # TFLM reports allocation failures on stderr; the exit code says it all


def main(path, size, names, explain=False):
    with open(path, "rb") as f:
        model = f.read()
    if not explain:
        _quiet()
    try:
        _run(model, size, names)
    except Exception:
        sys.exit(1)
    sys.exit(0)


def _fits(model, size, names):
    """One try in a forked child: exit status 0 = allocated and invoked; a crash is a no."""
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        try:
            _run(model, size, names)
        except BaseException:
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def search(path, lo, hi, step, names):
    """Bisection over (lo, hi]: the same sizes, in the same order, as one process per probe would try."""
    import importlib
    importlib.import_module("tflite_micro")  # loaded once, before the forks
    with open(path, "rb") as f:
        model = f.read()
    _quiet()
    if not _fits(model, hi, names):
        sys.exit(3)
    while hi - lo > step:
        mid = (lo + hi) // 2
        if _fits(model, mid, names):
            hi = mid
        else:
            lo = mid
    print(hi)
    sys.exit(0)


if __name__ == "__main__":
    if sys.argv[1] == "search":
        search(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6].split(","))
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3].split(","), explain=sys.argv[4:] == ["explain"])
