#!/usr/bin/env bash
# The committed <= 256 KB student on every emulated board, with both kernel sets, every SST-2 test
# sentence (per-token firmware, fingerprint-rank word table, as firmware_notes/budget.md's row):
# writes results/firmware/boards/NAME-pertoken-fingerprint-ranks[-BOARD][-KERNELS]-test.json and
# results/logs/firmware-boards/BOARD-KERNELS.log. `python experiments/firmware/firmware_budget.py --boards-only` re-renders budget.md's per-board and fits-on tables.
#
#   bash experiments/firmware/firmware_boards.sh
#   BOARDS="mps2-an386" KERNELS="cmsis-nn" LIMIT=100 bash experiments/firmware/firmware_boards.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
TFDISTIL=${TFDISTIL:-.venv/bin/tfdistil}
DATA=${DATA:-../shared/data/sst2}
MODEL=${MODEL:-results/models/mcu-attn-e20h32a16-v8800-sw/bilstm_attn_int8_L64.tflite}
BOARDS=${BOARDS:-"mps2-an386 mps2-an385 mps2-an500 mps2-an505 mps3-an547 netduinoplus2"}
KERNELS=${KERNELS:-"cmsis-nn reference"}
LIMIT=${LIMIT:-}
mkdir -p results/logs/firmware-boards results/firmware/boards
for board in $BOARDS; do
  for kernels in $KERNELS; do
    log=results/logs/firmware-boards/$board-$kernels${LIMIT:+-first$LIMIT}.log
    cmd=("$TFDISTIL" firmware "$MODEL" --board "$board" --kernels "$kernels" --data "$DATA" --split test
         --per-token 16,32,64 --c-vocab fingerprint-ranks --out results/firmware/boards)
    [ -n "$LIMIT" ] && cmd+=(--limit "$LIMIT")
    start=$(date +%s)
    { echo "\$ ${cmd[*]}"; echo "# started $(date -u +%FT%TZ) on $(nproc) cores; TFLM cache: ${TFDISTIL_CACHE:-~/.cache/tfdistil}"; } > "$log"
    set +e
    "${cmd[@]}" 2>&1 | grep -v '^tflm: \[' | tr '\r' '\n' | grep -v 'sentence/s\]$' >> "$log"
    rc=${PIPESTATUS[0]}
    set -e
    echo "# exit $rc after $(( $(date +%s) - start )) s wall" >> "$log"
    tail -n 1 "$log"
  done
done
