#!/usr/bin/env bash
# The Raspberry Pi checks of experiments/pi/README.md. From the repository root:
#   bash experiments/pi/run.sh
# check_pi_runner.py needs the seed-0 runs under runs/ (experiments/paper_tables/run.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
$PY experiments/pi/check_tflite_runtime.py
$PY experiments/pi/check_pi_runner.py
parts=()
for pairing in tflite-runtime/pi4 tflite-runtime/pi5 ai-edge-litert/pi4 ai-edge-litert/pi5; do
  out=results/pi_aarch64_check_${pairing//\//_}.json
  $PY experiments/pi/check_pi_aarch64.py --configs "$pairing" --out "$out"
  parts+=("$out")
done
$PY experiments/pi/check_pi_aarch64.py --merge results/pi_aarch64_check.json "${parts[@]}"
$PY experiments/pi/check_pi_aarch64.py --table results/pi_aarch64_check.json > results/pi_aarch64_check.md
$PY experiments/pi/check_bundle.py results/models/mcu-attn-e20h32a16-v8800-sw --targets linux-armv7,linux-aarch64,linux-x86_64
$PY experiments/pi/decision_boundary.py
