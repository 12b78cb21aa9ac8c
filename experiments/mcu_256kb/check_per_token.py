#!/usr/bin/env python3
"""The per-token form of a committed LSTM student (step model + heads, tfdistil/edge/convert/stream_split.py)
against its 64-step flatbuffer, both in the host TFLM interpreter, on a whole data split: how many
float outputs are bit-identical, how many labels agree, and each form's accuracy.

    .venv/bin/python experiments/mcu_256kb/check_per_token.py results/models/tuned-attn-256kb-stream --heads 16,32,64
"""
import argparse
import glob
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+", help="Model folders holding *_int8_L64.tflite and vocab.json.")
    p.add_argument("--heads", default="16,32,64")
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "sst2"))
    p.add_argument("--split", default="test")
    args = p.parse_args(argv)
    import numpy as np
    from tfdistil.data.splits import load_split
    from tfdistil.data.vocab import Vocab
    from tfdistil.edge.host.evaluate import TFLMRunner
    from tfdistil.edge.convert.stream_split import PerTokenTFLM, split
    heads = [int(x) for x in args.heads.split(",")]
    data = load_split(args.data, args.split)
    for folder in args.folders:
        model = sorted(glob.glob(os.path.join(folder, "*_int8_L64.tflite")))[0]
        with open(model, "rb") as f:
            model_bytes = f.read()
        parts = split(model_bytes, heads)
        ids = Vocab.load(os.path.join(folder, "vocab.json")).encode_batch(data.sentences, parts["max_len"])
        full, per_token = TFLMRunner(model_bytes), PerTokenTFLM(parts)
        z_full = np.stack([full(ids[i:i + 1]) for i in range(len(ids))])
        z_tok = np.stack([per_token(ids[i:i + 1]) for i in range(len(ids))])
        print(json.dumps({
            "model": os.path.relpath(model, ROOT), "heads": sorted(parts["heads"]), "split": args.split, "n": len(ids),
            "float_outputs_bit_identical": int((z_full.view(np.uint32) == z_tok.view(np.uint32)).all(axis=1).sum()),
            "labels_identical": int((z_full.argmax(1) == z_tok.argmax(1)).sum()),
            "accuracy_64_steps": round(float((z_full.argmax(1) == data.labels).mean()), 6),
            "accuracy_per_token": round(float((z_tok.argmax(1) == data.labels).mean()), 6),
            "bytes": {"model": len(model_bytes), "step": len(parts["step"]),
                      "heads": {str(k): len(v) for k, v in parts["heads"].items()}}}), flush=True)


if __name__ == "__main__":
    main()
