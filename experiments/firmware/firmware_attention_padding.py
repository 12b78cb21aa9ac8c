#!/usr/bin/env python3
"""Is the int8 attention's padding exact? For each attention model: the static bound from its int8
ranges (`tfdistil.edge.convert.graph_rewrite.attention_padding`, what `convert` warns about), and over a
split, sentence by sentence, the model as it runs (host TFLM, the full graph at its padded length)
against the same model with no padding at all: the per-token split (tfdistil.edge.convert.stream_split)
with a head cut at exactly the sentence's length, so no padded position exists to mask. The LSTM
outputs at real positions are the same in both; only the masking differs.

    .venv/bin/python experiments/firmware/firmware_attention_padding.py results/models/*attn*/*.tflite \
        --out results/firmware/attention-padding/test.md
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def check(model_path, sentences, gold):
    import numpy as np
    from tfdistil.data.vocab import Vocab
    from tfdistil.edge.convert.graph_rewrite import attention_padding
    from tfdistil.edge.mcu.run import host_reference
    from tfdistil.edge.convert.stream_split import PerTokenTFLM, analyse, split
    model_bytes = open(model_path, "rb").read()
    bound = attention_padding(model_bytes)
    if bound is None:
        return None
    vocab = Vocab.load(os.path.join(os.path.dirname(model_path), "vocab.json"))
    full = host_reference(model_bytes, vocab, sentences)
    ids = vocab.encode_batch(sentences, analyse(model_bytes)[1]["max_len"])
    L = ids.shape[1]
    lengths = sorted({max(int((row != 0).sum()), 1) for row in ids})
    runner = PerTokenTFLM(split(model_bytes, lengths), preserve_all_tensors=True)
    exact_bits, exact_raw = [], []
    for row in ids:
        logits, raw = runner(row[None, :], with_raw=True)
        exact_bits.append(logits.view(np.uint32))
        exact_raw.append(raw)
    exact_bits = np.stack(exact_bits)
    exact_labels = exact_bits.view(np.float32).argmax(-1)
    same_raw = [bool(np.array_equal(a, b)) for a, b in zip(full["raw"], exact_raw)]
    differ = [int(i) for i in np.flatnonzero(full["labels"] != exact_labels)]
    return {"model": os.path.relpath(model_path, ROOT), "max_len": int(L), "bound": bound,
            "sentences": len(sentences), "labels_identical": int((full["labels"] == exact_labels).sum()),
            "int8_logits_identical": int(sum(same_raw)), "label_differs_at": differ,
            "accuracy_as_run": round(float(np.mean(full["labels"] == gold)), 6),
            "accuracy_no_padding": round(float(np.mean(exact_labels == gold)), 6)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "sst2"))
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--out", required=True, help="Markdown file (the JSON goes beside it)")
    args = p.parse_args(argv)
    from tfdistil.data.splits import load_split
    s = load_split(args.data, args.split, args.limit)
    rows = []
    for path in args.models:
        r = check(path, s.sentences, s.labels)
        if r:
            rows.append(r)
            print(json.dumps({k: v for k, v in r.items() if k != "label_differs_at"}), flush=True)
    cmd = " ".join(["python", "experiments/firmware/firmware_attention_padding.py", *(argv or sys.argv[1:])])
    lines = [f"# Attention padding at int8: the model as run vs no padding ({args.split}, {len(s)} sentences)", "",
             f"    {cmd}", "",
             "**bound**: from the int8 ranges alone, the gap between the lowest real score and the highest padded "
             f"input of the SOFTMAX; exact guaranteed when >= {rows[0]['bound']['gap_needed'] if rows else ''} "
             "(`convert` warns below it). **as run**: host TFLM, the full graph (padding masked by the -20 "
             "penalty). **no padding**: the same weights split per token with a head of exactly the sentence's "
             "length, so nothing is masked.", "",
             "| model | score range | gap | bound exact | labels identical | int8 logits identical | accuracy as run | "
             "no padding | differing sentences |", "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        b = r["bound"]
        lines.append(f"| {r['model']} | {b['score_range'][0]:.2f} .. {b['score_range'][1]:.2f} | {b['gap']:.2f} | "
                     f"{'yes' if b['exact'] else 'no'} | {r['labels_identical']}/{r['sentences']} | "
                     f"{r['int8_logits_identical']}/{r['sentences']} | {100 * r['accuracy_as_run']:.2f} | "
                     f"{100 * r['accuracy_no_padding']:.2f} | {', '.join(map(str, r['label_differs_at'][:10]))} |")
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    with open(args.out[:-3] + ".json", "w", encoding="utf-8") as f:
        json.dump({"command": cmd, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
