#!/usr/bin/env bash
# One microcontroller-sized student, end to end, with its logs where scripts/mcu_summary.py reads them:
# fit-stream on the given MPNet transfer sets -> int8 flatbuffer -> test accuracy in TFLM (and LiteRT).
#
#   bash scripts/mcu_run.sh CONFIG_NAME SEED TAG SHARDS_DIR [SHARDS_DIR ...]
#   e.g. bash scripts/mcu_run.sh attn_e24h32a16_v7000 0 f2f4f4 aug/mpnet-shards-f2 aug/mpnet-shards-f4s1 aug/mpnet-shards-f4s2
#
# CONFIG_NAME is scripts/configs/CONFIG_NAME.json; the run is runs-mcu/table-CONFIG_NAME-TAG-stream-sSEED
# (gitignored) and its logs results/logs/mcu/{tuned,convert,evaltflite}-table-CONFIG_NAME-TAG-stream-sSEED*.log.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 4 ] || { echo "usage: $0 CONFIG_NAME SEED TAG SHARDS_DIR [SHARDS_DIR ...]" >&2; exit 2; }
config=$1 seed=$2 tag=$3; shift 3
TFDISTIL=${TFDISTIL:-.venv/bin/tfdistil}
DATA=${DATA:-../shared/data/sst2}
name="table-${config#attn_}-$tag-stream-s$seed"
run=runs-mcu/$name logs=results/logs/mcu
mkdir -p "$logs"
shard_flags=(); for s in "$@"; do shard_flags+=(--shards "$s"); done
$TFDISTIL fit-stream --config "scripts/configs/$config.json" "${shard_flags[@]}" --seed "$seed" \
  --data "$DATA" --out "$run" --json > "$logs/tuned-$name.log" 2>&1
$TFDISTIL convert "$run" --tflite --quantize int8 --data "$DATA" > "$logs/convert-$name-int8.log" 2>&1
for rt in tflm litert; do
  $TFDISTIL evaluate-tflite "$run/tflite/bilstm_attn_int8_L64.tflite" --data "$DATA" --split test \
    --runtime $rt --json > "$logs/evaltflite-$name-$rt.log" 2>&1
done
tail -n 1 "$logs/evaltflite-$name-tflm.log"
