#!/usr/bin/env python3
"""SIGKILL a small `tfdistil fit` at many moments, rerun it, check every rerun ends like an uninterrupted run.

    python experiments/ablations/fault_test.py --kills 30 --out experiments/ablations/fault_test.json

A third of the kills land at random times, a third the moment a checkpoint file is being
written (a `*.tmp*` file appears in OUT.partial: the window between write and rename), a third
at a random moment after the first epoch was checkpointed (so the rerun must resume). Each rerun
is the same command, with no cleanup by hand; it must exit 0 with the uninterrupted run's
best epoch and dev accuracy. Nothing in tfdistil knows it is being tested: no hooks.
"""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.environ.get("TFDISTIL_DATA", os.path.join(ROOT, "..", "shared", "data", "sst2"))
CONFIG = {"student": "cnn", "embed_dim": 8, "filters": 8, "hidden": 8, "kernel_sizes": [3], "epochs": 4,
          "train_limit": 1500, "seed": 3}


def fit_cmd(config, out):
    return [sys.executable, "-m", "tfdistil", "fit", "--config", config, "--data", DATA, "--out", out, "--json"]


def run_to_end(config, out):
    proc = subprocess.run(fit_cmd(config, out), capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        return {"exit": proc.returncode, "stderr": proc.stderr.strip().splitlines()[-3:]}
    m = json.loads(proc.stdout.strip().splitlines()[-1])
    resumed = [line for line in proc.stderr.splitlines() if "resuming after epoch" in line]
    return {"exit": 0, "best_epoch": m["best_epoch"], "dev_accuracy": m["dev_accuracy"],
            "resumed": resumed[0].strip() if resumed else None}


def kill_at(config, out, mode, delay):
    """Start a fit; SIGKILL it after `delay` s ("time") or inside a checkpoint write ("write")."""
    proc = subprocess.Popen(fit_cmd(config, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    partial = out + ".partial"
    t0 = time.time()
    while proc.poll() is None:
        if mode == "time" and time.time() - t0 >= delay:
            break
        if mode == "write" and time.time() - t0 >= delay and os.path.isdir(partial) and \
                any(".tmp" in f for f in os.listdir(partial)):
            break
        if mode == "resume" and os.path.isfile(os.path.join(partial, "checkpoints.json")) and \
                time.time() - t0 >= delay:  # a random moment once an epoch is checkpointed
            break
        time.sleep(0.0005)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    return killed, round(time.time() - t0, 3)


def fault_test(kills, seed=0, workdir=None, log=print):
    work = workdir or tempfile.mkdtemp(prefix="tfdistil-faults-")
    config = os.path.join(work, "config.json")
    with open(config, "w") as f:
        json.dump(CONFIG, f)
    t0 = time.time()
    reference = run_to_end(config, os.path.join(work, "reference"))
    wall = time.time() - t0
    log(f"uninterrupted: {reference} in {wall:.1f} s")
    if reference["exit"] != 0:
        raise SystemExit(f"error: the uninterrupted run failed: {reference['stderr']}")
    rng = random.Random(seed)
    cases = []
    for i in range(kills):
        mode = ("time", "write", "resume")[i % 3]
        out = os.path.join(work, f"run{i}")
        killed, at = kill_at(config, out, mode, rng.uniform(1.5, 0.6 * wall))
        rerun = run_to_end(config, out)
        ok = rerun.get("exit") == 0 and rerun["best_epoch"] == reference["best_epoch"] and \
            rerun["dev_accuracy"] == reference["dev_accuracy"] and not os.path.exists(out + ".partial")
        cases.append({"mode": mode, "killed": killed, "at_seconds": at, "rerun": rerun, "ok": ok})
        log(f"kill {i + 1}/{kills} ({mode}, {'killed' if killed else 'finished first'} at {at} s): "
            f"{'ok' if ok else 'FAILED ' + json.dumps(rerun)}")
    return {"command": "tfdistil fit --config CONFIG --out OUT", "config": CONFIG, "reference": reference,
            "uninterrupted_seconds": round(wall, 1), "kills": kills,
            "killed": sum(c["killed"] for c in cases), "ok": sum(c["ok"] for c in cases),
            "resumed_from_a_checkpoint": sum(bool(c["rerun"].get("resumed")) for c in cases), "cases": cases}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="JSON file for the results")
    args = ap.parse_args()
    result = fault_test(args.kills, args.seed, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"{result['ok']}/{result['kills']} reruns ended like the uninterrupted run "
          f"({result['killed']} processes killed mid-run, {result['resumed_from_a_checkpoint']} reruns resumed "
          f"from a checkpoint)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
    sys.exit(0 if result["ok"] == result["kills"] else 1)


if __name__ == "__main__":
    main()
