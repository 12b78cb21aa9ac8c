#!/usr/bin/env bash
# The paper-size BiLSTM-Attn distilled from the MPNet transfer sets, with its logs in experiments/paper_attn_mpnet/logs/mpnet-f2/:
# fit-stream -> int8 flatbuffer -> test accuracy in TFLM and LiteRT.
#
#   bash experiments/paper_attn_mpnet/train.sh CONFIG_NAME SEED TAG SHARDS_DIR [SHARDS_DIR ...]
#   e.g. bash experiments/paper_attn_mpnet/train.sh bilstm_attn_augment_tuned_recipe_g05 0 f2f4f4g05 \
#          aug/mpnet-shards-f2 aug/mpnet-shards-f4s1 aug/mpnet-shards-f4s2
# The run is runs-mpnet/bilstm_attn-augment-mpnetTAG-sSEED (gitignored).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 4 ] || { echo "usage: $0 CONFIG_NAME SEED TAG SHARDS_DIR [SHARDS_DIR ...]" >&2; exit 2; }
config=$1 seed=$2 tag=$3; shift 3
source experiments/stream_run.sh
name=bilstm_attn-augment-mpnet$tag-s$seed
stream_run fit "$name" runs-mpnet/$name experiments/paper_attn_mpnet/logs/mpnet-f2 "experiments/paper_attn_mpnet/configs/$config.json" "$seed" "$@"
