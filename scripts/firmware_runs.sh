#!/usr/bin/env bash
# The committed students on the emulated Cortex-M4 (QEMU mps2-an386), every SST-2 test sentence:
# accuracy, agreement with host TFLM, flash/RAM split, stack, instructions per sentence.
# Writes results/firmware/NAME-test.json and results/logs/firmware-NAME-test.log.
#
#   bash scripts/firmware_runs.sh                      # both recommended attention students
#   MODELS="results/models/cnn-distill" bash scripts/firmware_runs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TFDISTIL=${TFDISTIL:-.venv/bin/tfdistil}
DATA=${DATA:-../shared/data/sst2}
MODELS=${MODELS:-"results/models/bilstm_attn-distill results/models/tuned-attn-256kb-stream"}
mkdir -p results/logs results/firmware
for dir in $MODELS; do
  name=$(basename "$dir")
  model=$(ls "$dir"/*_int8_L64.tflite | head -n 1)
  log=results/logs/firmware-$name-test.log
  cmd=("$TFDISTIL" firmware "$model" --board mps2-an386 --data "$DATA" --split test --out results/firmware)
  start=$(date +%s)
  { echo "\$ ${cmd[*]}"; echo "# started $(date -u +%FT%TZ) on $(nproc) cores; TFLM cache: ${TFDISTIL_CACHE:-~/.cache/tfdistil}"; } > "$log"
  set +e
  "${cmd[@]}" >> "$log" 2>&1
  rc=$?
  set -e
  echo "# exit $rc after $(( $(date +%s) - start )) s wall" >> "$log"
  tail -n 1 "$log"
  [ "$rc" = 0 ] || exit "$rc"
done
