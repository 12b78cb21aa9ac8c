#!/usr/bin/env bash
# The paper-size BiLSTM-Attn distilled from the MPNet transfer sets, with its logs in results/logs/mpnet-f2/:
# fit-stream -> int8 flatbuffer -> test accuracy in TFLM and LiteRT.
#
#   bash scripts/paper_attn_mpnet.sh CONFIG_NAME SEED TAG SHARDS_DIR [SHARDS_DIR ...]
#   e.g. bash scripts/paper_attn_mpnet.sh bilstm_attn_augment_tuned_recipe_g05 0 f2f4f4g05 \
#          aug/mpnet-shards-f2 aug/mpnet-shards-f4s1 aug/mpnet-shards-f4s2
# The run is runs-mpnet/bilstm_attn-augment-mpnetTAG-sSEED (gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 4 ] || { echo "usage: $0 CONFIG_NAME SEED TAG SHARDS_DIR [SHARDS_DIR ...]" >&2; exit 2; }
config=$1 seed=$2 tag=$3; shift 3
TFDISTIL=${TFDISTIL:-.venv/bin/tfdistil}
DATA=${DATA:-../shared/data/sst2}
name=bilstm_attn-augment-mpnet$tag-s$seed
run=runs-mpnet/$name logs=results/logs/mpnet-f2
shard_flags=(); for s in "$@"; do shard_flags+=(--shards "$s"); done
$TFDISTIL fit-stream --config "scripts/configs/$config.json" "${shard_flags[@]}" --seed "$seed" \
  --data "$DATA" --out "$run" --json > "$logs/fit-$name.log" 2>&1
$TFDISTIL convert "$run" --tflite --quantize int8 --data "$DATA" > "$logs/convert-$name-int8.log" 2>&1
for rt in tflm litert; do
  $TFDISTIL evaluate-tflite "$run/tflite/bilstm_attn_int8_L64.tflite" --data "$DATA" --split test \
    --runtime $rt --json > "$logs/evaltflite-$name-$rt.log" 2>&1
done
tail -n 1 "$logs/evaltflite-$name-tflm.log"
