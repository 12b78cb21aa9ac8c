"""How much of a selection split has train already shown, under each way of carving it?

For a GLUE folder or a labelled file it carves the selection split both ways `distil` can
(`--selection-split rows` and `sentences`, same fraction and seed) and reports, for each: rows
held out, their median length in words, train rows taken out as their phrases, and the share of
held-out texts that are a span of a train row. With `--run DIR` it also measures a distil run's
own split (DIR/data). No model is trained; only the text is read.

    python experiments/protocol/seen_in_train.py --data ../shared/data/sst2 \
        --run runs/sst2-distil-m4 --json experiments/protocol/seen_in_train.json
"""
import argparse
import json
import os
import statistics
import sys
import tempfile


def describe(texts_train, texts_held, dropped):
    from tfdistil.data.phrases import share_inside
    return {"held_rows": len(texts_held), "held_median_words": statistics.median(len(t.split()) for t in texts_held),
            "train_rows": len(texts_train), "phrases_dropped": dropped,
            "held_seen_in_train": round(share_inside(texts_held, texts_train), 4)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="a GLUE folder (train.tsv, dev.tsv)")
    ap.add_argument("--train", help="or a labelled file")
    ap.add_argument("--selection-fraction", type=float, default=0.1)
    ap.add_argument("--selection-seed", type=int, default=2024)
    ap.add_argument("--run", help="a distil --out whose data/ to measure as well")
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args(argv)
    if bool(a.data) == bool(a.train):
        print("give --data DIR or --train FILE", file=sys.stderr)
        return 2
    from tfdistil.distil.options import make_options
    from tfdistil.distil.workdata import carve, selection_split
    out = {"command": "python experiments/protocol/seen_in_train.py " + " ".join(argv or sys.argv[1:])}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("rows", "sentences"):
            o = make_options({"data": a.data, "train": a.train, "out": os.path.join(tmp, "out"), "target": "pi",
                              "selection_fraction": a.selection_fraction, "selection_seed": a.selection_seed,
                              "selection_split": mode})
            info = carve(o, os.path.join(tmp, mode))
            read = lambda n: [json.loads(line)["text"] for line in open(os.path.join(tmp, mode, f"{n}.jsonl"),  # noqa: E731
                                                                          encoding="utf-8")]
            out[mode] = describe(read("train"), read("selection"), info["phrases_dropped"])
            dev = read("dev")
            out["dev_median_words"] = statistics.median(len(t.split()) for t in dev)
        o.selection_split = "auto"
        out["auto"] = dict(zip(("mode", "why"), selection_split(o)))
    if a.run:
        d = os.path.join(a.run, "data")
        read = lambda n: [json.loads(line)["text"] for line in open(os.path.join(d, f"{n}.jsonl"), encoding="utf-8")]  # noqa: E731
        out["run"] = {"folder": a.run, **describe(read("train"), read("selection"), None)}
    text = json.dumps(out, indent=2)
    print(text)
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
