"""Does a model allocate and run in TFLite Micro with an arena of N bytes?

Run as `python -m tfdistil.edge.host.tflm_probe MODEL.tflite N INPUT_NAMES [explain]`; exit 0 = yes.
A process of its own because TFLM can crash (not raise) when the arena is too small. With
`explain`, TFLM's own report of what failed stays on stderr.
Imports only tflite_micro and numpy (through runtimes.feed_probe).
"""
import os
import sys

from tfdistil.edge.host.runtimes import feed_probe


def main(path, size, names, explain=False):
    import tflite_micro
    with open(path, "rb") as f:
        model = f.read()
    if not explain:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)  # TFLM reports allocation failures on stderr; the exit code says it all
    try:
        it = tflite_micro.runtime.Interpreter.from_bytes(model, arena_size=size)
        feed_probe(it, names)
        it.invoke()
    except Exception:
        sys.exit(1)
    sys.exit(0)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3].split(","), explain=sys.argv[4:] == ["explain"])
