"""`convert` with the converter saving a bare variable holder against saving the Keras model.

TFLiteConverter.from_concrete_functions(funcs, obj) saves `obj` as a SavedModel before it
converts. tfdistil used to hand it the tf_keras twin itself; it now hands it
`export.variables_of(twin)`, a tf.Module holding only the variables. This trains one small run
per student (real Keras, SST-2 train rows), then converts each run in every quantization both
ways, alternating which goes first, in one process, and prints per conversion: seconds each way,
their ratio, and whether the two flatbuffers are the same bytes (sha256).

    python experiments/ablations/convert_speed.py [ROWS] > experiments/ablations/logs/convert_speed.log

The first int8 LSTM conversion a process makes is laid out a few bytes differently from every later
one (the same tensors and scales; either way round, and before this change too), so one warm-up
conversion of that kind runs first and is not counted.
"""
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(rows):
    import warnings
    warnings.filterwarnings("ignore")
    import tensorflow as tf

    from tfdistil.config import Config
    from tfdistil.edge.convert import export
    from tfdistil.edge.convert.export import QUANTIZATIONS
    from tfdistil.training.fit import fit
    data = os.environ.get("TFDISTIL_DATA", os.path.join("..", "shared", "data", "sst2"))
    holder = export.variables_of
    ways = {"keras_model": lambda model: model, "variables_only": holder}
    work = tempfile.mkdtemp(prefix="convert-speed-")
    runs = {}
    for student in ("cnn", "bilstm", "bilstm_attn"):
        cfg = Config(student=student, embed_dim=32, hidden=32, filters=32, epochs=1, train_limit=rows, seed=1)
        runs[student] = os.path.join(work, student)
        fit(cfg, data, runs[student], log=lambda m: None)

    def one(way, student, quantize, tag):
        export.variables_of = ways[way]
        t0 = time.time()
        r = export.convert(runs[student], quantize, 64, os.path.join(work, tag, f"{student}_{quantize}.tflite"),
                           data, calibration_size=100, warn=lambda m: None)
        return time.time() - t0, r["sha256"]

    one("variables_only", "bilstm", "int8", "warm-up")
    print(f"TensorFlow {tf.__version__}; {rows} train rows a run; calibration 100 sentences; L64")
    print("student\tquantize\tkeras_model_s\tvariables_only_s\tratio\tsame_bytes")
    totals = [0.0, 0.0]
    for i, (student, quantize) in enumerate((s, q) for s in runs for q in QUANTIZATIONS):
        order = ("keras_model", "variables_only") if i % 2 == 0 else ("variables_only", "keras_model")
        got = {way: one(way, student, quantize, f"{way}-{i}") for way in order}
        (tk, hk), (tv, hv) = got["keras_model"], got["variables_only"]
        totals[0] += tk
        totals[1] += tv
        print(f"{student}\t{quantize}\t{tk:.2f}\t{tv:.2f}\t{tk / tv:.1f}x\t{hk == hv}", flush=True)
    print(f"all\t-\t{totals[0]:.1f}\t{totals[1]:.1f}\t{totals[0] / totals[1]:.1f}x\t-")
    export.variables_of = holder


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
