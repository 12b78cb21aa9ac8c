#!/usr/bin/env bash
# The committed students on the emulated Cortex-M4 (QEMU mps2-an386), every SST-2 test sentence:
# accuracy, agreement with host TFLM, flash/RAM split, stack, instructions per sentence.
# Writes results/firmware/NAME-test.json and results/logs/firmware-NAME-test.log.
#
#   bash experiments/firmware/firmware_runs.sh                      # both recommended attention students
#   MODELS="results/models/cnn-distill" bash experiments/firmware/firmware_runs.sh
# An empty list (MODELS="") runs none of that kind.
# and token by token (`firmware --per-token`, the step model + 16/32/64 heads) for PER_TOKEN_MODELS,
# written as NAME-pertoken-test.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
TFDISTIL=${TFDISTIL:-.venv/bin/tfdistil}
DATA=${DATA:-../shared/data/sst2}
MODELS=${MODELS-"results/models/bilstm_attn-distill results/models/tuned-attn-256kb-stream"}
PER_TOKEN_MODELS=${PER_TOKEN_MODELS-"results/models/tuned-attn-256kb-stream results/models/mcu-attn-e24h24-v5000"}
# ...and per token with the fingerprint word table (`--c-vocab fingerprints`): NAME-pertoken-fingerprints-test.json
FINGERPRINT_MODELS=${FINGERPRINT_MODELS-"results/models/mcu-attn-e20h32a16-v8000"}
# ...and with the word table as fingerprint ranks (`--c-vocab fingerprint-ranks`): NAME-pertoken-fingerprint-ranks-test.json
RANK_MODELS=${RANK_MODELS-""}
HEADS=${HEADS:-16,32,64}
mkdir -p results/logs results/firmware
for job in $(for d in $MODELS; do echo "$d::"; done; for d in $PER_TOKEN_MODELS; do echo "$d:$HEADS:"; done
             for d in $FINGERPRINT_MODELS; do echo "$d:$HEADS:fingerprints"; done
             for d in $RANK_MODELS; do echo "$d:$HEADS:fingerprint-ranks"; done); do
  dir=${job%%:*}; rest=${job#*:}; heads=${rest%%:*}; layout=${rest#*:}
  name=$(basename "$dir")${heads:+-pertoken}${layout:+-$layout}
  model=$(ls "$dir"/*_int8_L64.tflite | head -n 1)
  log=results/logs/firmware-$name-test.log
  cmd=("$TFDISTIL" firmware "$model" --board mps2-an386 --kernels reference --data "$DATA" --split test --out results/firmware)
  [ -n "$heads" ] && cmd+=(--per-token "$heads")
  [ -n "$layout" ] && cmd+=(--c-vocab "$layout")
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
