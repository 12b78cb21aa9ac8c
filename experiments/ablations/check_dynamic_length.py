"""A fixed-length flatbuffer and its `--dynamic-length` twin over a whole split: same outputs? how fast?

    python experiments/ablations/check_dynamic_length.py FIXED.tflite DYNAMIC.tflite [--split test] [--kernels builtin]

Both run in LiteRT (batch 1, one thread, after 20 warm-up sentences), sentence by sentence
in split order, the dynamic one at each sentence's own length (tensors re-planned only when
the length changes). Prints one JSON object: sentences whose int8 outputs are bit-identical,
identical labels, accuracy of each, and p50/p95 milliseconds per sentence of each.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fixed")
    ap.add_argument("dynamic")
    ap.add_argument("--data", default=os.environ.get("TFDISTIL_DATA", os.path.join(ROOT, "..", "shared", "data", "sst2")))
    ap.add_argument("--split", default="test")
    ap.add_argument("--kernels", default="builtin", choices=["builtin", "xnnpack"])
    args = ap.parse_args()
    from tfdistil.data.splits import load_split
    from tfdistil.data.vocab import Vocab
    from tfdistil.edge.host.evaluate import LiteRTRunner, read_manifest, read_model
    split = load_split(args.data, args.split)
    runners, outputs, times = {}, {}, {}
    for kind, path in (("fixed", args.fixed), ("dynamic", args.dynamic)):
        model_bytes = read_model(path)
        manifest = read_manifest(path, model_bytes)
        runners[kind] = LiteRTRunner(model_bytes, kernels=args.kernels, max_len=manifest.get("max_len"))
        vocab = Vocab.load(os.path.join(os.path.dirname(path), "vocab.json"))
        ids = vocab.encode_batch(split.sentences, runners[kind].max_len)
        for i in range(20):
            runners[kind](ids[i:i + 1])
        out, t = np.zeros((len(ids), 2), np.float32), np.zeros(len(ids))
        for i in range(len(ids)):
            t0 = time.perf_counter()
            out[i] = runners[kind](ids[i:i + 1])
            t[i] = time.perf_counter() - t0
        outputs[kind], times[kind] = out, t * 1e3
    f, d = outputs["fixed"], outputs["dynamic"]
    result = {"command": "python experiments/ablations/check_dynamic_length.py " + " ".join(sys.argv[1:]),
              "split": args.split, "n": len(split), "kernels": args.kernels,
              "dynamic_is_dynamic": runners["dynamic"].dynamic, "max_len": runners["fixed"].max_len,
              "outputs_bit_identical": int((f == d).all(1).sum()),
              "labels_identical": int((f.argmax(1) == d.argmax(1)).sum()),
              **{f"accuracy_{k}": round(float((o.argmax(1) == split.labels).mean()), 6) for k, o in outputs.items()},
              **{f"latency_ms_p50_{k}": round(float(np.percentile(t, 50)), 4) for k, t in times.items()},
              **{f"latency_ms_p95_{k}": round(float(np.percentile(t, 95)), 4) for k, t in times.items()},
              "load_average": [round(x, 2) for x in os.getloadavg()]}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
