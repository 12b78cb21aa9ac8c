#!/usr/bin/env python3
"""Build `tfdistil bundle` executables of a model and check them against host TFLM on a TSV.

    python experiments/pi/check_bundle.py results/models/mcu-attn-e20h32a16-v8800-sw \
        --targets linux-armv7,linux-aarch64,linux-x86_64 [--tsv ../shared/data/sst2/test.tsv] \
        [--out results/bundle_check.json]

Arm targets run under qemu user mode (qemu-arm-static / qemu-aarch64-static, one emulated CPU
each, see tfdistil/edge/mcu/bundle.py); labels and float32 logits are compared with the `tflite-micro`
interpreter, and size and peak RSS (GNU time -v) recorded. Targets not checked this time keep their
earlier record in --out (same model and split), each with the command that made it (`checked_by`).
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)


def main():
    from tfdistil.edge.mcu.bundle import resolve_model
    from tfdistil.edge.mcu.bundle_check import check_bundle
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--targets", default="linux-armv7,linux-aarch64,linux-x86_64")
    ap.add_argument("--tsv", default=os.path.join(ROOT, "..", "shared", "data", "sst2", "test.tsv"))
    ap.add_argument("--out", default=os.path.join(ROOT, "results", "bundle_check.json"))
    args = ap.parse_args()
    model = resolve_model(args.model)
    r = check_bundle(model, args.tsv, args.targets.split(","), log=lambda m: print(m, file=sys.stderr, flush=True))
    r["model"] = os.path.relpath(model, ROOT)
    r["command"] = "python experiments/pi/check_bundle.py " + " ".join(sys.argv[1:])
    print(f"{r['model']}: host TFLM accuracy {r['host_tflm_accuracy']:.4f} on {r['n']} sentences of {r['tsv']}")
    for t, c in r["targets"].items():
        print(f"  {t}: accuracy {c['accuracy']:.4f}, labels = host TFLM {c['labels_identical']}/{r['n']}, "
              f"float32 logits bit-identical {c['float_outputs_bit_identical']}/{r['n']}, binary {c['binary_bytes']} B, "
              f"peak RSS {c['peak_rss_kb']} kB ({c['peak_rss_of']}), {c['seconds']} s")
    for c in r["targets"].values():
        c["checked_by"] = r["command"]
    if os.path.isfile(args.out):  # keep the other targets' records (each names the command that made it)
        with open(args.out) as f:
            old = json.load(f)
        if old.get("model") == r["model"] and old.get("n") == r["n"]:
            for t, c in old.get("targets", {}).items():
                c.setdefault("checked_by", old.get("command"))
                r["targets"].setdefault(t, c)
            r["targets"] = dict(sorted(r["targets"].items()))
    with open(args.out, "w") as f:
        json.dump(r, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.relpath(args.out, ROOT)}")


if __name__ == "__main__":
    main()
